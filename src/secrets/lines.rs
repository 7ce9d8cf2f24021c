//! Bulk work: every line of a file encrypted into a token, or every token line decrypted.
//! Empty lines stay empty; a line ending in `\r\n` keeps it.

use super::SecretsKey;
use super::token::{bulk_cipher, decrypt_with, encrypt_with, parse_token};
use crate::domain::secret::SecretBytes;
use crate::error::{Error, Result};

/// Splits into lines, each with its line ending (`\n`, `\r\n` or none at the end).
fn lines(input: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    input.split_inclusive(|b| *b == b'\n').map(|line| {
        let body_len = if line.ends_with(b"\r\n") {
            line.len() - 2
        } else if line.ends_with(b"\n") {
            line.len() - 1
        } else {
            line.len()
        };
        line.split_at(body_len)
    })
}

/// How many lines of `input` [`encrypt_lines`] and [`decrypt_lines`] turn into or from a token
/// (the non-empty ones; a line of spaces is a value too).
pub fn value_line_count(input: &[u8]) -> usize {
    lines(input).filter(|(value, _)| !value.is_empty()).count()
}

/// Encrypts every non-empty line of `input` into a token (one per line).
pub fn encrypt_lines(key: &SecretsKey, input: &[u8], context: &str) -> Result<Vec<u8>> {
    let cipher = bulk_cipher(key);
    encrypt_lines_with(input, |value| {
        encrypt_with(&cipher, key.kid(), value, context)
    })
}

/// Decrypts every non-empty line of `input` (each a token); the first bad line fails the whole
/// run with its line number.
pub fn decrypt_lines(key: &SecretsKey, input: &[u8], context: &str) -> Result<SecretBytes> {
    let cipher = bulk_cipher(key);
    decrypt_lines_with(input, |token| {
        parse_token(token).and_then(|parsed| decrypt_with(&cipher, key.kid(), &parsed, context))
    })
}

/// Turns every non-empty line of `input` into a token with `seal`; line endings and empty lines
/// stay as they are.
pub(super) fn encrypt_lines_with(
    input: &[u8],
    seal: impl Fn(&[u8]) -> Result<String>,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 2 + 64);
    for (value, ending) in lines(input) {
        if !value.is_empty() {
            out.extend_from_slice(seal(value)?.as_bytes());
        }
        out.extend_from_slice(ending);
    }
    Ok(out)
}

/// Opens every non-empty line of `input` (each a token) with `open`; the first bad line fails
/// the whole run with its line number.
pub(super) fn decrypt_lines_with(
    input: &[u8],
    open: impl Fn(&str) -> Result<SecretBytes>,
) -> Result<SecretBytes> {
    let mut out = Vec::with_capacity(input.len());
    for (number, (token, ending)) in lines(input).enumerate() {
        let token = std::str::from_utf8(token).map_err(|_| {
            Error::authentication(format!("line {}: malformed token: not text", number + 1))
        })?;
        if !token.trim().is_empty() {
            let plain = open(token).map_err(|e| {
                Error::new(e.kind(), format!("line {}: {}", number + 1, e.message()))
            })?;
            out.extend_from_slice(plain.expose());
        }
        out.extend_from_slice(ending);
    }
    Ok(SecretBytes::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_count_is_the_number_of_values_encrypted() {
        let input = b"a\n\n  \r\nb";
        assert_eq!(value_line_count(input), 3, "a line of spaces is a value");
        let pair = crate::pki::key::KeyType::P256.generate().expect("keygen");
        let key = SecretsKey::derive(
            &crate::pki::key::pkcs8_der(&pair),
            &crate::pki::key::public_key_info(&pair),
        )
        .expect("derive");
        let tokens = encrypt_lines(&key, input, "ctx").expect("encrypt");
        let count = tokens
            .split(|b| *b == b'\n')
            .filter(|l| l.starts_with(b"qvca:"))
            .count();
        assert_eq!(count, value_line_count(input));
    }
}
