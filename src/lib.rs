//! qvca: a certificate authority for the QlikView certificate trust.
//!
//! QlikView services trust each other through three certificates (seed 001): the
//! **QlikViewCA** root, one **Server** certificate per machine (issued to the machine name)
//! and the **QVProxy** Client certificate. The QlikView Management Service (QMS) acts as the
//! CA. This library is that CA: it creates the root, issues and exports the others, backs
//! them up, and derives the SecretsKey that encrypts connection strings.
//!
//! Module map:
//!
//! | module | what lives there |
//! |---|---|
//! | [`error`] | the one error type and its kinds (the CLI maps them to exit codes) |
//! | [`name`], [`serial`], [`secret`] | validated names, serial numbers, zeroizing secrets |
//! | [`key`], [`profile`] | key types and keys at rest; certificate profiles from `templates/` |
//! | [`store`] | the CA directory: layout, index, lock, atomic writes |
//! | [`ca`] | an opened CA: lookups and unlocking the root key |
//! | [`init`], [`issue`], [`setup`] | creating the root; issuing Server and Client certificates; the QMS first start |
//! | [`csr`], [`sign`] | keyless enrolment: checking a node's PKCS#10 request and signing it (the key stays on the node) |
//! | [`certificate`], [`verify`], [`inventory`], [`status`] | reading, verifying, listing certificates; the CA state |
//! | [`export`] | the license-service files and the root for trust stores |
//! | [`passwd`] | changing the CA password: every key re-encrypted in one staged swap |
//! | [`input`] | bounded reading of every file that comes from outside |
//! | [`lifecycle`], [`revocation`] | renewal, revocation, CRLs; the CA's CRL and restores that never un-revoke |
//!
//! The library never prints and never prompts: passwords arrive through callbacks that the
//! CLI implements (file, environment, or a prompt on a terminal).

pub mod backup;
pub mod ca;
pub mod certificate;
pub mod csr;
mod der_walk;
pub mod doctor;
pub mod error;
pub mod export;
pub mod init;
pub mod input;
pub mod inspect;
pub mod inventory;
pub mod issue;
pub mod key;
pub mod license;
pub mod lifecycle;
pub mod monitoring;
pub mod name;
pub mod package;
pub mod passwd;
pub mod pkcs12;
pub mod platform;
pub mod ports;
pub mod profile;
pub mod revocation;
pub mod secret;
pub mod secrets;
pub mod serial;
pub mod setup;
pub mod sign;
pub mod status;
pub mod store;
pub mod verify;

pub use error::{Error, ErrorKind, Result};
