//! `qvca secrets derive | encrypt | decrypt | rewrap`.

use super::Context;
use crate::cli::{
    KeyFormat, SecretsCommand, SecretsCryptArgs, SecretsDeriveArgs, SecretsRewrapArgs,
};
use crate::exit;
use crate::password::{Purpose, interactive};
use base64::Engine;
use qvca::Error;
use qvca::domain::secret::SecretBytes;
use qvca::ops::ca::Ca;
use qvca::secrets::{CaSecretsKey, SecretsKey, rewrap_tokens};
use qvca::store::atomic::{
    FileMode, Rewritten, refuse_existing_output, write_output, write_rewrapped,
};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::Path;
use zeroize::Zeroizing;

/// Runs a `secrets` subcommand.
pub fn run(ctx: &Context, command: &SecretsCommand) -> qvca::Result<u8> {
    match command {
        SecretsCommand::Derive(args) => derive(ctx, args),
        SecretsCommand::Encrypt(args) => encrypt(ctx, args),
        SecretsCommand::Decrypt(args) => decrypt(ctx, args),
        SecretsCommand::Rewrap(args) => rewrap(ctx, args),
    }
}

/// The current CA's SecretsKey: version 1 from the root key file (asks for the CA password if
/// the CA has one), or version 2 in the root key's PKCS#11 token (asks for its PIN only).
fn current_key(ctx: &Context) -> qvca::Result<CaSecretsKey> {
    let ca = Ca::open(&ctx.ca_dir()?)?;
    let pin = |r: &qvca::ops::hsm::PinRequest<'_>| crate::pin::get(ctx.global, r);
    let access = crate::pin::access(ctx.global, &pin);
    qvca::ops::secrets::secrets_key(&ca, &|| ctx.unlock(&ca), Some(&access))
}

#[derive(Serialize)]
struct DeriveReport<'a> {
    kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
}

fn derive(ctx: &Context, args: &SecretsDeriveArgs) -> qvca::Result<u8> {
    let ca_key = current_key(ctx)?;
    let key = match (args.reveal, ca_key.revealable()) {
        (true, None) => {
            return Err(Error::refused(format!(
                "the SecretsKey of this CA (key id {}) lives in its PKCS#11 token and never \
                 leaves it (version 2 derives a fresh key for every value there): there is \
                 nothing to reveal; encrypt and decrypt with `qvca secrets encrypt|decrypt`",
                ca_key.kid()
            )));
        }
        (_, key) => key,
    };
    let revealed = key.filter(|_| args.reveal).map(|key| {
        Zeroizing::new(match args.format {
            KeyFormat::Hex => hex::encode(key.expose()),
            KeyFormat::Base64 => base64::engine::general_purpose::STANDARD.encode(key.expose()),
        })
    });
    let report = DeriveReport {
        kid: ca_key.kid().to_string(),
        key: revealed.as_deref().map(String::as_str),
        format: revealed.as_ref().map(|_| match args.format {
            KeyFormat::Hex => "hex",
            KeyFormat::Base64 => "base64",
        }),
    };
    if ctx.out.is_json() {
        ctx.out.report(&report, |_| {});
    } else {
        match &revealed {
            Some(key) => ctx.out.data(format!("{}\n", key.as_str()).as_bytes()),
            None => ctx.out.data(format!("{}\n", report.kid).as_bytes()),
        }
    }
    Ok(exit::SUCCESS)
}

/// Reads all of stdin, zeroized when dropped.
fn read_stdin() -> qvca::Result<SecretBytes> {
    qvca::input::read_stdin_limited(qvca::input::TEXT_LIMIT, "the value").map(SecretBytes::new)
}

fn read_input(path: &Path) -> qvca::Result<SecretBytes> {
    qvca::input::read_limited(path, qvca::input::TEXT_LIMIT, "the input file").map(SecretBytes::new)
}

/// The single value to encrypt: stdin with one trailing newline stripped, or a hidden prompt.
fn value_to_encrypt() -> qvca::Result<SecretBytes> {
    if std::io::stdin().is_terminal() {
        if !interactive() {
            return Err(Error::failed(
                "no value to encrypt: pipe it on stdin (it is never taken from the command line)",
            ));
        }
        let value = dialoguer::Password::new()
            .with_prompt("Value to encrypt")
            .with_confirmation("Repeat the value", "The values do not match; try again.")
            .allow_empty_password(true)
            .interact()
            .map_err(|e| Error::failed(format!("reading the value failed: {e}")))?;
        return Ok(SecretBytes::new(Zeroizing::new(value).as_bytes().to_vec()));
    }
    let input = read_stdin()?;
    let bytes = input.expose();
    let trimmed = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    Ok(SecretBytes::new(trimmed.to_vec()))
}

#[derive(Serialize)]
struct BulkReport<'a> {
    input: &'a Path,
    output: &'a Path,
    lines: usize,
}

fn encrypt(ctx: &Context, args: &SecretsCryptArgs) -> qvca::Result<u8> {
    match (&args.input, &args.out) {
        (Some(input), Some(out)) => {
            refuse_existing_output(out, args.force)?;
            let text = read_input(input)?;
            let key = current_key(ctx)?;
            let tokens = key.encrypt_lines(text.expose(), &args.context)?;
            write_output(out, &tokens, FileMode::Secret, args.force)?;
            bulk_report(ctx, input, out, text.expose(), "encrypted");
        }
        _ => {
            let value = value_to_encrypt()?;
            let key = current_key(ctx)?;
            let token = key.encrypt_token(value.expose(), &args.context)?;
            if ctx.out.is_json() {
                ctx.out
                    .report(&serde_json::json!({ "token": token }), |_| {});
            } else {
                ctx.out.data(format!("{token}\n").as_bytes());
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn decrypt(ctx: &Context, args: &SecretsCryptArgs) -> qvca::Result<u8> {
    match (&args.input, &args.out) {
        (Some(input), Some(out)) => {
            refuse_existing_output(out, args.force)?;
            let text = read_input(input)?;
            let key = current_key(ctx)?;
            let plain = key.decrypt_lines(text.expose(), &args.context)?;
            write_output(out, plain.expose(), FileMode::Secret, args.force)?;
            bulk_report(ctx, input, out, text.expose(), "decrypted");
        }
        _ => {
            let token = if std::io::stdin().is_terminal() && interactive() {
                let entered: String = dialoguer::Input::new()
                    .with_prompt("Token")
                    .interact_text()
                    .map_err(|e| Error::failed(format!("reading the token failed: {e}")))?;
                SecretBytes::new(entered.into_bytes())
            } else {
                read_stdin()?
            };
            let token = std::str::from_utf8(token.expose())
                .map_err(|_| Error::authentication("malformed token: not text"))?;
            let key = current_key(ctx)?;
            let plain = key.decrypt_token(token.trim(), &args.context)?;
            let mut output = SecretBytes::new([plain.expose(), b"\n"].concat());
            if ctx.out.is_json() {
                let text = std::str::from_utf8(plain.expose()).map_err(|_| {
                    Error::failed("the value is not UTF-8 text: decrypt without --json")
                })?;
                output = SecretBytes::new(
                    format!("{}\n", serde_json::json!({ "value": text })).into_bytes(),
                );
            }
            ctx.out.data(output.expose());
        }
    }
    Ok(exit::SUCCESS)
}

fn bulk_report(ctx: &Context, input: &Path, out: &Path, text: &[u8], verb: &str) {
    let lines = qvca::secrets::value_line_count(text);
    let report = BulkReport {
        input,
        output: out,
        lines,
    };
    ctx.out.report(&report, |text| {
        text.push_str(&format!(
            "{verb} {lines} line(s) of {} into {}\n",
            input.display(),
            out.display()
        ));
    });
}

#[derive(Serialize)]
struct RewrapReport<'a> {
    old_kid: String,
    new_kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a Path>,
    rewrapped: usize,
    already_current: usize,
}

fn rewrap(ctx: &Context, args: &SecretsRewrapArgs) -> qvca::Result<u8> {
    if let Some(out) = &args.out {
        refuse_existing_output(out, args.force)?;
    }
    let text = match &args.input {
        Some(path) => read_input(path)?,
        None => read_stdin()?,
    };
    let from_backup = args
        .from_backup
        .as_ref()
        .map(|backup| {
            SecretsKey::for_root(&qvca::ops::backup::root_key_from_backup(
                backup,
                &ctx.pfx_password(
                    Purpose::Existing,
                    &format!("backup password of {}", backup.display()),
                )?,
            )?)
        })
        .transpose()?;
    let new = current_key(ctx)?;
    let mut old: Vec<&SecretsKey> = from_backup.iter().collect();
    old.extend(new.escrowed_v1());
    if old.is_empty() {
        return Err(Error::usage(
            "no old key to rewrap from: name a backup of the CA that made the tokens with \
             --from-backup OLD.pfx (only a CA moved into a PKCS#11 token with `qvca hsm \
             migrate` has its own old key)",
        ));
    }
    let contexts = if args.context.is_empty() {
        vec![String::new()]
    } else {
        args.context.clone()
    };
    let (rewrapped, summary) = rewrap_tokens(text.expose(), &old, &new, &contexts)?;
    let rewrapped = SecretBytes::new(rewrapped);
    let target = match (&args.input, args.in_place, &args.out) {
        (Some(input), true, _) => Some(input.as_path()),
        (_, _, Some(out)) => Some(out.as_path()),
        _ => None,
    };
    match target {
        Some(path) => {
            let rewritten = write_rewrapped(path, rewrapped.expose(), args.in_place, args.force)?;
            if let Some(rewritten) = rewritten {
                note_in_place(ctx, path, &rewritten);
            }
        }
        None => ctx.out.data(rewrapped.expose()),
    }
    let report = RewrapReport {
        old_kid: old.first().map(|k| k.kid().to_string()).unwrap_or_default(),
        new_kid: new.kid().to_string(),
        file: target,
        rewrapped: summary.rewrapped,
        already_current: summary.already_current,
    };
    let message = format!(
        "rewrapped {} token(s) from key id {} to {}{} ({} already current){}",
        summary.rewrapped,
        report.old_kid,
        report.new_kid,
        if new.version() == qvca::secrets::TokenVersion::V2 {
            " (qvca:v1 to qvca:v2, sealed in the PKCS#11 token)"
        } else {
            ""
        },
        summary.already_current,
        target
            .map(|p| format!(" in {}", p.display()))
            .unwrap_or_default()
    );
    if target.is_some() {
        ctx.out.report(&report, |text| {
            text.push_str(&message);
            text.push('\n');
        });
    } else {
        // stdout carries the rewrapped text; the summary goes to stderr.
        ctx.out.note(&message);
    }
    Ok(exit::SUCCESS)
}

/// Notes what an in-place rewrap rewrote: a link's target, and hard links that keep the old
/// tokens.
fn note_in_place(ctx: &Context, path: &Path, rewritten: &Rewritten) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        ctx.out.note(&format!(
            "{} is a link: rewrote its target {}",
            path.display(),
            rewritten.file.display()
        ));
    }
    if rewritten.links > 1 {
        ctx.out.warn(&format!(
            "{} has {} other hard link(s): they keep the old tokens",
            rewritten.file.display(),
            rewritten.links - 1
        ));
    }
}
