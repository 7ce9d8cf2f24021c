//! Exports: the Qlik License Service files (seed 001: `root.pem`, `server.pem`,
//! `server_key.pem`), PKCS#12 files of single certificates, and the root for trust stores.

use crate::domain::kind::CertKind;
use crate::error::{Error, Result};
use crate::ops::ca::{Ca, RootSigner};
use crate::pki::certificate::{CertificateDetails, to_pem};
use crate::pki::pkcs12::{PfxContents, PfxEncryption, PfxKey, write_pfx_for_windows};
use crate::store::atomic::{Durability, FileMode, holds_exactly, write_atomic};
use crate::store::{Entry, EntryStatus, ExportRecord, create_private_dir};
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The file names the Qlik License Service reads (seed 001).
pub const LICENSE_SERVICE_FILES: [&str; 3] = ["root.pem", "server.pem", "server_key.pem"];

/// The folder name used below the CA directory on platforms without `%ProgramData%`.
pub const EXPORTED_CERTIFICATES_DIR: &str = "Exported Certificates";

/// The seed's restart-order reminder.
pub const RESTART_REMINDER: &str = "Restart the QlikView Management Service (QMS) before the Qlik \
License Service, so that the license service picks up the new certificates.";

/// What happened to one exported file.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedFile {
    /// The file written.
    pub path: PathBuf,
    /// False when the file already held exactly this content and was left untouched.
    pub changed: bool,
}

/// The result of a license-service export.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseServiceExport {
    /// The export directory.
    pub dir: PathBuf,
    /// The machine whose Server certificate was exported.
    pub machine: String,
    /// The exported Server certificate's serial.
    pub server_serial: crate::domain::serial::Serial,
    /// The three files.
    pub files: Vec<ExportedFile>,
    /// True when any file changed (the services must then be restarted, QMS first).
    pub changed: bool,
}

/// The default export directory: `%ProgramData%\QlikTech\LicenseService\Exported Certificates`
/// on Windows, `<ca-dir>/Exported Certificates` elsewhere.
pub fn default_license_service_dir(ca_dir: &Path) -> PathBuf {
    #[cfg(windows)]
    {
        if let Some(program_data) = std::env::var_os("ProgramData") {
            return PathBuf::from(program_data)
                .join("QlikTech")
                .join("LicenseService")
                .join(EXPORTED_CERTIFICATES_DIR);
        }
    }
    ca_dir.join(EXPORTED_CERTIFICATES_DIR)
}

/// Chooses the Server certificate to export: `machine`, else this host's, else the only one
/// whose key the CA holds (a keyless certificate's key lives on its node).
pub fn choose_server<'a>(ca: &'a Ca, machine: Option<&str>) -> Result<&'a Entry> {
    let now = OffsetDateTime::now_utc();
    let usable = ca.usable(CertKind::Server, now);
    if let Some(machine) = machine {
        let entry = usable
            .into_iter()
            .find(|e| e.name.eq_ignore_ascii_case(machine))
            .ok_or_else(|| {
                Error::not_found(format!(
                    "no valid Server certificate for {machine}: issue one with \
                     `qvca issue server {machine}`"
                ))
            })?;
        if entry.keyless {
            return Err(crate::ops::ca::keyless_refusal(entry));
        }
        return Ok(entry);
    }
    let usable: Vec<&Entry> = usable.into_iter().filter(|e| !e.keyless).collect();
    // What `setup` or the last export chose is remembered in the index.
    if let Some(record) = &ca.index().license_service_export
        && let Some(entry) = usable
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(&record.machine))
    {
        return Ok(entry);
    }
    if let Ok(this_host) = crate::domain::name::this_machine()
        && let Some(entry) = usable.iter().find(|e| this_host.same_as(&e.name))
    {
        return Ok(entry);
    }
    match usable.as_slice() {
        [only] => Ok(only),
        [] => Err(Error::not_found(
            "no valid Server certificate to export: issue one with `qvca issue server MACHINE`",
        )),
        many => Err(Error::failed(format!(
            "several Server certificates could be exported ({}) and none is for this host: \
             choose one with --machine NAME",
            candidate_list(many.iter().map(|e| e.name.as_str()))
        ))),
    }
}

/// At most this many names are listed in a message; the rest are counted.
const LISTED_NAMES: usize = 8;

/// Names sorted as `list` sorts them and cut to a readable length ("A, B, … and 192 more").
fn candidate_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_by_key(|n| n.to_ascii_lowercase());
    let more = names.len().saturating_sub(LISTED_NAMES);
    let mut text = names[..names.len().min(LISTED_NAMES)].join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Writes `root.pem`, `server.pem` and `server_key.pem` (unencrypted PKCS#8, 0600 from
/// creation) and records the export in the index. Files already holding the same content are
/// left untouched.
pub fn export_license_service(
    ca: &mut crate::ops::ca::LockedCa,
    signer: &RootSigner,
    machine: Option<&str>,
    out: Option<&Path>,
) -> Result<LicenseServiceExport> {
    let entry = choose_server(ca, machine)?.clone();
    let dir = export_dir(ca, out)?;
    let server_der = ca.certificate_der(&entry)?;
    let key_pem = server_key_pem(ca, signer, &entry, &server_der)?;

    if !dir.is_dir() {
        create_private_dir(&dir)?;
    }
    let root_pem = to_pem("CERTIFICATE", signer.root_der());
    let server_pem = to_pem("CERTIFICATE", &server_der);
    let files = write_unless_current(
        &dir,
        &[
            ("root.pem", root_pem.as_bytes(), FileMode::Public),
            ("server.pem", server_pem.as_bytes(), FileMode::Public),
            ("server_key.pem", key_pem.expose(), FileMode::Secret),
        ],
    )?;
    let changed = files.iter().any(|f| f.changed);
    record_export(ca, signer, &dir, &entry, changed)?;
    Ok(LicenseServiceExport {
        dir,
        machine: entry.name,
        server_serial: entry.serial,
        files,
        changed,
    })
}

/// Where the license-service files go: `out`, else where the last export went (what setup
/// chose), else the default; absolute, so a later refresh from another working directory
/// finds it.
fn export_dir(ca: &Ca, out: Option<&Path>) -> Result<PathBuf> {
    let recorded = ca
        .index()
        .license_service_export
        .as_ref()
        .map(|record| PathBuf::from(&record.dir));
    let dir = out.map_or_else(
        || recorded.unwrap_or_else(|| default_license_service_dir(ca.dir())),
        Path::to_path_buf,
    );
    std::path::absolute(&dir)
        .map_err(|e| Error::failed(format!("cannot resolve {}: {e}", dir.display())))
}

/// The private key of the Server certificate `entry` (DER `server_der`) as unencrypted PKCS#8
/// PEM, after checking that it belongs to the certificate.
fn server_key_pem(
    ca: &Ca,
    signer: &RootSigner,
    entry: &Entry,
    server_der: &[u8],
) -> Result<crate::domain::secret::SecretBytes> {
    let server = CertificateDetails::from_der(server_der)?;
    let key = ca.open_key(signer, entry)?;
    let key_pair = crate::pki::key::key_pair_from_pkcs8(&key, &ca.store().key_path(&entry.serial))?;
    if crate::pki::key::public_key_info(&key_pair) != server.spki_der {
        return Err(Error::failed(format!(
            "the key of {} does not match its certificate; the CA is damaged: run `qvca doctor`",
            entry.name
        )));
    }
    Ok(crate::domain::secret::SecretBytes::new(
        to_pem("PRIVATE KEY", key.expose()).into_bytes(),
    ))
}

/// Writes each file (name, contents, mode) into `dir` unless it already holds exactly that
/// content; a secret file left as it was but readable by others is made owner-only again.
fn write_unless_current(
    dir: &Path,
    contents: &[(&str, &[u8], FileMode)],
) -> Result<Vec<ExportedFile>> {
    let mut files = Vec::new();
    for (name, data, mode) in contents {
        let path = dir.join(name);
        let changed = !holds_exactly(&path, data);
        if changed {
            write_atomic(&path, data, *mode, Durability::Synced)?;
            crate::store::crash_point("after-export-file");
        } else if *mode == FileMode::Secret && crate::store::readable_by_others(&path) {
            // Same content, but someone loosened the key file's permissions: tighten them.
            crate::store::make_owner_only(&path)?;
        }
        files.push(ExportedFile { path, changed });
    }
    Ok(files)
}

/// Records the export of `entry` to `dir` in the index, so `doctor` can check it and renewals
/// refresh it. An export that wrote the key (`changed`) or moved the record is logged; a
/// re-run that found every file current wrote nothing and changes nothing, its log included.
fn record_export(
    ca: &mut crate::ops::ca::LockedCa,
    signer: &RootSigner,
    dir: &Path,
    entry: &Entry,
    changed: bool,
) -> Result<()> {
    let record = ExportRecord {
        dir: dir.display().to_string(),
        machine: entry.name.clone(),
        server_serial: entry.serial.clone(),
        root_sha256: signer.root().sha256_fingerprint.clone(),
        at: OffsetDateTime::now_utc(),
    };
    let previous = ca.index().license_service_export.as_ref();
    let same_target = previous.is_some_and(|p| {
        p.dir == record.dir
            && p.server_serial == record.server_serial
            && p.root_sha256 == record.root_sha256
    });
    if changed || !same_target {
        ca.index_mut().license_service_export = Some(record);
        ca.commit(
            &crate::store::oplog::Operation::new("export license-service")
                .with_certificate(&entry.serial, &entry.name),
        )?;
    }
    Ok(())
}

/// Finds the certificate `export pfx` and `package` may hand out: an active Server or Client
/// certificate whose key the CA holds (the root's key only leaves the CA in a backup; revoked
/// certificates never; a keyless certificate's key lives on its node).
pub fn exportable<'a>(ca: &'a Ca, name: &str) -> Result<&'a Entry> {
    let entry = ca.resolve(name)?;
    if entry.keyless {
        return Err(crate::ops::ca::keyless_refusal(entry));
    }
    match (entry.kind, entry.status) {
        (CertKind::Root, _) if ca.index().settings.root_key.is_some() => {
            Err(Error::failed(format!(
                "{} is the root: its private key lives in a PKCS#11 token and never leaves it; \
             `qvca export root` writes the root certificate",
                entry.name
            )))
        }
        (CertKind::Root, _) => Err(Error::failed(format!(
            "{} is the root: its private key only leaves the CA in a backup (`qvca backup`); \
             `qvca export root` writes the root certificate without its key",
            entry.name
        ))),
        (_, EntryStatus::Revoked) => Err(Error::failed(format!(
            "{} (serial {}) is revoked and is no longer exported; issue a new one with \
             `qvca issue`",
            entry.name, entry.serial
        ))),
        _ => Ok(entry),
    }
}

/// A PKCS#12 file with one certificate, its private key and the root (trusted), with the
/// friendly names `<name>` and `QlikViewCA` and matching local key ids; an RSA key names the
/// Windows CSP it belongs in ([`write_pfx_for_windows`]).
pub fn pfx_for(
    ca: &Ca,
    signer: &RootSigner,
    entry: &Entry,
    password: &crate::domain::secret::Password,
    encryption: PfxEncryption,
) -> Result<Vec<u8>> {
    let cert_der = ca.certificate_der(entry)?;
    let details = CertificateDetails::from_der(&cert_der)?;
    let pkcs8 = ca.open_key(signer, entry)?;
    if !crate::pki::pkcs12::key_matches(&pkcs8, &details.spki_der) {
        return Err(Error::failed(format!(
            "the key of {} does not match its certificate; the CA is damaged: run `qvca doctor`",
            entry.name
        )));
    }
    let root_name = ca.index().settings.root_cn.clone();
    let contents = PfxContents {
        keys: vec![PfxKey {
            friendly_name: &entry.name,
            pkcs8: &pkcs8,
            cert_der: &cert_der,
        }],
        trusted: vec![(&root_name, signer.root_der().as_ref())],
        secrets: Vec::new(),
    };
    write_pfx_for_windows(&contents, password, encryption)
}

/// Re-exports the license-service files when the recorded export has gone stale (its Server
/// certificate was renewed, or the root was), to the same directory for the same machine.
pub fn refresh_license_service_export(
    ca: &mut crate::ops::ca::LockedCa,
    signer: &RootSigner,
) -> Result<Option<LicenseServiceExport>> {
    let Some(record) = ca.index().license_service_export.clone() else {
        return Ok(None);
    };
    let server_renewed = ca
        .index()
        .current(CertKind::Server, &record.machine)
        .is_some_and(|e| e.serial != record.server_serial);
    let root_renewed = record.root_sha256 != signer.root().sha256_fingerprint;
    if !(server_renewed || root_renewed) {
        return Ok(None);
    }
    export_license_service(
        ca,
        signer,
        Some(&record.machine),
        Some(Path::new(&record.dir)),
    )
    .map(Some)
}
