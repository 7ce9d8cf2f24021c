//! Finding tokens wherever they stand in a text (an .ini, .config or XML file full of
//! connection strings) and rewrapping them from an old root's SecretsKey to the current one,
//! every other byte unchanged.

use super::ca_key::TokenVersion;
use super::token::{ParsedToken, bulk_cipher, decrypt_with, parse_token};
use super::{KeyId, SecretsKey};
use crate::error::{Error, Result};
use aes_gcm::Aes256Gcm;
use serde::Serialize;
use std::ops::Range;

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The byte ranges of every token-like string (`qvca:v<N>:<kid>:<data>`) in `text`.
pub fn find_tokens(text: &[u8]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = find(&text[at..], b"qvca:v") {
        let start = at + offset;
        let mut end = start + b"qvca:v".len();
        // version digits
        let digits = text[end..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        end += digits;
        let well_formed = digits > 0
            && text.get(end) == Some(&b':')
            && text
                .get(end + 1..end + 17)
                .is_some_and(|kid| kid.iter().all(u8::is_ascii_hexdigit))
            && text.get(end + 17) == Some(&b':');
        if well_formed {
            end += 18;
            let data = text[end..].iter().take_while(|b| is_base64url(**b)).count();
            if data > 0 {
                found.push(start..end + data);
                at = end + data;
                continue;
            }
        }
        at = start + 1;
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What a rewrap needs: the old root's SecretsKey, the current one, and the contexts tokens
/// may have been made for (tried in order; each token keeps the one it authenticates under).
pub struct Rewrap<'a> {
    /// The old root's SecretsKey (from the backup).
    pub old: &'a SecretsKey,
    /// The current root's SecretsKey.
    pub new: &'a SecretsKey,
    /// The context labels to try.
    pub contexts: &'a [String],
}

/// A key that seals tokens of one version: the target of a rewrap (a file-key CA's
/// [`SecretsKey`], or [`super::CaSecretsKey`] whichever version it is).
pub trait Sealer {
    /// The version of the tokens it seals.
    fn version(&self) -> TokenVersion;
    /// The key id its tokens carry.
    fn kid(&self) -> KeyId;
    /// Seals one value for `context`.
    fn seal(&self, plaintext: &[u8], context: &str) -> Result<String>;
}

impl Sealer for SecretsKey {
    fn version(&self) -> TokenVersion {
        TokenVersion::V1
    }

    fn kid(&self) -> KeyId {
        SecretsKey::kid(self)
    }

    fn seal(&self, plaintext: &[u8], context: &str) -> Result<String> {
        super::encrypt_token(self, plaintext, context)
    }
}

/// How many tokens a rewrap met.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct RewrapSummary {
    /// Tokens moved from the old key to the current one.
    pub rewrapped: usize,
    /// Tokens already under the current key, left as they were.
    pub already_current: usize,
}

/// Rewraps every token in `text`; all tokens are checked before anything is returned, and any
/// token under neither key, or that does not authenticate, fails the whole run with its line.
pub fn rewrap_text(text: &[u8], rewrap: &Rewrap<'_>) -> Result<(Vec<u8>, RewrapSummary)> {
    rewrap_tokens(text, &[rewrap.old], rewrap.new, rewrap.contexts)
}

/// Rewraps every token in `text` to `new`: a token of `new`'s version and key id is current
/// and stays as it is; a version-1 token under one of the `old` keys is opened (trying each of
/// `contexts`) and sealed again by `new` for the context it opened under. Anything else (a
/// token of another key id, a version-2 token of another CA, one that does not authenticate)
/// fails the whole run with its line, before anything is returned; every other byte of `text`
/// is kept.
pub fn rewrap_tokens(
    text: &[u8],
    old: &[&SecretsKey],
    new: &dyn Sealer,
    contexts: &[String],
) -> Result<(Vec<u8>, RewrapSummary)> {
    let keys = RewrapKeys {
        old,
        old_ciphers: old.iter().map(|k| (k.kid(), bulk_cipher(k))).collect(),
        new,
        new_kid: new.kid(),
        contexts,
    };
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    let mut summary = RewrapSummary::default();
    let mut copied_to = 0;
    // Line numbers for messages, counted incrementally (a rotation file can be large).
    let (mut line, mut counted_to) = (1, 0);
    for range in find_tokens(text) {
        line += text[counted_to..range.start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        counted_to = range.start;
        let token_text = std::str::from_utf8(&text[range.clone()]).expect("tokens are ASCII");
        out.extend_from_slice(&text[copied_to..range.start]);
        match keys.fate_of(token_text, line)? {
            TokenFate::Current => {
                summary.already_current += 1;
                out.extend_from_slice(token_text.as_bytes());
            }
            TokenFate::Rewrapped(token) => {
                summary.rewrapped += 1;
                out.extend_from_slice(token.as_bytes());
            }
        }
        copied_to = range.end;
    }
    out.extend_from_slice(&text[copied_to..]);
    Ok((out, summary))
}

/// What becomes of one token in [`rewrap_tokens`].
enum TokenFate {
    /// Already of the new key: kept as it is.
    Current,
    /// Sealed again by the new key: the new token.
    Rewrapped(String),
}

/// The keys and contexts of one [`rewrap_tokens`] run.
struct RewrapKeys<'a> {
    old: &'a [&'a SecretsKey],
    old_ciphers: Vec<(KeyId, Aes256Gcm)>,
    new: &'a dyn Sealer,
    new_kid: KeyId,
    contexts: &'a [String],
}

impl RewrapKeys<'_> {
    /// Decides the fate of the token `token_text` found on `line` (failures name the line).
    fn fate_of(&self, token_text: &str, line: usize) -> Result<TokenFate> {
        let at_line = |e: Error| Error::new(e.kind(), format!("line {line}: {}", e.message()));
        let new_kid = self.new_kid;
        if TokenVersion::of_token(token_text) == Some(TokenVersion::V2) {
            let kid = super::ca_key::v2_kid(token_text).map_err(at_line)?;
            if self.new.version() == TokenVersion::V2 && kid == new_kid {
                return Ok(TokenFate::Current);
            }
            return Err(Error::authentication(format!(
                "line {line}: a version 2 token (qvca:v2:) of key id {kid}: only the CA whose \
                 root key and SecretsKey are in that PKCS#11 token opens it (this CA's key id \
                 is {new_kid}, {}); nothing was written",
                self.new.version().describe()
            )));
        }
        let parsed = parse_token(token_text).map_err(at_line)?;
        if self.new.version() == TokenVersion::V1 && parsed.kid == new_kid {
            return Ok(TokenFate::Current);
        }
        let Some((_, old_cipher)) = self.old_ciphers.iter().find(|(k, _)| *k == parsed.kid) else {
            return Err(self.unknown_key(parsed.kid, line));
        };
        self.reseal(old_cipher, &parsed, line)
            .map(TokenFate::Rewrapped)
    }

    /// Opens the version-1 token `parsed` with `old_cipher` under the first of the contexts it
    /// authenticates with, and seals it again by the new key for that context.
    fn reseal(&self, old_cipher: &Aes256Gcm, parsed: &ParsedToken, line: usize) -> Result<String> {
        let mut last_error = None;
        for context in self.contexts {
            match decrypt_with(old_cipher, parsed.kid, parsed, context) {
                Ok(plain) => {
                    return self.new.seal(plain.expose(), context).map_err(|e| {
                        Error::new(e.kind(), format!("line {line}: {}", e.message()))
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        let tried: Vec<String> = self.contexts.iter().map(|c| format!("{c:?}")).collect();
        let detail = last_error
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        Err(Error::authentication(format!(
            "line {line}: a token under the old key does not authenticate with the \
             context(s) {} ({detail}); nothing was written",
            tried.join(", ")
        )))
    }

    /// The error for a version-1 token of key id `kid`, which is neither an old key's nor the
    /// new key's.
    fn unknown_key(&self, kid: KeyId, line: usize) -> Error {
        let new_kid = self.new_kid;
        if self.old.is_empty() {
            return Error::authentication(format!(
                "line {line}: the token names key id {kid}, which is not the current CA's \
                 ({new_kid}), and no old key was given: name a backup of the CA that made \
                 it with --from-backup; nothing was written"
            ));
        }
        let old_kids: Vec<String> = self.old.iter().map(|k| k.kid().to_string()).collect();
        Error::authentication(format!(
            "line {line}: the token names key id {kid}, which is neither the backup's ({}) nor \
             the current CA's ({new_kid}); nothing was written",
            old_kids.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortest base64url payload of a token: 12-byte nonce + 16-byte tag = 28 bytes.
    const MIN_PAYLOAD_CHARS: usize = 38;

    #[test]
    fn tokens_are_found_inside_quotes_and_markup_and_nowhere_else() {
        let kid = "0123456789abcdef";
        let data = "A".repeat(MIN_PAYLOAD_CHARS);
        let text = format!(
            "a=qvca:v1:{kid}:{data}\n<x v=\"qvca:v1:{kid}:{data}\"/>\nqvca:v1:short qvca:vx: qvca:v1:{kid}:"
        );
        let found = find_tokens(text.as_bytes());
        assert_eq!(found.len(), 2);
        for range in found {
            assert_eq!(&text[range], format!("qvca:v1:{kid}:{data}"));
        }
    }

    #[test]
    fn scanning_never_panics_on_arbitrary_bytes() {
        for text in [
            &b""[..],
            b"qvca:v",
            b"qvca:v1",
            b"qvca:v1:",
            b"qvca:v99999:0123",
            b"\xff\xfeqvca:v1:",
        ] {
            let _ = find_tokens(text);
        }
    }
}
