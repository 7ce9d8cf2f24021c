//! Every bad input of docs/bad-input.md that the binary can show, pinned as a snapshot: the
//! command line, the exit code, stdout and stderr, verbatim. The unit tests and the substring
//! checks of the other modules say what a message must contain; these say that it did not change
//! at all, so a refactor that moves code around proves here that no user-facing word moved with
//! it. A changed snapshot is a changed message: review it as one (and docs/bad-input.md with it).
//!
//! Snapshots live in `tests/integration/snapshots/messages__<area>__<case>.snap`. To write them
//! after an intended change of a message:
//!
//! ```text
//! INSTA_UPDATE=always cargo test --features test-hooks --test integration messages::
//! ```
//!
//! then read the diff (`git diff tests/integration/snapshots`). Without `INSTA_UPDATE` a mismatch
//! fails the test; with `CI=true` (as `.ci/run` runs) insta writes nothing, not even a new
//! snapshot, and a missing snapshot fails too.
//!
//! What changes from run to run is replaced by a placeholder (see [`normalise`]): scratch
//! directories, dates and times, serials, fingerprints and other hex values, process ids and
//! random tokens. Nothing else is touched.

mod files;
mod lifecycle;
mod names;
mod passwords;
mod reading;
mod secrets;
mod sign;
mod state;
mod templates;

use assert_cmd::Command;
use regex::Regex;
use std::process::Output;
use std::sync::LazyLock;

/// Runs `cmd` and pins its transcript as the snapshot `messages__<area>__<name>`, where
/// `<area>` is the calling module. Returns the output for further checks.
macro_rules! pin {
    ($name:expr, $cmd:expr) => {
        $crate::messages::pin_command(module_path!(), $name, $cmd)
    };
}
pub(crate) use pin;

/// Pins a transcript made by the caller (a run that is not one `Command`, e.g. a script).
macro_rules! pin_text {
    ($name:expr, $text:expr) => {
        $crate::messages::pin_transcript(module_path!(), $name, $text)
    };
}
pub(crate) use pin_text;

/// Runs `cmd` and pins its transcript (see [`pin!`]).
pub fn pin_command(module: &str, name: &str, cmd: &mut Command) -> Output {
    let line = command_line(cmd);
    let out = cmd.output().expect("run qvca");
    pin_transcript(module, name, &transcript(&line, &out));
    out
}

/// Pins `text`, normalised, as the snapshot `messages__<area>__<name>`.
pub fn pin_transcript(module: &str, name: &str, text: &str) {
    let area = module.rsplit("::").next().unwrap_or(module);
    let text = normalise(text);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        insta::assert_snapshot!(format!("messages__{area}__{name}"), text);
    });
}

/// The transcript of one run: the command line as a shell would show it, the exit code, and
/// both streams.
pub fn transcript(line: &str, out: &Output) -> String {
    let stream = |bytes: &[u8]| {
        if bytes.is_empty() {
            " (empty)\n".to_owned()
        } else {
            let mut text = format!("\n{}", visible(&String::from_utf8_lossy(bytes)));
            if !text.ends_with('\n') {
                text.push_str("\n(no final newline)\n");
            }
            text
        }
    };
    let code = out
        .status
        .code()
        .map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string());
    format!(
        "$ {line}\nexit: {code}\nstdout:{}stderr:{}",
        stream(&out.stdout),
        stream(&out.stderr)
    )
}

/// `text` with each raw control character other than line feed and tab written as
/// `[raw U+001B]` (qvca's own escapes, `\u{1b}`, stay as they are), so that a snapshot is plain
/// text and a raw byte reaching the terminal shows in review.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}' {
                format!("[raw U+{:04X}]", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `VAR=value qvca args...` for a command, each word quoted as a shell would need it.
pub fn command_line(cmd: &Command) -> String {
    let mut words: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| {
            v.map(|v| format!("{}={}", k.to_string_lossy(), quote(&v.to_string_lossy())))
        })
        .collect();
    words.push("qvca".to_owned());
    words.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    words.join(" ")
}

/// A word quoted for a POSIX shell when it needs it; control characters shown escaped.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+[]".contains(c));
    if plain {
        return word.to_owned();
    }
    let escaped: String = word
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{202e}' {
                c.escape_unicode().to_string()
            } else if c == '\'' {
                "'\\''".to_owned()
            } else {
                c.to_string()
            }
        })
        .collect();
    format!("'{escaped}'")
}

/// A pattern of the normalising rules (all fixed, so a failure is a bug here).
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("pattern")
}

/// Scratch directories made by `tempfile` (`<temp dir>/.tmpXXXXXX`).
static SCRATCH: LazyLock<Regex> = LazyLock::new(|| {
    let mut roots = vec![std::env::temp_dir()];
    if let Ok(real) = std::env::temp_dir().canonicalize() {
        roots.push(real);
    }
    let roots: Vec<String> = roots
        .iter()
        .map(|r| regex::escape(r.to_string_lossy().trim_end_matches('/')))
        .collect();
    re(&format!(r"(?:{})/\.tmp[A-Za-z0-9]{{6}}", roots.join("|")))
});

/// The values that differ between runs, each with its placeholder, applied in order.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let mut rules = vec![
        // The checkout (fixtures under tests/).
        (re(&regex::escape(env!("CARGO_MANIFEST_DIR"))), "[REPO]"),
        // Tokens carry random nonces.
        (re(r"qvca:v1:[A-Za-z0-9_\-:.]+"), "qvca:v1:[TOKEN]"),
        (re(r"qvca:v2:[A-Za-z0-9_\-:.]+"), "qvca:v2:[TOKEN]"),
        // RFC 3339 and compact timestamps, then dates.
        (
            re(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}| UTC)?"),
            "[TIME]",
        ),
        // A backup made in the same second as another gets `-2`, `-3`… after its time.
        (re(r"\d{8}T\d{6}Z(?:-\d+)?"), "[TIME]"),
        (re(r"\d{4}-\d{2}-\d{2}"), "[DATE]"),
        // Fingerprints written with colons, then any long hex value (serials, key ids, hashes).
        (re(r"\b(?:[0-9A-Fa-f]{2}:){7,}[0-9A-Fa-f]{2}\b"), "[HEX:]"),
        (re(r"\b[0-9A-Fa-f]{16,}\b"), "[HEX]"),
        // Serial prefixes shown with an ellipsis (the operations log).
        (re(r"\b[0-9A-F]{8}…"), "[HEX]…"),
        // Positions in JSON that vary with the length of random serials.
        (re(r"at line \d+ column \d+"), "at line [N] column [N]"),
        // Sizes that vary with the DER length of signatures.
        (re(r"\b\d+ bytes\b"), "[N] bytes"),
        (
            re(r"message is incomplete: expected \d+, actual \d+ at DER byte \d+"),
            "message is incomplete: expected [N], actual [N] at DER byte [N]",
        ),
        // Process ids, alone and in the names of staging directories.
        (re(r"\bpid \d+"), "pid [PID]"),
        (
            re(r"((?:\.tmp|\.restore|\.init|\.passwd|\.staging)-)\d+"),
            "${1}[PID]",
        ),
    ];
    // The operations log's "user@host", found as qvca finds them (the environment of this
    // test is the one qvca inherits).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let user = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned());
    rules.insert(
        1,
        (
            re(&format!(
                r"\b{}@{}\b",
                regex::escape(&user),
                regex::escape(host)
            )),
            "[USER]@[HOST]",
        ),
    );
    // This machine's name elsewhere (`setup` and the license-service export use it).
    if host.len() >= 3 {
        rules.insert(
            2,
            (re(&format!(r"\b{}\b", regex::escape(host))), "[HOSTNAME]"),
        );
    }
    rules
});

/// Fixed values of qvca's own messages that look like the values [`RULES`] replace (an
/// example time): kept as they are.
const KEEP: &[&str] = &["2025-01-31T12:00:00Z"];

/// Replaces what changes between runs by placeholders: scratch directories by `[TMP]`
/// (`[TMP2]`, ... for further ones, numbered in order of appearance), then [`RULES`]; the
/// values of [`KEEP`] stay.
pub fn normalise(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut text = SCRATCH
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let path = caps[0].to_owned();
            let n = match seen.iter().position(|p| *p == path) {
                Some(i) => i + 1,
                None => {
                    seen.push(path);
                    seen.len()
                }
            };
            if n == 1 {
                "[TMP]".to_owned()
            } else {
                format!("[TMP{n}]")
            }
        })
        .into_owned();
    for (i, kept) in KEEP.iter().enumerate() {
        text = text.replace(kept, &format!("\u{0}KEEP{i}\u{0}"));
    }
    for (pattern, placeholder) in RULES.iter() {
        text = pattern.replace_all(&text, *placeholder).into_owned();
    }
    for (i, kept) in KEEP.iter().enumerate() {
        text = text.replace(&format!("\u{0}KEEP{i}\u{0}"), kept);
    }
    text
}
