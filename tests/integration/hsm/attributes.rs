//! The named attribute checks on generated, imported and carelessly made keys.

use crate::hsm::{MODULE, PIN};
use crate::softhsm_test;
use qvca::pki::key::KeyType;
use qvca::pki::pkcs11::attributes::{Finding, Status};
use qvca::pki::pkcs11::token::KeySelector;
use std::process::Command;

fn status<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no finding {check} in {findings:?}"))
}

softhsm_test!(
    fn a_generated_key_passes_every_check(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        for spec in [KeyType::Rsa2048, KeyType::P256] {
            let key = session
                .generate_key_pair(spec, &format!("root-{spec}"))
                .expect("generated");
            let findings = session.check_key_attributes(&key).expect("checked");
            assert_eq!(findings.len(), 10);
            for f in &findings {
                assert_eq!(f.status, Status::Ok, "{spec}: {f:?}");
            }
        }
    }
);

softhsm_test!(
    fn an_imported_key_is_sign_only_but_warns_that_it_was_once_outside(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        let file_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let key = session
            .import_pkcs8(&file_key.serialize_der(), "root")
            .expect("imported");
        let findings = session.check_key_attributes(&key).expect("checked");
        for check in ["never-extractable", "always-sensitive"] {
            let f = status(&findings, check);
            assert_eq!(f.status, Status::Warning, "{f:?}");
            assert!(f.advice.contains("qvca hsm migrate"), "{f:?}");
        }
        for check in [
            "token-object",
            "private-object",
            "sensitive",
            "not-extractable",
            "sign-allowed",
            "decrypt-not-allowed",
            "unwrap-not-allowed",
            "derive-not-allowed",
        ] {
            assert_eq!(status(&findings, check).status, Status::Ok, "{check}");
        }
    }
);

softhsm_test!(
    fn a_carelessly_made_key_gets_problems_with_advice(hsm) {
        hsm.init_token("qvca");
        // pkcs11-tool without --sensitive, with --extractable and derive usage.
        let out = Command::new("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", "qvca", "--login", "--pin", PIN])
            .args(["--keypairgen", "--key-type", "EC:prime256v1", "--label", "careless"])
            .args(["--id", "0a0b", "--usage-sign", "--usage-derive", "--extractable"])
            .env(
                "SOFTHSM2_CONF",
                std::env::var("SOFTHSM2_CONF").expect("child has the config"),
            )
            .output()
            .expect("pkcs11-tool runs (apt-get install opensc)");
        assert!(
            out.status.success(),
            "pkcs11-tool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let session = hsm.login("qvca");
        let key = session
            .find_private_key(&KeySelector::by_label("careless"))
            .expect("found");
        let findings = session.check_key_attributes(&key).expect("checked");
        let extractable = status(&findings, "not-extractable");
        assert_eq!(extractable.status, Status::Problem, "{findings:#?}");
        assert!(extractable.advice.contains("CKA_EXTRACTABLE=false"));
        assert_eq!(status(&findings, "derive-not-allowed").status, Status::Warning);
        assert_eq!(status(&findings, "never-extractable").status, Status::Warning);
        assert_eq!(status(&findings, "sign-allowed").status, Status::Ok);
    }
);
