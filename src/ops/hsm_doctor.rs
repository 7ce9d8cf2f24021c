//! `doctor` on a CA whose root key lives in a PKCS#11 token: one named check per step of
//! reaching the key, each with advice, in the order they depend on each other.
//!
//! | check | ok when | otherwise |
//! |---|---|---|
//! | `hsm-module` | the PKCS#11 module loads and initialises | problem; doctor fails (exit 1, or 2 when no module is named at all) |
//! | `hsm-token` | the recorded token (label and serial) is present | problem; doctor fails (exit 1) |
//! | `hsm-login` | the user PIN opens the token | problem; a wrong or locked PIN fails doctor with exit 4; skipped without a PIN source and a terminal |
//! | `hsm-root-key` | the recorded key is there and signs a fresh challenge that verifies under the root certificate's public key | problem (exit 5) |
//! | `hsm-key-attributes` | sensitive, not extractable, may sign and nothing else ([`crate::pki::pkcs11::attributes`]) | problem or warning (exit 5) |
//!
//! A step that is not reached (an earlier one failed, or no PIN) is reported as skipped with
//! the reason, so the five checks are always there for monitoring. All steps run within the
//! connect time limit ([`connect_timeout`]): an unreachable HSM is reported as the step that did
//! not finish and fails doctor with exit 1, never a hang. A PIN is asked for only as for
//! signing (a file, the environment, a terminal); without any, the login and key checks are
//! skipped, not failed, like `keys-match` without the CA password.

use crate::error::{Error, Result};
use crate::ops::ca::Ca;
use crate::ops::doctor::{Check, CheckStatus, TokenChecks};
use crate::ops::hsm::{PinRequest, TokenAccess};
use crate::pki::certificate::CertificateDetails;
use crate::pki::pkcs11::attributes::{Finding, Status};
use crate::pki::pkcs11::location::{TokenKeyLocation, connect_timeout};
use crate::pki::pkcs11::probe::{Probe, probe};
use crate::pki::pkcs11::public_key::PublicKey;
use crate::pki::pkcs11::signer::TokenKey;
use crate::pki::pkcs11::token::TokenDescription;
use crate::pki::signer::RootKey;
use std::path::Path;

/// What doctor found in the token: the checks, the root key when it was opened and proven to
/// sign for the root certificate, and the failure that decides doctor's exit code when the
/// token could not be used at all.
#[derive(Debug)]
pub struct TokenDoctor {
    /// The `hsm-*` checks (and `keys-match` when the root could not be unlocked).
    pub checks: TokenChecks,
    /// The root key, ready to sign, when every step up to `hsm-root-key` was ok.
    pub key: Option<RootKey>,
    /// Why the token could not be used (module, token, PIN): doctor reports its checks, then
    /// fails with this error's exit code. `None` when the findings are all in the checks.
    pub failure: Option<Error>,
}

/// Attribute checks about the key's history, not its use: after `qvca hsm migrate` they stay
/// false for good, so doctor mentions them in an ok check instead of warning forever.
const HISTORY_CHECKS: [&str; 2] = ["never-extractable", "always-sensitive"];

const MODULE_ADVICE: &str = "install the HSM vendor's PKCS#11 library, or give its path with \
     --pkcs11-module PATH or QVCA_PKCS11_MODULE (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)";
const TOKEN_ADVICE: &str = "check that the token is present and reachable (a network HSM: its \
     client configuration, network and logs; SoftHSM2: SOFTHSM2_CONF and its token directory); \
     if it is gone, restore it from the HSM vendor's backup";
const PIN_ADVICE: &str = "check the PIN given by --pin-file or QVCA_PKCS11_PIN; repeated wrong \
     PINs can lock the token";
const NO_PIN_ADVICE: &str = "run doctor with --pin-file FILE or QVCA_PKCS11_PIN to check the \
     login, the root key and its attributes too";
const KEY_ADVICE: &str = "restore the key from the HSM vendor's backup (SoftHSM2: its token \
     directory), or the CA directory from a qvca backup if it points at the wrong key; nothing \
     can be signed until the key and the root certificate match";

/// Checks the root key of `ca` in its token. `access` names the module (an option or the
/// environment) and gets the PIN; with `ask_pin` false (no PIN file, variable or terminal) the
/// steps that need a login are skipped.
pub fn check_token(ca: &Ca, access: &TokenAccess<'_>, ask_pin: bool) -> Result<TokenDoctor> {
    let location = ca.index().settings.root_key.as_ref().ok_or_else(|| {
        Error::failed("the root key of this CA is a key file, not a key in a PKCS#11 token")
    })?;
    // A root certificate that cannot be read (index-files reports it) still lets the module,
    // the token and the login be checked; only the key cannot be matched against it.
    let root = ca.root_entry().and_then(|entry| {
        let details = CertificateDetails::from_der(&ca.root_der()?)?;
        Ok((
            entry.serial.to_string(),
            PublicKey::from_spki_der(&details.spki_der)?,
        ))
    });
    let (serial, expected, root_error) = match root {
        Ok((serial, expected)) => (serial, Some(expected), None),
        Err(e) => (String::new(), None, Some(e)),
    };
    let mut report = Report::new(location);

    let module = match location.module_to_load(access.module.as_deref()) {
        Ok(module) => module,
        Err(e) => {
            report.problem("hsm-module", e.message().to_owned(), MODULE_ADVICE);
            report.fail(e, None);
            report.skip_rest("no PKCS#11 module is named");
            return Ok(report.finish(None, ask_pin));
        }
    };
    let (pin, pin_error) = if ask_pin {
        match (access.pin)(&PinRequest {
            token: location.to_string(),
            pin_source: None,
        }) {
            Ok(pin) => (Some(pin), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    let found = probe(
        location,
        &module,
        pin.as_ref(),
        expected.as_ref(),
        connect_timeout(),
    );
    let key = report.judge(found, &module, pin_error, root_error, &serial);
    Ok(report.finish(key, ask_pin))
}

/// The checks as they are made, and the first failure.
struct Report<'a> {
    location: &'a TokenKeyLocation,
    checks: Vec<Check>,
    failure: Option<Error>,
    /// Why the steps not reached were not checked.
    stopped: Option<String>,
}

impl<'a> Report<'a> {
    fn new(location: &'a TokenKeyLocation) -> Self {
        Self {
            location,
            checks: Vec::new(),
            failure: None,
            stopped: None,
        }
    }

    fn add(&mut self, name: &'static str, status: CheckStatus, message: String, advice: &str) {
        self.checks.push(Check {
            name,
            status,
            message,
            advice: (!advice.is_empty()).then(|| advice.to_owned()),
        });
    }

    fn ok(&mut self, name: &'static str, message: String) {
        self.add(name, CheckStatus::Ok, message, "");
    }

    fn problem(&mut self, name: &'static str, message: String, advice: &str) {
        self.add(name, CheckStatus::Problem, message, advice);
    }

    /// Records why the token could not be used (the first reason wins), naming the module,
    /// the token and the key.
    fn fail(&mut self, error: Error, module: Option<&Path>) {
        if self.failure.is_some() {
            return;
        }
        let module =
            module.map_or_else(String::new, |m| format!(", PKCS#11 module {}", m.display()));
        self.failure = Some(Error::new(
            error.kind(),
            format!(
                "the CA's root key ({}{module}) cannot be used: {}",
                self.location,
                error.message()
            ),
        ));
    }

    /// Reports `name` as skipped because of what stopped the steps before it.
    fn skip(&mut self, name: &'static str) {
        let why = self.stopped.clone().unwrap_or_default();
        self.add(
            name,
            CheckStatus::Skipped,
            format!("not checked: {why}"),
            "",
        );
    }

    /// Every check not made yet is skipped because of `why`.
    fn skip_rest(&mut self, why: &str) {
        self.stopped = Some(why.to_owned());
        for name in [
            "hsm-token",
            "hsm-login",
            "hsm-root-key",
            "hsm-key-attributes",
        ] {
            if !self.checks.iter().any(|c| c.name == name) {
                self.skip(name);
            }
        }
    }

    /// A step that `found` did not record: it hung (`timed_out`) or an earlier one stopped.
    fn not_reached(&mut self, name: &'static str, timed_out: &mut Option<Error>, advice: &str) {
        match timed_out.take() {
            Some(e) => {
                self.problem(name, e.message().to_owned(), advice);
                // The message names the module, the token and the key already.
                if self.failure.is_none() {
                    self.failure = Some(e);
                }
                self.stopped = Some("an earlier step did not finish in time".to_owned());
            }
            None => self.skip(name),
        }
    }

    /// Turns the probe into checks; returns the key when it is the root certificate's.
    fn judge(
        &mut self,
        found: Probe,
        module: &Path,
        pin_error: Option<Error>,
        root_error: Option<Error>,
        serial: &str,
    ) -> Option<RootKey> {
        let Probe {
            module: module_step,
            token,
            login,
            attributes,
            key,
            signs_for,
            mut timed_out,
        } = found;

        self.judge_module(module_step, module, &mut timed_out);
        self.judge_token(token, module, &mut timed_out);
        self.judge_login(login, pin_error, module, &mut timed_out);
        let opened = self.judge_root_key(key, signs_for, root_error, serial, &mut timed_out);
        self.judge_key_attributes(attributes, &mut timed_out);
        opened
    }

    /// `hsm-module`: the module loads.
    fn judge_module(
        &mut self,
        step: Option<Result<String>>,
        module: &Path,
        timed_out: &mut Option<Error>,
    ) {
        match step {
            Some(Ok(description)) => {
                let about = if description.is_empty() {
                    String::new()
                } else {
                    format!(" ({description})")
                };
                self.ok(
                    "hsm-module",
                    format!("the PKCS#11 module {} loads{about}", module.display()),
                );
            }
            Some(Err(e)) => {
                self.problem("hsm-module", e.message().to_owned(), MODULE_ADVICE);
                self.fail(e, Some(module));
                self.stopped = Some("the PKCS#11 module did not load".to_owned());
            }
            None => self.not_reached("hsm-module", timed_out, MODULE_ADVICE),
        }
    }

    /// `hsm-token`: the token is present.
    fn judge_token(
        &mut self,
        token: Option<Result<TokenDescription>>,
        module: &Path,
        timed_out: &mut Option<Error>,
    ) {
        match token {
            Some(Ok(token)) => self.ok(
                "hsm-token",
                format!(
                    "the token {:?} (serial {}) is present: {} {}",
                    token.label,
                    token.serial,
                    token.manufacturer.trim(),
                    token.model.trim()
                ),
            ),
            Some(Err(e)) => {
                self.problem("hsm-token", e.message().to_owned(), TOKEN_ADVICE);
                self.fail(e, Some(module));
                self.stopped = Some("the token was not reached".to_owned());
            }
            None => self.not_reached("hsm-token", timed_out, TOKEN_ADVICE),
        }
    }

    /// `hsm-login`: the PIN opens the token (or why it was not tried).
    fn judge_login(
        &mut self,
        login: Option<Result<()>>,
        pin_error: Option<Error>,
        module: &Path,
        timed_out: &mut Option<Error>,
    ) {
        match (login, pin_error) {
            (Some(Ok(())), _) => self.ok("hsm-login", "the user PIN opens the token".to_owned()),
            (Some(Err(e)), _) => {
                self.problem("hsm-login", e.message().to_owned(), PIN_ADVICE);
                self.fail(e, Some(module));
                self.stopped = Some("the login failed".to_owned());
            }
            (None, _) if self.stopped.is_some() || timed_out.is_some() => {
                self.not_reached("hsm-login", timed_out, TOKEN_ADVICE);
            }
            (None, Some(e)) => {
                self.problem("hsm-login", e.message().to_owned(), PIN_ADVICE);
                self.fail(e, Some(module));
                self.stopped = Some("no PIN could be read".to_owned());
            }
            (None, None) => {
                self.add(
                    "hsm-login",
                    CheckStatus::Skipped,
                    "not checked: no PIN was given (--pin-file, QVCA_PKCS11_PIN) and there is \
                     no terminal to ask for it"
                        .to_owned(),
                    NO_PIN_ADVICE,
                );
                self.stopped = Some("the PIN is needed".to_owned());
            }
        }
    }

    /// `hsm-root-key`: the key is found and signs for the root certificate; returns it then.
    fn judge_root_key(
        &mut self,
        key: Option<Result<TokenKey>>,
        signs_for: Option<Result<bool>>,
        root_error: Option<Error>,
        serial: &str,
        timed_out: &mut Option<Error>,
    ) -> Option<RootKey> {
        match (key, signs_for) {
            (Some(Ok(key)), Some(Ok(true))) => {
                self.ok(
                    "hsm-root-key",
                    format!(
                        "the key {:?} (id {}) signs for the root certificate (serial {serial}): \
                         a fresh challenge signed in the token verifies under its public key",
                        self.location.key_label(),
                        hex::encode(self.location.key_id())
                    ),
                );
                Some(RootKey::in_token(key, self.location.clone()))
            }
            (Some(Ok(_)), Some(Ok(false))) => {
                self.problem(
                    "hsm-root-key",
                    format!(
                        "the key in the token ({}) is not the key of the root certificate \
                         (serial {serial}): the CA directory points at another key",
                        self.location
                    ),
                    KEY_ADVICE,
                );
                None
            }
            (Some(Ok(_)), Some(Err(e))) | (Some(Err(e)), _) => {
                self.problem("hsm-root-key", e.message().to_owned(), KEY_ADVICE);
                None
            }
            (Some(Ok(_)), None) if root_error.is_some() => {
                let e = root_error.unwrap_or_else(|| Error::failed("no root certificate"));
                self.problem(
                    "hsm-root-key",
                    format!(
                        "the key is in the token, but the root certificate cannot be read to \
                         check it against: {}",
                        e.message()
                    ),
                    "restore the CA from a backup (`qvca restore FILE`)",
                );
                None
            }
            (Some(Ok(_)), None) | (None, _) => {
                self.not_reached("hsm-root-key", timed_out, KEY_ADVICE);
                None
            }
        }
    }

    /// `hsm-key-attributes`: sensitive, not extractable, sign only.
    fn judge_key_attributes(
        &mut self,
        attributes: Option<Result<Vec<Finding>>>,
        timed_out: &mut Option<Error>,
    ) {
        match attributes {
            Some(Ok(findings)) => {
                let (status, message, advice) = judge_attributes(&findings);
                self.add("hsm-key-attributes", status, message, &advice);
            }
            Some(Err(e)) => self.add(
                "hsm-key-attributes",
                CheckStatus::Warning,
                format!("the key's attributes could not be read: {}", e.message()),
                "check them with the HSM vendor's tool",
            ),
            None => {
                if self.stopped.is_none() {
                    self.stopped = Some("the key was not found".to_owned());
                }
                self.not_reached("hsm-key-attributes", timed_out, "");
            }
        }
    }

    /// The checks, with `keys-match` explained when the root could not be unlocked.
    fn finish(self, key: Option<RootKey>, ask_pin: bool) -> TokenDoctor {
        let keys_not_checked = key.is_none().then(|| {
            let (message, advice) = if !ask_pin && self.failure.is_none() {
                (
                    "not checked: the root key in the token needs its PIN, and the keys are \
                     checked with the root unlocked",
                    "run doctor with --pin-file FILE or QVCA_PKCS11_PIN (and the CA password) \
                     to check the keys too",
                )
            } else {
                (
                    "not checked: the root key in the token could not be opened (see the hsm- \
                     checks)",
                    "fix what the hsm- checks report, then run doctor again",
                )
            };
            Check {
                name: "keys-match",
                status: CheckStatus::Skipped,
                message: message.to_owned(),
                advice: Some(advice.to_owned()),
            }
        });
        TokenDoctor {
            checks: TokenChecks {
                checks: self.checks,
                keys_not_checked,
            },
            key,
            failure: self.failure,
        }
    }
}

/// One check from the attribute findings: a problem for any attribute that is wrong for a
/// root key, a warning for a key that may do more than sign or an attribute the token does not
/// report, ok otherwise (mentioning a key that was once outside the token).
fn judge_attributes(findings: &[Finding]) -> (CheckStatus, String, String) {
    let history = |f: &&Finding| HISTORY_CHECKS.contains(&f.check);
    let problems: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Problem)
        .collect();
    let warnings: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::NotReported || (f.status == Status::Warning && !history(f)))
        .collect();
    let notes: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Warning && history(f))
        .collect();
    let details = |list: &[&Finding]| {
        list.iter()
            .map(|f| f.detail.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut advice: Vec<&str> = Vec::new();
    for finding in problems.iter().chain(&warnings) {
        if !advice.contains(&finding.advice) {
            advice.push(finding.advice);
        }
    }
    let note = if notes.is_empty() {
        String::new()
    } else {
        format!(
            "; {}: the key was imported (qvca hsm migrate) or was once extractable, so make sure \
             no copy of it is left outside the token (the old key file and its backups)",
            details(&notes)
        )
    };
    let (status, found) = if !problems.is_empty() {
        let mut found = details(&problems);
        if !warnings.is_empty() {
            found = format!("{found}; {}", details(&warnings));
        }
        (CheckStatus::Problem, found)
    } else if !warnings.is_empty() {
        (CheckStatus::Warning, details(&warnings))
    } else {
        (
            CheckStatus::Ok,
            "the root key is a private token object, sensitive, not extractable, and may sign \
             and nothing else"
                .to_owned(),
        )
    };
    (status, format!("{found}{note}"), advice.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(check: &'static str, status: Status, detail: &str, advice: &'static str) -> Finding {
        Finding {
            check,
            status,
            detail: detail.to_owned(),
            advice,
        }
    }

    #[test]
    fn an_ideal_key_is_ok_without_advice() {
        let (status, message, advice) = judge_attributes(&[finding(
            "sensitive",
            Status::Ok,
            "CKA_SENSITIVE is true",
            "",
        )]);
        assert_eq!(status, CheckStatus::Ok);
        assert!(message.contains("sensitive, not extractable"), "{message}");
        assert!(advice.is_empty());
    }

    #[test]
    fn an_extractable_key_is_a_problem_and_one_that_may_decrypt_a_warning() {
        let extractable = finding(
            "not-extractable",
            Status::Problem,
            "CKA_EXTRACTABLE is true",
            "set CKA_EXTRACTABLE=false",
        );
        let decrypt = finding(
            "decrypt-not-allowed",
            Status::Warning,
            "CKA_DECRYPT is true",
            "set CKA_DECRYPT=false",
        );
        let (status, message, advice) = judge_attributes(&[extractable, decrypt.clone()]);
        assert_eq!(status, CheckStatus::Problem);
        assert_eq!(message, "CKA_EXTRACTABLE is true; CKA_DECRYPT is true");
        assert_eq!(advice, "set CKA_EXTRACTABLE=false; set CKA_DECRYPT=false");
        let (status, _, _) = judge_attributes(&[decrypt]);
        assert_eq!(status, CheckStatus::Warning);
    }

    #[test]
    fn an_imported_key_is_ok_with_a_note_not_a_warning_forever() {
        let (status, message, advice) = judge_attributes(&[
            finding("sensitive", Status::Ok, "CKA_SENSITIVE is true", ""),
            finding(
                "never-extractable",
                Status::Warning,
                "CKA_NEVER_EXTRACTABLE is false",
                "make sure no copy is left",
            ),
        ]);
        assert_eq!(status, CheckStatus::Ok);
        assert!(
            message.contains("CKA_NEVER_EXTRACTABLE is false"),
            "{message}"
        );
        assert!(message.contains("hsm migrate"), "{message}");
        assert!(advice.is_empty());
    }

    #[test]
    fn an_attribute_the_token_hides_is_a_warning() {
        let (status, message, _) = judge_attributes(&[finding(
            "sensitive",
            Status::NotReported,
            "the token does not report CKA_SENSITIVE",
            "check the attribute with the HSM vendor's tool",
        )]);
        assert_eq!(status, CheckStatus::Warning);
        assert!(message.contains("does not report"), "{message}");
    }
}
