//! The only printer: results on stdout (a human rendering, or JSON with `--json`), notes,
//! warnings and progress on stderr. `-q` leaves only errors (and data the command exists to
//! print, such as a PEM on stdout). A closed stdout (`qvca list | head`) is not an error.
//!
//! Names, claims and subjects come from outside (a template, a backup, a license key), so no
//! human text leaves here with a raw control character (ESC, BEL, CR, NUL, any C0 or C1) or an
//! invisible formatting character (bidirectional overrides such as U+202E): [`printable`]
//! shows each as `\u{..}`. JSON output stays exact (serde escapes control characters).
#![allow(clippy::print_stderr)]

use crate::cli::GlobalArgs;
use serde::Serialize;
use std::borrow::Cow;
use std::io::{IsTerminal, Write};

/// How results and messages are printed for this run.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    /// The printer for the global options.
    pub fn new(global: &GlobalArgs) -> Self {
        Self {
            json: global.json,
            quiet: global.quiet,
        }
    }

    /// True with `--json`.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a command's result: `value` as JSON with `--json`, else the human rendering
    /// (nothing with `-q`).
    pub fn report<T: Serialize>(&self, value: &T, human: impl FnOnce(&mut String)) {
        if self.json {
            let mut text = serde_json::to_string_pretty(value)
                .unwrap_or_else(|e| format!("{{\"error\":\"encoding the result failed: {e}\"}}"));
            text.push('\n');
            write_stdout(text.as_bytes());
        } else if !self.quiet {
            let mut text = String::new();
            human(&mut text);
            write_stdout(printable(&text).as_bytes());
        }
    }

    /// Like [`Output::report`], for reports whose bad news must reach a cron mail even with
    /// `-q`: `human` gets `quiet` and renders only what needs attention then (nothing printed
    /// when that is nothing).
    pub fn report_attention<T: Serialize>(&self, value: &T, human: impl FnOnce(&mut String, bool)) {
        if self.json {
            self.report(value, |_| {});
            return;
        }
        let mut text = String::new();
        human(&mut text, self.quiet);
        if !text.is_empty() {
            write_stdout(printable(&text).as_bytes());
        }
    }

    /// Prints data the command exists to produce (a PEM, tokens), even with `-q`.
    pub fn data(&self, bytes: &[u8]) {
        write_stdout(bytes);
    }

    /// A note for a person on stderr (not with `-q`).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}", printable(message));
        }
    }

    /// A warning on stderr (not with `-q`).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {}", printable(message));
        }
    }

    /// A problem on stderr that `-q` does not hide (a refusal or failure of one item).
    pub fn problem(&self, message: &str) {
        eprintln!("{}", printable(message));
    }

    /// An error on stderr, and with `--json` an error object on stdout.
    pub fn error(&self, message: &str, exit_code: u8) {
        eprintln!("qvca: error: {}", printable(message));
        if self.json {
            let value = serde_json::json!({
                "error": { "message": message, "exit_code": exit_code }
            });
            write_stdout(format!("{value}\n").as_bytes());
        }
    }

    /// The notice that this process waits for another qvca's CA lock (stderr).
    pub fn waiting(message: &str) {
        eprintln!("{}", printable(message));
    }

    /// A usage error clap found before any options were parsed: its message on stderr, and
    /// with `--json` the error object on stdout.
    pub fn usage(message: &str, json: bool) {
        eprint!("{}", printable(message));
        if json {
            let first = message.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let value = serde_json::json!({
                "error": { "message": first, "exit_code": crate::exit::USAGE }
            });
            write_stdout(format!("{value}\n").as_bytes());
        }
    }

    /// A progress bar for `len` items when a person is watching stderr.
    pub fn progress_bar(&self, len: u64, what: &str) -> Option<indicatif::ProgressBar> {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(len);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_owned());
        Some(bar)
    }
}

/// Set when writing to stdout failed (other than a reader that went away): `main`, the only
/// exit point, then exits 1.
static STDOUT_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True when a result could not be written to stdout (a full disk behind a redirect, say).
pub fn stdout_failed() -> bool {
    STDOUT_FAILED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes to stdout; a reader that went away (broken pipe) is not an error, any other failure
/// is reported once and makes the exit code 1.
fn write_stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(bytes).and_then(|()| out.flush());
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
        && !STDOUT_FAILED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        eprintln!("qvca: error: writing to stdout failed: {e}");
    }
}

/// Text for a terminal: every control character other than the line breaks and tabs of the
/// layout, and every invisible formatting character, shown as `\u{..}`. The one sanitiser of
/// human output: [`Output`] passes every text line through it.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape_hidden(text, true)
}

/// One value inside a line (a table cell, a claim): as [`printable`], and line breaks and tabs
/// are shown as `\u{..}` too, so a value can never start a line of its own.
pub fn printable_value(text: &str) -> Cow<'_, str> {
    escape_hidden(text, false)
}

fn escape_hidden(text: &str, keep_layout: bool) -> Cow<'_, str> {
    let hidden = |c: char| {
        qvca::domain::name::is_hidden_char(c) && !(keep_layout && matches!(c, '\n' | '\t'))
    };
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Renders rows as a left-aligned table with a header line (cells made printable).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| printable_value(c).into_owned())
                .collect()
        })
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut parts = Vec::new();
        for (cell, width) in cells.zip(&widths) {
            parts.push(format!("{cell:<width$}"));
        }
        text.push_str(parts.join("  ").trim_end());
        text.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    text
}

/// A date as YYYY-MM-DD.
/// The width of the terminal stdout is, or `None` when stdout is not a terminal (piped output
/// is never cut).
pub fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // A terminal that does not know its size (0 columns) is not cut either.
    let (_, columns) = console::Term::stdout().size_checked()?;
    (columns > 0).then_some(usize::from(columns))
}

/// The first `n` characters of a serial, then "…": enough to tell serials apart (and what
/// `show`/`revoke` accept as a prefix).
pub fn short_serial(serial: &str, n: usize) -> String {
    if serial.chars().count() <= n {
        serial.to_owned()
    } else {
        format!("{}…", serial.chars().take(n).collect::<String>())
    }
}

pub fn date(t: time::OffsetDateTime) -> String {
    qvca::ops::issue::date(t)
}
