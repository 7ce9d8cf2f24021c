//! Running blocking PKCS#11 calls with a time limit.
//!
//! Every PKCS#11 function blocks until the module returns, and the standard has no way to
//! cancel one (`C_CancelFunction` is a legacy stub). A network HSM that is unreachable can
//! make `C_Initialize`, `C_GetSlotList` or `C_Login` wait for the client library's own
//! timeout, which may be minutes or forever. [`run_with_deadline`] runs such a call on its
//! own thread and gives up waiting after a time limit, returning a clear error; the stuck
//! thread stays blocked in the module, so after a timeout the caller should report the error
//! and exit (which is what a CLI does anyway). Signing is bounded the same way per session by
//! the pool's acquire timeout; a signature that hangs inside the HSM cannot be interrupted.
//! Vendor client libraries have their own timeout settings, which are the real fix (Cloud
//! KMS's `rpc_timeout_secs`, YubiHSM's connector `timeout`, the Luna and CloudHSM clients'
//! reconnect settings).

use crate::error::{Error, Result};
use crate::pki::pkcs11::module::Module;
use crate::pki::pkcs11::pin::Pin;
use crate::pki::pkcs11::token::{TokenSelector, UserSession};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// The time limit qvca uses for reaching a token and logging in.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `call` on its own thread and waits at most `timeout` for it. `what` names the call
/// for the error ("reaching token \"qvca\" through module /usr/lib/…").
pub fn run_with_deadline<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    call: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("pkcs11-call".to_owned())
        .spawn(move || {
            // The receiver may have given up already; then the result is dropped.
            let _ = tx.send(call());
        })
        .map_err(|e| Error::failed(format!("cannot start a thread for {what}: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::failed(format!(
            "{what} did not finish within {} s; the HSM or its network may be unreachable: check the HSM client's configuration, network and logs, then try again",
            timeout.as_secs()
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::failed(format!(
            "{what} failed inside the PKCS#11 module (the call panicked)"
        ))),
    }
}

/// Opens the module, finds the token and logs in, all within `timeout`.
pub fn connect(
    module_path: &Path,
    token: &TokenSelector,
    pin: &Pin,
    timeout: Duration,
) -> Result<UserSession> {
    let what = format!(
        "reaching the token ({token}) through the PKCS#11 module {}",
        module_path.display()
    );
    let path: PathBuf = module_path.to_path_buf();
    let selector = token.clone();
    let pin = pin.clone();
    run_with_deadline(&what, timeout, move || {
        Module::open(&path)?.token(&selector)?.login(&pin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::time::Instant;

    #[test]
    fn a_call_that_returns_in_time_gives_its_result() {
        let value = run_with_deadline("a quick call", Duration::from_secs(5), || Ok(42));
        assert_eq!(value.map_err(|e| e.kind()), Ok(42));
        let err = run_with_deadline::<()>("a failing call", Duration::from_secs(5), || {
            Err(Error::not_found("gone"))
        });
        assert_eq!(err.map_err(|e| e.kind()), Err(ErrorKind::NotFound));
    }

    #[test]
    fn a_hanging_call_is_given_up_with_a_clear_error() {
        let started = Instant::now();
        let err = run_with_deadline(
            "reaching token \"qvca\"",
            Duration::from_millis(200),
            || {
                std::thread::sleep(Duration::from_secs(30));
                Ok(())
            },
        )
        .expect_err("timed out");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(err.kind(), ErrorKind::Failed);
        assert!(err.message().contains("reaching token \"qvca\""), "{err}");
        assert!(err.message().contains("unreachable"), "{err}");
    }

    #[test]
    fn a_panicking_call_is_an_error_not_a_panic() {
        let err = run_with_deadline::<()>("a broken module", Duration::from_secs(5), || {
            panic!("module bug")
        })
        .expect_err("panicked");
        assert_eq!(err.kind(), ErrorKind::Failed);
    }
}
