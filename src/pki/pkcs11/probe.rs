//! Probing a CA's root key in its token step by step, for `qvca doctor`: load the module, find
//! the token, log in, find the key, read its attributes and check that it signs for the root
//! certificate. Each step's outcome is kept, so a report can say which step failed and what
//! came before it; the steps after a failure are not tried.
//!
//! Every step blocks in the module and cannot be cancelled, so all of them run on one helper
//! thread under one time limit ([`run_with_deadline`]); when the limit passes, the steps
//! finished so far are reported and the step after them is the one that hung. The helper
//! thread stays blocked in the module, so the caller must not use the module again and should
//! exit after reporting (as the CLI does).

use crate::error::{Error, Result};
use crate::pki::pkcs11::attributes::Finding;
use crate::pki::pkcs11::deadline::run_with_deadline;
use crate::pki::pkcs11::location::TokenKeyLocation;
use crate::pki::pkcs11::module::Module;
use crate::pki::pkcs11::pin::Pin;
use crate::pki::pkcs11::pool::{PoolOptions, SessionPool};
use crate::pki::pkcs11::public_key::PublicKey;
use crate::pki::pkcs11::signer::TokenKey;
use crate::pki::pkcs11::token::{KeySelector, TokenDescription, TokenSelector, UserSession};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What probing found, step by step; a step that was not reached is `None`.
#[derive(Debug, Default)]
pub struct Probe {
    /// Loading and initialising the module: what it says about itself, or why it failed.
    pub module: Option<Result<String>>,
    /// Finding the token: its description, or why it is not there.
    pub token: Option<Result<TokenDescription>>,
    /// Logging in with the PIN (not reached when no PIN was given).
    pub login: Option<Result<()>>,
    /// The key's attributes, checked against what a root key's should be.
    pub attributes: Option<Result<Vec<Finding>>>,
    /// Finding the key and making it ready to sign.
    pub key: Option<Result<TokenKey>>,
    /// Whether the key signs so that the expected public key (the root certificate's)
    /// verifies: a signature of a fresh challenge, checked in software (`None` also when
    /// there was no expected key to check against).
    pub signs_for: Option<Result<bool>>,
    /// The failure when the steps did not finish within the time limit: the first step not
    /// recorded is the one that hung.
    pub timed_out: Option<Error>,
}

/// Probes the key recorded at `location` through the module at `module`: every step up to
/// finding the token, and with `pin` (`None`: no PIN available) the login, the key, its
/// attributes and whether it signs for `expected` (when there is one), all within `timeout`.
pub fn probe(
    location: &TokenKeyLocation,
    module: &Path,
    pin: Option<&Pin>,
    expected: Option<&PublicKey>,
    timeout: Duration,
) -> Probe {
    let shared = Arc::new(Mutex::new(Probe::default()));
    let what = format!(
        "reaching the token, logging in and checking the key ({location}, PKCS#11 module {})",
        module.display()
    );
    let steps = {
        let shared = Arc::clone(&shared);
        let input = ProbeInput {
            module: module.to_path_buf(),
            pin: pin.cloned(),
            tokens: location.token_selector(),
            keys: location.key_selector(),
            expected: expected.cloned(),
        };
        move || {
            run_steps(&shared, input);
            Ok(())
        }
    };
    let outcome = run_with_deadline(&what, timeout, steps);
    let mut probe = std::mem::take(&mut *lock(&shared));
    if let Err(e) = outcome {
        probe.timed_out = Some(e);
    }
    probe
}

/// What the probe's steps need, owned: they run on a thread that may outlive a hang.
struct ProbeInput {
    module: PathBuf,
    pin: Option<Pin>,
    tokens: TokenSelector,
    keys: KeySelector,
    expected: Option<PublicKey>,
}

/// Loads the module, finds the token and (with a PIN) logs in, recording each step in
/// `shared` as it ends, so that a step that hangs is the first one not recorded.
fn run_steps(shared: &Mutex<Probe>, input: ProbeInput) {
    let record = || lock(shared);
    let module = match Module::open(&input.module) {
        Ok(module) => {
            record().module = Some(Ok(module.description()));
            module
        }
        Err(e) => {
            record().module = Some(Err(e));
            return;
        }
    };
    let token = match module.token(&input.tokens) {
        Ok(token) => {
            record().token = Some(Ok(token.description().clone()));
            token
        }
        Err(e) => {
            record().token = Some(Err(e));
            return;
        }
    };
    let Some(pin) = input.pin else {
        return;
    };
    match token.login(&pin) {
        Ok(session) => {
            record().login = Some(Ok(()));
            probe_key(shared, session, &input.keys, input.expected);
        }
        Err(e) => record().login = Some(Err(e)),
    }
}

/// Finds the key in the logged-in `session`, reads its attributes, makes it ready to sign and
/// checks whether it signs for `expected`, recording each step in `shared`.
fn probe_key(
    shared: &Mutex<Probe>,
    session: UserSession,
    keys: &KeySelector,
    expected: Option<PublicKey>,
) {
    let record = || lock(shared);
    let object = match session.find_private_key(keys) {
        Ok(object) => object,
        Err(e) => {
            record().key = Some(Err(e));
            return;
        }
    };
    record().attributes = Some(session.check_key_attributes(&object));
    let key = SessionPool::new(session, &PoolOptions::default())
        .and_then(|pool| TokenKey::new(pool, &object));
    let key = match key {
        Ok(key) => key,
        Err(e) => {
            record().key = Some(Err(e));
            return;
        }
    };
    let signs_for = expected.map(|expected| {
        if key.public_key() == &expected {
            key.signs_for(&expected)
        } else {
            Ok(false)
        }
    });
    let mut probe = record();
    probe.signs_for = signs_for;
    probe.key = Some(Ok(key));
}

/// The shared probe; a poisoned lock only means the helper thread panicked between whole
/// assignments, so the value is still consistent.
fn lock(shared: &Mutex<Probe>) -> MutexGuard<'_, Probe> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::pkcs11::uri::Pkcs11Uri;

    fn location() -> TokenKeyLocation {
        TokenKeyLocation::new(
            Pkcs11Uri::parse("pkcs11:token=qvca;object=root").expect("uri"),
            "qvca".into(),
            "0123".into(),
            "root".into(),
            vec![1, 2],
        )
        .expect("location")
    }

    fn some_public_key() -> PublicKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        PublicKey::from_spki_der(&rcgen::PublicKeyData::subject_public_key_info(&pair))
            .expect("spki")
    }

    #[test]
    fn a_module_that_cannot_be_loaded_stops_the_probe_at_the_first_step() {
        let pin = Pin::new("1234").expect("pin");
        let probe = probe(
            &location(),
            Path::new("/nonexistent/libpkcs11.so"),
            Some(&pin),
            Some(&some_public_key()),
            Duration::from_secs(10),
        );
        let err = probe
            .module
            .expect("the module step ran")
            .expect_err("the module is missing");
        assert!(err.message().contains("/nonexistent/libpkcs11.so"), "{err}");
        assert!(probe.token.is_none() && probe.login.is_none() && probe.key.is_none());
        assert!(probe.timed_out.is_none());
    }
}
