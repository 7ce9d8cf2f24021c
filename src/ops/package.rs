//! Node packages: everything one node needs in one folder. A PFX package holds `<MACHINE>.pfx`,
//! `QVProxy.pfx`, `QlikViewCA.cer`, `install.ps1`/`install.cmd` (Windows store import and key
//! permissions for the service accounts), `uninstall.ps1`/`uninstall.cmd`, `install.sh` (Linux)
//! and `README.txt` (the commands and the ports the node must open). A keyless package
//! (`--keyless`) holds no key at all: the requests are made on the node (`request.inf` for
//! certreq, or openssl), signed with `qvca sign`, and accepted on the node. Every script is
//! rendered from the templates in `templates/install/`, compiled into the binary, with every
//! value escaped for the file's language and the file written in the encoding its reader needs.

use crate::domain::kind::CertKind;
use crate::domain::secret::Password;
use crate::error::{Error, Result};
use crate::ops::ca::{Ca, RootSigner};
use crate::ops::export::{exportable, pfx_for};
use crate::pki::certificate::CertificateDetails;
use crate::pki::key::KeyType;
use crate::pki::pkcs12::PfxEncryption;
use crate::qlik::ports::{PortTable, qlikview_ports};
use crate::store::atomic::{Durability, FileMode, write_atomic};
use crate::store::{Entry, StagedDir, Staging};
use rand::Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Every template of `templates/install/`, by name. The name's ending decides the language
/// every value is escaped for ([`TemplateLanguage::of_template`]); `*-common.*` templates are
/// only included by others.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "install.ps1.j2",
        include_str!("../../templates/install/install.ps1.j2"),
    ),
    (
        "uninstall.ps1.j2",
        include_str!("../../templates/install/uninstall.ps1.j2"),
    ),
    (
        "keyless-request.ps1.j2",
        include_str!("../../templates/install/keyless-request.ps1.j2"),
    ),
    (
        "keyless-accept.ps1.j2",
        include_str!("../../templates/install/keyless-accept.ps1.j2"),
    ),
    (
        "windows-common.ps1.j2",
        include_str!("../../templates/install/windows-common.ps1.j2"),
    ),
    (
        "install.cmd.j2",
        include_str!("../../templates/install/install.cmd.j2"),
    ),
    (
        "request.inf.j2",
        include_str!("../../templates/install/request.inf.j2"),
    ),
    (
        "install.sh.j2",
        include_str!("../../templates/install/install.sh.j2"),
    ),
    (
        "keyless-request.sh.j2",
        include_str!("../../templates/install/keyless-request.sh.j2"),
    ),
    (
        "keyless-accept.sh.j2",
        include_str!("../../templates/install/keyless-accept.sh.j2"),
    ),
    (
        "linux-common.sh.j2",
        include_str!("../../templates/install/linux-common.sh.j2"),
    ),
    (
        "README.txt.j2",
        include_str!("../../templates/install/README.txt.j2"),
    ),
    (
        "keyless-README.txt.j2",
        include_str!("../../templates/install/keyless-README.txt.j2"),
    ),
];

/// The CAPI provider qvca asks for: what the certificate import wizard and .NET's
/// `X509Store.Add` give, which both old and new .NET APIs can use (PROV_RSA_AES); the PFX
/// files name it too.
pub const CAPI_PROVIDER: &str = crate::pki::pkcs12::WINDOWS_RSA_CSP;
/// The CNG key storage provider qvca asks for.
pub const CNG_PROVIDER: &str = "Microsoft Software Key Storage Provider";

/// Where Windows keeps a node's private keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStorage {
    /// CryptoAPI, [`CAPI_PROVIDER`]: RSA only; what .NET Framework services can use.
    Capi,
    /// CNG, [`CNG_PROVIDER`]: RSA and ECDSA.
    Cng,
}

impl std::str::FromStr for KeyStorage {
    type Err = crate::Error;

    /// Parses `capi` or `cng`.
    fn from_str(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| Error::usage(format!("unknown key storage {name:?}: use capi or cng")))
    }
}

impl KeyStorage {
    /// Both storages, in the order `--key-storage` lists them.
    pub const ALL: [KeyStorage; 2] = [KeyStorage::Capi, KeyStorage::Cng];

    /// The default for a key type: CAPI for RSA, CNG for ECDSA (CAPI holds no ECDSA keys).
    pub fn default_for(key_type: KeyType) -> Self {
        if key_type.is_rsa() {
            Self::Capi
        } else {
            Self::Cng
        }
    }

    /// `capi` or `cng`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capi => "capi",
            Self::Cng => "cng",
        }
    }

    /// The Windows provider name.
    pub fn provider(self) -> &'static str {
        match self {
            Self::Capi => CAPI_PROVIDER,
            Self::Cng => CNG_PROVIDER,
        }
    }
}

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
    /// The services this node runs (`--role`), for the ports its README lists; empty: every
    /// QlikView role.
    pub roles: Vec<crate::qlik::ports::Role>,
}

/// What to put in a keyless package (`package MACHINE --keyless`).
#[derive(Debug, Clone)]
pub struct KeylessPackageRequest {
    /// The node's machine name (validated: the requests are made for it).
    pub machine: crate::domain::name::MachineName,
    /// The package folder.
    pub out: PathBuf,
    /// The key type the node makes.
    pub key_type: KeyType,
    /// Where Windows keeps the keys; None for the key type's default.
    pub key_storage: Option<KeyStorage>,
    /// Replace an existing package folder.
    pub force: bool,
    /// The services this node runs (`--role`), for the ports its README lists.
    pub roles: Vec<crate::qlik::ports::Role>,
}

/// How the keys of a keyless package are made on the node.
#[derive(Debug, Clone, Serialize)]
pub struct KeylessReport {
    /// The key type.
    pub key_type: KeyType,
    /// Where Windows keeps the keys.
    pub key_storage: KeyStorage,
    /// The request files the node writes (to sign with `qvca sign`).
    pub requests: Vec<String>,
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
    /// The PKCS#12 encryption used (absent for a keyless package: it holds no PKCS#12).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<PfxEncryption>,
    /// For a keyless package: how the node makes its keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessReport>,
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
    ca: &mut crate::ops::ca::LockedCa,
    signer: &RootSigner,
    request: &PackageRequest,
    password: &Password,
) -> Result<PackageReport> {
    let server = &exportable(ca, &request.machine)?.clone();
    if server.kind != CertKind::Server {
        return Err(Error::failed(format!(
            "{} is not a Server certificate: give the node's machine name",
            request.machine
        )));
    }
    let client = package_client(ca).cloned().ok_or_else(|| {
        Error::not_found(
            "no valid Client certificate to package: issue it with `qvca issue client`",
        )
    })?;
    let client = &client;
    refuse_existing_out(&request.out, request.force)?;

    let values = script_values(ca, signer, request, server, client)?;
    let (server_pfx, client_pfx, root_file) = values.file_names();
    let mut files = vec![
        PackageFile::secret(
            &server_pfx,
            pfx_for(ca, signer, server, password, request.encryption)?,
        ),
        PackageFile::secret(
            &client_pfx,
            pfx_for(ca, signer, client, password, request.encryption)?,
        ),
        PackageFile::public(&root_file, signer.root_der().to_vec()),
    ];
    files.extend(render_scripts(&values)?.into_iter().map(PackageFile::from));
    let (files, aside) = write_package(&request.out, files)?;
    ca.commit(
        &crate::store::oplog::Operation::new("package")
            .with_certificate(&server.serial, &server.name)
            .with_certificate(&client.serial, &client.name),
    )?;
    Ok(PackageReport {
        dir: request.out.clone(),
        machine: server.name.clone(),
        client: client.name.clone(),
        files,
        encryption: Some(request.encryption),
        keyless: None,
        replaced_package_moved_to: aside,
    })
}

/// The Client certificate a package installs: a valid one, `QVProxy` first, else the one
/// valid longest.
fn package_client(ca: &Ca) -> Option<&Entry> {
    ca.usable(CertKind::Client, time::OffsetDateTime::now_utc())
        .into_iter()
        .max_by_key(|e| {
            (
                e.name == crate::domain::name::DEFAULT_CLIENT_NAME,
                e.not_after,
            )
        })
}

/// The values the scripts and README of a PFX package are rendered with.
fn script_values(
    ca: &Ca,
    signer: &RootSigner,
    request: &PackageRequest,
    server: &Entry,
    client: &Entry,
) -> Result<ScriptValues> {
    let server_details = CertificateDetails::from_der(&ca.certificate_der(server)?)?;
    let client_details = CertificateDetails::from_der(&ca.certificate_der(client)?)?;
    Ok(ScriptValues {
        machine: server.name.clone(),
        client_name: client.name.clone(),
        root_name: ca.index().settings.root_cn.clone(),
        root_thumbprint: signer.root().sha1_thumbprint.clone(),
        server_thumbprint: server_details.sha1_thumbprint,
        client_thumbprint: client_details.sha1_thumbprint,
        encryption: request.encryption,
        created: time::OffsetDateTime::now_utc(),
        roles: request.roles.clone(),
    })
}

/// Builds a keyless package for `request.machine`: no private key, no PKCS#12, nothing that
/// needs the CA's password; the node makes its keys and requests, `qvca sign` signs them.
pub fn build_keyless_package(ca: &Ca, request: &KeylessPackageRequest) -> Result<PackageReport> {
    let key_storage = request
        .key_storage
        .unwrap_or_else(|| KeyStorage::default_for(request.key_type));
    if key_storage == KeyStorage::Capi && !request.key_type.is_rsa() {
        return Err(Error::usage(format!(
            "--key-storage capi cannot hold a {} key (CAPI providers hold RSA keys only): \
             leave --key-storage out, or use cng",
            request.key_type
        )));
    }
    refuse_existing_out(&request.out, request.force)?;
    let client_name = package_client(ca).map_or_else(
        || crate::domain::name::DEFAULT_CLIENT_NAME.to_owned(),
        |e| e.name.clone(),
    );
    let root_der = ca.root_der()?;
    let root = CertificateDetails::from_der(&root_der)?;
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    let values = KeylessValues {
        machine: request.machine.as_str().to_owned(),
        client_name: client_name.clone(),
        root_name: ca.index().settings.root_cn.clone(),
        root_thumbprint: root.sha1_thumbprint,
        key_type: request.key_type,
        key_storage,
        package_id: hex::encode_upper(id),
        created: time::OffsetDateTime::now_utc(),
        roles: request.roles.clone(),
    };
    let names = values.file_names();
    let mut files = vec![PackageFile::public(&names.root_file, root_der.to_vec())];
    files.extend(
        render_keyless_scripts(&values)?
            .into_iter()
            .map(PackageFile::from),
    );
    let (files, aside) = write_package(&request.out, files)?;
    Ok(PackageReport {
        dir: request.out.clone(),
        machine: values.machine.clone(),
        client: client_name,
        files,
        encryption: None,
        keyless: Some(KeylessReport {
            key_type: request.key_type,
            key_storage,
            requests: vec![names.server_request, names.client_request],
        }),
        replaced_package_moved_to: aside,
    })
}

/// `--out` must not exist, or be a package that `--force` may replace (exit 3 otherwise).
fn refuse_existing_out(out: &Path, force: bool) -> Result<()> {
    if std::fs::symlink_metadata(out).is_ok() {
        if !force {
            return Err(Error::refused(format!(
                "{} exists already; pass --force to replace it, or choose another --out",
                out.display()
            )));
        }
        refuse_unless_package(out)?;
    }
    Ok(())
}

/// One file of a package, as written.
struct PackageFile {
    name: String,
    bytes: Vec<u8>,
    mode: FileMode,
}

impl PackageFile {
    fn secret(name: &str, bytes: Vec<u8>) -> Self {
        Self {
            name: name.to_owned(),
            bytes,
            mode: FileMode::Secret,
        }
    }

    fn public(name: &str, bytes: Vec<u8>) -> Self {
        Self {
            name: name.to_owned(),
            bytes,
            mode: FileMode::Public,
        }
    }
}

impl From<RenderedFile> for PackageFile {
    fn from(file: RenderedFile) -> Self {
        Self {
            name: file.name,
            bytes: file.bytes,
            mode: FileMode::Public,
        }
    }
}

/// Writes the package folder completely in a staging directory, with its marker, then moves it
/// into place (keeping a replaced package aside). Two files may not share a name, in any case.
fn write_package(out: &Path, files: Vec<PackageFile>) -> Result<(Vec<PathBuf>, Option<PathBuf>)> {
    for (i, file) in files.iter().enumerate() {
        if let Some(other) = files[..i]
            .iter()
            .find(|f| f.name.to_lowercase() == file.name.to_lowercase())
        {
            return Err(Error::failed(format!(
                "two files of the package would be named {:?} and {:?} (the root, the machine and \
                 the Client are named alike): rename one of them",
                other.name, file.name
            )));
        }
    }
    let staged = StagedDir::create(out, Staging::Package)?;
    let mut written = Vec::with_capacity(files.len());
    for file in &files {
        write_atomic(
            &staged.path().join(&file.name),
            &file.bytes,
            file.mode,
            Durability::Deferred,
        )?;
        written.push(out.join(&file.name));
    }
    let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    write_atomic(
        &staged.path().join(PACKAGE_MARKER),
        package_marker(&names)?.as_bytes(),
        FileMode::Public,
        Durability::Deferred,
    )?;
    crate::store::atomic::sync_dir(staged.path())?;
    let installed = staged.install(&refuse_unless_package, time::OffsetDateTime::now_utc())?;
    Ok((written, installed.aside))
}

/// The values the install scripts and the README of a PFX package are rendered with.
#[derive(Debug, Clone)]
pub struct ScriptValues {
    /// The node's machine name.
    pub machine: String,
    /// The Client certificate's name.
    pub client_name: String,
    /// The root's common name.
    pub root_name: String,
    /// The root's SHA-1 thumbprint (what Windows shows).
    pub root_thumbprint: String,
    /// The Server certificate's SHA-1 thumbprint.
    pub server_thumbprint: String,
    /// The Client certificate's SHA-1 thumbprint.
    pub client_thumbprint: String,
    /// The PKCS#12 encryption of the package.
    pub encryption: PfxEncryption,
    /// When the package is made.
    pub created: time::OffsetDateTime,
    /// The services the node runs; empty: every QlikView role.
    pub roles: Vec<crate::qlik::ports::Role>,
}

impl ScriptValues {
    /// The package's file names: the Server PFX, the Client PFX and the root certificate,
    /// each made from its name by [`crate::domain::name::file_name`].
    pub fn file_names(&self) -> (String, String, String) {
        (
            crate::domain::name::file_name(&self.machine, "pfx"),
            crate::domain::name::file_name(&self.client_name, "pfx"),
            crate::domain::name::file_name(&self.root_name, "cer"),
        )
    }
}

/// The values the scripts of a keyless package are rendered with.
#[derive(Debug, Clone)]
pub struct KeylessValues {
    /// The node's machine name.
    pub machine: String,
    /// The Client certificate's name (the CN of the node's Client request).
    pub client_name: String,
    /// The root's common name.
    pub root_name: String,
    /// The root's SHA-1 thumbprint.
    pub root_thumbprint: String,
    /// The key type the node makes.
    pub key_type: KeyType,
    /// Where Windows keeps the keys.
    pub key_storage: KeyStorage,
    /// A random id of the package (the uninstall records on Windows name it).
    pub package_id: String,
    /// When the package is made.
    pub created: time::OffsetDateTime,
    /// The services the node runs; empty: every QlikView role.
    pub roles: Vec<crate::qlik::ports::Role>,
}

/// The file names of a keyless package.
#[derive(Debug, Clone)]
pub struct KeylessFileNames {
    /// The root certificate (DER).
    pub root_file: String,
    /// The Server request the node writes: `<MACHINE>.csr`.
    pub server_request: String,
    /// The Client request the node writes: `<CLIENT>-<MACHINE>.csr`.
    pub client_request: String,
    /// The signed Server certificate the node expects back: `<MACHINE>.cer`.
    pub server_cert: String,
    /// The signed Client certificate the node expects back: `<CLIENT>-<MACHINE>.cer`.
    pub client_cert: String,
}

impl KeylessValues {
    /// The names of the files the package holds and the round trip writes, each made from its
    /// name by [`crate::domain::name::file_name`].
    pub fn file_names(&self) -> KeylessFileNames {
        // The machine name is a host label (letters, digits, hyphens): the names are safe to
        // paste into any shell, unlike the client's common name, which may hold quotes or `$`.
        let client_stem = format!("client-{}", self.machine);
        KeylessFileNames {
            root_file: crate::domain::name::file_name(&self.root_name, "cer"),
            server_request: crate::domain::name::file_name(&self.machine, "csr"),
            client_request: crate::domain::name::file_name(&client_stem, "csr"),
            server_cert: crate::domain::name::file_name(&self.machine, "cer"),
            client_cert: crate::domain::name::file_name(&client_stem, "cer"),
        }
    }

    fn key_description(&self) -> String {
        let key = match self.key_type {
            KeyType::Rsa2048 => "RSA 2048",
            KeyType::Rsa3072 => "RSA 3072",
            KeyType::Rsa4096 => "RSA 4096",
            KeyType::P256 => "ECDSA P-256",
            KeyType::P384 => "ECDSA P-384",
        };
        let kind = match self.key_storage {
            KeyStorage::Capi => "CAPI",
            KeyStorage::Cng => "CNG",
        };
        format!(
            "{key}, made on the node; on Windows in the {} ({kind}), not exportable",
            self.key_storage.provider()
        )
    }
}

/// One rendered file: its name in the package and its bytes, encoded for its reader.
#[derive(Debug, Clone)]
pub struct RenderedFile {
    /// The file name in the package.
    pub name: String,
    /// The bytes as written ([`TemplateLanguage::encode`]).
    pub bytes: Vec<u8>,
}

/// The port tables of seed 001 for the services of `roles` (every QlikView role when empty),
/// for the READMEs.
fn port_lines(roles: &[crate::qlik::ports::Role]) -> (minijinja::Value, minijinja::Value) {
    let ports: Vec<crate::qlik::ports::Port> = if roles.is_empty() {
        qlikview_ports()
    } else {
        crate::qlik::ports::ports_for(roles)
    };
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
    (
        minijinja::Value::from(minijinja::value::Serde(lines(PortTable::ServiceToService))),
        minijinja::Value::from(minijinja::value::Serde(lines(
            PortTable::CertificateInstallation,
        ))),
    )
}

/// The `.cmd` wrapper (the same bytes for every script: it runs the `.ps1` of its own name).
fn cmd_wrapper(name: &str) -> Result<RenderedFile> {
    render_file(
        "install.cmd.j2",
        &format!("{name}.cmd"),
        &minijinja::context! {},
    )
}

/// Renders the scripts and the README of a PFX package (file name, bytes) from the embedded
/// templates, every value escaped for the template's language.
pub fn render_scripts(values: &ScriptValues) -> Result<Vec<RenderedFile>> {
    let (server_pfx, client_pfx, root_file) = values.file_names();
    let (service_ports, install_ports) = port_lines(&values.roles);
    let context = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        created => crate::ops::issue::date(values.created),
        // The Server certificate identifies the package: uninstall.ps1 removes what install.ps1
        // of this package (of any copy of it) recorded.
        package_id => values.server_thumbprint.clone(),
        machine => values.machine.clone(),
        node_dir => crate::domain::name::file_name(&values.machine, ""),
        client_name => values.client_name.clone(),
        root_name => values.root_name.clone(),
        root_file => root_file,
        root_crt => crate::domain::name::file_name(&values.root_name, "crt"),
        server_pfx => server_pfx,
        client_pfx => client_pfx,
        root_thumbprint => values.root_thumbprint.clone(),
        server_thumbprint => values.server_thumbprint.clone(),
        client_thumbprint => values.client_thumbprint.clone(),
        pfx_encryption => match values.encryption {
            PfxEncryption::Modern => "aes256",
            PfxEncryption::Legacy => "3des",
        },
        encryption => match values.encryption {
            PfxEncryption::Modern => "AES-256, for Windows Server 2019 and later",
            PfxEncryption::Legacy => "3DES, for Windows Server 2016 and older",
        },
        service_ports => service_ports,
        install_ports => install_ports,
    };
    Ok(vec![
        render_file("install.ps1.j2", "install.ps1", &context)?,
        render_file("uninstall.ps1.j2", "uninstall.ps1", &context)?,
        cmd_wrapper("install")?,
        cmd_wrapper("uninstall")?,
        render_file("install.sh.j2", "install.sh", &context)?,
        render_file("README.txt.j2", "README.txt", &context)?,
    ])
}

/// Renders the request files, scripts and README of a keyless package.
pub fn render_keyless_scripts(values: &KeylessValues) -> Result<Vec<RenderedFile>> {
    let names = values.file_names();
    let (service_ports, install_ports) = port_lines(&values.roles);
    let server_inf = "request.inf";
    let client_inf = "client-request.inf";
    let context = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        created => crate::ops::issue::date(values.created),
        package_id => values.package_id.clone(),
        machine => values.machine.clone(),
        node_dir => crate::domain::name::file_name(&values.machine, ""),
        client_name => values.client_name.clone(),
        root_name => values.root_name.clone(),
        root_file => names.root_file.clone(),
        root_crt => crate::domain::name::file_name(&values.root_name, "crt"),
        root_thumbprint => values.root_thumbprint.clone(),
        server_inf => server_inf,
        client_inf => client_inf,
        server_request => names.server_request.clone(),
        client_request => names.client_request.clone(),
        server_cert => names.server_cert.clone(),
        client_cert => names.client_cert.clone(),
        server_subject => openssl_subject(&values.machine),
        client_subject => openssl_subject(&values.client_name),
        key_type => values.key_type.as_str(),
        key_storage => values.key_storage.as_str(),
        key_description => values.key_description(),
        service_ports => service_ports,
        install_ports => install_ports,
    };
    let inf_context = |kind: &str, name: &str, friendly: &str| {
        minijinja::context! {
            kind => kind,
            subject_dn => x500_subject(name),
            friendly_name => friendly,
            san_dns => format!("dns={name}"),
            ..context.clone()
        }
    };
    let server_friendly = format!("{} (QlikView Server)", values.machine);
    let client_friendly = format!("{} (QlikView Client)", values.client_name);
    Ok(vec![
        render_file(
            "request.inf.j2",
            server_inf,
            &inf_context("server", &values.machine, &server_friendly),
        )?,
        render_file(
            "request.inf.j2",
            client_inf,
            &inf_context("client", &values.client_name, &client_friendly),
        )?,
        render_file("keyless-request.ps1.j2", "keyless-request.ps1", &context)?,
        render_file("keyless-accept.ps1.j2", "keyless-accept.ps1", &context)?,
        render_file("uninstall.ps1.j2", "uninstall.ps1", &context)?,
        cmd_wrapper("keyless-request")?,
        cmd_wrapper("keyless-accept")?,
        cmd_wrapper("uninstall")?,
        render_file("keyless-request.sh.j2", "keyless-request.sh", &context)?,
        render_file("keyless-accept.sh.j2", "keyless-accept.sh", &context)?,
        render_file("keyless-README.txt.j2", "README.txt", &context)?,
    ])
}

/// The subject `CN=<name>` as certreq's INF `Subject` takes it (CertStrToName's X.500 syntax):
/// a name with a character that syntax gives a meaning to is put in double quotes, a `"` in it
/// doubled. (The [`TemplateLanguage::Inf`] escaping of the INF value comes on top.)
pub fn x500_subject(common_name: &str) -> String {
    let special = |c: char| matches!(c, ',' | '+' | '=' | '"' | ';' | '<' | '>' | '#' | '\\');
    if common_name.chars().any(special) || common_name.trim() != common_name {
        format!("CN=\"{}\"", common_name.replace('"', "\"\""))
    } else {
        format!("CN={common_name}")
    }
}

/// The subject `/CN=<name>` as `openssl req -subj` takes it: `\`, `/` and `+` (which would
/// end the value or start another attribute) escaped with a backslash.
pub fn openssl_subject(common_name: &str) -> String {
    let mut subject = String::from("/CN=");
    for c in common_name.chars() {
        if matches!(c, '\\' | '/' | '+') {
            subject.push('\\');
        }
        subject.push(c);
    }
    subject
}

/// The language a template renders to, from its file name; it decides how every value is
/// escaped and how the rendered file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateLanguage {
    /// `*.ps1.j2`: every value becomes a PowerShell single-quoted (verbatim) string; the file is
    /// UTF-8 with a byte-order mark and CRLF line ends (Windows PowerShell 5.1 reads a file
    /// without BOM in the ANSI code page).
    PowerShell,
    /// `*.sh.j2`: every value becomes a POSIX sh single-quoted string.
    Sh,
    /// `*.txt.j2`: plain text with control and formatting characters made visible; UTF-8 with
    /// a byte-order mark and CRLF line ends (for Notepad of any Windows).
    Text,
    /// `*.inf.j2`: every value becomes a double-quoted INF string (`"` and `%` doubled); the
    /// file is UTF-16LE with a byte-order mark and CRLF line ends, what certreq reads without
    /// guessing a code page.
    Inf,
    /// `*.cmd.j2`: no value at all (cmd.exe has no quoting that holds every name); ASCII with
    /// CRLF line ends.
    Cmd,
}

impl TemplateLanguage {
    /// Every language.
    pub const ALL: [Self; 5] = [Self::PowerShell, Self::Sh, Self::Text, Self::Inf, Self::Cmd];

    /// The language of the template named `name`; None for a template qvca cannot escape for.
    pub fn of_template(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|language| name.ends_with(language.template_suffix()))
    }

    fn template_suffix(self) -> &'static str {
        match self {
            Self::PowerShell => ".ps1.j2",
            Self::Sh => ".sh.j2",
            Self::Text => ".txt.j2",
            Self::Inf => ".inf.j2",
            Self::Cmd => ".cmd.j2",
        }
    }

    /// The name of its filter and auto-escape mode: `ps`, `sh`, `text`, `inf` or `cmd`.
    pub fn filter_name(self) -> &'static str {
        match self {
            Self::PowerShell => "ps",
            Self::Sh => "sh",
            Self::Text => "text",
            Self::Inf => "inf",
            Self::Cmd => "cmd",
        }
    }

    fn from_auto_escape(mode: &minijinja::AutoEscape) -> Option<Self> {
        match mode {
            minijinja::AutoEscape::Custom(name) => Self::ALL
                .into_iter()
                .find(|l| l.filter_name() == name.as_ref()),
            _ => None,
        }
    }

    /// `value` escaped for this language. A control or formatting character in a value for a
    /// script is an error (validated names never have one); so is any value for a `.cmd` file.
    pub fn escape(self, value: &str) -> std::result::Result<String, String> {
        if self == Self::Cmd {
            return Err(format!(
                "the value {value:?} cannot go into a .cmd file: cmd.exe expands % and ! in any \
                 quoting, so .cmd templates take no values (pass them to a .ps1 instead)"
            ));
        }
        if self != Self::Text
            && let Some(c) = value
                .chars()
                .find(|c| crate::domain::name::is_hidden_char(*c))
        {
            return Err(format!(
                "the value {value:?} holds the control character U+{:04X}, which no script may \
                 receive",
                u32::from(c)
            ));
        }
        Ok(match self {
            Self::PowerShell => powershell_quote(value),
            Self::Sh => sh_quote(value),
            Self::Text => visible_text(value),
            Self::Inf => inf_quote(value),
            Self::Cmd => unreachable!("refused above"),
        })
    }

    /// The rendered text as the bytes of the file (see each language for the encoding).
    pub fn encode(self, text: &str) -> Result<Vec<u8>> {
        let crlf = || text.replace("\r\n", "\n").replace('\n', "\r\n");
        Ok(match self {
            Self::Sh => text.as_bytes().to_vec(),
            Self::PowerShell | Self::Text => {
                let mut bytes = UTF8_BOM.to_vec();
                bytes.extend_from_slice(crlf().as_bytes());
                bytes
            }
            Self::Inf => {
                let mut bytes = vec![0xFF, 0xFE];
                for unit in crlf().encode_utf16() {
                    bytes.extend_from_slice(&unit.to_le_bytes());
                }
                bytes
            }
            Self::Cmd => {
                let text = crlf();
                if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
                    return Err(Error::failed(format!(
                        "a .cmd template holds the non-ASCII character U+{:04X}: cmd.exe reads \
                         .cmd files in the OEM code page",
                        u32::from(c)
                    )));
                }
                text.into_bytes()
            }
        })
    }
}

/// The UTF-8 byte-order mark.
pub const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// A PowerShell single-quoted (verbatim) string holding exactly `value`: nothing in it is
/// expanded. PowerShell ends such a string at any single quotation mark (`'`, U+2018, U+2019,
/// U+201A, U+201B), so each one is doubled.
pub fn powershell_quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        quoted.push(c);
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

/// A POSIX sh single-quoted string holding exactly `value`: `'` becomes `'\''`.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// A double-quoted INF string holding exactly `value`: `"` doubled, and `%` doubled (INF files
/// substitute `%key%` from their `[Strings]` section).
pub fn inf_quote(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\"").replace('%', "%%"))
}

/// `text` with every control or formatting character shown as `\u{..}`, for plain-text files.
pub fn visible_text(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::domain::name::is_hidden_char(c) {
            shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    shown
}

/// Renders the embedded template `template` and encodes it as the file `name`.
fn render_file(template: &str, name: &str, context: &minijinja::Value) -> Result<RenderedFile> {
    let language = TemplateLanguage::of_template(template)
        .ok_or_else(|| Error::failed(format!("qvca has no template language for {template}")))?;
    let text = render_with(&environment()?, template, context)?;
    Ok(RenderedFile {
        name: name.to_owned(),
        bytes: language.encode(&text)?,
    })
}

/// The environment every template is rendered in: the embedded templates (so that one can
/// include another), strict about missing values, and escaping every printed value for the
/// language of the template it is printed in, whether or not the template applies the
/// language's filter (`|ps`, `|sh`, `|text`, `|inf`); a template of another kind, a filter of
/// the wrong language, `|safe` or an `autoescape false` block is an error.
fn environment() -> Result<minijinja::Environment<'static>> {
    use minijinja::{AutoEscape, State, Value};
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| Error::failed(format!("template syntax configuration: {e}")))?;
    env.set_syntax(syntax);
    env.set_auto_escape_callback(|name| match TemplateLanguage::of_template(name) {
        Some(language) => AutoEscape::Custom(language.filter_name().into()),
        None => AutoEscape::None,
    });
    // The one place values are written: escaped for the language, unless a filter of that
    // language already did it.
    env.set_formatter(move |out, state, value| {
        let language =
            TemplateLanguage::from_auto_escape(state.auto_escape()).ok_or_else(|| {
                jinja_error(format!(
                    "template {} prints a value where qvca has no escaping rule (only *.ps1.j2, \
                     *.sh.j2, *.txt.j2 and *.inf.j2 templates, without autoescape blocks)",
                    state.name()
                ))
            })?;
        if value.is_undefined() || value.is_none() {
            return Err(jinja_error("a missing value cannot be printed".into()));
        }
        let text = if value.is_safe() && language != TemplateLanguage::Cmd {
            value.to_string()
        } else {
            language.escape(&value.to_string()).map_err(jinja_error)?
        };
        out.write_str(&text)
            .map_err(|_| jinja_error("writing the rendered template failed".into()))
    });
    env.remove_filter("safe");
    for language in TemplateLanguage::ALL {
        env.add_filter(
            language.filter_name(),
            move |state: &State, value: String| -> std::result::Result<Value, minijinja::Error> {
                if TemplateLanguage::from_auto_escape(state.auto_escape()) != Some(language) {
                    return Err(jinja_error(format!(
                        "the |{} filter is not for the template {}",
                        language.filter_name(),
                        state.name()
                    )));
                }
                Ok(Value::from_safe_string(
                    language.escape(&value).map_err(jinja_error)?,
                ))
            },
        );
    }
    env.add_filter("ljust", |value: String, width: usize| {
        format!("{value:<width$}")
    });
    for &(name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| Error::failed(format!("the {name} template does not compile: {e}")))?;
    }
    Ok(env)
}

fn jinja_error(message: String) -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message)
}

/// Renders the template `name` of `env` to text.
fn render_with(
    env: &minijinja::Environment<'_>,
    name: &str,
    context: &minijinja::Value,
) -> Result<String> {
    env.get_template(name)
        .and_then(|template| template.render(context))
        .map_err(|e| {
            let mut message = format!("rendering the {name} template failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            Error::failed(message)
        })
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

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    /// Root and Client names that are valid but hostile to scripts; each holds `MARK` so its
    /// every occurrence in a rendered script can be found.
    const HOSTILE: [(&str, &str); 5] = [
        ("Acme's CA $(touch PWNED) MARK", "QV$(touch PWNED)MARK"),
        (
            "Acme\u{2019}s CA \u{2018}MARK\u{201A}\u{201B}",
            "x';calc;'MARK",
        ),
        (
            "`id` %PATH% $env:TEMP MARK",
            "\u{dc}n\u{ef}c\u{f8}d\u{e9} CA MARK",
        ),
        ("#> <# @' '@ MARK", "\"quoted\" & | ; < > * ? : MARK"),
        ("MARK ${IFS} $((1+1)) !x ~root", "-MARK --help"),
    ];

    fn values(root: &str, client: &str) -> ScriptValues {
        ScriptValues {
            machine: "QVS01".into(),
            client_name: client.into(),
            root_name: root.into(),
            root_thumbprint: "AB".repeat(20),
            server_thumbprint: "CD".repeat(20),
            client_thumbprint: "EF".repeat(20),
            encryption: PfxEncryption::Modern,
            created: time::OffsetDateTime::UNIX_EPOCH,
            roles: Vec::new(),
        }
    }

    fn keyless_values(root: &str, client: &str, key_type: KeyType) -> KeylessValues {
        KeylessValues {
            machine: "QVS01".into(),
            client_name: client.into(),
            root_name: root.into(),
            root_thumbprint: "AB".repeat(20),
            key_type,
            key_storage: KeyStorage::default_for(key_type),
            package_id: "01".repeat(16),
            created: time::OffsetDateTime::UNIX_EPOCH,
            roles: Vec::new(),
        }
    }

    /// The text of a rendered file, decoded as its language encodes it.
    fn script(files: &[RenderedFile], name: &str) -> String {
        let file = files.iter().find(|f| f.name == name).expect("rendered");
        decode(&file.bytes)
    }

    fn decode(bytes: &[u8]) -> String {
        if let Some(utf16) = bytes.strip_prefix(&[0xFF, 0xFE]) {
            let units: Vec<u16> = utf16
                .chunks(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            return String::from_utf16(&units).expect("UTF-16");
        }
        let bytes = bytes.strip_prefix(&UTF8_BOM).unwrap_or(bytes);
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    /// Renders `source` as a template named `name` in the environment of the embedded ones.
    fn render_source(name: &str, source: &str, context: &minijinja::Value) -> Result<String> {
        let mut env = environment()?;
        env.add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| Error::failed(e.to_string()))?;
        render_with(&env, name, context)
    }

    /// The value of a PowerShell verbatim string by the language's rule: any of the five
    /// single quotation marks ends it unless doubled. None when a quote is not doubled.
    fn powershell_verbatim_value(literal: &str) -> Option<String> {
        let is_quote =
            |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
        let mut chars = literal.chars();
        if !chars.next().is_some_and(is_quote) || !chars.next_back().is_some_and(is_quote) {
            return None;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            if is_quote(c) && !chars.next().is_some_and(is_quote) {
                return None;
            }
            value.push(c);
        }
        Some(value)
    }

    fn leaves<'t>(node: tree_sitter::Node<'t>, out: &mut Vec<tree_sitter::Node<'t>>) {
        if node.child_count() == 0 {
            out.push(node);
        }
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            leaves(child, out);
        }
    }

    #[test]
    fn quoting_follows_each_language() {
        assert_eq!(powershell_quote("Acme's"), "'Acme''s'");
        assert_eq!(
            powershell_quote("a\u{2018}b\u{2019}c\u{201A}d\u{201B}"),
            "'a\u{2018}\u{2018}b\u{2019}\u{2019}c\u{201A}\u{201A}d\u{201B}\u{201B}'"
        );
        assert_eq!(powershell_quote("$(x) `y` \"z\""), "'$(x) `y` \"z\"'");
        assert_eq!(sh_quote("it's $(x)"), "'it'\\''s $(x)'");
        assert_eq!(
            visible_text("a\u{1b}[31m\u{202e}b"),
            "a\\u{1b}[31m\\u{202e}b"
        );
        assert!(TemplateLanguage::Sh.escape("a\nb").is_err());
        assert!(TemplateLanguage::PowerShell.escape("a\u{0}b").is_err());
        assert_eq!(inf_quote("QVS01"), "\"QVS01\"");
        assert_eq!(
            inf_quote("say \"hi\" 100% %PATH%"),
            "\"say \"\"hi\"\" 100%% %%PATH%%\""
        );
        assert!(TemplateLanguage::Inf.escape("a\rb").is_err());
        assert!(TemplateLanguage::Inf.escape("a\u{202e}b").is_err());
        assert!(TemplateLanguage::Cmd.escape("QVS01").is_err());
    }

    #[test]
    fn subjects_are_quoted_for_certreq_and_escaped_for_openssl() {
        assert_eq!(x500_subject("QVS01"), "CN=QVS01");
        assert_eq!(x500_subject("Acme's CA 100%"), "CN=Acme's CA 100%");
        assert_eq!(x500_subject("a, b + \"c\""), "CN=\"a, b + \"\"c\"\"\"");
        assert_eq!(x500_subject("#1;<x>=y"), "CN=\"#1;<x>=y\"");
        assert_eq!(openssl_subject("QVS01"), "/CN=QVS01");
        assert_eq!(openssl_subject("a+b=c \"d\""), "/CN=a\\+b=c \"d\"");
    }

    #[test]
    fn each_language_is_written_in_the_encoding_its_reader_needs() {
        let ps = TemplateLanguage::PowerShell
            .encode("a\nb\r\n\u{fc}")
            .expect("ps");
        assert_eq!(ps, b"\xEF\xBB\xBFa\r\nb\r\n\xC3\xBC");
        let inf = TemplateLanguage::Inf.encode("a\n\u{fc}").expect("inf");
        assert_eq!(inf, [0xFF, 0xFE, b'a', 0, b'\r', 0, b'\n', 0, 0xFC, 0]);
        assert_eq!(
            TemplateLanguage::Cmd.encode("@echo off\n").expect("cmd"),
            b"@echo off\r\n"
        );
        assert!(TemplateLanguage::Cmd.encode("rem \u{fc}\n").is_err());
        assert_eq!(TemplateLanguage::Sh.encode("a\nb").expect("sh"), b"a\nb");
        assert!(
            TemplateLanguage::Text
                .encode("x")
                .expect("txt")
                .starts_with(&UTF8_BOM)
        );
    }

    #[test]
    fn the_renderer_escapes_every_value_and_refuses_what_it_cannot_escape() {
        let context = minijinja::context! { name => "it's $(x)" };
        let ps =
            render_source("t.ps1.j2", "$a = {{ name }}; $b = {{ name|ps }}", &context).expect("ps");
        assert_eq!(ps, "$a = 'it''s $(x)'; $b = 'it''s $(x)'");
        let sh = render_source("t.sh.j2", "a={{ name }}", &context).expect("sh");
        assert_eq!(sh, "a='it'\\''s $(x)'");
        let inf =
            render_source("t.inf.j2", "a={{ name }} b={{ name|inf }}", &context).expect("inf");
        assert_eq!(inf, "a=\"it's $(x)\" b=\"it's $(x)\"");
        // An included template escapes for its own language.
        let included = render_source("t.sh.j2", "{% include \"u.ps1.j2\" %}", &context).map(drop);
        assert!(included.is_err(), "u.ps1.j2 does not exist");
        for (name, source) in [
            ("t.sh.j2", "{{ name|ps }}"),
            ("t.ps1.j2", "{{ name|sh }}"),
            ("t.ps1.j2", "{{ name|safe }}"),
            (
                "t.sh.j2",
                "{% autoescape false %}{{ name }}{% endautoescape %}",
            ),
            ("t.bat.j2", "{{ name }}"),
            ("t.sh.j2", "{{ missing }}"),
            ("t.cmd.j2", "{{ name }}"),
            ("t.cmd.j2", "{{ name|cmd }}"),
            ("t.cmd.j2", "{{ 'literal' }}"),
            ("t.inf.j2", "{{ name|ps }}"),
        ] {
            assert!(
                render_source(name, source, &context).is_err(),
                "{name}: {source} must be refused"
            );
        }
    }

    #[test]
    fn install_ps1_parses_with_every_name_in_a_verbatim_string() {
        let mut parser = tree_sitter::Parser::new();
        parser
            .set_language(&tree_sitter_powershell::LANGUAGE.into())
            .expect("PowerShell grammar");
        for (root, client) in HOSTILE {
            let scripts = render_scripts(&values(root, client)).expect("render");
            let ps1 = script(&scripts, "install.ps1");
            let ps1 = ps1.as_str();
            let tree = parser.parse(ps1, None).expect("parse");
            assert!(
                !tree.root_node().has_error(),
                "{root:?} / {client:?}: install.ps1 has a syntax error:\n{ps1}"
            );
            let mut all = Vec::new();
            leaves(tree.root_node(), &mut all);
            let mut strings = Vec::new();
            for leaf in all {
                let text = &ps1[leaf.byte_range()];
                if text.contains("MARK") {
                    assert_eq!(
                        leaf.kind(),
                        "verbatim_string_characters",
                        "{text:?} is not in a single-quoted string"
                    );
                    strings.push(
                        powershell_verbatim_value(text)
                            .unwrap_or_else(|| panic!("{text:?}: a quote is not doubled")),
                    );
                }
            }
            for name in [root, client] {
                assert!(strings.iter().any(|s| s == name), "{name:?} in {strings:?}");
            }
        }
    }

    #[test]
    fn install_sh_passes_sh_n_and_shellcheck_and_assigns_every_name_intact() {
        let shellcheck = std::process::Command::new("shellcheck")
            .arg("--version")
            .output()
            .is_ok();
        for (root, client) in HOSTILE {
            let scripts = render_scripts(&values(root, client)).expect("render");
            let sh = script(&scripts, "install.sh");
            let dir = tempfile::tempdir().expect("temp");
            let path = dir.path().join("install.sh");
            std::fs::write(&path, &sh).expect("write");
            let check = std::process::Command::new("sh")
                .arg("-n")
                .arg(&path)
                .output()
                .expect("sh");
            assert!(check.status.success(), "sh -n: {check:?}");
            if shellcheck {
                let check = std::process::Command::new("shellcheck")
                    .args(["-s", "sh"])
                    .arg(&path)
                    .output()
                    .expect("shellcheck");
                assert!(
                    check.status.success(),
                    "{root:?} / {client:?}: {}",
                    String::from_utf8_lossy(&check.stdout)
                );
            }
            // Run the block of assignments for real and read the values back.
            let start = sh.find("\n{\n").expect("assignment block");
            let end = start + sh[start..].find("\n}\n").expect("block end") + 3;
            let probe = format!(
                "{}printf '%s\\n' \"$root_name\" \"$client_name\" \"$root_file\"\n",
                &sh[start..end]
            );
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&probe)
                .current_dir(dir.path())
                .output()
                .expect("sh");
            assert!(out.status.success(), "{out:?}");
            let expected = format!(
                "{root}\n{client}\n{}\n",
                crate::domain::name::file_name(root, "cer")
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
            assert!(!dir.path().join("PWNED").exists());
        }
    }

    #[test]
    fn the_readme_shows_names_as_they_are() {
        let (root, client) = HOSTILE[0];
        let scripts = render_scripts(&values(root, client)).expect("render");
        let readme = script(&scripts, "README.txt");
        assert!(readme.contains(root) && readme.contains(client), "{readme}");
        let keyless = render_keyless_scripts(&keyless_values(root, client, KeyType::Rsa2048))
            .expect("render");
        let readme = script(&keyless, "README.txt");
        assert!(readme.contains(root) && readme.contains(client), "{readme}");
        assert!(
            readme.contains("qvca sign QVS01.csr --server --out QVS01.cer"),
            "{readme}"
        );
    }

    /// Every value reaches a PowerShell script in exactly one way: a line `$Name = {{ value }}`
    /// near the top, never inside a string, a here-string, a comment or the help block (a `#>`
    /// in a value would end it). A `.cmd` template has no template syntax at all.
    #[test]
    fn templates_place_values_only_where_their_escaping_holds() {
        let assignment = |line: &str| -> bool {
            let Some(rest) = line.strip_prefix('$') else {
                return false;
            };
            let (name, value) = rest.split_once('=').unwrap_or(("", ""));
            let name = name.trim_end();
            let value = value.trim();
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric())
                && value.starts_with("{{ ")
                && value.ends_with(" }}")
                && value[3..value.len() - 3]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for &(name, source) in TEMPLATES {
            match TemplateLanguage::of_template(name).expect("a language") {
                TemplateLanguage::PowerShell => {
                    for line in source.lines().filter(|l| l.contains("{{")) {
                        assert!(assignment(line), "{name}: {line:?}");
                    }
                    assert!(!source.contains("{%") || name != "windows-common.ps1.j2");
                }
                TemplateLanguage::Cmd => {
                    assert!(!source.contains("{{") && !source.contains("{%"), "{name}");
                }
                _ => {}
            }
        }
    }

    /// The C# helper is compiled once per PowerShell session and skipped when a type of its
    /// name exists: a changed source under the old name would run the old code. If this test
    /// fails, rename the class (NativeV1 -> NativeV2 ...) everywhere and record the new hash.
    #[test]
    fn the_native_helper_is_renamed_whenever_its_source_changes() {
        use sha2::{Digest, Sha256};
        let common = TEMPLATES
            .iter()
            .find(|(n, _)| *n == "windows-common.ps1.j2")
            .map(|(_, s)| *s)
            .expect("common");
        let start = common.find("$nativeSource = @'").expect("here-string");
        let end = start + common[start..].find("\n'@").expect("end");
        let source = &common[start..end];
        let class = source
            .split("public static class ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("class");
        let hash = hex::encode(Sha256::digest(source.as_bytes()));
        let recorded = [(
            "NativeV1",
            "e28322bdffc7aebc34e09f94718325a39d6068b709fd6f6da4a197f5057f36cf",
        )];
        assert!(
            recorded.contains(&(class, hash.as_str())),
            "the native helper {class} has the hash {hash}: if its source changed, rename the \
             class and record the new pair"
        );
        assert!(common.contains(&format!("'QvcaNodeInstall.{class}' -as [type]")));
        for &(name, source) in TEMPLATES {
            if name.ends_with(".ps1.j2") && name != "windows-common.ps1.j2" {
                for other in ["NativeV0", "NativeV2", "NativeV3"] {
                    assert!(!source.contains(other), "{name} names {other}");
                }
            }
        }
    }

    #[test]
    fn request_inf_quotes_the_subject_for_certreq_and_is_utf16() {
        for (key_type, storage, algorithm) in [
            (KeyType::Rsa2048, KeyStorage::Capi, "KeyAlgorithm = RSA"),
            (KeyType::Rsa2048, KeyStorage::Cng, "KeyAlgorithm = RSA"),
            (KeyType::P256, KeyStorage::Cng, "KeyAlgorithm = ECDSA_P256"),
        ] {
            let mut values = keyless_values("QlikViewCA", "Acme \"Proxy\", 100%", key_type);
            values.key_storage = storage;
            let files = render_keyless_scripts(&values).expect("render");
            let bytes = &files
                .iter()
                .find(|f| f.name == "client-request.inf")
                .expect("inf")
                .bytes;
            assert!(bytes.starts_with(&[0xFF, 0xFE]), "UTF-16LE with BOM");
            let inf = script(&files, "client-request.inf");
            assert!(
                inf.contains("\r\nSubject = \"CN=\"\"Acme \"\"\"\"Proxy\"\"\"\", 100%%\"\"\"\r\n"),
                "{inf}"
            );
            assert!(inf.contains(algorithm), "{inf}");
            assert!(inf.contains("MachineKeySet = TRUE") && inf.contains("Exportable = FALSE"));
            let provider = format!("ProviderName = \"{}\"", storage.provider());
            assert!(inf.contains(&provider), "{inf}");
            let server = script(&files, "request.inf");
            assert!(
                server.contains("\r\nSubject = \"CN=QVS01\"\r\n"),
                "{server}"
            );
            assert!(server.contains("_continue_ = \"dns=QVS01\""), "{server}");
            assert!(server.contains("1.3.6.1.5.5.7.3.1"), "{server}");
        }
    }
}
