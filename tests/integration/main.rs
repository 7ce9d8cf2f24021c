//! The integration suite: qvca's behaviour through the real binary, judged where possible by
//! third-party tools (openssl, keytool, pk12util, rustls). One binary, one module per area.

// Tests build their fixtures with plain file-system calls.
#![allow(clippy::disallowed_methods)]

mod architecture;
mod backup;
mod backup_key_types;
mod bad_input;
mod cli;
mod concurrency;
mod corpus;
mod crash;
mod examples;
mod exports;
mod fuzz_regressions;
mod hsm;
mod hygiene;
mod interop;
mod lifecycle;
mod messages;
mod names;
mod oplog;
mod ops_api;
mod packages;
mod passwd;
mod profile_urls;
mod reading;
mod readme;
mod secrets;
mod sign;
mod support;
mod terminal;
mod tls;
mod trust_fs;
mod trust_names;
mod trust_revocation;
