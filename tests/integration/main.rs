//! The integration suite: qvca's behaviour through the real binary, judged where possible by
//! third-party tools (openssl, rustls, and later keytool and NSS). One binary, one module per area.

mod exports;
mod support;
