//! The everyday commands through the real binary: init, issue, list, show, inspect, verify,
//! status and setup, their exit codes, their files and their `--json` shapes. openssl judges the
//! certificates wherever a property of the certificate itself is claimed.

use crate::support::TestCa;
use std::path::PathBuf;

mod init;
mod issue;
mod list;
mod output;
mod setup;
mod verify;

/// Issues a P-256 Server certificate and returns its serial.
fn issue_server(ca: &TestCa, machine: &str) -> String {
    let report = ca.json(&["issue", "server", machine, "--key-type", "p256"]);
    assert_eq!(report["results"][0]["outcome"], "issued", "{report}");
    report["results"][0]["serial"]
        .as_str()
        .expect("serial")
        .to_owned()
}

/// The PEM file of a certificate of the CA, as `show` reports it.
fn certificate_file(ca: &TestCa, name_or_serial: &str) -> PathBuf {
    let shown = ca.json(&["show", name_or_serial]);
    PathBuf::from(
        shown["certificate_file"]
            .as_str()
            .expect("certificate_file"),
    )
}
