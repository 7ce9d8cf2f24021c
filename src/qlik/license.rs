//! Signed License Keys (seed 003): a JWT (RS512) that Qlik signs, often pasted line-wrapped
//! from a mail. qvca decodes it to show its header and claims; it does NOT verify Qlik's
//! signature (that needs Qlik's public key).

use crate::error::{Error, Result};
use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Serialize;

/// base64url as JWTs use it, read leniently: padding optional, stray trailing bits of a
/// mangled paste tolerated (the signature is not verified anyway).
const LENIENT_BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A decoded Signed License Key.
#[derive(Debug, Clone, Serialize)]
pub struct SignedLicenseKey {
    /// The JOSE header (alg, typ, kid, ...).
    pub header: serde_json::Map<String, serde_json::Value>,
    /// The claims (jti, license, ...).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The signature's length in bytes (RS512 with a 2048-bit key: 256).
    pub signature_length: usize,
    /// A remark on the signature's length when it fits no RSA key size (a truncated paste).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_remark: Option<String>,
    /// Always false: qvca does not verify Qlik's signature.
    pub signature_verified: bool,
}

impl SignedLicenseKey {
    /// A header field as text.
    pub fn header_field(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(|v| v.as_str())
    }

    /// A claim as text.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(|v| v.as_str())
    }
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>> {
    LENIENT_BASE64URL.decode(part).map_err(|e| {
        Error::failed(format!(
            "the {what} of the license key is not base64url ({e}); check that the whole key was \
             copied"
        ))
    })
}

fn decode_json(part: &str, what: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    let bytes = decode_part(part, what)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::failed(format!("the {what} of the license key is not JSON ({e})")))?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(Error::failed(format!(
            "the {what} of the license key is JSON but not an object"
        ))),
    }
}

/// Decodes a Signed License Key; line breaks and spaces (from a wrapped paste) are ignored.
pub fn decode(text: &str) -> Result<SignedLicenseKey> {
    let joined: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if joined.is_empty() {
        return Err(Error::failed(
            "no license key given: pass it as an argument, a file, or on stdin",
        ));
    }
    let parts: Vec<&str> = joined.split('.').collect();
    if parts.len() != 3 {
        return Err(Error::failed(format!(
            "the license key has {} part(s) separated by '.', but a Signed License Key (a JWT) \
             has 3: header.claims.signature",
            parts.len()
        )));
    }
    let header = decode_json(parts[0], "header")?;
    let claims = decode_json(parts[1], "claims part")?;
    let signature = decode_part(parts[2], "signature")?;
    if signature.is_empty() {
        return Err(Error::failed("the license key's signature part is empty"));
    }
    let signature_remark = (![256, 384, 512].contains(&signature.len())).then(|| {
        format!(
            "{} bytes fit no RSA key size (RS512 with a 2048-bit key gives 256): the key may have \
             been cut or altered when it was copied",
            signature.len()
        )
    });
    Ok(SignedLicenseKey {
        header,
        claims,
        signature_length: signature.len(),
        signature_remark,
        signature_verified: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample key of seed 003, as wrapped in the mail.
    const SEED_003_SAMPLE: &str = "\
eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCIsImtpZCI6ImEzMzdhZDE3LTk1ODctNGNhOS05M2I3LTBi
MmI5ZTNlOWI0OCJ9.eyJqdGkiOiI2MjNhYTlhZi05NTBmLTQ3ZjctOGJmMC1mNGQzOWY0MmQ5N
mMiLCJsaWNlbnNlIjoiOTk5OTAwMDAwMDAwMTI1MyJ9.YJqTct2ngqLfl2VP3jxW4RsDNK2MTL-BpJ
WnBdIfF5gGbJcX0hc__tfIa2ab5ZrL9h6tsZxTwgucTFiRTAOz8PaOQP7JTnhPCyrBZwpnmhvCrSHx2
C-HbCARFUIueBzMg8fgvWH-3HxBuxx6jnDhekDTUbb12vBq7CySampJkgMT7QsDdUkeJy5E7O0U
8yhd1RtEDeuTbeX35eIdQUN4DyJWHHPiT9qZt1AV0_Ofe1iLKxYZMa5jC0kIsVwYnRCJzibZlrLE7mS
VlNitxmcm8OoUrR_ZIk8VuOkoz_qqy8N_wwrt7FcT2slWz50XzuL8TIWY9mcGIL";

    #[test]
    fn the_seed_sample_decodes_to_its_kid_and_license_number() {
        let key = decode(SEED_003_SAMPLE).expect("decodes");
        assert_eq!(key.header_field("alg"), Some("RS512"));
        assert_eq!(key.header_field("typ"), Some("JWT"));
        assert_eq!(
            key.header_field("kid"),
            Some("a337ad17-9587-4ca9-93b7-0b2b9e3e9b48")
        );
        assert_eq!(key.claim("license"), Some("9999000000001253"));
        assert_eq!(
            key.claim("jti"),
            Some("623aa9af-950f-47f7-8bf0-f4d39f42d96c")
        );
        assert!(!key.signature_verified);
        assert!(key.signature_length > 0);
    }

    #[test]
    fn garbage_and_truncated_keys_say_which_part_is_wrong() {
        assert!(decode("").is_err());
        assert!(
            decode("garbage")
                .expect_err("1 part")
                .message()
                .contains("1 part")
        );
        assert!(
            decode("a.b")
                .expect_err("2 parts")
                .message()
                .contains("2 part")
        );
        assert!(
            decode("!!.e30.c2ln")
                .expect_err("b64")
                .message()
                .contains("header")
        );
        assert!(
            decode("e30.bm90IGpzb24.c2ln")
                .expect_err("json")
                .message()
                .contains("claims")
        );
        assert!(
            decode("e30.e30.")
                .expect_err("empty sig")
                .message()
                .contains("signature")
        );
    }
}
