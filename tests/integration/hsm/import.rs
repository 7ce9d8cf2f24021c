//! Moving a file key into the token (`qvca hsm migrate`): the old root certificate keeps
//! working, and a broken key leaves nothing behind.

use crate::hsm::pki;
use crate::softhsm_test;
use qvca::ErrorKind;
use qvca::pki::pkcs11::pool::{PoolOptions, SessionPool};
use qvca::pki::pkcs11::signer::TokenKey;
use qvca::pki::pkcs11::token::KeySelector;
use rcgen::KeyPair;

fn migrate_keeps_the_root(hsm: &crate::hsm::SoftHsm, file_key: KeyPair) {
    // A CA made with a file key, as qvca makes them today.
    let root = pki::root_params("qvca file root")
        .self_signed(&file_key)
        .expect("file root");
    hsm.init_token("qvca");
    let session = hsm.login("qvca");
    let key = session
        .import_pkcs8(&file_key.serialize_der(), "root")
        .expect("imported");
    let spki = rcgen::PublicKeyData::subject_public_key_info(&file_key);
    assert!(key.public_key().matches_spki(&spki));
    let pool = SessionPool::new(session, &PoolOptions::default()).expect("pool");
    let token_key = TokenKey::new(pool, &key).expect("token key");
    assert!(token_key.signs_for(key.public_key()).expect("check"));
    // The old root certificate issues through the token, and the chain verifies.
    let leaf = pki::leaf_under(root.der(), &token_key);
    pki::verify_chain(hsm.dir(), root.der(), &leaf);
}

softhsm_test!(
    fn an_imported_rsa_file_key_keeps_its_root_certificate_working(hsm) {
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
        migrate_keeps_the_root(hsm, key);
    }
);

softhsm_test!(
    fn an_imported_p256_file_key_keeps_its_root_certificate_working(hsm) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("p256 key");
        migrate_keeps_the_root(hsm, key);
    }
);

softhsm_test!(
    fn an_imported_p384_file_key_keeps_its_root_certificate_working(hsm) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("p384 key");
        migrate_keeps_the_root(hsm, key);
    }
);

softhsm_test!(
    fn an_inconsistent_key_is_refused_and_nothing_is_left_in_the_token(hsm) {
        // A P-256 PKCS#8 whose public key field belongs to another key.
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("other");
        let mut der = key.serialize_der();
        let point = key.public_key_raw().to_vec();
        let at = der
            .windows(point.len())
            .position(|w| w == point.as_slice())
            .expect("the PKCS#8 carries its public point");
        der[at..at + point.len()].copy_from_slice(other.public_key_raw());
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        let err = session.import_pkcs8(&der, "root").expect_err("inconsistent");
        assert_eq!(err.kind(), ErrorKind::Failed, "{err}");
        assert!(err.message().contains("undone"), "{err}");
        let missing = session
            .find_private_key(&KeySelector::by_label("root"))
            .expect_err("nothing left");
        assert_eq!(missing.kind(), ErrorKind::Failed);
        // The label is free again.
        session
            .import_pkcs8(&key.serialize_der(), "root")
            .expect("the consistent key imports");
    }
);

softhsm_test!(
    fn importing_over_a_taken_label_is_refused(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        session
            .import_pkcs8(&key.serialize_der(), "root")
            .expect("first");
        let err = session
            .import_pkcs8(&key.serialize_der(), "root")
            .expect_err("taken");
        assert_eq!(err.kind(), ErrorKind::Refused);
    }
);
