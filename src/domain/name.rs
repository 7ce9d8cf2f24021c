//! Names that certificates are issued to.
//!
//! A [`MachineName`] is the name a Server certificate is issued to. Seed 001: "You must reference
//! the QlikView Server by its machine name, and not by the IP address or fully qualified domain
//! name." Constructing one is the validation: IP addresses are refused, FQDNs are refused unless
//! explicitly allowed, and the name must be a valid host label (letters, digits, hyphens, 1-63
//! characters, no leading or trailing hyphen). A [`CommonName`] is the subject of the root or a
//! Client certificate (`QlikViewCA`, `QVProxy` by default).
//!
//! These two types are the one validation of each kind of name, whatever its source: the
//! command line, `--from-file`, `--cn`, a `--template`'s subject, a restored index, the CN of a
//! certificate in a foreign PKCS#12. A name that passes may still be hostile to a shell or a
//! script (`Acme's CA $(x)` is a valid common name): scripts escape every value
//! ([`crate::ops::package`]), file names go through [`file_name`], and the CLI escapes control
//! characters in everything it prints.

use crate::error::{Error, Result};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The longest label a DNS name may have (RFC 1123).
pub const MAX_LABEL_LEN: usize = 63;
/// Longer machine names are truncated by NetBIOS, which Windows services of the QlikView era use.
pub const NETBIOS_MAX_LEN: usize = 15;
/// The longest FQDN accepted with `--allow-fqdn` (RFC 1035).
const MAX_FQDN_LEN: usize = 253;

/// A validated machine name (or, when explicitly allowed, a fully qualified domain name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MachineName(String);

/// Whether fully qualified domain names are accepted (`--allow-fqdn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FqdnPolicy {
    /// Only machine names (the seed's rule).
    #[default]
    Refuse,
    /// The one escape hatch: FQDNs whose labels are valid host labels.
    Allow,
}

impl MachineName {
    /// Validates `input` as a machine name; the case is kept as given.
    pub fn parse(input: &str, fqdn: FqdnPolicy) -> Result<Self> {
        let shown = shown(input);
        if input.trim().is_empty() {
            return Err(Error::failed(
                "refusing an empty machine name: give the server's machine name, e.g. QVS01",
            ));
        }
        if is_ip_address(input) {
            let why = if input.contains(['.', ':']) {
                ""
            } else {
                " (a name of digits only, or of 0x and hex digits, is read as an address)"
            };
            return Err(Error::failed(format!(
                "refusing {shown}: an IP address; QlikView servers must be referenced by their \
                 machine name, not an IP address: use the machine name, e.g. QVS01{why}"
            )));
        }
        if input.contains('.') {
            if fqdn == FqdnPolicy::Refuse {
                let host = input.split('.').next().unwrap_or_default();
                let example = if host.is_empty() { "QVS01" } else { host };
                return Err(Error::failed(format!(
                    "refusing {shown}: a fully qualified domain name; QlikView servers must be \
                     referenced by their machine name: use {example}, or pass --allow-fqdn if the \
                     FQDN is really needed"
                )));
            }
            if input.len() > MAX_FQDN_LEN {
                return Err(Error::failed(format!(
                    "refusing {shown}: {} characters; a domain name has at most {MAX_FQDN_LEN}",
                    input.len()
                )));
            }
            for label in input.split('.') {
                check_label(input, label)?;
            }
        } else {
            check_label(input, input)?;
        }
        Ok(Self(input.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `other` names the same machine (Windows compares names case-insensitively).
    pub fn same_as(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }

    /// A warning when the name is longer than NetBIOS allows.
    pub fn netbios_warning(&self) -> Option<String> {
        (!self.0.contains('.') && self.0.len() > NETBIOS_MAX_LEN).then(|| {
            format!(
                "{} has {} characters: NetBIOS truncates machine names to {NETBIOS_MAX_LEN}, so \
                 check that the QlikView services resolve it by this name",
                self.0,
                self.0.len()
            )
        })
    }
}

impl fmt::Display for MachineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated common name for the root (`QlikViewCA`) or a Client certificate (`QVProxy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonName(String);

/// The seed's Client certificate subject.
pub const DEFAULT_CLIENT_NAME: &str = "QVProxy";
/// The seed's root certificate subject.
pub const DEFAULT_ROOT_NAME: &str = "QlikViewCA";

impl CommonName {
    /// The longest common name (X.509's upper bound for a CN, in characters).
    pub const MAX_LEN: usize = 64;

    /// Validates a common name: 1-64 printable characters (any script; inner spaces,
    /// apostrophes, `$`, `%` and the like allowed), no control or bidirectional-formatting
    /// characters, no slash or backslash, no leading or trailing space, not only dots.
    pub fn parse(input: &str) -> Result<Self> {
        let shown = shown(input);
        check_subject_text(input).map_err(|problem| {
            if input.trim().is_empty() {
                Error::failed(
                    "refusing an empty common name: leave the option out to use the default",
                )
            } else {
                Error::failed(format!("refusing {shown}: {problem}"))
            }
        })?;
        if let Some(c) = input.chars().find(|c| matches!(c, '/' | '\\')) {
            return Err(Error::failed(format!(
                "refusing {shown}: a common name cannot contain a slash or backslash (found \
                 {c:?}); it also names files"
            )));
        }
        if input.chars().all(|c| c == '.') {
            return Err(Error::failed(format!(
                "refusing {shown}: a common name cannot be only dots"
            )));
        }
        Ok(Self(input.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The rule of every subject text (CN, O, OU, L, ST): 1 to 64 characters, none of them a
/// control character (C0, DEL, C1) or an invisible formatting character (bidirectional
/// overrides such as U+202E, zero-width characters, line separators), no leading or trailing
/// space. Returns the problem in words.
pub fn check_subject_text(input: &str) -> std::result::Result<(), String> {
    if input.trim().is_empty() {
        return Err("it is empty".into());
    }
    let length = input.chars().count();
    if length > CommonName::MAX_LEN {
        return Err(format!(
            "{length} characters; a subject field has at most {}",
            CommonName::MAX_LEN
        ));
    }
    if let Some(c) = input.chars().find(|c| is_hidden_char(*c)) {
        return Err(format!(
            "it contains the control or formatting character U+{:04X}; only printable \
             characters are allowed",
            u32::from(c)
        ));
    }
    if input.trim() != input {
        return Err("it cannot start or end with a space".into());
    }
    Ok(())
}

/// True for characters that must never reach a terminal, a script or a certificate subject
/// unescaped: control characters (C0, DEL, C1) and the invisible formatting characters that
/// reorder or hide text (bidirectional controls, zero-width characters, line and paragraph
/// separators, the byte-order mark, interlinear annotation).
pub fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Windows device names: reserved as file names with any extension, in any case.
const WINDOWS_RESERVED: [&str; 28] = [
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "COM1",
    "COM2",
    "COM3",
    "COM4",
    "COM5",
    "COM6",
    "COM7",
    "COM8",
    "COM9",
    "LPT1",
    "LPT2",
    "LPT3",
    "LPT4",
    "LPT5",
    "LPT6",
    "LPT7",
    "LPT8",
    "LPT9",
    "COM\u{B9}",
    "COM\u{B2}",
    "COM\u{B3}",
    "LPT\u{B9}",
    "LPT\u{B2}",
    "LPT\u{B3}",
];

/// The one way a name becomes a file name: `<name>.<extension>` as a single safe path
/// component in any directory, on Linux and Windows alike. Separators, characters Windows
/// forbids (`: * ? " < > |`), PowerShell's wildcard characters (`[ ]` and its escape
/// character, the backtick: a `-FilePath` may read them as a pattern) and hidden characters
/// become `_`; a leading dot or a trailing dot
/// or space becomes `_` (no `.`, `..` or hidden file, nothing Windows would silently strip);
/// a Windows device name (`CON`, `NUL`, `COM1`, ... with any extension) gets a `_` prefix;
/// an empty name is `_`. Ordinary names (`QVS01`, `QVProxy`, `Acme's CA`) are unchanged.
pub fn file_name(name: &str, extension: &str) -> String {
    const MAX_STEM_BYTES: usize = 200;
    let mut stem = String::with_capacity(name.len());
    for c in name.chars() {
        if stem.len() + c.len_utf8() > MAX_STEM_BYTES {
            break;
        }
        let bad = is_hidden_char(c)
            || matches!(
                c,
                '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '[' | ']' | '`'
            );
        stem.push(if bad { '_' } else { c });
    }
    if stem.starts_with('.') {
        stem.replace_range(..1, "_");
    }
    let kept = stem.trim_end_matches(['.', ' ']).len();
    let trailing = stem.len() - kept;
    stem.truncate(kept);
    stem.extend(std::iter::repeat_n('_', trailing));
    if stem.is_empty() {
        stem.push('_');
    }
    let device = stem.split('.').next().unwrap_or_default().trim_end();
    if WINDOWS_RESERVED
        .iter()
        .any(|reserved| *reserved == device.to_uppercase())
    {
        stem.insert(0, '_');
    }
    let extension = extension.trim_start_matches('.');
    if extension.is_empty() {
        stem
    } else {
        format!("{stem}.{extension}")
    }
}

/// True when two certificate names are the same name to Windows (case-insensitive, also
/// beyond ASCII).
pub fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

impl fmt::Display for CommonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses machine names one a line (a leading UTF-8 byte-order mark, blank lines and `#`
/// comments ignored, surrounding whitespace trimmed, repeats dropped), reporting every bad line as "`<source>`, line N: problem".
pub fn parse_machine_list(
    text: &str,
    source: &str,
    policy: FqdnPolicy,
) -> std::result::Result<Vec<MachineName>, Vec<String>> {
    // A byte-order mark (Windows editors write one) is not part of the first name.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let lines = text.lines().enumerate().filter_map(|(number, line)| {
        let line = line.trim();
        (!line.is_empty() && !line.starts_with('#'))
            .then(|| (format!("{source}, line {}", number + 1), line))
    });
    collect_names(lines, policy)
}

/// Parses machine names given as command-line arguments, each exactly as given (an empty
/// argument or one with a line break is refused), reporting every bad one as "argument N: problem".
pub fn parse_machine_args(
    args: &[String],
    policy: FqdnPolicy,
) -> std::result::Result<Vec<MachineName>, Vec<String>> {
    let items = args
        .iter()
        .enumerate()
        .map(|(i, arg)| (format!("argument {}", i + 1), arg.as_str()));
    collect_names(items, policy)
}

fn collect_names<'a>(
    items: impl Iterator<Item = (String, &'a str)>,
    policy: FqdnPolicy,
) -> std::result::Result<Vec<MachineName>, Vec<String>> {
    let mut names: Vec<MachineName> = Vec::new();
    // Repeats are found by a set, so that a list of 100,000 names costs linear time.
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for (origin, text) in items {
        match MachineName::parse(text, policy) {
            Ok(name) if !seen.insert(name.as_str().to_ascii_lowercase()) => {}
            Ok(name) => names.push(name),
            Err(e) => problems.push(format!("{origin}: {}", e.message())),
        }
    }
    if problems.is_empty() {
        Ok(names)
    } else {
        Err(problems)
    }
}

/// This host's machine name: the first label of its host name, as the QMS would use it.
pub fn this_machine() -> Result<MachineName> {
    let host = hostname::get().map_err(|e| {
        Error::failed(format!(
            "cannot read this host's name ({e}): give MACHINE explicitly"
        ))
    })?;
    let host = host.to_string_lossy();
    let first = host.split('.').next().unwrap_or_default();
    MachineName::parse(first, FqdnPolicy::Refuse).map_err(|e| {
        Error::failed(format!(
            "this host's name cannot be used as a machine name ({}); give MACHINE explicitly",
            e.message()
        ))
    })
}

/// The name quoted for an error message, with control characters escaped.
fn shown(input: &str) -> String {
    format!("{input:?}")
}

fn is_ip_address(input: &str) -> bool {
    let bare = input
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(input);
    let without_zone = bare.split('%').next().unwrap_or(bare);
    bare.parse::<IpAddr>().is_ok() || without_zone.parse::<Ipv6Addr>().is_ok() || {
        // The forms that inet_aton accepts are IP addresses too: dotted (10.1.2, 0x0a.1.2.3)
        // and a single number (167837954, 0x0a010102, 012); a name of digits only is refused
        // with them, whether or not it fits in 32 bits.
        let parts: Vec<&str> = input.split('.').collect();
        (1..=4).contains(&parts.len())
            && parts.iter().all(|p| {
                !p.is_empty()
                    && (p.chars().all(|c| c.is_ascii_digit())
                        || p.strip_prefix("0x")
                            .or_else(|| p.strip_prefix("0X"))
                            .is_some_and(|hex| {
                                !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
                            }))
            })
    }
}

fn check_label(whole: &str, label: &str) -> Result<()> {
    let shown = shown(whole);
    if label.is_empty() {
        return Err(Error::failed(format!(
            "refusing {shown}: it has an empty label (two dots in a row, or a leading or trailing dot)"
        )));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        let what = if c.is_ascii() {
            format!("found {c:?}")
        } else {
            format!("found the non-ASCII character {c:?}")
        };
        return Err(Error::failed(format!(
            "refusing {shown}: machine names may contain only letters A-Z, digits and hyphens ({what})"
        )));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(Error::failed(format!(
            "refusing {shown}: {} characters; a machine name has at most {MAX_LABEL_LEN}",
            label.len()
        )));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(Error::failed(format!(
            "refusing {shown}: a machine name cannot start or end with a hyphen"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<MachineName> {
        MachineName::parse(s, FqdnPolicy::Refuse)
    }

    #[test]
    fn plain_machine_names_are_accepted_and_keep_their_case() {
        for name in ["QVS01", "qvs-01", "a", "1a234", "0xdemo", &"x".repeat(63)] {
            assert_eq!(parse(name).expect(name).as_str(), name);
        }
    }

    #[test]
    fn ip_addresses_are_refused_with_the_seed_rule() {
        for ip in [
            "10.1.2.3",
            "::1",
            "fe80::1%eth0",
            "[2001:db8::1]",
            "10.1.2",
            "0x0a.1.2.3",
            "167837954",
            "1234",
            "0x0a010102",
            "0X1",
            "0777",
        ] {
            let err = parse(ip).expect_err(ip);
            assert!(err.message().contains("IP address"), "{ip}: {err}");
        }
    }

    #[test]
    fn fqdns_are_refused_unless_allowed() {
        let err = parse("qvs01.corp.local").expect_err("fqdn");
        assert!(err.message().contains("fully qualified"));
        assert!(err.message().contains("--allow-fqdn"));
        assert!(err.message().contains("use qvs01"));
        assert!(MachineName::parse("qvs01.corp.local", FqdnPolicy::Allow).is_ok());
        assert!(MachineName::parse("qvs01..local", FqdnPolicy::Allow).is_err());
    }

    #[test]
    fn bad_characters_lengths_and_hyphens_are_refused() {
        for bad in [
            "",
            " ",
            "qv_s01",
            "qvs 01",
            "qvs01\n",
            "ünicode",
            "-qvs",
            "qvs-",
            &"x".repeat(64),
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(
            parse("ünicode")
                .expect_err("non-ascii")
                .message()
                .contains("non-ASCII")
        );
    }

    #[test]
    fn names_longer_than_netbios_allows_get_a_warning() {
        assert!(parse("QVS01").expect("ok").netbios_warning().is_none());
        assert!(
            parse("QLIKVIEW-SERVER-01")
                .expect("ok")
                .netbios_warning()
                .is_some()
        );
    }

    #[test]
    fn machine_lists_report_every_bad_line_with_its_number() {
        let text = "QVS01\n\n# comment\n10.0.0.1\nqvs01\nqvs02.corp.local\nQVS03\n";
        let problems = parse_machine_list(text, "hosts.txt", FqdnPolicy::Refuse).expect_err("bad");
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].starts_with("hosts.txt, line 4:"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("hosts.txt, line 6:"),
            "{problems:?}"
        );
        let good = parse_machine_list("QVS01\nqvs01\n QVS02 \n", "hosts.txt", FqdnPolicy::Refuse)
            .expect("good");
        assert_eq!(good.len(), 2, "repeats are dropped, case-insensitively");
    }

    #[test]
    fn arguments_are_taken_exactly_as_given() {
        let args = vec!["QVS01".to_owned(), String::new(), "A\nB".to_owned()];
        let problems = parse_machine_args(&args, FqdnPolicy::Refuse).expect_err("bad");
        assert_eq!(problems.len(), 2);
        assert!(problems[0].starts_with("argument 2:"), "{problems:?}");
        assert!(problems[1].starts_with("argument 3:"), "{problems:?}");
    }

    #[test]
    fn non_ascii_labels_in_dotted_names_are_refused_without_a_panic() {
        // Found by the `names` fuzz target: a multi-byte character where a "0x" prefix is looked for.
        let input = "0.o\u{68f}\u{453}.1";
        assert!(MachineName::parse(input, FqdnPolicy::Allow).is_err());
        assert!(MachineName::parse("0.\u{e9}x.1", FqdnPolicy::Refuse).is_err());
        assert!(
            parse_machine_list(
                "QVS1\n# cl.100.\n0.o\u{68f}\u{453}.1\n",
                "f",
                FqdnPolicy::Allow
            )
            .is_err()
        );
    }

    #[test]
    fn common_names_take_printable_unicode_and_refuse_hidden_characters_and_slashes() {
        for good in [
            "QlikViewCA",
            "Acme's CA $(touch X)",
            "QV`id` %PATH% $env:TEMP",
            "\u{dc}n\u{ef}c\u{f8}d\u{e9} CA",
            "Acme\u{2019}s CA",
            "x';calc;'",
            "#> <# @' '@",
            &"\u{e9}".repeat(64),
        ] {
            assert_eq!(CommonName::parse(good).expect(good).as_str(), good);
        }
        for (bad, why) in [
            ("", "empty"),
            (" QV", "space"),
            ("QV ", "space"),
            ("/tmp/x/ABS", "slash"),
            ("../../y", "slash"),
            ("a\\b", "slash"),
            ("..", "dots"),
            ("QV\u{1b}[31m", "U+001B"),
            ("QV\r", "U+000D"),
            ("QV\u{7}", "U+0007"),
            ("QV\u{0}", "U+0000"),
            ("QV\u{85}", "U+0085"),
            ("QV\u{202e}gpj", "U+202E"),
            ("QV\u{200b}", "U+200B"),
            ("QV\nX", "U+000A"),
        ] {
            let err = CommonName::parse(bad).expect_err(bad);
            assert!(err.message().contains(why), "{bad:?}: {err}");
        }
        let long = "\u{e9}".repeat(65);
        assert!(CommonName::parse(&long).is_err(), "65 characters");
    }

    #[test]
    fn file_names_stay_one_safe_component() {
        assert_eq!(file_name("QVS01", "pfx"), "QVS01.pfx");
        assert_eq!(file_name("Acme's CA $(x)", "cer"), "Acme's CA $(x).cer");
        assert_eq!(file_name("/tmp/x/ABS", "cer"), "_tmp_x_ABS.cer");
        assert_eq!(file_name("../../y", "pfx"), "_._.._y.pfx");
        assert_eq!(file_name("..", ""), "__");
        assert_eq!(file_name(".", ""), "_");
        assert_eq!(file_name("", "pfx"), "_.pfx");
        assert_eq!(
            file_name("a:b*c?d\"e<f>g|h\\i", "cer"),
            "a_b_c_d_e_f_g_h_i.cer"
        );
        assert_eq!(file_name("name. ", ""), "name__");
        assert_eq!(
            file_name("Acme [Test] `id` CA", "cer"),
            "Acme _Test_ _id_ CA.cer"
        );
        assert_eq!(file_name("x\u{1b}\u{202e}", "pfx"), "x__.pfx");
        for reserved in [
            "CON",
            "con",
            "Nul",
            "AUX",
            "PRN",
            "COM1",
            "lpt9",
            "COM\u{b9}",
        ] {
            assert_eq!(
                file_name(reserved, "pfx"),
                format!("_{reserved}.pfx"),
                "{reserved}"
            );
        }
        assert_eq!(file_name("nul.tar", "gz"), "_nul.tar.gz");
        assert_eq!(file_name("CONSOLE", "pfx"), "CONSOLE.pfx");
        let long = file_name(&"\u{e9}".repeat(300), "pfx");
        assert!(long.len() <= 204, "{}", long.len());
        for hostile in ["../../y", "/abs", "a/../../b", "C:\\x", "..\\..", "NUL", ""] {
            let name = file_name(hostile, "");
            let path = std::path::Path::new(&name);
            assert_eq!(path.components().count(), 1, "{hostile:?} -> {name:?}");
            assert!(
                matches!(
                    path.components().next(),
                    Some(std::path::Component::Normal(_))
                ),
                "{hostile:?} -> {name:?}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_before_a_machine_list_is_ignored() {
        let names = parse_machine_list(
            "\u{feff}QVS01\r\nQVS02\r\n",
            "hosts.txt",
            FqdnPolicy::Refuse,
        )
        .expect("a list saved by Notepad");
        let names: Vec<&str> = names.iter().map(MachineName::as_str).collect();
        assert_eq!(names, ["QVS01", "QVS02"]);
        assert!(
            parse_machine_list("QVS01\n\u{feff}QVS02\n", "hosts.txt", FqdnPolicy::Refuse).is_err(),
            "only a leading mark is ignored"
        );
    }

    #[test]
    fn names_compare_without_case_beyond_ascii() {
        assert!(same_name("QlikViewCA", "qlikviewca"));
        assert!(same_name("\u{dc}NICODE", "\u{fc}nicode"));
        assert!(!same_name("QVS01", "QVS02"));
    }

    #[test]
    fn lookups_ignore_case() {
        assert!(parse("QVS01").expect("ok").same_as("qvs01"));
    }
}
