//! Certificate requests given to `sign`: PEM with either label, base64, DER; then the name
//! checks a signed request goes through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::pki::csr::SigningRequest;
use qvca::domain::name::FqdnPolicy;
use qvca::domain::kind::CertKind;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = SigningRequest::parse(data, "fuzz") {
        for kind in [CertKind::Server, CertKind::Client] {
            let _ = qvca::ops::sign::check_request(request.clone(), kind, None, FqdnPolicy::Refuse);
        }
    }
});
