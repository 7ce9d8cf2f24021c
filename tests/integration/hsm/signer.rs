//! Signing certificates and CRLs in the token, judged by openssl, x509-parser and webpki.

use crate::hsm::pki;
use crate::softhsm_test;
use qvca::pki::key::KeyType;
use qvca::pki::pkcs11::pool::{PoolOptions, SessionPool};
use qvca::pki::pkcs11::signer::TokenKey;
use qvca::pki::pkcs11::token::KeySelector;
use std::sync::Arc;

fn token_key(hsm: &crate::hsm::SoftHsm, spec: KeyType, sessions: usize) -> TokenKey {
    hsm.init_token("qvca");
    let session = hsm.login("qvca");
    let key = session.generate_key_pair(spec, "root").expect("generated");
    let pool = SessionPool::new(
        session,
        &PoolOptions {
            sessions: Some(sessions),
            ..PoolOptions::default()
        },
    )
    .expect("pool");
    TokenKey::new(pool, &key).expect("token key")
}

fn chain_verifies(hsm: &crate::hsm::SoftHsm, spec: KeyType) {
    let key = token_key(hsm, spec, 2);
    let (root, leaf) = pki::root_and_leaf(&key);
    pki::verify_chain(hsm.dir(), &root, &leaf);
    pki::verify_crl(hsm.dir(), &root, &key);
    // The root certificate holds the token's key.
    let spki = x509_parser::parse_x509_certificate(&root)
        .expect("parses")
        .1
        .public_key()
        .raw
        .to_vec();
    assert!(key.public_key().matches_spki(&spki));
}

softhsm_test!(
    fn an_rsa_root_in_the_token_signs_a_chain_and_crl_that_verify(hsm) {
        chain_verifies(hsm, KeyType::Rsa2048);
    }
);

softhsm_test!(
    fn a_p256_root_in_the_token_signs_a_chain_and_crl_that_verify(hsm) {
        chain_verifies(hsm, KeyType::P256);
    }
);

softhsm_test!(
    fn a_p384_root_in_the_token_signs_a_chain_and_crl_that_verify(hsm) {
        chain_verifies(hsm, KeyType::P384);
    }
);

softhsm_test!(
    fn several_threads_sign_at_once_through_the_pool(hsm) {
        let key = Arc::new(token_key(hsm, KeyType::P256, 4));
        assert_eq!(key.pool().size(), 4);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let key = Arc::clone(&key);
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let msg = format!("thread {t} message {i}");
                        let sig = key.sign_message(msg.as_bytes()).expect("signed");
                        assert!(key.public_key().verifies(msg.as_bytes(), &sig), "{msg}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        // Every session went back to the pool.
        assert_eq!(key.pool().size(), 4);
    }
);

softhsm_test!(
    fn a_key_that_does_not_belong_to_the_certificate_is_detected(hsm) {
        let key = token_key(hsm, KeyType::P256, 1);
        assert!(key.signs_for(key.public_key()).expect("check"));
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let other_key = qvca::pki::pkcs11::public_key::PublicKey::from_spki_der(
            &rcgen::PublicKeyData::subject_public_key_info(&other),
        )
        .expect("spki");
        assert!(!key.signs_for(&other_key).expect("check"));
    }
);

softhsm_test!(
    fn the_key_is_found_again_in_every_pooled_session(hsm) {
        hsm.init_token("qvca");
        let first = hsm.login("qvca");
        first
            .generate_key_pair(KeyType::Rsa2048, "root")
            .expect("generated");
        drop(first);
        let session = hsm.login("qvca");
        let key = session
            .find_private_key(&KeySelector::by_label("root"))
            .expect("found");
        let pool = SessionPool::new(
            session,
            &PoolOptions {
                sessions: Some(3),
                ..PoolOptions::default()
            },
        )
        .expect("pool");
        let key = TokenKey::new(pool, &key).expect("token key");
        for i in 0..10 {
            let msg = [i as u8; 10];
            let sig = key.sign_message(&msg).expect("signed");
            assert!(key.public_key().verifies(&msg, &sig));
        }
    }
);

softhsm_test!(
    #[ignore = "a measurement, not a check: cargo test --features test-hooks --test integration hsm::signer::signing_throughput -- --ignored --nocapture"]
    #[allow(clippy::print_stderr)]
    fn signing_throughput(hsm) {
        hsm.init_token("qvca");
        for (spec, label) in [(KeyType::Rsa2048, "rsa"), (KeyType::P256, "p256")] {
            let session = hsm.login("qvca");
            let key = session.generate_key_pair(spec, label).expect("generated");
            for sessions in [1usize, 2] {
                let session = hsm.login("qvca");
                let pool = SessionPool::new(
                    session,
                    &PoolOptions {
                        sessions: Some(sessions),
                        ..PoolOptions::default()
                    },
                )
                .expect("pool");
                let key = Arc::new(TokenKey::new(pool, &key).expect("token key"));
                let per_thread = 200;
                let started = std::time::Instant::now();
                let threads: Vec<_> = (0..sessions)
                    .map(|_| {
                        let key = Arc::clone(&key);
                        std::thread::spawn(move || {
                            for i in 0..per_thread {
                                key.sign_message(&[i as u8; 300]).expect("signed");
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().expect("thread");
                }
                let rate = (sessions * per_thread) as f64 / started.elapsed().as_secs_f64();
                eprintln!("THROUGHPUT {spec} sessions={sessions}: {rate:.0} signatures/s");
            }
        }
    }
);
