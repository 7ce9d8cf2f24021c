//! Where passwords come from, in this order: `--password-file` / `--pfx-password-file`, then
//! the file named by `QVCA_PASSWORD_FILE` / `QVCA_PFX_PASSWORD_FILE`, then the password itself
//! in `QVCA_PASSWORD` / `QVCA_PFX_PASSWORD` (always a password, never a file name), then a
//! prompt on a terminal. Without a terminal a missing password fails at once: nothing ever
//! waits for input that cannot come. The new CA password of `passwd` comes the same way from
//! `--new-password-file`, `QVCA_NEW_PASSWORD_FILE`, `QVCA_NEW_PASSWORD` or a prompt (twice).
//!
//! A prompt says what the password is for ("CA password", "New backup password", "PKCS#12
//! password of FILE"), explains an empty entry instead of silently asking again, and a new
//! password shorter than 12 characters (from any source) gets a warning. A CA password typed
//! at a prompt gets three tries ([`unlock`]); one from a file or the environment gets one.
//!
//! Also the one confirmation every command that replaces or revokes CA state asks
//! ([`confirm_change`]).

use crate::cli::GlobalArgs;
use qvca::domain::secret::Password;
use qvca::ops::ca::{Ca, RootSigner};
use qvca::{Error, Result};
use std::cell::Cell;
use std::io::IsTerminal;
use std::path::Path;
use zeroize::Zeroizing;

/// Which password is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The CA password (protects private keys at rest).
    Ca,
    /// The new CA password of `passwd`.
    NewCa,
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
            Which::NewCa => "--new-password-file",
            Which::Pfx => "--pfx-password-file",
        }
    }

    /// The variable that holds the password itself.
    fn env(self) -> &'static str {
        match self {
            Which::Ca => "QVCA_PASSWORD",
            Which::NewCa => "QVCA_NEW_PASSWORD",
            Which::Pfx => "QVCA_PFX_PASSWORD",
        }
    }

    /// The variable that names a file holding the password.
    fn file_env(self) -> &'static str {
        match self {
            Which::Ca => "QVCA_PASSWORD_FILE",
            Which::NewCa => "QVCA_NEW_PASSWORD_FILE",
            Which::Pfx => "QVCA_PFX_PASSWORD_FILE",
        }
    }

    /// What the password is called when the caller does not say more.
    fn noun(self) -> &'static str {
        match self {
            Which::Ca | Which::NewCa => "CA password",
            Which::Pfx => "PKCS#12 password",
        }
    }
}

/// Where a password came from: only one typed at a prompt is asked for again when wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A file or the environment.
    Given,
    /// Typed at a prompt.
    Prompt,
}

/// How many times a CA password typed at a prompt may be wrong before the command fails.
pub const CA_PASSWORD_TRIES: u32 = 3;

/// The message for an empty entry at a prompt that does not accept one.
const EMPTY_ENTRY: &str =
    "an empty password is not allowed here: type the password, or press Ctrl-C";

/// True when a person can answer a prompt: stdin and stderr are both terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Gets a password from the file option, the file named in the environment, the password in
/// the environment or a prompt, in that order.
pub fn get(global: &GlobalArgs, which: Which, purpose: Purpose) -> Result<Password> {
    get_for(global, which, purpose, which.noun())
}

/// Like [`get`], with the prompt and messages calling the password `noun` ("backup password",
/// "PKCS#12 password of FILE"); a new one is asked as "New <noun>".
pub fn get_for(
    global: &GlobalArgs,
    which: Which,
    purpose: Purpose,
    noun: &str,
) -> Result<Password> {
    let file = global_file(global, which);
    resolve(global, file, which, purpose, noun, true)?
        .map(|(password, _)| password)
        .ok_or_else(|| missing(which, noun))
}

/// The new CA password of `passwd` from `--new-password-file` (`file`), the environment or a
/// prompt (twice, only when `prompt` is true). `Ok(None)` when it would have to be prompted for
/// but `prompt` is false; without a terminal a missing one fails at once (exit 1).
pub fn get_new_ca(
    global: &GlobalArgs,
    file: Option<&Path>,
    prompt: bool,
) -> Result<Option<Password>> {
    let which = Which::NewCa;
    if !prompt && file.is_none() && !has_env(which) && interactive() {
        return Ok(None);
    }
    resolve(global, file, which, Purpose::New, "CA password", prompt)?
        .map(|(password, _)| Some(password))
        .ok_or_else(|| missing(which, "new CA password"))
}

/// Like [`get`], but `None` when no password was given and there is no terminal to ask on
/// (`inspect` then reports what it can read without one). `noun` as in [`get_for`].
pub fn get_if_given(
    global: &GlobalArgs,
    which: Which,
    purpose: Purpose,
    noun: &str,
) -> Result<Option<Password>> {
    let file = global_file(global, which);
    Ok(resolve(global, file, which, purpose, noun, true)?.map(|(password, _)| password))
}

/// Unlocks the root of `ca` with the CA password. One typed at a prompt is asked again when it
/// is wrong, up to [`CA_PASSWORD_TRIES`] times (then exit 4); one from a file or the
/// environment is tried once. A CA without a password asks nothing. A root key in a PKCS#11
/// token is reached with `--pkcs11-module` and the PIN ([`crate::pin`]).
pub fn unlock(global: &GlobalArgs, ca: &Ca) -> Result<RootSigner> {
    let pin = |request: &qvca::ops::hsm::PinRequest<'_>| crate::pin::get(global, request);
    let token = crate::pin::access(global, &pin);
    unlock_by(global, &|password| ca.unlock_with(password, Some(&token)))
}

/// Like [`unlock`], with the root key already opened in its token (`doctor` opens it while
/// checking the token): only the CA password is asked for.
pub fn unlock_with_root_key(
    global: &GlobalArgs,
    ca: &Ca,
    key: &qvca::pki::signer::RootKey,
) -> Result<RootSigner> {
    unlock_by(global, &|password| {
        ca.unlock_with_root_key(password, key.clone())
    })
}

/// Where an unlock gets the CA password from.
type PasswordSource<'a> = &'a dyn Fn() -> Result<Password>;

/// Runs `attempt` with the CA password source, asking again at a prompt after a wrong one.
fn unlock_by(
    global: &GlobalArgs,
    attempt: &dyn Fn(PasswordSource<'_>) -> Result<RootSigner>,
) -> Result<RootSigner> {
    let mut tries = 0;
    loop {
        tries += 1;
        let origin = Cell::new(Origin::Given);
        let result = attempt(&|| {
            let file = global_file(global, Which::Ca);
            let (password, from) = resolve(
                global,
                file,
                Which::Ca,
                Purpose::Existing,
                "CA password",
                true,
            )?
            .ok_or_else(|| missing(Which::Ca, "CA password"))?;
            origin.set(from);
            Ok(password)
        });
        match result {
            Err(e)
                if e.kind() == qvca::ErrorKind::Authentication
                    && origin.get() == Origin::Prompt
                    && tries < CA_PASSWORD_TRIES =>
            {
                crate::output::Output::new(global).problem(&format!(
                    "wrong CA password (try {tries} of {CA_PASSWORD_TRIES}): type it again, or \
                     press Ctrl-C"
                ));
            }
            other => return other,
        }
    }
}

fn global_file(global: &GlobalArgs, which: Which) -> Option<&Path> {
    match which {
        Which::Ca => global.password_file.as_deref(),
        Which::Pfx => global.pfx_password_file.as_deref(),
        Which::NewCa => None,
    }
}

fn has_env(which: Which) -> bool {
    std::env::var_os(which.file_env()).is_some() || std::env::var_os(which.env()).is_some()
}

/// The failure of a password that is needed with no source and no terminal (exit 1).
fn missing(which: Which, noun: &str) -> Error {
    Error::failed(format!(
        "the {noun} is needed but there is no terminal to ask on: pass {option} FILE or \
         set {file_env} to a file (its first line is the password), or set {env} to the \
         password",
        option = which.option(),
        file_env = which.file_env(),
        env = which.env()
    ))
}

/// The password from `file`, the environment or (when `prompt` and a terminal allow) a prompt,
/// with where it came from; `None` when there is none of these. A new password that is short
/// gets a warning (not with `-q`).
fn resolve(
    global: &GlobalArgs,
    file: Option<&Path>,
    which: Which,
    purpose: Purpose,
    noun: &str,
    prompt: bool,
) -> Result<Option<(Password, Origin)>> {
    let found = given(file, which, purpose, noun)?
        .map(|password| (password, Origin::Given))
        .map(Ok)
        .or_else(|| {
            (prompt && interactive()).then(|| ask(noun, purpose).map(|p| (p, Origin::Prompt)))
        })
        .transpose()?;
    if let Some((password, _)) = &found
        && purpose == Purpose::New
        && qvca::ops::passwd::is_short(password)
    {
        crate::output::Output::new(global).warn(qvca::ops::passwd::SHORT_PASSWORD_WARNING);
    }
    Ok(found)
}

/// The password from `file` or the environment, `None` when neither gives one.
fn given(
    file: Option<&Path>,
    which: Which,
    purpose: Purpose,
    noun: &str,
) -> Result<Option<Password>> {
    let may_be_empty = purpose == Purpose::ExistingMayBeEmpty;
    if let Some(path) = file {
        return from_file(path, which.option(), may_be_empty).map(Some);
    }
    if let Some(path) = std::env::var_os(which.file_env()) {
        if path.is_empty() {
            return Err(Error::failed(format!(
                "{} is set but empty: set it to the file that holds the {noun}, or unset it",
                which.file_env(),
            )));
        }
        return from_file(Path::new(&path), which.file_env(), may_be_empty).map(Some);
    }
    if let Some(value) = std::env::var_os(which.env()) {
        // The variable holds the password itself, never a file name.
        let value = Zeroizing::new(value.to_string_lossy().into_owned());
        if value.is_empty() && !may_be_empty {
            return Err(Error::failed(format!(
                "{} is set but empty: put the {noun} in it, or name a file with {} or {}",
                which.env(),
                which.option(),
                which.file_env()
            )));
        }
        return Ok(Some(Password::new(value.as_str())));
    }
    Ok(None)
}

/// The bytes of a file that holds a secret (`noun`: "password", "PIN") named by `source`
/// ("--password-file", "QVCA_PASSWORD_FILE"), read within the password-file limit.
pub fn read_secret_file(path: &Path, noun: &str, source: &str) -> Result<Zeroizing<Vec<u8>>> {
    let contents = qvca::input::read_limited(
        path,
        qvca::input::PASSWORD_FILE_LIMIT,
        &format!("the {noun} file given by {source}"),
    )
    .map_err(|e| {
        Error::failed(format!(
            "cannot read the {noun} file {} given by {source}: {}",
            path.display(),
            e.message()
        ))
    })?;
    Ok(Zeroizing::new(contents))
}

fn from_file(path: &Path, source: &str, may_be_empty: bool) -> Result<Password> {
    let contents = read_secret_file(path, "password", source)?;
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

/// The text of a terminal prompt: it may name a file, a token or a certificate from outside,
/// so it goes through the one sanitiser of human output and stays on one line.
pub fn prompt_text(text: &str) -> String {
    crate::output::printable_value(text).into_owned()
}

/// Asks on the terminal for the password called `noun`: "New <noun>" and a repetition when
/// setting one; an empty entry is explained (where it is not a valid answer) and asked again.
fn ask(noun: &str, purpose: Purpose) -> Result<Password> {
    let mut input = dialoguer::Password::new()
        .allow_empty_password(true)
        .with_prompt(prompt_text(&match purpose {
            Purpose::New => format!("New {noun}"),
            Purpose::Existing => capitalized(noun),
            Purpose::ExistingMayBeEmpty => format!("{} (Enter if it has none)", capitalized(noun)),
        }));
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
                Err(EMPTY_ENTRY)
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
        .with_prompt(prompt_text(question))
        .default(false)
        .interact()
        .map_err(|e| Error::failed(format!("reading the answer failed: {e}")))?;
    if yes {
        Ok(())
    } else {
        Err(Error::refused("Nothing was changed (the answer was no)."))
    }
}
