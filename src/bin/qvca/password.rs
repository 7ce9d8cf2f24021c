//! Where passwords come from, in this order: `--password-file` / `--pfx-password-file`, then
//! the file named by `QVCA_PASSWORD_FILE` / `QVCA_PFX_PASSWORD_FILE`, then the password itself
//! in `QVCA_PASSWORD` / `QVCA_PFX_PASSWORD` (always a password, never a file name), then a
//! prompt on a terminal. Without a terminal a missing password fails at once: nothing ever
//! waits for input that cannot come.
//!
//! Also the one confirmation every command that replaces or revokes CA state asks
//! ([`confirm_change`]).

use crate::cli::GlobalArgs;
use qvca::secret::Password;
use qvca::{Error, Result};
use std::io::IsTerminal;
use std::path::Path;
use zeroize::Zeroizing;

/// Which password is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The CA password (protects private keys at rest).
    Ca,
    /// The password of a PKCS#12 file being written or read.
    Pfx,
}

/// Whether the password is being set (asked twice) or entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Setting a new password: a prompt asks twice.
    New,
    /// Entering an existing password.
    Existing,
    /// Entering the password of an existing PKCS#12 file to read it (`inspect`): an empty
    /// password is a real one here (Java trust stores, `openssl pkcs12 -passout pass:`).
    ExistingMayBeEmpty,
}

impl Which {
    fn option(self) -> &'static str {
        match self {
            Which::Ca => "--password-file",
            Which::Pfx => "--pfx-password-file",
        }
    }

    /// The variable that holds the password itself.
    fn env(self) -> &'static str {
        match self {
            Which::Ca => "QVCA_PASSWORD",
            Which::Pfx => "QVCA_PFX_PASSWORD",
        }
    }

    /// The variable that names a file holding the password.
    fn file_env(self) -> &'static str {
        match self {
            Which::Ca => "QVCA_PASSWORD_FILE",
            Which::Pfx => "QVCA_PFX_PASSWORD_FILE",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Which::Ca => "CA password",
            Which::Pfx => "PKCS#12 password",
        }
    }
}

/// True when a person can answer a prompt: stdin and stderr are both terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Gets a password from the file option, the file named in the environment, the password in
/// the environment or a prompt, in that order.
pub fn get(global: &GlobalArgs, which: Which, purpose: Purpose) -> Result<Password> {
    match get_if_given(global, which, purpose)? {
        Some(password) => Ok(password),
        None => Err(Error::failed(format!(
            "the {noun} is needed but there is no terminal to ask on: pass {option} FILE or \
             set {file_env} to a file (its first line is the password), or set {env} to the \
             password",
            noun = which.noun(),
            option = which.option(),
            file_env = which.file_env(),
            env = which.env()
        ))),
    }
}

/// Like [`get`], but `None` when no password was given and there is no terminal to ask on
/// (`inspect` then reports what it can read without one).
pub fn get_if_given(
    global: &GlobalArgs,
    which: Which,
    purpose: Purpose,
) -> Result<Option<Password>> {
    let may_be_empty = purpose == Purpose::ExistingMayBeEmpty;
    let file = match which {
        Which::Ca => global.password_file.as_deref(),
        Which::Pfx => global.pfx_password_file.as_deref(),
    };
    if let Some(path) = file {
        return from_file(path, which.option(), may_be_empty).map(Some);
    }
    if let Some(path) = std::env::var_os(which.file_env()) {
        if path.is_empty() {
            return Err(Error::failed(format!(
                "{} is set but empty: set it to the file that holds the {}, or unset it",
                which.file_env(),
                which.noun()
            )));
        }
        return from_file(Path::new(&path), which.file_env(), may_be_empty).map(Some);
    }
    if let Some(value) = std::env::var_os(which.env()) {
        // The variable holds the password itself, never a file name.
        let value = Zeroizing::new(value.to_string_lossy().into_owned());
        if value.is_empty() && !may_be_empty {
            return Err(Error::failed(format!(
                "{} is set but empty: put the {} in it, or name a file with {} or {}",
                which.env(),
                which.noun(),
                which.option(),
                which.file_env()
            )));
        }
        return Ok(Some(Password::new(value.as_str())));
    }
    if interactive() {
        return prompt(which, purpose).map(Some);
    }
    Ok(None)
}

fn from_file(path: &Path, source: &str, may_be_empty: bool) -> Result<Password> {
    let contents = qvca::input::read_limited(
        path,
        qvca::input::PASSWORD_FILE_LIMIT,
        &format!("the password file given by {source}"),
    )
    .map_err(|e| {
        Error::failed(format!(
            "cannot read the password file {} given by {source}: {}",
            path.display(),
            e.message()
        ))
    })?;
    let contents = Zeroizing::new(contents);
    let text = std::str::from_utf8(&contents).map_err(|_| {
        Error::failed(format!(
            "the password file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    let password = Password::from_file_contents(text);
    if password.is_empty() && !may_be_empty {
        return Err(Error::failed(format!(
            "the password file {} has an empty first line: put the password on its first line",
            path.display()
        )));
    }
    Ok(password)
}

fn prompt(which: Which, purpose: Purpose) -> Result<Password> {
    let noun = which.noun();
    let mut input = dialoguer::Password::new().with_prompt(match purpose {
        Purpose::New => format!("New {noun}"),
        Purpose::Existing => capitalized(noun),
        Purpose::ExistingMayBeEmpty => format!("{} (Enter if it has none)", capitalized(noun)),
    });
    let may_be_empty = purpose == Purpose::ExistingMayBeEmpty;
    if purpose == Purpose::New {
        input = input.with_confirmation(
            format!("Repeat the {noun}"),
            "The passwords do not match; try again.",
        );
    }
    let entered = input
        .validate_with(|p: &String| -> std::result::Result<(), &str> {
            if p.is_empty() && !may_be_empty {
                Err("The password cannot be empty.")
            } else {
                Ok(())
            }
        })
        .interact()
        .map_err(|e| Error::failed(format!("reading the {noun} failed: {e}")))?;
    let entered = Zeroizing::new(entered);
    Ok(Password::new(entered.as_str()))
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The one confirmation of every command that replaces or revokes CA state (`init --force`
/// over a CA, `renew --root`, `restore` over a CA, `revoke`): `--yes` answers yes; on a
/// terminal the question is asked; without a terminal the command is refused (exit 3) and
/// told to pass `--yes`. `what` names the change for that refusal ("replacing the CA in
/// DIR"). `Ok(())` means go ahead; a "no" is a refusal too (exit 3), with nothing changed.
pub fn confirm_change(global: &GlobalArgs, what: &str, question: &str) -> Result<()> {
    if global.yes {
        return Ok(());
    }
    if !interactive() {
        return Err(Error::refused(format!(
            "{what} needs confirmation and there is no terminal to ask on: pass --yes (-y) to \
             confirm; nothing was changed"
        )));
    }
    let yes = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| Error::failed(format!("reading the answer failed: {e}")))?;
    if yes {
        Ok(())
    } else {
        Err(Error::refused("Nothing was changed (the answer was no)."))
    }
}
