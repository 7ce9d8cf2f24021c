//! Cryptography and formats, without any CA state: key types and keys at rest, certificate
//! profiles, reading certificates, PKCS#12, PKCS#10 requests, and reading any file for `inspect`.

pub mod certificate;
pub mod csr;
pub(crate) mod der_walk;
pub mod inspect;
pub mod key;
pub mod pkcs12;
pub mod profile;
pub mod signer;
