//! Generating root keys in the token.

use crate::hsm as common;
use crate::softhsm_test;
use qvca::ErrorKind;
use qvca::pki::key::KeyType;
use qvca::pki::pkcs11::public_key::KeyAlgorithm;
use qvca::pki::pkcs11::token::KeySelector;
use qvca::pki::pkcs11::uri::Pkcs11Uri;

softhsm_test!(
    fn generated_keys_of_each_kind_are_found_again_by_their_uri(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        for (spec, label) in [
            (KeyType::Rsa2048, "root-rsa2048"),
            (KeyType::P256, "root-p256"),
            (KeyType::P384, "root-p384"),
        ] {
            let key = session.generate_key_pair(spec, label).expect("generated");
            assert_eq!(key.label(), label);
            assert_eq!(key.id().len(), 20);
            assert_eq!(key.public_key().algorithm(), KeyAlgorithm::of_key_type(spec));
            let uri = key
                .uri(session.token().description())
                .expect("uri")
                .to_string();
            assert!(uri.contains(&format!("object={label}")), "{uri}");
            // Found again from the URI alone, in a new session.
            let parsed = Pkcs11Uri::parse(&uri).expect("parses");
            let again = hsm
                .login("qvca")
                .find_private_key(&KeySelector::from_uri(&parsed).expect("selector"))
                .expect("found by uri");
            assert_eq!(again.public_key(), key.public_key());
        }
    }
);

softhsm_test!(
    fn large_rsa_keys_are_generated_with_the_asked_size(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        for (spec, bits) in [(KeyType::Rsa3072, 3072), (KeyType::Rsa4096, 4096)] {
            let key = session
                .generate_key_pair(spec, &format!("root-{bits}"))
                .expect("generated");
            assert_eq!(key.public_key().algorithm(), KeyAlgorithm::Rsa { bits });
        }
    }
);

softhsm_test!(
    fn a_label_that_is_taken_is_refused(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        session
            .generate_key_pair(KeyType::P256, "root")
            .expect("first");
        let err = session
            .generate_key_pair(KeyType::Rsa2048, "root")
            .expect_err("taken");
        assert_eq!(err.kind(), ErrorKind::Refused);
        assert!(err.message().contains("\"root\""), "{err}");
        assert!(err.message().contains(common::MODULE), "{err}");
        // Still exactly one private key with that label.
        session
            .find_private_key(&KeySelector::by_label("root"))
            .expect("exactly one");
    }
);
