//! Where passwords come from: `--password-file` / `--pfx-password-file`, else the environment
//! (`QVCA_PASSWORD` / `QVCA_PFX_PASSWORD`), else a prompt on a terminal. Without a terminal a
//! missing password fails at once: nothing ever waits for input that cannot come.

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
}

impl Which {
    fn option(self) -> &'static str {
        match self {
            Which::Ca => "--password-file",
            Which::Pfx => "--pfx-password-file",
        }
    }

    fn env(self) -> &'static str {
        match self {
            Which::Ca => "QVCA_PASSWORD",
            Which::Pfx => "QVCA_PFX_PASSWORD",
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

/// Gets a password from the file option, the environment or a prompt, in that order.
pub fn get(global: &GlobalArgs, which: Which, purpose: Purpose) -> Result<Password> {
    let file = match which {
        Which::Ca => global.password_file.as_deref(),
        Which::Pfx => global.pfx_password_file.as_deref(),
    };
    if let Some(path) = file {
        return from_file(path, which.option());
    }
    if let Some(value) = std::env::var_os(which.env()) {
        let value = Zeroizing::new(value.to_string_lossy().into_owned());
        // The variable holds the password itself; as a convenience it may instead name a
        // file holding it (the way --password-file does).
        let as_path = Path::new(value.as_str());
        if !value.is_empty() && as_path.is_file() {
            return from_file(as_path, which.env());
        }
        if value.is_empty() {
            return Err(Error::failed(format!(
                "{} is set but empty: put the {} in it or use {}",
                which.env(),
                which.noun(),
                which.option()
            )));
        }
        return Ok(Password::new(value.as_str()));
    }
    if interactive() {
        return prompt(which, purpose);
    }
    Err(Error::failed(format!(
        "the {noun} is needed but there is no terminal to ask on: pass {option} FILE (its first \
         line is the password) or set {env}",
        noun = which.noun(),
        option = which.option(),
        env = which.env()
    )))
}

fn from_file(path: &Path, source: &str) -> Result<Password> {
    let contents = std::fs::read(path).map_err(|e| {
        Error::failed(format!(
            "cannot read the password file {} given by {source}: {e}",
            path.display()
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
    if password.is_empty() {
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
    });
    if purpose == Purpose::New {
        input = input.with_confirmation(
            format!("Repeat the {noun}"),
            "The passwords do not match; try again.",
        );
    }
    let entered = input
        .validate_with(|p: &String| -> std::result::Result<(), &str> {
            if p.is_empty() {
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

/// The answer to a yes/no question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Yes (or `-y`).
    Yes,
    /// No.
    No,
    /// Nobody can be asked (no terminal and no `-y`).
    NoTerminal,
}

/// Asks a yes/no question on a terminal; `-y` answers yes without asking.
pub fn confirm(global: &GlobalArgs, question: &str) -> Result<Answer> {
    if global.yes {
        return Ok(Answer::Yes);
    }
    if !interactive() {
        return Ok(Answer::NoTerminal);
    }
    let yes = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| Error::failed(format!("reading the answer failed: {e}")))?;
    Ok(if yes { Answer::Yes } else { Answer::No })
}
