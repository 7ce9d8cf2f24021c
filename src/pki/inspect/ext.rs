//! Pieces shared by the lenient readers of certificates, CRLs and requests: extensions shown
//! one by one (decoded, or raw with the decode error), names, SAN entries, OIDs in words.

use const_oid::ObjectIdentifier;
use der::Decode;
use serde::Serialize;
use x509_parser::der_parser::oid::Oid;
use x509_parser::extensions::{
    ExtendedKeyUsage, GeneralName, KeyUsage, ParsedExtension, X509Extension,
};
use x509_parser::x509::X509Name;

/// At most this many bytes of an undecodable value are shown (as hex).
pub const RAW_HEX_LIMIT: usize = 64;

/// One extension as `inspect` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExtensionReport {
    /// The extension's OID.
    pub oid: String,
    /// Its usual name (`basicConstraints`, `subjectAltName`, ...), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it is marked critical.
    pub critical: bool,
    /// Its value in words, when qvca decodes this kind of extension and it decodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The raw value (hex, at most 64 bytes) when it is not decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Why it could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Hex of at most [`RAW_HEX_LIMIT`] bytes, with the total length when cut.
pub fn bounded_hex(bytes: &[u8]) -> String {
    if bytes.len() <= RAW_HEX_LIMIT {
        hex::encode_upper(bytes)
    } else {
        format!(
            "{}… ({} bytes)",
            hex::encode_upper(&bytes[..RAW_HEX_LIMIT]),
            bytes.len()
        )
    }
}

/// A serial number as upper-case hex without the leading zero octets of its encoding (as
/// `Serial::to_hex` shows it); a serial of zeros only keeps one.
pub fn serial_hex(serial: &[u8]) -> String {
    let zeros = serial.iter().take_while(|b| **b == 0).count();
    let trimmed = if zeros == serial.len() {
        &serial[serial.len().saturating_sub(1)..]
    } else {
        &serial[zeros..]
    };
    hex::encode_upper(trimmed)
}

fn to_const_oid(oid: &Oid<'_>) -> Option<ObjectIdentifier> {
    ObjectIdentifier::from_bytes(oid.as_bytes()).ok()
}

/// The usual name of an extension OID.
fn extension_name(oid: &Oid<'_>) -> Option<String> {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .ok()
        .map(str::to_owned)
}

/// Describes every extension, and notes duplicates and strict-DER failures.
pub fn describe_extensions(
    extensions: &[X509Extension<'_>],
    problems: &mut Vec<String>,
    non_der: &mut Vec<String>,
) -> Vec<ExtensionReport> {
    let mut seen: Vec<&Oid<'_>> = Vec::new();
    let mut out = Vec::new();
    for ext in extensions {
        let name = extension_name(&ext.oid);
        let label = name.clone().unwrap_or_else(|| ext.oid.to_id_string());
        if seen.contains(&&ext.oid) {
            problems.push(format!(
                "the extension {label} appears more than once (RFC 5280 allows each once); the \
                 first is used"
            ));
        } else {
            seen.push(&ext.oid);
        }
        let mut report = ExtensionReport {
            oid: ext.oid.to_id_string(),
            name,
            critical: ext.critical,
            value: None,
            raw: None,
            error: None,
        };
        match ext.parsed_extension() {
            ParsedExtension::ParseError { error } => {
                report.raw = Some(bounded_hex(ext.value));
                report.error = Some(error.to_string());
                problems.push(format!(
                    "the extension {label}{} cannot be decoded ({error}); it is shown raw",
                    if ext.critical { " (critical)" } else { "" }
                ));
            }
            ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::Unparsed => {
                report.raw = Some(bounded_hex(ext.value));
            }
            parsed => {
                report.value = Some(describe_value(parsed, problems, &label));
                if let Some(e) = strict_der_error(&ext.oid, ext.value) {
                    non_der.push(format!("the extension {label} is not strict DER ({e})"));
                }
            }
        }
        out.push(report);
    }
    out
}

/// The strict (x509-cert) decode error of a known extension value, if any.
fn strict_der_error(oid: &Oid<'_>, value: &[u8]) -> Option<der::Error> {
    use const_oid::db::rfc5280 as o;
    use x509_cert::ext::pkix as p;
    let oid = to_const_oid(oid)?;
    let result = match oid {
        o::ID_CE_BASIC_CONSTRAINTS => p::BasicConstraints::from_der(value).map(|_| ()),
        o::ID_CE_KEY_USAGE => p::KeyUsage::from_der(value).map(|_| ()),
        o::ID_CE_EXT_KEY_USAGE => p::ExtendedKeyUsage::from_der(value).map(|_| ()),
        o::ID_CE_SUBJECT_ALT_NAME => p::SubjectAltName::from_der(value).map(|_| ()),
        o::ID_CE_ISSUER_ALT_NAME => p::IssuerAltName::from_der(value).map(|_| ()),
        o::ID_CE_SUBJECT_KEY_IDENTIFIER => p::SubjectKeyIdentifier::from_der(value).map(|_| ()),
        o::ID_CE_AUTHORITY_KEY_IDENTIFIER => p::AuthorityKeyIdentifier::from_der(value).map(|_| ()),
        o::ID_CE_CRL_DISTRIBUTION_POINTS => p::CrlDistributionPoints::from_der(value).map(|_| ()),
        o::ID_CE_CRL_NUMBER => p::CrlNumber::from_der(value).map(|_| ()),
        o::ID_CE_CRL_REASONS => p::CrlReason::from_der(value).map(|_| ()),
        _ => Ok(()),
    };
    result.err()
}

/// A decoded extension value in words.
fn describe_value(parsed: &ParsedExtension<'_>, problems: &mut Vec<String>, label: &str) -> String {
    match parsed {
        ParsedExtension::BasicConstraints(bc) => basic_constraints_words(bc),
        ParsedExtension::KeyUsage(ku) => key_usage_names(ku).join(", "),
        ParsedExtension::ExtendedKeyUsage(eku) => eku_names(eku).join(", "),
        ParsedExtension::SubjectAlternativeName(san) => {
            general_names(&san.general_names, problems, label)
        }
        ParsedExtension::IssuerAlternativeName(ian) => {
            general_names(&ian.general_names, problems, label)
        }
        ParsedExtension::SubjectKeyIdentifier(id) => hex::encode_upper(id.0),
        ParsedExtension::AuthorityKeyIdentifier(aki) => {
            authority_key_id_words(aki, problems, label)
        }
        ParsedExtension::CRLDistributionPoints(points) => {
            distribution_points_words(points, problems, label)
        }
        ParsedExtension::AuthorityInfoAccess(aia) => access_words(aia, problems, label),
        ParsedExtension::CertificatePolicies(policies) => policies
            .iter()
            .map(|p| oid_words(&p.policy_id))
            .collect::<Vec<_>>()
            .join(", "),
        ParsedExtension::CRLNumber(n) => n.to_str_radix(16).to_uppercase(),
        ParsedExtension::ReasonCode(code) => reason_words(code.0).to_owned(),
        ParsedExtension::InvalidityDate(t) => t.to_datetime().date().to_string(),
        ParsedExtension::InhibitAnyPolicy(n) => format!("skip certs: {}", n.skip_certs),
        ParsedExtension::PolicyConstraints(c) => format!(
            "requireExplicitPolicy:{:?}, inhibitPolicyMapping:{:?}",
            c.require_explicit_policy, c.inhibit_policy_mapping
        ),
        ParsedExtension::NameConstraints(nc) => name_constraints_words(nc, label),
        ParsedExtension::SCT(scts) => format!("{} signed certificate timestamps", scts.len()),
        ParsedExtension::NSCertType(t) => format!("{t}"),
        ParsedExtension::NsCertComment(c) => (*c).to_owned(),
        other => format!("{other:?}").chars().take(200).collect(),
    }
}

/// basicConstraints as openssl writes it: `CA:TRUE, pathlen:0`.
fn basic_constraints_words(bc: &x509_parser::extensions::BasicConstraints) -> String {
    let mut text = if bc.ca { "CA:TRUE" } else { "CA:FALSE" }.to_owned();
    if let Some(len) = bc.path_len_constraint {
        text.push_str(&format!(", pathlen:{len}"));
    }
    text
}

/// authorityKeyIdentifier: `keyid:…, issuer:…, serial:…`, each part when present.
fn authority_key_id_words(
    aki: &x509_parser::extensions::AuthorityKeyIdentifier<'_>,
    problems: &mut Vec<String>,
    label: &str,
) -> String {
    let mut parts = Vec::new();
    if let Some(id) = &aki.key_identifier {
        parts.push(format!("keyid:{}", hex::encode_upper(id.0)));
    }
    if let Some(names) = &aki.authority_cert_issuer {
        parts.push(format!("issuer:{}", general_names(names, problems, label)));
    }
    if let Some(serial) = aki.authority_cert_serial {
        parts.push(format!("serial:{}", hex::encode_upper(serial)));
    }
    parts.join(", ")
}

/// cRLDistributionPoints: each point's full name, `;`-separated.
fn distribution_points_words(
    points: &x509_parser::extensions::CRLDistributionPoints<'_>,
    problems: &mut Vec<String>,
    label: &str,
) -> String {
    points
        .points
        .iter()
        .map(|p| match &p.distribution_point {
            Some(x509_parser::extensions::DistributionPointName::FullName(names)) => {
                general_names(names, problems, label)
            }
            Some(_) => "(relative name)".to_owned(),
            None => "(CRL issuer only)".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// authorityInfoAccess: `method - location` per access description, `;`-separated.
fn access_words(
    aia: &x509_parser::extensions::AuthorityInfoAccess<'_>,
    problems: &mut Vec<String>,
    label: &str,
) -> String {
    aia.accessdescs
        .iter()
        .map(|d| {
            let method = oid_words(&d.access_method);
            format!(
                "{method} - {}",
                general_name(&d.access_location, problems, label)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// nameConstraints: `permitted: […], excluded: […]`.
fn name_constraints_words(
    nc: &x509_parser::extensions::NameConstraints<'_>,
    label: &str,
) -> String {
    let side = |trees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
        trees
            .iter()
            .flatten()
            .map(|t| general_name(&t.base, &mut Vec::new(), label))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "permitted: [{}], excluded: [{}]",
        side(&nc.permitted_subtrees),
        side(&nc.excluded_subtrees)
    )
}

/// The RFC 5280 name of a CRL reason code.
pub fn reason_words(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown reason",
    }
}

/// An OID in words where known, else dotted.
pub fn oid_words(oid: &Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map_or_else(|_| oid.to_id_string(), str::to_owned)
}

/// The signature algorithm in the words openssl uses.
pub fn algorithm_name(oid: &Oid<'_>) -> String {
    to_const_oid(oid).map_or_else(
        || oid.to_id_string(),
        |o| crate::pki::certificate::algorithm_name(&o),
    )
}

/// Key usage names in RFC 5280 spelling.
pub fn key_usage_names(ku: &KeyUsage) -> Vec<String> {
    crate::pki::certificate::key_usage_names_of_bits(ku.flags)
}

/// The names of the extended key usages x509-parser flags: anyExtendedKeyUsage first, then
/// those of [`crate::pki::certificate::EKU_NAMES`], in its order.
pub(crate) fn flagged_eku_names(eku: &ExtendedKeyUsage<'_>) -> Vec<&'static str> {
    let flags = [
        eku.server_auth,
        eku.client_auth,
        eku.code_signing,
        eku.email_protection,
        eku.time_stamping,
        eku.ocsp_signing,
    ];
    let known = flags
        .into_iter()
        .zip(crate::pki::certificate::EKU_NAMES)
        .filter(|(set, _)| *set)
        .map(|(_, (_, name))| name);
    eku.any
        .then_some("anyExtendedKeyUsage")
        .into_iter()
        .chain(known)
        .collect()
}

/// Extended key usage names (`serverAuth`, ... or the OID).
pub fn eku_names(eku: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let mut names: Vec<String> = flagged_eku_names(eku)
        .into_iter()
        .map(str::to_owned)
        .collect();
    names.extend(eku.other.iter().map(|o| {
        to_const_oid(o).map_or_else(
            || o.to_id_string(),
            |c| crate::pki::certificate::eku_name(&c),
        )
    }));
    names
}

/// Sorts SAN entries into DNS names, IP addresses and everything else.
pub fn san_entries(
    names: &[GeneralName<'_>],
    dns: &mut Vec<String>,
    ips: &mut Vec<String>,
    others: &mut Vec<String>,
) {
    for name in names {
        match name {
            GeneralName::DNSName(n) => dns.push((*n).to_owned()),
            GeneralName::IPAddress(octets) => {
                ips.push(crate::pki::certificate::ip_to_string(octets))
            }
            other => others.push(general_name(other, &mut Vec::new(), "subjectAltName")),
        }
    }
}

fn general_names(names: &[GeneralName<'_>], problems: &mut Vec<String>, label: &str) -> String {
    names
        .iter()
        .map(|n| general_name(n, problems, label))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One GeneralName as openssl writes it (`DNS:`, `IP Address:`, `email:`, `URI:`, ...).
fn general_name(name: &GeneralName<'_>, problems: &mut Vec<String>, label: &str) -> String {
    match name {
        GeneralName::DNSName(n) => format!("DNS:{n}"),
        GeneralName::IPAddress(octets) => {
            format!("IP:{}", crate::pki::certificate::ip_to_string(octets))
        }
        GeneralName::RFC822Name(n) => format!("email:{n}"),
        GeneralName::URI(n) => format!("URI:{n}"),
        GeneralName::DirectoryName(n) => format!("DirName:{n}"),
        GeneralName::RegisteredID(oid) => format!("Registered ID:{}", oid.to_id_string()),
        GeneralName::OtherName(oid, value) => {
            format!("othername:{}:{}", oid_words(oid), bounded_hex(value))
        }
        GeneralName::X400Address(any) => {
            format!("x400Address:{}", bounded_hex(any.data))
        }
        GeneralName::EDIPartyName(any) => {
            format!("ediPartyName:{}", bounded_hex(any.data))
        }
        GeneralName::Invalid(tag, raw) => {
            let kind = match tag.0 {
                1 => "email",
                2 => "DNS",
                6 => "URI",
                _ => "name",
            };
            problems.push(format!(
                "a {kind} entry of {label} is not valid text (an IA5String must be ASCII); it \
                 is shown as hex"
            ));
            format!("{kind}:(invalid) {}", bounded_hex(raw))
        }
    }
}

/// A DN as RFC 4514 text: the strict decoding where the name is strict DER (the same text
/// `show` and `verify` print), else a lenient one with undecodable values as `#hex`.
pub fn name_to_string(name: &X509Name<'_>, non_der: &mut Vec<String>, what: &str) -> String {
    match x509_cert::name::Name::from_der(name.as_raw()) {
        Ok(strict) => strict.to_string(),
        Err(e) => {
            non_der.push(format!("the {what} name is not strict DER ({e})"));
            let mut rdns: Vec<String> = name
                .iter_rdn()
                .map(|rdn| {
                    rdn.iter()
                        .map(|atv| {
                            let key = x509_parser::objects::oid2abbrev(
                                atv.attr_type(),
                                x509_parser::objects::oid_registry(),
                            )
                            .map_or_else(|_| atv.attr_type().to_id_string(), str::to_owned);
                            let value = atv.as_str().map_or_else(
                                |_| format!("#{}", hex::encode_upper(atv.as_slice())),
                                str::to_owned,
                            );
                            format!("{key}={value}")
                        })
                        .collect::<Vec<_>>()
                        .join("+")
                })
                .collect();
            rdns.reverse();
            rdns.join(",")
        }
    }
}

/// The first common name of a DN, if it is text.
pub fn common_name_of(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}
