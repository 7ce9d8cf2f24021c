//! A lenient PEM reader for `inspect`: blocks anywhere in a text (explanatory text before,
//! between and after them is skipped, as openssl does), RFC 1421 headers (`Proc-Type`,
//! `DEK-Info`, ...) kept for the report, any line ending, base64 with or without padding.
//! A damaged block is reported and the others are still read.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// One PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `BEGIN ` and the dashes, e.g. `CERTIFICATE`.
    pub label: String,
    /// RFC 1421 headers (`Proc-Type`, `DEK-Info`, ...), in order.
    pub headers: Vec<(String, String)>,
    /// The decoded bytes.
    pub der: Vec<u8>,
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Every PEM block of a text, and a sentence for each block that cannot be read.
pub fn pem_blocks(bytes: &[u8]) -> (Vec<PemBlock>, Vec<String>) {
    let text = String::from_utf8_lossy(bytes);
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = begin_label(line) else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Vec::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            if inner == end {
                closed = true;
                break;
            }
            body.push(inner);
        }
        if !closed {
            problems.push(format!("the PEM block {label} has no END line"));
            break;
        }
        let (headers, base64_lines) = split_headers(&body);
        let joined: String = base64_lines
            .iter()
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        match LENIENT.decode(joined.as_bytes()) {
            Ok(der) if !der.is_empty() => blocks.push(PemBlock {
                label: label.to_owned(),
                headers,
                der,
            }),
            Ok(_) => problems.push(format!("the PEM block {label} is empty")),
            Err(e) => problems.push(format!(
                "the PEM block {label} is damaged (its base64 does not decode: {e})"
            )),
        }
    }
    (blocks, problems)
}

/// The label of a `-----BEGIN LABEL-----` line.
fn begin_label(line: &str) -> Option<&str> {
    let start = line.find("-----BEGIN ")?;
    let rest = &line[start + "-----BEGIN ".len()..];
    let label = rest.strip_suffix("-----")?;
    (!label.is_empty() && !label.contains("-----")).then_some(label)
}

/// Splits RFC 1421 headers (`Name: value` lines, continued by indented lines, ended by a
/// blank line) from the base64 lines.
fn split_headers<'a>(body: &[&'a str]) -> (Vec<(String, String)>, Vec<&'a str>) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let has_headers = body.first().is_some_and(|l| l.contains(':'));
    if !has_headers {
        return (headers, body.to_vec());
    }
    let mut rest = Vec::new();
    let mut in_headers = true;
    for line in body {
        if in_headers {
            if line.is_empty() {
                in_headers = false;
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            } else if let Some(last) = headers.last_mut() {
                last.1.push_str(line);
            }
        } else {
            rest.push(*line);
        }
    }
    (headers, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_among_explanatory_text_and_headers_are_kept() {
        let text = b"Subject: CN=x\r\nissuer: whatever\r\n-----BEGIN X509 CERTIFICATE-----\r\nMAMC\r\nAQE=\r\n-----END X509 CERTIFICATE-----\r\ntrailing words\n\
-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00FF\n\nMAMCAQE\n-----END RSA PRIVATE KEY-----\n";
        let (blocks, problems) = pem_blocks(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "X509 CERTIFICATE");
        assert_eq!(blocks[0].der, [0x30, 0x03, 0x02, 0x01, 0x01]);
        assert_eq!(
            blocks[1].headers[0],
            ("Proc-Type".into(), "4,ENCRYPTED".into())
        );
        assert_eq!(blocks[1].der, [0x30, 0x03, 0x02, 0x01, 0x01]);
    }

    #[test]
    fn a_damaged_block_is_reported_and_the_next_one_still_read() {
        let text = b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n\
-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n-----BEGIN X509 CRL-----\nAAAA";
        let (blocks, problems) = pem_blocks(text);
        assert_eq!(blocks.len(), 1);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("damaged"));
        assert!(problems[1].contains("no END line"));
    }
}
