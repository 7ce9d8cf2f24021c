//! Backup files given to `backup verify` and `restore`: each input as it is, without its MAC,
//! and with every part of it twice (duplicate bags), the two ways a backup is attacked by
//! someone who does not know its password.
#![no_main]

use der::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use qvca::domain::secret::Password;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let password = Password::new("fuzz");
    let verify = |bytes: &[u8]| {
        let _ = qvca::ops::backup::verify_backup_bytes(bytes, &password, Path::new("fuzz.pfx"));
    };
    verify(data);
    if let Ok(mut without_mac) = pkcs12::Pfx::from_der(data) {
        without_mac.mac_data = None;
        if let Ok(bytes) = Encode::to_der(&without_mac) {
            verify(&bytes);
        }
    }
    if let Some(doubled) = pkcs12::Pfx::from_der(data).ok().and_then(with_parts_twice) {
        verify(&doubled);
    }
});

/// The file with every content info of its AuthenticatedSafe repeated (its MAC kept).
fn with_parts_twice(mut pfx: pkcs12::Pfx) -> Option<Vec<u8>> {
    let octets =
        der::asn1::OctetString::from_der(&Encode::to_der(&pfx.auth_safe.content).ok()?).ok()?;
    let mut safes =
        Vec::<pkcs12::cms::content_info::ContentInfo>::from_der(octets.as_bytes()).ok()?;
    safes.extend(safes.clone());
    let inner = der::asn1::OctetString::new(Encode::to_der(&safes).ok()?).ok()?;
    pfx.auth_safe.content = der::Any::encode_from(&inner).ok()?;
    Encode::to_der(&pfx).ok()
}
