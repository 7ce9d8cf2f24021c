//! qvca: a certificate authority for the QlikView certificate trust.
//!
//! QlikView services trust each other through three certificates (seed 001): the
//! **QlikViewCA** root, one **Server** certificate per machine (issued to the machine name)
//! and the **QVProxy** Client certificate. The QlikView Management Service (QMS) acts as the
//! CA. This library is that CA: it creates the root, issues and exports the others, backs
//! them up, and derives the SecretsKey that encrypts connection strings.
//!
//! # Layers
//!
//! The crate is built in layers; each uses only the layers above it in this list (the test
//! `architecture` module of the integration tests checks the `crate::` paths of every file, and
//! that no two modules need each other):
//!
//! | layer | what lives there |
//! |---|---|
//! | [`error`], [`input`], [`platform`] | the one error type; bounded reading of outside files; OS specifics |
//! | [`domain`] | checked values: names, serials, secrets, certificate kinds, subject fields |
//! | [`pki`] | keys, the root's signer, profiles, certificates, PKCS#12, requests, reading any file |
//! | [`secrets`], [`qlik`] | the SecretsKey and its tokens; Qlik's ports and license keys |
//! | [`store`] | the CA directory: layout, index, lock, staged and atomic writes (all state reaches disk here) |
//! | [`ops`] | what the commands do: init, issue, renew/revoke, sign, export, package, backup/restore, doctor |
//!
//! The library never prints and never prompts: passwords arrive through callbacks that the
//! CLI implements (file, environment, or a prompt on a terminal).

pub mod domain;
pub mod error;
pub mod input;
pub mod ops;
pub mod pki;
pub mod platform;
pub mod qlik;
pub mod secrets;
pub mod store;

pub use error::{Error, ErrorKind, Result};
