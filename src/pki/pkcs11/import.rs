//! Importing an existing PKCS#8 private key into the token (`qvca hsm migrate`).
//!
//! The key's components go into the token with `C_CreateObject` under the same policy as a
//! generated key (sensitive, not extractable, sign-only), plus a public key object with the
//! same label and id. Afterwards the public key is read back and compared with the one the
//! PKCS#8 describes, and the token signs a challenge that must verify under it; if either
//! check fails both objects are destroyed again. The copies of the secret components handed
//! to the token are zeroized.
//!
//! An imported key can never be "always sensitive" or "never extractable" (the token did not
//! see its whole life); [`crate::pki::pkcs11::attributes`] reports that as a warning, not a problem.

use crate::error::{Error, Result};
use crate::pki::pkcs11::from_pkcs11;
use crate::pki::pkcs11::generate::{
    check_new_label, private_key_policy, public_key_policy, random_id,
};
use crate::pki::pkcs11::pool::PoolError;
use crate::pki::pkcs11::public_key::{
    KeyAlgorithm, PublicKey, curve_from_params, ec_params_der, ec_point_der,
};
use crate::pki::pkcs11::signer::{RsaMechanism, rsa_mechanism, sign_in_session};
use crate::pki::pkcs11::token::{KeyObject, UserSession};
use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use der::asn1::{AnyRef, BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode};
use zeroize::Zeroize;

/// PKCS#1 RSAPrivateKey (two-prime only).
#[derive(der::Sequence)]
struct RsaPrivateKey<'a> {
    version: UintRef<'a>,
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
    private_exponent: UintRef<'a>,
    prime1: UintRef<'a>,
    prime2: UintRef<'a>,
    exponent1: UintRef<'a>,
    exponent2: UintRef<'a>,
    coefficient: UintRef<'a>,
}

/// SEC1 ECPrivateKey (RFC 5915).
#[derive(der::Sequence)]
struct EcPrivateKey<'a> {
    version: UintRef<'a>,
    private_key: &'a OctetStringRef,
    #[asn1(context_specific = "0", optional = "true")]
    parameters: Option<AnyRef<'a>>,
    #[asn1(context_specific = "1", optional = "true")]
    public_key: Option<BitStringRef<'a>>,
}

/// Overwrites the secret values in a template once the token has them.
fn wipe(template: &mut [Attribute]) {
    for attribute in template {
        match attribute {
            Attribute::PrivateExponent(v)
            | Attribute::Prime1(v)
            | Attribute::Prime2(v)
            | Attribute::Exponent1(v)
            | Attribute::Exponent2(v)
            | Attribute::Coefficient(v)
            | Attribute::Value(v) => v.zeroize(),
            _ => {}
        }
    }
}

/// The private and public key templates for a PKCS#8 key, and the public key it describes.
fn templates(
    pkcs8_der: &[u8],
    label: &str,
    id: &[u8],
) -> Result<(Vec<Attribute>, Vec<Attribute>, PublicKey)> {
    let info =
        pkcs8::PrivateKeyInfoRef::from_der(pkcs8_der).map_err(|e| not_valid("PKCS#8 key", e))?;
    let mut private = private_key_policy(label, id);
    private.push(Attribute::Class(ObjectClass::PRIVATE_KEY));
    let mut public = public_key_policy(label, id);
    public.push(Attribute::Class(ObjectClass::PUBLIC_KEY));
    let expected = if info.algorithm.oid == RSA_ENCRYPTION {
        add_rsa_key(&info, &mut private, &mut public)?
    } else if info.algorithm.oid == ID_EC_PUBLIC_KEY {
        add_ec_key(&info, pkcs8_der, &mut private, &mut public)?
    } else {
        return Err(Error::usage(format!(
            "the key to import uses the algorithm {}; qvca imports RSA and EC (P-256, P-384) keys",
            info.algorithm.oid
        )));
    };
    Ok((private, public, expected))
}

/// The error for a key to import that does not parse as `what`.
fn not_valid(what: &str, e: der::Error) -> Error {
    Error::usage(format!(
        "the key to import is not a valid {what}: {e}; give an unencrypted PKCS#8 RSA or EC key"
    ))
}

/// Adds the attributes of the two-prime RSA key in `info` to the `private` and `public`
/// templates; returns its public key.
fn add_rsa_key(
    info: &pkcs8::PrivateKeyInfoRef<'_>,
    private: &mut Vec<Attribute>,
    public: &mut Vec<Attribute>,
) -> Result<PublicKey> {
    let raw = info.private_key.as_bytes();
    let rsa =
        RsaPrivateKey::from_der(raw).map_err(|e| not_valid("PKCS#1 RSA key (two-prime)", e))?;
    if rsa.version.as_bytes() != [0u8; 0] && rsa.version.as_bytes() != [0] {
        return Err(Error::usage(
            "the RSA key to import is a multi-prime key; qvca imports two-prime RSA keys",
        ));
    }
    let expected = PublicKey::from_rsa(rsa.modulus.as_bytes(), rsa.public_exponent.as_bytes())?;
    for template in [&mut *private, &mut *public] {
        template.push(Attribute::KeyType(KeyType::RSA));
        template.push(Attribute::Modulus(rsa.modulus.as_bytes().to_vec()));
        template.push(Attribute::PublicExponent(
            rsa.public_exponent.as_bytes().to_vec(),
        ));
    }
    private.extend([
        Attribute::PrivateExponent(rsa.private_exponent.as_bytes().to_vec()),
        Attribute::Prime1(rsa.prime1.as_bytes().to_vec()),
        Attribute::Prime2(rsa.prime2.as_bytes().to_vec()),
        Attribute::Exponent1(rsa.exponent1.as_bytes().to_vec()),
        Attribute::Exponent2(rsa.exponent2.as_bytes().to_vec()),
        Attribute::Coefficient(rsa.coefficient.as_bytes().to_vec()),
    ]);
    Ok(expected)
}

/// Adds the attributes of the EC key in `info` (of `pkcs8_der`) to the `private` and `public`
/// templates; returns its public key.
fn add_ec_key(
    info: &pkcs8::PrivateKeyInfoRef<'_>,
    pkcs8_der: &[u8],
    private: &mut Vec<Attribute>,
    public: &mut Vec<Attribute>,
) -> Result<PublicKey> {
    let ec = EcPrivateKey::from_der(info.private_key.as_bytes())
        .map_err(|e| not_valid("SEC1 EC key", e))?;
    // The curve is named in the PKCS#8 algorithm parameters, or in the ECPrivateKey.
    let curve_der = match (info.algorithm.parameters, ec.parameters) {
        (Some(p), _) => p.to_der(),
        (None, Some(p)) => p.to_der(),
        (None, None) => {
            return Err(Error::usage("the EC key to import does not name its curve"));
        }
    }
    .map_err(|e| not_valid("EC key", e))?;
    let algorithm = curve_from_params(&curve_der)?;
    let field = algorithm.field_len().unwrap_or(0);
    let scalar = ec.private_key.as_bytes();
    if scalar.is_empty() || scalar.len() > field {
        return Err(Error::usage(format!(
            "the EC key to import has a {}-byte private scalar; {} expects {field}",
            scalar.len(),
            algorithm.name()
        )));
    }
    let point = match ec.public_key.and_then(|b| b.as_bytes()) {
        Some(point) => point.to_vec(),
        None => public_point_from_pkcs8(pkcs8_der)?,
    };
    let expected = PublicKey::from_ec_point(algorithm, &point)?;
    let mut value = vec![0u8; field - scalar.len()];
    value.extend_from_slice(scalar);
    let params = ec_params_der(algorithm)?;
    private.extend([
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(params.clone()),
        Attribute::Value(value),
    ]);
    public.extend([
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(params),
        Attribute::EcPoint(ec_point_der(&point)?),
    ]);
    Ok(expected)
}

/// The EC public point of a PKCS#8 key without the optional public key field, computed by
/// aws-lc (through rcgen).
fn public_point_from_pkcs8(pkcs8_der: &[u8]) -> Result<Vec<u8>> {
    let key_pair = rcgen::KeyPair::try_from(pkcs8_der)
        .map_err(|e| Error::usage(format!("the EC key to import cannot be loaded: {e}")))?;
    Ok(key_pair.public_key_raw().to_vec())
}

impl UserSession {
    /// Imports an unencrypted PKCS#8 RSA or EC private key (DER) into the token as a
    /// sensitive, non-extractable, sign-only key labelled `label`, with its public key object.
    /// Refuses when the label is taken; checks the result and removes it again on failure.
    pub fn import_pkcs8(&self, pkcs8_der: &[u8], label: &str) -> Result<KeyObject> {
        check_new_label(label)?;
        self.refuse_taken_label(label)?;
        let id = random_id();
        let (mut private, public, expected) = templates(pkcs8_der, label, &id)?;
        let place = self.place_for(&format!("label {label:?}"));
        let created = self.session().create_object(&private);
        wipe(&mut private);
        let private_handle =
            created.map_err(|e| from_pkcs11("importing the private key", &place, &e))?;
        let public_handle = match self.session().create_object(&public) {
            Ok(h) => h,
            Err(e) => {
                self.destroy_quietly(&[private_handle]);
                return Err(from_pkcs11("importing the public key", &place, &e));
            }
        };
        let checked = self.key_object(private_handle).and_then(|key| {
            self.check_import(&key, &expected)?;
            Ok(key)
        });
        if checked.is_err() {
            self.destroy_quietly(&[private_handle, public_handle]);
        }
        checked
    }

    /// The public key read back matches, and the token's private key signs for it.
    fn check_import(&self, key: &KeyObject, expected: &PublicKey) -> Result<()> {
        let place = self.place_for(&format!("label {:?}", key.label()));
        if key.public_key() != expected {
            return Err(Error::failed(format!(
                "the public key read back from the token differs from the imported key's ({place}); the import was undone"
            )));
        }
        let rsa = match expected.algorithm() {
            KeyAlgorithm::Rsa { .. } => rsa_mechanism(self.token())?,
            _ => RsaMechanism::Sha256RsaPkcs,
        };
        let challenge = b"qvca import check";
        let signature = sign_in_session(
            self.session(),
            key.handle,
            expected.algorithm(),
            rsa,
            challenge,
        )
        .map_err(|e| match e {
            PoolError::Pkcs11 { action, err } => from_pkcs11(action, &place, &err),
            PoolError::Other(e) => e,
        })?;
        if !expected.verifies(challenge, &signature) {
            return Err(Error::failed(format!(
                "the imported private key does not sign for its public key ({place}): the PKCS#8 key is inconsistent; the import was undone"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_components_are_wiped_from_templates() {
        let mut template = vec![
            Attribute::Label(b"root".to_vec()),
            Attribute::Value(vec![7; 32]),
            Attribute::Prime1(vec![9; 128]),
        ];
        wipe(&mut template);
        assert_eq!(template[0], Attribute::Label(b"root".to_vec()));
        for attribute in &template[1..] {
            match attribute {
                Attribute::Value(v) | Attribute::Prime1(v) => assert!(v.is_empty()),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_and_unsupported_keys_are_usage_errors() {
        assert_eq!(
            templates(b"not a key", "x", &[1])
                .map(|_| ())
                .expect_err("garbage")
                .kind(),
            crate::error::ErrorKind::Usage
        );
        // An Ed25519 PKCS#8 key (RFC 8410 example).
        let ed25519 = hex::decode(
            "302e020100300506032b657004220420d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842",
        )
        .expect("hex");
        let err = templates(&ed25519, "x", &[1])
            .map(|_| ())
            .expect_err("ed25519");
        assert_eq!(err.kind(), crate::error::ErrorKind::Usage);
        assert!(err.message().contains("1.3.101.112"), "{err}");
    }

    #[test]
    fn an_ec_key_gives_a_padded_scalar_and_the_wrapped_point() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let (private, public, expected) =
            templates(&key.serialize_der(), "root", &[1, 2]).expect("templates");
        assert_eq!(expected.subject_public_key(), key.public_key_raw());
        let value = private.iter().find_map(|a| match a {
            Attribute::Value(v) => Some(v.len()),
            _ => None,
        });
        assert_eq!(value, Some(32));
        assert!(public.contains(&Attribute::EcPoint(
            ec_point_der(key.public_key_raw()).expect("der")
        )));
    }
}
