//! Secrets tokens from outside: `secrets decrypt`, the embedded-token scanner and `rewrap`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::domain::secret::SecretBytes;
use qvca::secrets::{Rewrap, SecretsKey, decrypt_token, find_tokens, parse_token, rewrap_text};
use std::sync::OnceLock;

/// The SecretsKeys of the two known-answer roots (tests/vectors/secrets): seeds made with them
/// reach the decrypt and rewrap paths.
fn keys() -> &'static (SecretsKey, SecretsKey) {
    static KEYS: OnceLock<(SecretsKey, SecretsKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = |pem: &str| {
            let (_, der) = qvca::pki::certificate::pem_decode(pem.as_bytes()).expect("vector PEM");
            let pair = qvca::pki::key::key_pair_from_pkcs8(&SecretBytes::new(der.clone()), std::path::Path::new("vector"))
                .expect("vector key");
            SecretsKey::derive(&SecretBytes::new(der), &qvca::pki::key::public_key_info(&pair)).expect("derive")
        };
        (
            make(include_str!("../../tests/vectors/secrets/p256-root-key.pem")),
            make(include_str!("../../tests/vectors/secrets/rsa-root-key.pem")),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (old, new) = keys();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_token(text);
        let _ = decrypt_token(new, text, "");
        let _ = decrypt_token(new, text, "ctx");
    }
    for range in find_tokens(data) {
        assert!(range.end <= data.len() && data[range.clone()].starts_with(b"qvca:v"));
    }
    let contexts = [String::new(), "ctx".to_owned()];
    if let Ok((out, summary)) = rewrap_text(data, &Rewrap { old, new, contexts: &contexts }) {
        // Nothing to rewrap means nothing changed.
        if summary.rewrapped == 0 {
            assert_eq!(out, data);
        }
    }
});
