//! Certificate requests given to `sign`: PEM with either label, base64, DER; then the name
//! checks a signed request goes through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::csr::SigningRequest;
use qvca::name::FqdnPolicy;
use qvca::store::CertKind;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = SigningRequest::parse(data, "fuzz") {
        for kind in [CertKind::Server, CertKind::Client] {
            let _ = qvca::sign::check_request(request.clone(), kind, None, FqdnPolicy::Refuse);
        }
    }
});
