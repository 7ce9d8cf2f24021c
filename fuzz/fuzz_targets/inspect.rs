//! Any file given to `inspect`: PEM, DER certificates, CRLs, requests, keys, PKCS#7, PKCS#12
//! (with a password and without one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::pki::inspect::{FileKind, detect, inspect_file, inspect_pkcs12, inspect_plain};
use qvca::domain::secret::Password;

fuzz_target!(|data: &[u8]| {
    match detect(data) {
        Ok(FileKind::Pkcs12) => {
            let _ = qvca::pki::pkcs12::describe_protection(data);
            let _ = inspect_pkcs12(data, &Password::new("fuzz"), "fuzz");
            let _ = inspect_pkcs12(data, &Password::new(""), "fuzz");
            let _ = inspect_file(data, None, "fuzz");
        }
        Ok(_) => {
            let _ = inspect_plain(data);
        }
        Err(_) => {}
    }
    let _ = qvca::pki::certificate::CertificateDetails::from_der(data);
    let _ = qvca::pki::certificate::parse_certificates(data, std::path::Path::new("fuzz"));
});
