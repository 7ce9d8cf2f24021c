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
    let server_details = CertificateDetails::from_der(&ca.certificate_der(server)?)?;
    let values = ScriptValues {
        machine: server.name.clone(),
        client_name: client.name.clone(),
        root_name,
        root_thumbprint: root.sha1_thumbprint.clone(),
        server_thumbprint: server_details.sha1_thumbprint,
        encryption: request.encryption,
        created: time::OffsetDateTime::now_utc(),
    };
    let (server_pfx, client_pfx, root_file) = values.file_names();
    let server_bytes = pfx_for(ca, signer, server, password, request.encryption)?;
    let client_bytes = pfx_for(ca, signer, client, password, request.encryption)?;
    let scripts = render_scripts(&values)?;

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

/// The values the install scripts and the README are rendered with.
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
    /// The PKCS#12 encryption of the package.
    pub encryption: PfxEncryption,
    /// When the package is made.
    pub created: time::OffsetDateTime,
}

impl ScriptValues {
    /// The package's file names: the Server PFX, the Client PFX and the root certificate,
    /// each made from its name by [`crate::name::file_name`].
    pub fn file_names(&self) -> (String, String, String) {
        (
            crate::name::file_name(&self.machine, "pfx"),
            crate::name::file_name(&self.client_name, "pfx"),
            crate::name::file_name(&self.root_name, "cer"),
        )
    }
}

/// Renders `install.ps1`, `install.sh` and `README.txt` (file name, text) from the embedded
/// templates, every value escaped for the template's language.
pub fn render_scripts(values: &ScriptValues) -> Result<Vec<(&'static str, String)>> {
    let (server_pfx, client_pfx, root_file) = values.file_names();
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
        created => crate::issue::date(values.created),
        machine => values.machine.clone(),
        node_dir => crate::name::file_name(&values.machine, ""),
        client_name => values.client_name.clone(),
        root_name => values.root_name.clone(),
        root_file => root_file,
        root_crt => crate::name::file_name(&values.root_name, "crt"),
        server_pfx => server_pfx,
        client_pfx => client_pfx,
        root_thumbprint => values.root_thumbprint.clone(),
        server_thumbprint => values.server_thumbprint.clone(),
        legacy_flag => if values.encryption == PfxEncryption::Legacy { "-legacy" } else { "" },
        encryption => match values.encryption {
            PfxEncryption::Modern => "AES-256, for Windows Server 2019 and later",
            PfxEncryption::Legacy => "3DES, for Windows Server 2016 and older",
        },
        service_ports => minijinja::Value::from(minijinja::value::Serde(lines(PortTable::ServiceToService))),
        install_ports => minijinja::Value::from(minijinja::value::Serde(lines(PortTable::CertificateInstallation))),
    };
    Ok(vec![
        (
            "install.ps1",
            render("install.ps1.j2", INSTALL_PS1, &context)?,
        ),
        ("install.sh", render("install.sh.j2", INSTALL_SH, &context)?),
        ("README.txt", render("README.txt.j2", README_TXT, &context)?),
    ])
}

/// The language a template renders to, from its file name; it decides how every value is
/// escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateLanguage {
    /// `*.ps1.j2`: every value becomes a PowerShell single-quoted (verbatim) string.
    PowerShell,
    /// `*.sh.j2`: every value becomes a POSIX sh single-quoted string.
    Sh,
    /// `*.txt.j2`: plain text with control and formatting characters made visible.
    Text,
}

impl TemplateLanguage {
    /// The language of the template named `name`; None for a template qvca cannot escape for.
    pub fn of_template(name: &str) -> Option<Self> {
        if name.ends_with(".ps1.j2") {
            Some(Self::PowerShell)
        } else if name.ends_with(".sh.j2") {
            Some(Self::Sh)
        } else if name.ends_with(".txt.j2") {
            Some(Self::Text)
        } else {
            None
        }
    }

    /// The name of its filter and auto-escape mode: `ps`, `sh` or `text`.
    pub fn filter_name(self) -> &'static str {
        match self {
            Self::PowerShell => "ps",
            Self::Sh => "sh",
            Self::Text => "text",
        }
    }

    fn from_auto_escape(mode: &minijinja::AutoEscape) -> Option<Self> {
        match mode {
            minijinja::AutoEscape::Custom(name) => [Self::PowerShell, Self::Sh, Self::Text]
                .into_iter()
                .find(|l| l.filter_name() == name.as_ref()),
            _ => None,
        }
    }

    /// `value` escaped for this language. A control or formatting character in a value for a
    /// script is an error (validated names never have one).
    pub fn escape(self, value: &str) -> std::result::Result<String, String> {
        if self != Self::Text
            && let Some(c) = value.chars().find(|c| crate::name::is_hidden_char(*c))
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
        })
    }
}

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

/// `text` with every control or formatting character shown as `\u{..}`, for plain-text files.
pub fn visible_text(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::name::is_hidden_char(c) {
            shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    shown
}

/// Renders one embedded template. Every value it prints is escaped for the template's
/// language ([`TemplateLanguage::of_template`]), whether or not the template applies the
/// language's filter (`|ps`, `|sh`, `|text`); a template of another kind, a filter of the wrong
/// language, `|safe` or an `autoescape false` block is an error. A missing variable is an
/// error, never an empty string.
fn render(name: &str, source: &str, context: &minijinja::Value) -> Result<String> {
    use minijinja::{AutoEscape, ErrorKind as JinjaErrorKind, State, Value};
    let jinja_error =
        |message: String| minijinja::Error::new(JinjaErrorKind::InvalidOperation, message);
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
                 *.sh.j2 and *.txt.j2 templates, without autoescape blocks)",
                    state.name()
                ))
            })?;
        if value.is_undefined() || value.is_none() {
            return Err(jinja_error("a missing value cannot be printed".into()));
        }
        let text = if value.is_safe() {
            value.to_string()
        } else {
            language.escape(&value.to_string()).map_err(jinja_error)?
        };
        out.write_str(&text)
            .map_err(|_| jinja_error("writing the rendered template failed".into()))
    });
    env.remove_filter("safe");
    for language in [
        TemplateLanguage::PowerShell,
        TemplateLanguage::Sh,
        TemplateLanguage::Text,
    ] {
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
    env.render_named_str(name, source, context)
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

#[cfg(test)]
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
            encryption: PfxEncryption::Modern,
            created: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn script<'a>(scripts: &'a [(&'static str, String)], name: &str) -> &'a str {
        scripts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_str())
            .expect("rendered")
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
    }

    #[test]
    fn the_renderer_escapes_every_value_and_refuses_what_it_cannot_escape() {
        let context = minijinja::context! { name => "it's $(x)" };
        let ps = render("t.ps1.j2", "$a = {{ name }}; $b = {{ name|ps }}", &context).expect("ps");
        assert_eq!(ps, "$a = 'it''s $(x)'; $b = 'it''s $(x)'");
        let sh = render("t.sh.j2", "a={{ name }}", &context).expect("sh");
        assert_eq!(sh, "a='it'\\''s $(x)'");
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
        ] {
            assert!(
                render(name, source, &context).is_err(),
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
            std::fs::write(&path, sh).expect("write");
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
                crate::name::file_name(root, "cer")
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
    }
}
