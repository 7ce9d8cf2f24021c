//! A PKCS#12 file without qvca's CA state (exported from Windows, made by openssl or keytool):
//! only what can work is restored, the certificates with their keys and the self-signed root,
//! and an index is made from the certificates themselves.

use crate::domain::kind::CertKind;
use crate::error::{Error, Result};
use crate::ops::backup::contents::{BackupContents, FoundCertificate, check_unique_serials};
use crate::pki::certificate::{CertificateDetails, describe_public_key};
use crate::pki::key::{KeyProtection, KeyType};
use crate::store::{Entry, Index, Settings};
use time::OffsetDateTime;

/// The contents of a PKCS#12 file without qvca's CA state: the key entries `found`, plus the
/// self-signed CA among the certificates that belong to no key (`loose_certs`).
pub(super) fn contents_without_state(
    found: &mut Vec<FoundCertificate>,
    loose_certs: Vec<Vec<u8>>,
    problems: &mut Vec<String>,
) -> Result<BackupContents> {
    for der in loose_certs {
        let details = CertificateDetails::from_der(&der)?;
        if details.is_ca == Some(true) && details.is_self_issued() {
            found.push(FoundCertificate {
                serial: details.serial.clone(),
                sha256: details.sha256_fingerprint.clone(),
                der,
                key: None,
                origin: "a certificate bag".into(),
            });
        }
    }
    check_unique_serials(found, problems);
    Ok(BackupContents {
        index: index_from_certificates(found)?,
        certificates: Vec::new(),
        crl_pem: None,
        has_ca_state: false,
        oplog: None,
        created: None,
    })
}

/// An index for a PFX without qvca state (e.g. exported from Windows): the self-signed CA is
/// the root, certificates with serverAuth are Servers, the others Clients.
fn index_from_certificates(found: &[FoundCertificate]) -> Result<Index> {
    let mut root = None;
    let mut entries = Vec::new();
    for cert in found {
        let d = CertificateDetails::from_der(&cert.der)?;
        let entry = entry_of(&d)?;
        if entry.kind == CertKind::Root {
            root = Some(entry.name.clone());
        }
        entries.push(entry);
    }
    entries.sort_by_key(|e| e.kind != CertKind::Root);
    let mut index = Index::new(Settings {
        root_cn: root.unwrap_or_else(|| crate::domain::name::DEFAULT_ROOT_NAME.to_owned()),
        key_protection: KeyProtection::Encrypted,
        created: OffsetDateTime::now_utc(),
        root_subject: crate::domain::subject::SubjectFields::default(),
        root_key: None,
    });
    index.certificates = entries;
    Ok(index)
}

/// The index entry of one certificate of a foreign PKCS#12: its kind, its name (its common
/// name, under the rule for every name), and the key type of its own public key.
fn entry_of(d: &CertificateDetails) -> Result<Entry> {
    let name = d.subject_cn.clone().unwrap_or_else(|| d.subject.clone());
    let kind = if d.is_ca == Some(true) && d.is_self_issued() {
        CertKind::Root
    } else if d.has_eku("serverAuth") {
        CertKind::Server
    } else {
        CertKind::Client
    };
    let key_type = supported_key_type(kind, d)?;
    let entry = Entry::issued(kind, &name, key_type, d);
    // The names come from outside: the same rule as for every other name.
    entry.check_name().map_err(|e| {
        Error::authentication(format!(
            "the {} certificate with serial {} cannot be restored: its common name is not \
             a name qvca accepts ({}); nothing was changed",
            kind.description(),
            d.serial,
            e.message()
        ))
    })?;
    Ok(entry)
}

/// The key type of a certificate's public key; a key qvca cannot issue or sign with (ECDSA
/// P-521, Ed25519, RSA of another size) is refused rather than recorded as another type.
fn supported_key_type(kind: CertKind, d: &CertificateDetails) -> Result<KeyType> {
    KeyType::of_public_key(&d.spki_der).ok_or_else(|| {
        Error::failed(format!(
            "the {} certificate with serial {} cannot be restored: it has an {} key, which \
             qvca does not support (it works with RSA 2048, 3072 or 4096 bit keys and ECDSA \
             P-256 or P-384 keys); nothing was changed",
            kind.description(),
            d.serial,
            describe_public_key(&d.spki_der)
        ))
    })
}
