//! `qvca license inspect [SLK]`: decode a Signed License Key (its signature is not verified).

use super::Context;
use crate::cli::{LicenseCommand, LicenseInspectArgs};
use crate::exit;
use crate::output::printable_value;
use qvca::Error;
use qvca::input::{DOCUMENT_LIMIT, read_stdin_limited, read_text_limited};
use qvca::qlik::license::decode;
use std::fmt::Write;

/// Runs a `license` subcommand.
pub fn run(ctx: &Context, command: &LicenseCommand) -> qvca::Result<u8> {
    match command {
        LicenseCommand::Inspect(args) => inspect(ctx, args),
    }
}

fn inspect(ctx: &Context, args: &LicenseInspectArgs) -> qvca::Result<u8> {
    let text = match &args.key {
        // A key never contains a path separator; an argument with one is a file name.
        Some(arg) if std::path::Path::new(arg).is_file() || arg.contains(['/', '\\']) => {
            read_text_limited(
                std::path::Path::new(arg),
                DOCUMENT_LIMIT,
                "the license key file",
            )?
        }
        Some(arg) => arg.clone(),
        None => String::from_utf8(read_stdin_limited(DOCUMENT_LIMIT, "the license key")?)
            .map_err(|_| Error::failed("the license key on standard input is not UTF-8 text"))?,
    };
    let key = decode(&text)?;
    ctx.out.report(&key, |out| {
        let _ = writeln!(out, "Header:");
        for (name, value) in &key.header {
            let _ = writeln!(out, "  {:<10}{}", printable_value(name), plain(value));
        }
        let _ = writeln!(out, "Claims:");
        for (name, value) in &key.claims {
            let _ = writeln!(out, "  {:<10}{}", printable_value(name), plain(value));
        }
        let _ = writeln!(out, "Signature: {} bytes", key.signature_length);
        if let Some(remark) = &key.signature_remark {
            let _ = writeln!(out, "  {remark}");
        }
        let _ = writeln!(
            out,
            "The signature was NOT verified: that needs Qlik's public key. This only shows what the key says."
        );
    });
    Ok(exit::SUCCESS)
}

/// A claim's value on one line: a string as it is, anything else as JSON; control and
/// formatting characters (a line break included) shown as `\u{..}`.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => printable_value(s).into_owned(),
        other => printable_value(&other.to_string()).into_owned(),
    }
}
