//! Opening a backup file and checking it (`backup verify`, the read-back of every new backup,
//! `--keep`, `restore`): password and integrity, then every bag (see [`check_contents`]); and
//! the root key of a backup (`secrets rewrap --from-backup`).

use crate::domain::kind::CertKind;
use crate::domain::secret::{Password, SecretBytes};
use crate::domain::serial::Serial;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::backup::contents::{
    BackupContents, certificates_of_index, check_chain, contents_with_state, current_root,
    key_entries,
};
use crate::ops::backup::import::contents_without_state;
use crate::ops::backup::state::BackupState;
use crate::pki::certificate::CertificateDetails;
use crate::pki::pkcs12::{Integrity, PfxArchive, read_pfx};
use crate::pki::signer::RootKey;
use crate::store::EntryStatus;
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// One certificate as a backup lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    /// Issued To.
    pub name: String,
    /// Root, Server or Client.
    pub kind: CertKind,
    /// Serial.
    pub serial: Serial,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Active, superseded or revoked.
    pub status: EntryStatus,
    /// Whether its private key is in the backup.
    pub has_key: bool,
    /// True when the CA never held its key (it lives on the node).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keyless: bool,
}

/// Backup entries in the order `list` shows certificates (Servers by name, the Client, the
/// root; within one name, issue order), so that reports are stable.
fn sorted_as_list(mut entries: Vec<BackupEntry>) -> Vec<BackupEntry> {
    entries.sort_by_cached_key(|e| crate::ops::inventory::seed_order(e.kind, &e.name));
    entries
}

/// The result of verifying a backup.
#[derive(Debug, Clone, Serialize)]
pub struct BackupVerification {
    /// The file.
    pub file: PathBuf,
    /// True when nothing is wrong.
    pub ok: bool,
    /// True when the file carries qvca's CA state (else only certificates, e.g. from another tool).
    pub has_ca_state: bool,
    /// The root's common name.
    pub root: Option<String>,
    /// The SHA-256 of the root certificate.
    pub root_sha256: Option<String>,
    /// Every certificate.
    pub entries: Vec<BackupEntry>,
    /// The CRL number carried.
    pub crl_number: Option<u64>,
    /// What is wrong, one sentence each.
    pub problems: Vec<String>,
}

/// Opens and checks a backup: password, integrity, every key against its certificate, the
/// chain to the root, and the completeness of the CA state.
pub fn verify_backup_file(path: &Path, password: &Password) -> Result<BackupVerification> {
    let bytes = read_backup_file(path)?;
    let mut verification = verify_backup_bytes(bytes.expose(), password, path)?;
    if !verification.has_ca_state {
        verification.problems.push(
            "it holds certificates but not qvca's CA state (index, settings, CRL number): it was \
             not written by `qvca backup`"
                .into(),
        );
        verification.ok = false;
    }
    Ok(verification)
}

/// The bytes of a backup file: a missing file is "not found" (exit 6), an empty one is no
/// backup (exit 4).
fn read_backup_file(path: &Path) -> Result<SecretBytes> {
    let bytes = crate::input::read_limited(path, crate::input::PKCS12_LIMIT, "the backup file")
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                Error::not_found(format!("no backup file {}", path.display()))
            } else {
                e
            }
        })?;
    if bytes.is_empty() {
        return Err(Error::authentication(format!(
            "{} is empty: it is not a backup (a failed copy?)",
            path.display()
        )));
    }
    Ok(SecretBytes::new(bytes))
}

/// Verifies backup bytes as [`verify_backup_file`] does with a file (`path` names it in messages).
pub fn verify_backup_bytes(
    bytes: &[u8],
    password: &Password,
    path: &Path,
) -> Result<BackupVerification> {
    let (contents, problems) = open_contents(bytes, password, path)?;
    Ok(verification_of(&contents, problems, path))
}

/// Opens backup bytes under `password` (its MAC must verify) and checks their contents.
fn open_contents(
    bytes: &[u8],
    password: &Password,
    path: &Path,
) -> Result<(BackupContents, Vec<String>)> {
    let archive = read_pfx(
        bytes,
        password,
        &path.display().to_string(),
        Integrity::Required,
    )?;
    check_contents(&archive)
}

/// Reads the backup file at `path` and opens it as [`open_contents`] does.
pub(super) fn read_contents(
    path: &Path,
    password: &Password,
) -> Result<(BackupContents, Vec<String>)> {
    let bytes = read_backup_file(path)?;
    open_contents(bytes.expose(), password, path)
}

/// Reconstructs the CA contents from an opened archive and lists every problem found.
///
/// With qvca's CA state, the state names every bag the backup may hold: each certificate must
/// have the SHA-256 the index records for its serial, each key the public-key hash the state
/// records (format 2) and its certificate's public key; a serial may appear once; a bag the
/// state does not name is a problem. Every leaf must chain to the root.
fn check_contents(archive: &PfxArchive) -> Result<(BackupContents, Vec<String>)> {
    let mut problems = Vec::new();
    let state = BackupState::read(archive, &mut problems)?;
    let (mut found, loose_certs) = key_entries(archive, &mut problems)?;
    let mut contents = match state {
        Some(state) => contents_with_state(state, &mut found, loose_certs, &mut problems)?,
        None => contents_without_state(&mut found, loose_certs, &mut problems)?,
    };
    contents.certificates = certificates_of_index(&contents.index, &found, &mut problems);
    check_chain(&contents.certificates, &mut problems);
    Ok((contents, problems))
}

/// The verification report of checked backup contents.
pub(super) fn verification_of(
    contents: &BackupContents,
    problems: Vec<String>,
    path: &Path,
) -> BackupVerification {
    let root = current_root(&contents.certificates);
    BackupVerification {
        file: path.to_owned(),
        ok: problems.is_empty(),
        has_ca_state: contents.has_ca_state,
        root: root.map(|r| r.entry.name.clone()),
        root_sha256: root.map(|r| r.entry.sha256.clone()),
        entries: sorted_as_list(
            contents
                .certificates
                .iter()
                .map(|c| BackupEntry {
                    name: c.entry.name.clone(),
                    kind: c.entry.kind,
                    serial: c.entry.serial.clone(),
                    not_after: c.entry.not_after,
                    status: c.entry.status,
                    has_key: c.key.is_some(),
                    keyless: c.entry.keyless,
                })
                .collect(),
        ),
        crl_number: contents.has_ca_state.then_some(contents.index.crl_number),
        problems,
    }
}

/// The root key in a backup (for rotating tokens with `secrets rewrap`: the SecretsKey of the
/// old root is [`crate::secrets::SecretsKey::for_root`] of it). The key must belong to the
/// root certificate (exit 4 otherwise).
pub fn root_key_from_backup(path: &Path, password: &Password) -> Result<RootKey> {
    let (contents, _) = read_contents(path, password)?;
    if let Some(location) = &contents.index.settings.root_key {
        return Err(Error::refused(format!(
            "{} is a backup of a CA whose root key lives in a PKCS#11 token ({location}): it \
             holds no root key, and its secrets tokens are version 2 (qvca:v2:), sealed by a \
             SecretsKey that never leaves that token; decrypt them with that CA (`qvca secrets \
             decrypt`) and encrypt them again with this one",
            path.display()
        )));
    }
    let root = current_root(&contents.certificates)
        .ok_or_else(|| Error::failed(format!("{} holds no root certificate", path.display())))?;
    let key = root.key.clone().ok_or_else(|| {
        Error::failed(format!(
            "{} holds the root certificate but not its private key, from which the SecretsKey \
             is derived",
            path.display()
        ))
    })?;
    let key = RootKey::from_pkcs8(key, path)?;
    let details = CertificateDetails::from_der(&root.cert_der)?;
    key.check_matches(&details.spki_der, || {
        Error::authentication(format!(
            "the root key in {} does not belong to its root certificate: the backup is damaged; \
             use another backup of the old CA",
            path.display()
        ))
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::{KeyType, pkcs8_der};
    use crate::pki::pkcs12::{PfxContents, PfxEncryption, PfxKey, write_pfx};

    /// A PKCS#12 file (no qvca state) holding a self-signed CA certificate and `key`.
    fn pfx_with_root(dir: &Path, cert_key: &rcgen::KeyPair, key: &SecretBytes) -> PathBuf {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "QlikViewCA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(cert_key).expect("self-signed");
        let contents = PfxContents {
            keys: vec![PfxKey {
                friendly_name: "QlikViewCA",
                pkcs8: key,
                cert_der: cert.der(),
            }],
            ..PfxContents::default()
        };
        let bytes = write_pfx(&contents, &Password::new("pw"), PfxEncryption::Modern).expect("pfx");
        let path = dir.join("root.pfx");
        crate::store::atomic::write_atomic(
            &path,
            &bytes,
            crate::store::FileMode::Secret,
            crate::store::Durability::Synced,
        )
        .expect("write");
        path
    }

    #[test]
    fn the_root_key_of_a_backup_gives_the_secrets_key_derived_from_it_and_its_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pair = KeyType::P256.generate().expect("keygen");
        let pkcs8 = pkcs8_der(&pair);
        let path = pfx_with_root(dir.path(), &pair, &pkcs8);
        let key = root_key_from_backup(&path, &Password::new("pw")).expect("root key");
        let spki = crate::pki::key::public_key_info(&pair);
        assert_eq!(key.public_key_info(), spki);
        let derived = crate::secrets::SecretsKey::derive(&pkcs8, &spki).expect("derive");
        let for_root = crate::secrets::SecretsKey::for_root(&key).expect("for root");
        assert_eq!(for_root.expose(), derived.expose());
        assert!(for_root.kid() == derived.kid());
    }

    #[test]
    fn a_root_key_that_is_not_the_root_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pair = KeyType::P256.generate().expect("keygen");
        let other = pkcs8_der(&KeyType::P256.generate().expect("keygen"));
        let path = pfx_with_root(dir.path(), &pair, &other);
        let refused = root_key_from_backup(&path, &Password::new("pw")).expect_err("refused");
        assert_eq!(refused.kind(), ErrorKind::Authentication);
        assert!(
            refused
                .message()
                .contains("does not belong to its root certificate"),
            "{}",
            refused.message()
        );
    }
}
