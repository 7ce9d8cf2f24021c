//! Finding tokens, logging in, and the errors for what is wrong.

use crate::hsm::{self as common, MODULE};
use crate::softhsm_test;
use qvca::ErrorKind;
use qvca::pki::pkcs11::deadline::connect;
use qvca::pki::pkcs11::module::Module;
use qvca::pki::pkcs11::pin::Pin;
use qvca::pki::pkcs11::token::{KeySelector, TokenSelector};
use qvca::pki::pkcs11::uri::Pkcs11Uri;
use std::path::Path;
use std::time::{Duration, Instant};

softhsm_test!(
    fn a_token_is_found_by_label_and_the_right_pin_logs_in(hsm) {
        hsm.init_token("qvca-a");
        hsm.init_token("qvca-b");
        let module = hsm.module();
        let tokens = module.tokens().expect("tokens");
        assert_eq!(tokens.len(), 2, "{tokens:?}");
        let token = module
            .token(&TokenSelector::by_label("qvca-b"))
            .expect("found");
        assert_eq!(token.description().label, "qvca-b");
        assert_eq!(token.description().manufacturer, "SoftHSM project");
        let session = token.login(&common::pin()).expect("login");
        assert_eq!(session.token().description().label, "qvca-b");
        // By serial, through a URI.
        let uri = Pkcs11Uri::parse(&format!(
            "pkcs11:serial={}",
            token.description().serial
        ))
        .expect("uri");
        let again = module.token(&TokenSelector::from_uri(&uri)).expect("by serial");
        assert_eq!(again.description().label, "qvca-b");
    }
);

softhsm_test!(
    fn a_missing_token_is_a_failure_and_the_tokens_seen_are_listed(hsm) {
        hsm.init_token("present");
        let err = hsm
            .module()
            .token(&TokenSelector::by_label("absent"))
            .expect_err("no such token");
        assert_eq!(err.kind(), ErrorKind::Failed);
        let msg = err.message();
        assert!(msg.contains("\"absent\""), "{msg}");
        assert!(msg.contains("\"present\""), "{msg}");
        assert!(msg.contains(MODULE), "{msg}");
    }
);

softhsm_test!(
    fn no_token_at_all_says_how_to_make_one(hsm) {
        let _ = hsm;
        let err = Module::open(Path::new(MODULE))
            .expect("module")
            .token(&TokenSelector::default())
            .expect_err("no token");
        assert_eq!(err.kind(), ErrorKind::Failed);
        assert!(err.message().contains("--init-token"), "{err}");
    }
);

softhsm_test!(
    fn several_tokens_without_a_name_is_a_usage_error(hsm) {
        hsm.init_token("one");
        hsm.init_token("two");
        let err = hsm
            .module()
            .token(&TokenSelector::default())
            .expect_err("ambiguous");
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("token="), "{err}");
    }
);

softhsm_test!(
    fn a_wrong_pin_is_a_wrong_pin_error_naming_module_and_token(hsm) {
        hsm.init_token("qvca");
        let token = hsm
            .module()
            .token(&TokenSelector::by_label("qvca"))
            .expect("token");
        let err = token
            .login(&Pin::new("not-the-pin").expect("pin"))
            .expect_err("wrong pin");
        assert_eq!(err.kind(), ErrorKind::Authentication);
        assert!(err.message().contains("\"qvca\""), "{err}");
        assert!(err.message().contains(MODULE), "{err}");
        assert!(!err.message().contains("not-the-pin"), "{err}");
        // The right PIN still works afterwards.
        token.login(&common::pin()).expect("login");
    }
);

softhsm_test!(
    fn the_module_is_initialised_once_and_shared_within_a_process(hsm) {
        hsm.init_token("qvca");
        let first = hsm.module();
        let second = Module::open(Path::new(MODULE)).expect("second open");
        drop(first);
        // The second handle still works: nothing finalised the module.
        let token = second
            .token(&TokenSelector::by_label("qvca"))
            .expect("token");
        let a = token.login(&common::pin()).expect("login");
        // A second login in the same process is accepted (the token is logged in already).
        let b = token.login(&common::pin()).expect("second login");
        drop(a);
        drop(b);
    }
);

softhsm_test!(
    fn a_missing_key_is_a_failure_and_the_keys_seen_are_listed(hsm) {
        hsm.init_token("qvca");
        let session = hsm.login("qvca");
        let err = session
            .find_private_key(&KeySelector::by_label("root"))
            .expect_err("no key");
        assert_eq!(err.kind(), ErrorKind::Failed);
        assert!(err.message().contains("no private keys"), "{err}");
        assert!(err.message().contains("\"root\""), "{err}");
    }
);

softhsm_test!(
    fn connect_reaches_the_token_within_the_time_limit(hsm) {
        hsm.init_token("qvca");
        let session = connect(
            Path::new(MODULE),
            &TokenSelector::by_label("qvca"),
            &common::pin(),
            Duration::from_secs(30),
        )
        .expect("connected");
        assert_eq!(session.token().description().label, "qvca");
        // While this process is logged in, C_Login does not check a PIN (see below).
        drop(session);
        let err = connect(
            Path::new(MODULE),
            &TokenSelector::by_label("qvca"),
            &Pin::new("wrong").expect("pin"),
            Duration::from_secs(30),
        )
        .expect_err("wrong pin");
        assert_eq!(err.kind(), ErrorKind::Authentication);
    }
);

softhsm_test!(
    hanging fn an_unreachable_module_is_a_clear_error_not_a_hang(hsm) {
        let _ = hsm;
        let started = Instant::now();
        let err = connect(
            Path::new(MODULE),
            &TokenSelector::by_label("qvca"),
            &common::pin(),
            Duration::from_secs(2),
        )
        .expect_err("C_Initialize blocks");
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
        assert_eq!(err.kind(), ErrorKind::Failed);
        assert!(err.message().contains("\"qvca\""), "{err}");
        assert!(err.message().contains(MODULE), "{err}");
        assert!(err.message().contains("did not finish within 2 s"), "{err}");
    }
);

softhsm_test!(
    fn while_the_process_is_logged_in_a_second_login_does_not_check_the_pin(hsm) {
        // PKCS#11 semantics pinned as a pitfall: login state is per process and token, and
        // C_Login answers CKR_USER_ALREADY_LOGGED_IN before looking at the PIN.
        hsm.init_token("qvca");
        let token = hsm
            .module()
            .token(&TokenSelector::by_label("qvca"))
            .expect("token");
        let first = token.login(&common::pin()).expect("login");
        let second = token.login(&Pin::new("wrong").expect("pin"));
        assert!(second.is_ok(), "C_Login checked the PIN after all: update PITFALLS.md");
        drop(second);
        drop(first);
        // Once every session is closed the login is gone and the PIN is checked again.
        let err = token
            .login(&Pin::new("wrong").expect("pin"))
            .expect_err("checked again");
        assert_eq!(err.kind(), ErrorKind::Authentication);
    }
);

softhsm_test!(
    fn raw_cryptoki_contexts_share_one_initialisation_per_process(hsm) {
        // What the module registry is for, pinned: a second C_Initialize on the same library
        // fails, and C_Finalize through one context breaks every other.
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        use cryptoki::error::{Error as P11Error, RvError};
        hsm.init_token("qvca");
        let args = || CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK);
        let first = Pkcs11::new(MODULE).expect("load");
        first.initialize(args()).expect("first C_Initialize");
        let second = Pkcs11::new(MODULE).expect("load again");
        match second.initialize(args()) {
            Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            other => panic!("second C_Initialize: {other:?}"),
        }
        assert_eq!(second.get_slots_with_token().expect("shared state").len(), 2);
        // Module::open copes with a module someone else in the process initialised.
        let module = Module::open(Path::new(MODULE)).expect("module");
        first.finalize().expect("C_Finalize");
        match second.get_slots_with_token() {
            Err(P11Error::Pkcs11(RvError::CryptokiNotInitialized, _)) => {}
            other => panic!("after C_Finalize elsewhere: {other:?}"),
        }
        assert!(module.tokens().is_err(), "finalised under the registry's feet");
    }
);

softhsm_test!(
    fn two_keys_under_one_label_are_ambiguous_and_both_are_named(hsm) {
        hsm.init_token("qvca");
        for id in ["01", "02"] {
            let out = std::process::Command::new("pkcs11-tool")
                .args(["--module", MODULE, "--token-label", "qvca", "--login"])
                .args(["--pin", common::PIN, "--keypairgen", "--key-type", "EC:prime256v1"])
                .args(["--label", "root", "--id", id, "--usage-sign"])
                .env(
                    "SOFTHSM2_CONF",
                    std::env::var("SOFTHSM2_CONF").expect("child has the config"),
                )
                .output()
                .expect("pkcs11-tool runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        let session = hsm.login("qvca");
        let err = session
            .find_private_key(&KeySelector::by_label("root"))
            .expect_err("ambiguous");
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("id 01"), "{err}");
        assert!(err.message().contains("id 02"), "{err}");
        // Label and id together pick one.
        let uri = Pkcs11Uri::parse("pkcs11:token=qvca;object=root;id=%02").expect("uri");
        let key = session
            .find_private_key(&KeySelector::from_uri(&uri).expect("selector"))
            .expect("one key");
        assert_eq!(key.id(), &[2u8]);
    }
);
