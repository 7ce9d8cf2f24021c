//! Node packages: everything one node needs in one folder, `<MACHINE>.pfx`, `QVProxy.pfx`,
//! `QlikViewCA.cer`, `install.ps1` (Windows store import and key permissions for the service
//! account), `install.sh` (Linux) and `README.txt` (the ports the node must open). The scripts
//! are rendered from the templates in `templates/install/`, compiled into the binary.

use crate::ca::{Ca, RootSigner};
use crate::certificate::CertificateDetails;
use crate::error::{Error, Result};
use crate::export::{exportable, pfx_for};
use crate::pkcs12::PfxEncryption;
use crate::ports::{PortTable, qlikview_ports};
use crate::secret::Password;
use crate::store::atomic::{Durability, FileMode, write_atomic};
use crate::store::{CertKind, StagedDir, Staging};
use serde::Serialize;
use std::path::{Path, PathBuf};

const INSTALL_PS1: &str = include_str!("../templates/install/install.ps1.j2");
const INSTALL_SH: &str = include_str!("../templates/install/install.sh.j2");
const README_TXT: &str = include_str!("../templates/install/README.txt.j2");

/// What to package.
#[derive(Debug, Clone)]
pub struct PackageRequest {
    /// The node's machine name (its Server certificate).
    pub machine: String,
    /// The package folder.
    pub out: PathBuf,
    /// PKCS#12 encryption (`--legacy` for Windows Server 2016 and older).
    pub encryption: PfxEncryption,
    /// Replace an existing package folder.
    pub force: bool,
}

/// What was packaged.
#[derive(Debug, Clone, Serialize)]
pub struct PackageReport {
    /// The package folder.
    pub dir: PathBuf,
    /// The node.
    pub machine: String,
    /// The Client certificate's name.
    pub client: String,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// The PKCS#12 encryption used.
    pub encryption: PfxEncryption,
    /// Where the package it replaced (`--force`) was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_package_moved_to: Option<PathBuf>,
}

#[derive(Serialize)]
struct PortLine {
    port: u16,
    tls: bool,
    service: &'static str,
    protocol: &'static str,
}

/// Builds the package folder for `request.machine` (written completely, then moved into place).
pub fn build_package(
    ca: &Ca,
    signer: &RootSigner,
    request: &PackageRequest,
    password: &Password,
) -> Result<PackageReport> {
    let server = exportable(ca, &request.machine)?;
    if server.kind != CertKind::Server {
        return Err(Error::failed(format!(
            "{} is not a Server certificate: give the node's machine name",
            request.machine
        )));
    }
    let client = ca
        .usable(CertKind::Client, time::OffsetDateTime::now_utc())
        .into_iter()
        .max_by_key(|e| (e.name == crate::name::DEFAULT_CLIENT_NAME, e.not_after))
        .ok_or_else(|| {
            Error::not_found(
                "no valid Client certificate to package: issue it with `qvca issue client`",
            )
        })?;
    if std::fs::symlink_metadata(&request.out).is_ok() {
        if !request.force {
            return Err(Error::refused(format!(
                "{} exists already; pass --force to replace it, or choose another --out",
                request.out.display()
            )));
        }
        refuse_unless_package(&request.out)?;
    }

    let root = signer.root();
    let root_name = ca.index().settings.root_cn.clone();
    let server_pfx = format!("{}.pfx", server.name);
    let client_pfx = format!("{}.pfx", client.name);
    let root_file = format!("{root_name}.cer");
    let server_bytes = pfx_for(ca, signer, server, password, request.encryption)?;
    let client_bytes = pfx_for(ca, signer, client, password, request.encryption)?;
    let server_details = CertificateDetails::from_der(&ca.certificate_der(server)?)?;

    let ports = qlikview_ports();
    let lines = |table: PortTable| -> Vec<PortLine> {
        ports
            .iter()
            .filter(|p| p.table == table)
            .map(|p| PortLine {
                port: p.port,
                tls: p.tls,
                service: p.role.service(),
                protocol: p.protocol,
            })
            .collect()
    };
    let context = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        created => crate::issue::date(time::OffsetDateTime::now_utc()),
        machine => server.name.clone(),
        client_name => client.name.clone(),
        root_name => root_name.clone(),
        root_file => root_file.clone(),
        server_pfx => server_pfx.clone(),
        client_pfx => client_pfx.clone(),
        root_thumbprint => root.sha1_thumbprint.clone(),
        server_thumbprint => server_details.sha1_thumbprint,
        legacy_flag => if request.encryption == PfxEncryption::Legacy { "-legacy" } else { "" },
        encryption => match request.encryption {
            PfxEncryption::Modern => "AES-256, for Windows Server 2019 and later",
            PfxEncryption::Legacy => "3DES, for Windows Server 2016 and older",
        },
        service_ports => minijinja::Value::from(minijinja::value::Serde(lines(PortTable::ServiceToService))),
        install_ports => minijinja::Value::from(minijinja::value::Serde(lines(PortTable::CertificateInstallation))),
    };
    let scripts = [
        ("install.ps1", render("install.ps1", INSTALL_PS1, &context)?),
        ("install.sh", render("install.sh", INSTALL_SH, &context)?),
        ("README.txt", render("README.txt", README_TXT, &context)?),
    ];

    let staged = StagedDir::create(&request.out, Staging::Package)?;
    let write = |name: &str, bytes: &[u8], mode: FileMode| -> Result<PathBuf> {
        write_atomic(&staged.path().join(name), bytes, mode, Durability::Deferred)?;
        Ok(request.out.join(name))
    };
    let mut files = vec![
        write(&server_pfx, &server_bytes, FileMode::Secret)?,
        write(&client_pfx, &client_bytes, FileMode::Secret)?,
        write(&root_file, signer.root_der(), FileMode::Public)?,
    ];
    for (name, text) in &scripts {
        files.push(write(name, text.as_bytes(), FileMode::Public)?);
    }
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    write(
        PACKAGE_MARKER,
        package_marker(&names)?.as_bytes(),
        FileMode::Public,
    )?;
    crate::store::atomic::sync_dir(staged.path())?;
    let installed = staged.install(&refuse_unless_package, time::OffsetDateTime::now_utc())?;

    Ok(PackageReport {
        dir: request.out.clone(),
        machine: server.name.clone(),
        client: client.name.clone(),
        files,
        encryption: request.encryption,
        replaced_package_moved_to: installed.aside,
    })
}

/// Renders one embedded template; a missing variable is an error, never an empty string.
fn render(name: &str, source: &str, context: &minijinja::Value) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| Error::failed(format!("template syntax configuration: {e}")))?;
    env.set_syntax(syntax);
    env.add_filter("ljust", |value: String, width: usize| {
        format!("{value:<width$}")
    });
    env.render_str(source, context)
        .map_err(|e| Error::failed(format!("rendering the {name} template failed: {e}")))
}

/// The file that marks a folder as a qvca package: the names of the files qvca wrote there.
const PACKAGE_MARKER: &str = ".qvca-package";

/// The marker's contents (JSON).
fn package_marker(files: &[String]) -> Result<String> {
    serde_json::to_string_pretty(&serde_json::json!({
        "qvca_version": env!("CARGO_PKG_VERSION"),
        "files": files,
    }))
    .map_err(|e| Error::failed(format!("encoding the package marker failed: {e}")))
}

/// `package --force` replaces only a qvca package (kept aside) or an empty folder; anything
/// else, a folder of documents for instance, is refused (exit 3).
fn refuse_unless_package(out: &Path) -> Result<()> {
    let meta = std::fs::metadata(out).map_err(|e| Error::io("looking at", out, e))?;
    if meta.is_dir() && (crate::store::staged::is_empty_but_lock(out)? || is_package(out)) {
        return Ok(());
    }
    Err(Error::refused(format!(
        "{} is not a qvca package (it has files qvca did not write there, or no {PACKAGE_MARKER} \
         marker): --force replaces only a package folder; choose another --out or move it away",
        out.display()
    )))
}

/// True when every entry of `dir` is a regular file that the package marker names (or, for
/// packages written before the marker existed, the exact file set of a package).
fn is_package(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            return false;
        }
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    let marker = dir.join(PACKAGE_MARKER);
    let listed: Option<Vec<String>> = std::fs::symlink_metadata(&marker)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .and_then(|_| std::fs::read(&marker).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| serde_json::from_value(v["files"].clone()).ok());
    match listed {
        Some(listed) => names
            .iter()
            .all(|n| n == PACKAGE_MARKER || listed.contains(n)),
        None => {
            let scripts = ["install.ps1", "install.sh", "README.txt"];
            let pfx = names.iter().filter(|n| n.ends_with(".pfx")).count();
            let cer = names.iter().filter(|n| n.ends_with(".cer")).count();
            scripts.iter().all(|s| names.iter().any(|n| n == s))
                && (1..=2).contains(&pfx)
                && cer == 1
                && names.len() == scripts.len() + pfx + cer
        }
    }
}
