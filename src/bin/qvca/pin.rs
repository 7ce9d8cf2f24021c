//! Where the PIN of a PKCS#11 token comes from, in this order: `--pin-file FILE` (its first
//! line), `pin-source=file:` in the URI given to the command (`init --key`), the PIN itself in
//! `QVCA_PKCS11_PIN`, then a prompt on a terminal. Without a terminal a missing PIN fails at
//! once, naming `--pin-file` and `QVCA_PKCS11_PIN`: nothing ever waits for input that cannot
//! come. A PIN is never taken from the command line itself (no `--pin`, no `pin-value` in a
//! URI), never printed and never written anywhere; it is tried once (wrong PINs can lock a
//! token, so a prompt does not ask again).

use crate::cli::GlobalArgs;
use crate::password::{interactive, prompt_text, read_secret_file};
use qvca::ops::hsm::{PinRequest, TokenAccess};
use qvca::pki::pkcs11::pin::Pin;
use qvca::{Error, Result};
use std::path::Path;
use zeroize::Zeroizing;

/// The variable that holds the PIN itself (never a file name).
pub const PIN_ENV: &str = "QVCA_PKCS11_PIN";

/// The PIN for `request`, from the sources the module documentation lists.
pub fn get(global: &GlobalArgs, request: &PinRequest<'_>) -> Result<Pin> {
    if let Some(path) = &global.pin_file {
        return from_file(path, "--pin-file");
    }
    if let Some(path) = request.pin_source {
        return from_file(path, "pin-source in the URI");
    }
    if let Some(value) = std::env::var_os(PIN_ENV) {
        let value = Zeroizing::new(value.to_string_lossy().into_owned());
        if value.is_empty() {
            return Err(Error::failed(format!(
                "{PIN_ENV} is set but empty: put the token's user PIN in it, or name a file with \
                 --pin-file"
            )));
        }
        return Pin::new(value.as_str());
    }
    if interactive() {
        return ask(request);
    }
    Err(Error::failed(format!(
        "the user PIN of the PKCS#11 token ({}) is needed but there is no terminal to ask on: \
         pass --pin-file FILE (its first line is the PIN), or set {PIN_ENV} to the PIN",
        request.token
    )))
}

/// True when a PIN can be had without failing: `--pin-file`, `QVCA_PKCS11_PIN` or a terminal
/// to ask on (`doctor` skips its login checks otherwise, as it skips `keys-match` without the
/// CA password).
pub fn available(global: &GlobalArgs) -> bool {
    global.pin_file.is_some() || std::env::var_os(PIN_ENV).is_some() || interactive()
}

/// How this command reaches a token: `--pkcs11-module`/`QVCA_PKCS11_MODULE` and the PIN
/// sources above. `pin` must be `|r| pin::get(global, r)` (the caller owns the closure).
pub fn access<'a>(
    global: &GlobalArgs,
    pin: &'a dyn Fn(&PinRequest<'_>) -> Result<Pin>,
) -> TokenAccess<'a> {
    TokenAccess {
        module: global.pkcs11_module.clone(),
        pin,
    }
}

fn from_file(path: &Path, source: &str) -> Result<Pin> {
    let contents = read_secret_file(path, "PIN", source)?;
    let text = std::str::from_utf8(&contents).map_err(|_| {
        Error::failed(format!(
            "the PIN file {} given by {source} is not UTF-8 text: write the PIN on its first line",
            path.display()
        ))
    })?;
    Pin::from_file_contents(text).map_err(|e| {
        Error::new(
            e.kind(),
            format!("the PIN file {} given by {source}: {e}", path.display()),
        )
    })
}

/// Asks on the terminal for the PIN of the token `request` describes.
fn ask(request: &PinRequest<'_>) -> Result<Pin> {
    let entered = dialoguer::Password::new()
        .with_prompt(prompt_text(&format!(
            "User PIN of the PKCS#11 token ({})",
            request.token
        )))
        .interact()
        .map_err(|e| Error::failed(format!("reading the token PIN failed: {e}")))?;
    let entered = Zeroizing::new(entered);
    Pin::new(entered.as_str())
}
