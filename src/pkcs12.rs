//! PKCS#12 (`.pfx`) files: writing them for Windows, Java and NSS (with p12-keystore), reading
//! them back, and describing how a file is protected, so an admin can tell why an old Windows
//! says "wrong password" to a modern file.
//!
//! Modern files use PBES2 (PBKDF2-HMAC-SHA256 + AES-256-CBC) and a SHA-256 MAC; legacy files
//! (`--legacy`) use pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificate bags and a SHA-1 MAC,
//! which Windows Server 2016 and older need.

use crate::certificate::CertificateDetails;
use crate::error::{Error, Result};
use crate::secret::{Password, SecretBytes};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, Pkcs12Archive,
    PrivateKey, PrivateKeyChain,
    secret::{Secret, SecretKeyType},
};
use serde::Serialize;
use sha1::{Digest, Sha1};

/// Key derivation iterations for both encryption and MAC: Java's default, which every Windows
/// version accepts (the limit Windows enforces is 600,000).
pub const PFX_ITERATIONS: u32 = 10_000;

/// How a PKCS#12 file is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PfxEncryption {
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), HMAC-SHA256 MAC.
    Modern,
    /// pbeWithSHAAnd3-KeyTripleDES-CBC, HMAC-SHA1 MAC (Windows Server 2016 and older).
    Legacy,
}

impl PfxEncryption {
    /// `--legacy` → Legacy, else Modern.
    pub fn from_legacy_flag(legacy: bool) -> Self {
        if legacy { Self::Legacy } else { Self::Modern }
    }
}

/// A private key with its certificate, stored under a friendly name.
pub struct PfxKey<'a> {
    /// The friendly name (`<machine-name>`, `QVProxy`, `QlikViewCA`).
    pub friendly_name: &'a str,
    /// The private key, PKCS#8 DER.
    pub pkcs8: &'a SecretBytes,
    /// The certificate, DER.
    pub cert_der: &'a [u8],
}

/// What goes into a PKCS#12 file.
#[derive(Default)]
pub struct PfxContents<'a> {
    /// Keys with their certificates.
    pub keys: Vec<PfxKey<'a>>,
    /// Certificates without keys (the root, marked trusted), with friendly names.
    pub trusted: Vec<(&'a str, &'a [u8])>,
    /// Opaque secrets (qvca's CA state in backups), with friendly names.
    pub secrets: Vec<(&'a str, &'a [u8])>,
}

/// The local key id qvca gives a key and its certificate: SHA-1 of the certificate, as openssl does.
pub fn local_key_id(cert_der: &[u8]) -> Vec<u8> {
    Sha1::digest(cert_der).to_vec()
}

/// The type qvca's secret bags carry: PKCS#7 `data` (opaque octets); qvca recognises its own
/// by their friendly name.
pub const QVCA_STATE_OID: ObjectIdentifier = const_oid::db::rfc5911::ID_DATA;

fn keystore_error(what: &str, e: p12_keystore::error::Error) -> Error {
    Error::failed(format!("{what}: {e}"))
}

/// Writes a password-protected PKCS#12 file.
pub fn write_pfx(
    contents: &PfxContents<'_>,
    password: &Password,
    encryption: PfxEncryption,
) -> Result<Vec<u8>> {
    let mut store = KeyStore::new();
    for key in &contents.keys {
        let private = PrivateKey::from_der(key.pkcs8.expose())
            .map_err(|e| keystore_error("a private key cannot go into a PKCS#12 file", e))?;
        let cert = Certificate::from_der(key.cert_der)
            .map_err(|e| keystore_error("a certificate cannot go into a PKCS#12 file", e))?;
        let chain = PrivateKeyChain::new(local_key_id(key.cert_der), private, [cert]);
        store.add_entry(key.friendly_name, KeyStoreEntry::PrivateKeyChain(chain));
    }
    for (name, der) in &contents.trusted {
        let cert = Certificate::from_der(der)
            .map_err(|e| keystore_error("a certificate cannot go into a PKCS#12 file", e))?;
        store.add_entry(name, KeyStoreEntry::Certificate(cert));
    }
    for (name, bytes) in &contents.secrets {
        let secret = Secret::builder(SecretKeyType::Unknown(QVCA_STATE_OID))
            .with_key(bytes.to_vec())
            .with_local_key_id(name.as_bytes())
            .build()
            .map_err(|e| Error::failed(format!("a secret cannot go into a PKCS#12 file: {e}")))?;
        store.add_entry(name, KeyStoreEntry::Secret(secret));
    }
    let (algorithm, mac) = match encryption {
        PfxEncryption::Modern => (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        ),
        PfxEncryption::Legacy => (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        ),
    };
    store
        .writer(password.expose())
        .encryption_algorithm(algorithm)
        .encryption_iterations(PFX_ITERATIONS)
        .mac_algorithm(mac)
        .mac_iterations(PFX_ITERATIONS)
        .write()
        .map_err(|e| keystore_error("writing the PKCS#12 file failed", e))
}

/// A key read from a PKCS#12 file.
pub struct PfxKeyBag {
    /// Its friendly name, if any.
    pub friendly_name: Option<String>,
    /// Its local key id, if any.
    pub local_key_id: Option<Vec<u8>>,
    /// The private key, PKCS#8 DER.
    pub pkcs8: SecretBytes,
}

/// A certificate read from a PKCS#12 file.
pub struct PfxCertBag {
    /// Its friendly name, if any.
    pub friendly_name: Option<String>,
    /// Its local key id, if any.
    pub local_key_id: Option<Vec<u8>>,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

/// A secret read from a PKCS#12 file.
pub struct PfxSecretBag {
    /// Its friendly name, if any.
    pub friendly_name: Option<String>,
    /// Whether it is one of qvca's (by its OID).
    pub is_qvca_state: bool,
    /// The secret bytes.
    pub bytes: SecretBytes,
}

/// Everything read from a PKCS#12 file.
pub struct PfxArchive {
    /// Private keys.
    pub keys: Vec<PfxKeyBag>,
    /// Certificates.
    pub certs: Vec<PfxCertBag>,
    /// Secrets.
    pub secrets: Vec<PfxSecretBag>,
}

impl PfxArchive {
    /// The certificate that goes with a key: same local key id, else the one whose public key matches.
    pub fn certificate_for(&self, key: &PfxKeyBag) -> Option<&PfxCertBag> {
        key.local_key_id.as_ref().and_then(|id| {
            self.certs
                .iter()
                .find(|c| c.local_key_id.as_ref() == Some(id))
        })
    }
}

/// True when the bytes look like a PKCS#12 PFX structure (before any password is known).
pub fn looks_like_pfx(data: &[u8]) -> bool {
    pkcs12::Pfx::from_der(data).is_ok()
}

/// Reads a PKCS#12 file. A wrong password or a damaged file is an authentication error (exit 4).
pub fn read_pfx(data: &[u8], password: &Password, source: &str) -> Result<PfxArchive> {
    let pfx = pkcs12::Pfx::from_der(data).map_err(|e| {
        Error::authentication(format!(
            "{source} is not a readable PKCS#12 file ({e}): it is damaged or not a .pfx"
        ))
    })?;
    let archive = Pkcs12Archive::from_pkcs12(data, password.expose()).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => Error::authentication(format!(
            "wrong password for {source} (or the file was altered): its integrity check (MAC) \
             fails; give the password it was written with (--pfx-password-file or QVCA_PFX_PASSWORD)"
        )),
        other => Error::authentication(format!(
            "{source} cannot be decrypted ({other}): the file is damaged, or uses an algorithm \
             qvca does not read"
        )),
    })?;
    drop(pfx);
    Ok(PfxArchive {
        keys: archive
            .keys
            .into_iter()
            .map(|k| PfxKeyBag {
                friendly_name: k.friendly_name,
                local_key_id: k.local_key_id.map(|id| id.as_ref().to_vec()),
                pkcs8: SecretBytes::new(k.key.as_der().to_vec()),
            })
            .collect(),
        certs: archive
            .certs
            .into_iter()
            .map(|c| PfxCertBag {
                friendly_name: c.friendly_name,
                local_key_id: c.local_key_id,
                der: c.cert.as_der().to_vec(),
            })
            .collect(),
        secrets: archive
            .secrets
            .into_iter()
            .map(|s| PfxSecretBag {
                friendly_name: s.friendly_name,
                is_qvca_state: s.key.key_type().to_oid() == QVCA_STATE_OID,
                bytes: SecretBytes::new(s.key.key().to_vec()),
            })
            .collect(),
    })
}

/// How one part of a PKCS#12 file is protected.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Protection {
    /// What is protected: "certificates", "private key", "secret", "unencrypted bags".
    pub protects: String,
    /// The algorithm, e.g. "PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)" or
    /// "pbeWithSHAAnd3-KeyTripleDES-CBC".
    pub algorithm: String,
    /// The key derivation iteration count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
}

/// How a PKCS#12 file is protected: its MAC and the encryption of each part.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PfxProtection {
    /// The MAC digest (e.g. "SHA-256"), absent for MAC-less files.
    pub mac: Option<String>,
    /// The MAC's iteration count.
    pub mac_iterations: Option<u64>,
    /// Each encrypted part.
    pub parts: Vec<Protection>,
    /// True when everything uses algorithms Windows Server 2016 and older can import
    /// (3DES or RC2 and a SHA-1 MAC).
    pub legacy_windows_compatible: bool,
}

/// Describes how a PKCS#12 file is protected (no password needed for this).
pub fn describe_protection(data: &[u8]) -> Result<PfxProtection> {
    let bad =
        |e: der::Error| Error::authentication(format!("the PKCS#12 structure is damaged: {e}"));
    let pfx = pkcs12::Pfx::from_der(data).map_err(bad)?;
    let (mac, mac_iterations) = match &pfx.mac_data {
        Some(mac) => (
            Some(digest_name(&mac.mac.algorithm.oid)),
            Some(u64::try_from(mac.iterations).unwrap_or(0)),
        ),
        None => (None, None),
    };
    let content = der::asn1::OctetString::from_der(&pfx.auth_safe.content.to_der().map_err(bad)?)
        .map_err(bad)?;
    let safes = pkcs12::AuthenticatedSafe::from_der(content.as_bytes()).map_err(bad)?;
    let mut parts = Vec::new();
    for safe in safes {
        if safe.content_type == const_oid::db::rfc5911::ID_ENCRYPTED_DATA {
            let encrypted = pkcs12::cms::encrypted_data::EncryptedData::from_der(
                &safe.content.to_der().map_err(bad)?,
            )
            .map_err(bad)?;
            let (algorithm, iterations) =
                describe_algorithm(&encrypted.enc_content_info.content_enc_alg);
            parts.push(Protection {
                protects: "certificates (encrypted safe)".into(),
                algorithm,
                iterations,
            });
        } else if safe.content_type == const_oid::db::rfc5911::ID_DATA {
            let inner = der::asn1::OctetString::from_der(&safe.content.to_der().map_err(bad)?)
                .map_err(bad)?;
            let bags = pkcs12::safe_bag::SafeContents::from_der(inner.as_bytes()).map_err(bad)?;
            for bag in bags {
                if bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID {
                    // The bag value is the [0] EXPLICIT wrapper around the EncryptedPrivateKeyInfo.
                    let info = der::asn1::ContextSpecific::<
                        pkcs12::pbe_params::EncryptedPrivateKeyInfo,
                    >::from_der(&bag.bag_value)
                    .map_err(bad)?;
                    let (algorithm, iterations) =
                        describe_algorithm(&info.value.encryption_algorithm);
                    parts.push(Protection {
                        protects: "private key".into(),
                        algorithm,
                        iterations,
                    });
                } else if bag.bag_id == pkcs12::PKCS_12_SECRET_BAG_OID {
                    parts.push(Protection {
                        protects: "secret".into(),
                        algorithm: "as the private keys".into(),
                        iterations: None,
                    });
                } else if bag.bag_id == pkcs12::PKCS_12_KEY_BAG_OID {
                    parts.push(Protection {
                        protects: "private key".into(),
                        algorithm: "NONE (unencrypted key bag)".into(),
                        iterations: None,
                    });
                }
            }
        }
    }
    let legacy_windows_compatible = mac.as_deref().is_none_or(|m| m == "SHA-1")
        && parts.iter().all(|p| !p.algorithm.starts_with("PBES2"));
    Ok(PfxProtection {
        mac,
        mac_iterations,
        parts,
        legacy_windows_compatible,
    })
}

fn digest_name(oid: &ObjectIdentifier) -> String {
    use const_oid::db::rfc5912;
    match *oid {
        rfc5912::ID_SHA_1 => "SHA-1".into(),
        rfc5912::ID_SHA_224 => "SHA-224".into(),
        rfc5912::ID_SHA_256 => "SHA-256".into(),
        rfc5912::ID_SHA_384 => "SHA-384".into(),
        rfc5912::ID_SHA_512 => "SHA-512".into(),
        other => other.to_string(),
    }
}

fn describe_algorithm(alg: &x509_cert::spki::AlgorithmIdentifierOwned) -> (String, Option<u64>) {
    let pbe = |name: &str| {
        let iterations = alg
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<pkcs12::pbe_params::Pkcs12PbeParams>().ok())
            .map(|p| u64::try_from(p.iterations).unwrap_or(0));
        (name.to_owned(), iterations)
    };
    match alg.oid {
        pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC => {
            pbe("pbeWithSHAAnd3-KeyTripleDES-CBC")
        }
        pkcs12::PKCS_12_PBE_WITH_SHAAND2_KEY_TRIPLE_DES_CBC => {
            pbe("pbeWithSHAAnd2-KeyTripleDES-CBC")
        }
        pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC => pbe("pbeWithSHAAnd40BitRC2-CBC"),
        pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC => pbe("pbeWithSHAAnd128BitRC2-CBC"),
        pkcs12::PKCS_12_PBE_WITH_SHAAND40_BIT_RC4 => pbe("pbeWithSHAAnd40BitRC4"),
        pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC4 => pbe("pbeWithSHAAnd128BitRC4"),
        PBES2_OID => describe_pbes2(alg),
        other => (other.to_string(), None),
    }
}

/// PKCS #5 v2.0 PBES2 (RFC 8018).
const PBES2_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");

fn describe_pbes2(alg: &x509_cert::spki::AlgorithmIdentifierOwned) -> (String, Option<u64>) {
    let Some(params) = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<pkcs12::pbe_params::Pbes2Params>().ok())
    else {
        return ("PBES2 (unreadable parameters)".into(), None);
    };
    let (kdf, iterations) = match params
        .kdf
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<pkcs12::pbe_params::Pbkdf2Params>().ok())
    {
        Some(pbkdf2) => {
            let prf = match pbkdf2.prf.oid.to_string().as_str() {
                "1.2.840.113549.2.7" => "HMAC-SHA1",
                "1.2.840.113549.2.9" => "HMAC-SHA256",
                "1.2.840.113549.2.10" => "HMAC-SHA384",
                "1.2.840.113549.2.11" => "HMAC-SHA512",
                _ => "HMAC-?",
            };
            (
                format!("PBKDF2-{prf}"),
                Some(u64::from(pbkdf2.iteration_count)),
            )
        }
        None => (params.kdf.oid.to_string(), None),
    };
    let cipher = match params.encryption.oid.to_string().as_str() {
        "2.16.840.1.101.3.4.1.42" => "AES-256-CBC".to_owned(),
        "2.16.840.1.101.3.4.1.22" => "AES-192-CBC".to_owned(),
        "2.16.840.1.101.3.4.1.2" => "AES-128-CBC".to_owned(),
        "1.2.840.113549.3.7" => "DES-EDE3-CBC".to_owned(),
        other => other.to_owned(),
    };
    (format!("PBES2 ({kdf}, {cipher})"), iterations)
}

/// One entry of a PKCS#12 file, as `inspect` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PfxEntryReport {
    /// The friendly name, if any.
    pub friendly_name: Option<String>,
    /// "key and certificate", "certificate", "key without certificate" or "secret".
    pub kind: &'static str,
    /// Whether the entry has a private key.
    pub has_key: bool,
    /// For keys: whether the key belongs to the certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_matches_certificate: Option<bool>,
    /// The local key id, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_key_id: Option<String>,
    /// The certificate's details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateDetails>,
}

/// Lists the entries of an opened PKCS#12 file: keys with their certificates, other
/// certificates, secrets.
pub fn list_entries(archive: &PfxArchive) -> Result<Vec<PfxEntryReport>> {
    let mut entries = Vec::new();
    let mut used_certs = vec![false; archive.certs.len()];
    for key in &archive.keys {
        let cert = archive.certificate_for(key);
        if let Some(c) = cert
            && let Some(position) = archive.certs.iter().position(|x| std::ptr::eq(x, c))
        {
            used_certs[position] = true;
        }
        let details = cert
            .map(|c| CertificateDetails::from_der(&c.der))
            .transpose()?;
        let matches = details
            .as_ref()
            .map(|d| key_matches(&key.pkcs8, &d.spki_der));
        entries.push(PfxEntryReport {
            friendly_name: key.friendly_name.clone(),
            kind: if details.is_some() {
                "key and certificate"
            } else {
                "key without certificate"
            },
            has_key: true,
            key_matches_certificate: matches,
            local_key_id: key.local_key_id.as_ref().map(hex::encode_upper),
            certificate: details,
        });
    }
    for (cert, used) in archive.certs.iter().zip(used_certs) {
        if used {
            continue;
        }
        entries.push(PfxEntryReport {
            friendly_name: cert.friendly_name.clone(),
            kind: "certificate",
            has_key: false,
            key_matches_certificate: None,
            local_key_id: cert.local_key_id.as_ref().map(hex::encode_upper),
            certificate: Some(CertificateDetails::from_der(&cert.der)?),
        });
    }
    for secret in &archive.secrets {
        entries.push(PfxEntryReport {
            friendly_name: secret.friendly_name.clone(),
            kind: "secret",
            has_key: false,
            key_matches_certificate: None,
            local_key_id: None,
            certificate: None,
        });
    }
    Ok(entries)
}

/// True when a PKCS#8 key's public key equals a certificate's SubjectPublicKeyInfo.
pub fn key_matches(pkcs8: &SecretBytes, spki_der: &[u8]) -> bool {
    rcgen::KeyPair::try_from(pkcs8.expose())
        .is_ok_and(|k| crate::key::public_key_info(&k) == spki_der)
}
