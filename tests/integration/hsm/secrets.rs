//! The SecretsKey v2: sealed in software under data keys derived in the token.

use crate::hsm::{MODULE, PIN, SoftHsm};
use crate::softhsm_test;
use qvca::ErrorKind;
use qvca::pki::key::KeyType;
use qvca::pki::pkcs11::pool::{PoolOptions, SessionPool};
use qvca::pki::pkcs11::token::{KeyObject, KeySelector};
use qvca::secrets::KeyId;
use qvca::secrets::hsm::HsmSecretsKey;
use std::process::Command;
use std::sync::Arc;

/// A root key in the token with its SecretsKey, ready to seal.
fn secrets_key(hsm: &SoftHsm, label: &str) -> (HsmSecretsKey, KeyObject) {
    let session = hsm.login("qvca");
    let root = session
        .generate_key_pair(KeyType::P256, label)
        .expect("root key");
    let object = session
        .generate_secrets_key(&root, root.public_key().spki_der())
        .expect("secrets key");
    assert_eq!(object.id(), root.id());
    assert_eq!(object.kid(), KeyId::for_root(root.public_key().spki_der()));
    let pool = SessionPool::new(session, &PoolOptions::default()).expect("pool");
    (HsmSecretsKey::new(pool, &object), root)
}

softhsm_test!(
    fn a_sealed_value_opens_again_in_a_later_session(hsm) {
        hsm.init_token("qvca");
        let (key, root) = secrets_key(hsm, "root");
        let token = key
            .encrypt_token("qvs/connection-string", b"Server=db;Password=s3cret")
            .expect("sealed");
        assert!(token.starts_with(&format!("qvca:v2:{}:", key.kid())), "{token}");
        assert!(!token.contains("s3cret"));
        let again = key
            .encrypt_token("qvs/connection-string", b"Server=db;Password=s3cret")
            .expect("sealed");
        assert_ne!(token, again, "every value gets its own salt");
        drop(key);
        // A new login finds the SecretsKey from the root key and opens the token.
        let session = hsm.login("qvca");
        let root = session
            .find_private_key(&KeySelector::by_label(root.label()))
            .expect("root");
        let object = session
            .find_secrets_key(&root, root.public_key().spki_der())
            .expect("secrets key found");
        let pool = SessionPool::new(session, &PoolOptions::default()).expect("pool");
        let key = HsmSecretsKey::new(pool, &object);
        let plain = key
            .decrypt_token("qvs/connection-string", &token)
            .expect("opened");
        assert_eq!(plain.expose(), b"Server=db;Password=s3cret");
        assert_eq!(
            key.decrypt_token("qvs/connection-string", &again)
                .expect("opened")
                .expose(),
            b"Server=db;Password=s3cret"
        );
        // An empty value round-trips too.
        let empty = key.encrypt_token("c", b"").expect("sealed");
        assert!(key.decrypt_token("c", &empty).expect("opened").is_empty());
    }
);

softhsm_test!(
    fn a_token_opens_only_for_its_context_and_unchanged(hsm) {
        hsm.init_token("qvca");
        let (key, _) = secrets_key(hsm, "root");
        let token = key.encrypt_token("context-a", b"value").expect("sealed");
        let err = key
            .decrypt_token("context-b", &token)
            .expect_err("other context");
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
        // Flip one character of the data.
        let mut chars: Vec<char> = token.chars().collect();
        let last = chars.len() - 3;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        let err = key
            .decrypt_token("context-a", &tampered)
            .expect_err("tampered");
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
        for (bad, kind) in [
            (format!("qvca:v2:{}:AAAA", key.kid()), ErrorKind::Authentication),
            (format!("qvca:v2:{}:not base64!", key.kid()), ErrorKind::Authentication),
            ("qvca:v2:0123:AAAA".to_owned(), ErrorKind::Authentication),
            ("qvca:v1:0011223344556677:AAAA".to_owned(), ErrorKind::Authentication),
            ("plain text".to_owned(), ErrorKind::Authentication),
            ("qvca:v2:0011223344556677:".to_owned() + &"A".repeat(40), ErrorKind::Authentication),
            ("x".repeat(2 << 20), ErrorKind::Authentication),
        ] {
            let err = key.decrypt_token("context-a", &bad).expect_err("bad token");
            assert_eq!(err.kind(), kind, "{}: {err}", &bad[..bad.len().min(40)]);
        }
    }
);

softhsm_test!(
    fn another_roots_secrets_key_cannot_open_the_token(hsm) {
        hsm.init_token("qvca");
        let (a, _) = secrets_key(hsm, "root-a");
        let (b, _) = secrets_key(hsm, "root-b");
        assert_ne!(a.kid(), b.kid());
        let token = a.encrypt_token("ctx", b"value").expect("sealed");
        let err = b.decrypt_token("ctx", &token).expect_err("other root");
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
        assert!(err.message().contains(&a.kid().to_string()), "{err}");
        // Relabelled with b's kid, the token still does not open: b's K derives other keys.
        let forged = token.replace(&a.kid().to_string(), &b.kid().to_string());
        let err = b.decrypt_token("ctx", &forged).expect_err("forged");
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    }
);

softhsm_test!(
    fn a_second_secrets_key_for_a_root_is_refused(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        let root = session
            .generate_key_pair(KeyType::Rsa2048, "root")
            .expect("root");
        session
            .generate_secrets_key(&root, root.public_key().spki_der())
            .expect("first");
        let err = session
            .generate_secrets_key(&root, root.public_key().spki_der())
            .expect_err("second");
        assert_eq!(err.kind(), ErrorKind::Refused);
        assert!(err.message().contains("unreadable"), "{err}");
    }
);

softhsm_test!(
    fn a_certificate_key_that_is_not_the_roots_is_refused(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        let root = session
            .generate_key_pair(KeyType::P256, "root")
            .expect("root");
        let other = session
            .generate_key_pair(KeyType::P256, "other")
            .expect("other");
        let err = session
            .generate_secrets_key(&root, other.public_key().spki_der())
            .expect_err("mismatch");
        assert_eq!(err.kind(), ErrorKind::Failed);
        let err = session
            .find_secrets_key(&root, root.public_key().spki_der())
            .expect_err("none yet");
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
);

softhsm_test!(
    fn the_secrets_key_cannot_be_read_out_of_the_token(hsm) {
        hsm.init_token("qvca");
        let (key, _) = secrets_key(hsm, "root");
        let label = format!("qvca SecretsKey {}", key.kid());
        // pkcs11-tool, another process, tries to read CKA_VALUE.
        let out = Command::new("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", "qvca", "--login", "--pin", PIN])
            .args(["--read-object", "--type", "secrkey", "--label", &label])
            .env(
                "SOFTHSM2_CONF",
                std::env::var("SOFTHSM2_CONF").expect("child has the config"),
            )
            .output()
            .expect("pkcs11-tool runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "the value was read: {text}");
        assert!(
            text.contains("SENSITIVE") || text.contains("sensitive") || text.contains("not extractable"),
            "{text}"
        );
        // And listing shows it as sensitive and never extractable (pkcs11-tool does not
        // print CKA_SIGN for secret keys).
        let out = Command::new("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", "qvca", "--login", "--pin", PIN])
            .args(["--list-objects", "--type", "secrkey"])
            .env(
                "SOFTHSM2_CONF",
                std::env::var("SOFTHSM2_CONF").expect("child has the config"),
            )
            .output()
            .expect("pkcs11-tool runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("never extractable"), "{text}");
        assert!(text.contains("always sensitive"), "{text}");
    }
);

softhsm_test!(
    fn several_threads_seal_and_open_at_once(hsm) {
        hsm.init_token("qvca");
        let (key, _) = secrets_key(hsm, "root");
        let key = Arc::new(key);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let key = Arc::clone(&key);
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let value = format!("password {t}/{i}");
                        let token = key.encrypt_token("ctx", value.as_bytes()).expect("sealed");
                        let plain = key.decrypt_token("ctx", &token).expect("opened");
                        assert_eq!(plain.expose(), value.as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
    }
);
