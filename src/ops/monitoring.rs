//! The health of a CA in the shape monitoring tools read: the Prometheus text exposition format
//! (version 0.0.4), for node_exporter's textfile collector. `doctor --format prometheus` writes
//! it; the exit codes stay as they are.
//!
//! Metric names are stable: monitoring rules key on them.

use crate::ops::ca::Ca;
use crate::ops::doctor::{CheckStatus, DoctorReport};
use std::fmt::Write;
use std::path::Path;
use time::OffsetDateTime;

/// The newest backup of this CA's naming scheme (`qvca-backup-<timestamp>.pfx`) in `dir`, by the
/// timestamp in its name; `None` when there is none.
pub fn newest_backup_time(dir: &Path) -> Option<OffsetDateTime> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (stamp, _) = crate::ops::backup::backup_name_key(&name)?;
            let format =
                time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            time::PrimitiveDateTime::parse(&stamp, &format)
                .ok()
                .map(time::PrimitiveDateTime::assume_utc)
        })
        .max()
}

/// The doctor report and the CA's certificates as Prometheus text. `last_backup` is the time of
/// the newest backup, when the caller knows where backups are kept.
pub fn prometheus_text(
    ca: &Ca,
    report: &DoctorReport,
    now: OffsetDateTime,
    last_backup: Option<OffsetDateTime>,
) -> String {
    let mut text = String::new();
    doctor_metrics(&mut text, report);
    expiry_metrics(&mut text, ca, now);
    crl_metrics(&mut text, ca, now);
    if let Some(backup) = last_backup {
        metric_header(
            &mut text,
            "qvca_last_backup_age_seconds",
            "seconds since the newest backup in the backup folder was written",
        );
        let _ = writeln!(
            text,
            "qvca_last_backup_age_seconds {}",
            (now - backup).whole_seconds()
        );
    }
    text
}

/// `qvca_doctor_ok` and one `qvca_check_status` per doctor check.
fn doctor_metrics(text: &mut String, report: &DoctorReport) {
    metric_header(
        text,
        "qvca_doctor_ok",
        "1 when no doctor check needs attention, else 0",
    );
    let _ = writeln!(text, "qvca_doctor_ok {}", u8::from(report.ok));

    metric_header(
        text,
        "qvca_check_status",
        "each doctor check: 0 ok, 1 warning, 2 problem, -1 skipped",
    );
    for check in &report.checks {
        let value = match check.status {
            CheckStatus::Ok => 0,
            CheckStatus::Warning => 1,
            CheckStatus::Problem => 2,
            CheckStatus::Skipped => -1,
        };
        let _ = writeln!(
            text,
            "qvca_check_status{{check=\"{}\"}} {value}",
            label(check.name)
        );
    }
}

/// `qvca_certificate_expiry_seconds` of every current certificate.
fn expiry_metrics(text: &mut String, ca: &Ca, now: OffsetDateTime) {
    metric_header(
        text,
        "qvca_certificate_expiry_seconds",
        "seconds until a current certificate expires (negative once expired)",
    );
    for entry in ca.index().current_entries() {
        let _ = writeln!(
            text,
            "qvca_certificate_expiry_seconds{{kind=\"{}\",name=\"{}\",serial=\"{}\"}} {}",
            label(entry.kind.description()).to_ascii_lowercase(),
            label(&entry.name),
            entry.serial,
            (entry.not_after - now).whole_seconds()
        );
    }
}

/// `qvca_crl_next_update_seconds` and `qvca_crl_number` of the CA's last CRL, if any.
fn crl_metrics(text: &mut String, ca: &Ca, now: OffsetDateTime) {
    let Some(crl) = &ca.index().last_crl else {
        return;
    };
    metric_header(
        text,
        "qvca_crl_next_update_seconds",
        "seconds until the CA's last CRL reaches its nextUpdate (negative once stale)",
    );
    let _ = writeln!(
        text,
        "qvca_crl_next_update_seconds {}",
        (crl.next_update - now).whole_seconds()
    );
    metric_header(text, "qvca_crl_number", "the number of the CA's last CRL");
    let _ = writeln!(text, "qvca_crl_number {}", crl.number);
}

/// The `# HELP` and `# TYPE` lines of a gauge.
fn metric_header(text: &mut String, name: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} gauge");
}

/// A label value escaped as the exposition format requires (backslash, double quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("Acme \"CA\"\\x\ny"), "Acme \\\"CA\\\"\\\\x\\ny");
    }
}
