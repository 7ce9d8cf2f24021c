//! Cryptography and formats, without any CA state: key types and keys at rest, certificate
//! profiles, reading certificates, PKCS#12, PKCS#10 requests, reading any file for `inspect`, and
//! the root key in a PKCS#11 token.

pub mod certificate;
pub mod csr;
pub(crate) mod der_walk;
pub mod inspect;
pub mod key;
pub mod pkcs11;
pub mod pkcs12;
pub mod profile;
pub mod signer;
