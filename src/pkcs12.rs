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

/// The PKCS#12 MAC of `data` with the digest `$digest`: the RFC 7292 B.2 key derivation from
/// the password, then HMAC.
macro_rules! pkcs12_mac {
    ($digest:ty, $password:expr, $salt:expr, $iterations:expr, $data:expr) => {{
        use hmac::{KeyInit, Mac};
        let size = <$digest as sha2::Digest>::output_size();
        let key = zeroize::Zeroizing::new(pkcs12::kdf::derive_key_utf8::<$digest>(
            $password.expose(),
            $salt,
            pkcs12::kdf::Pkcs12KeyType::Mac,
            $iterations,
            size,
        )?);
        let mut mac = hmac::Hmac::<$digest>::new_from_slice(&key)
            .map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
        mac.update($data);
        mac.finalize().into_bytes().to_vec()
    }};
}

/// The key bag attribute "Microsoft CSP Name" (1.3.6.1.4.1.311.17.1, a BMPString): the
/// provider Windows imports the key into with any import path (certificate wizard,
/// `X509Certificate2`, certutil). Without it RSA keys land in "Microsoft Enhanced Cryptographic
/// Provider v1.0" (PROV_RSA_FULL, no SHA-2 for .NET Framework) or, for some importers, in CNG.
pub const MS_CSP_NAME_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.17.1");

/// The CAPI provider named on RSA keys for Windows: what the import wizard and .NET's
/// `X509Store.Add` give, usable by old and new .NET APIs alike (PROV_RSA_AES).
pub const WINDOWS_RSA_CSP: &str = "Microsoft Enhanced RSA and AES Cryptographic Provider";

/// Writes a PKCS#12 file for Windows: as [`write_pfx`], with each RSA key bag naming
/// [`WINDOWS_RSA_CSP`] in a [`MS_CSP_NAME_OID`] attribute (as `openssl pkcs12 -export -CSP`
/// does). ECDSA keys get no CSP name: CAPI providers hold no ECDSA keys.
pub fn write_pfx_for_windows(
    contents: &PfxContents<'_>,
    password: &Password,
    encryption: PfxEncryption,
) -> Result<Vec<u8>> {
    let written = write_pfx(contents, password, encryption)?;
    let rsa_key_ids: Vec<Vec<u8>> = contents
        .keys
        .iter()
        .filter(|key| {
            pkcs8::PrivateKeyInfoRef::try_from(key.pkcs8.expose())
                .is_ok_and(|info| info.algorithm.oid == const_oid::db::rfc5912::RSA_ENCRYPTION)
        })
        .map(|key| local_key_id(key.cert_der))
        .collect();
    if rsa_key_ids.is_empty() {
        return Ok(written);
    }
    name_windows_csp(&written, &rsa_key_ids, password).map_err(|e| {
        Error::failed(format!(
            "naming the Windows CSP in the PKCS#12 file failed: {e}"
        ))
    })
}

/// Adds the CSP name attribute to the key bags with the given local key ids of a PKCS#12 file
/// qvca has just written, and computes its MAC again (same digest, salt and iterations).
fn name_windows_csp(
    pfx_der: &[u8],
    rsa_key_ids: &[Vec<u8>],
    password: &Password,
) -> der::Result<Vec<u8>> {
    use der::asn1::{Any, BmpString, ContextSpecific, OctetString, SetOfVec};
    use x509_cert::attr::Attribute;
    let local_key_id_oid = const_oid::db::rfc2985::PKCS_9_AT_LOCAL_KEY_ID;
    let has_id = |bag: &pkcs12::safe_bag::SafeBag| {
        bag.bag_attributes.as_ref().is_some_and(|attributes| {
            attributes.iter().any(|a| {
                a.oid == local_key_id_oid
                    && a.values.iter().any(|v| {
                        v.decode_as::<OctetString>()
                            .is_ok_and(|id| rsa_key_ids.iter().any(|k| k == id.as_bytes()))
                    })
            })
        })
    };
    let mut pfx = pkcs12::Pfx::from_der(pfx_der)?;
    let content = OctetString::from_der(&pfx.auth_safe.content.to_der()?)?;
    let mut safes = pkcs12::AuthenticatedSafe::from_der(content.as_bytes())?;
    let mut named = 0;
    for safe in &mut safes {
        if safe.content_type != const_oid::db::rfc5911::ID_DATA {
            continue; // the encrypted safe holds the certificates
        }
        let inner = OctetString::from_der(&safe.content.to_der()?)?;
        let mut bags = pkcs12::safe_bag::SafeContents::from_der(inner.as_bytes())?;
        for bag in &mut bags {
            // Decoding keeps the [0] EXPLICIT wrapper of the bag value; encoding adds it.
            bag.bag_value = ContextSpecific::<Any>::from_der(&bag.bag_value)?
                .value
                .to_der()?;
            if bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID && has_id(bag) {
                let csp = Any::from_der(&BmpString::from_utf8(WINDOWS_RSA_CSP)?.to_der()?)?;
                let attribute = Attribute {
                    oid: MS_CSP_NAME_OID,
                    values: SetOfVec::from_iter([csp])?,
                };
                bag.bag_attributes
                    .get_or_insert_with(SetOfVec::new)
                    .insert(attribute)?;
                named += 1;
            }
        }
        safe.content = Any::from_der(&OctetString::new(bags.to_der()?)?.to_der()?)?;
    }
    if named != rsa_key_ids.len() {
        return Err(der::Error::from(der::ErrorKind::Failed));
    }
    let auth_safe = safes.to_der()?;
    let mac = pfx
        .mac_data
        .as_mut()
        .ok_or_else(|| der::Error::from(der::ErrorKind::Failed))?;
    let salt = mac.mac_salt.as_bytes().to_vec();
    let digest = match mac.mac.algorithm.oid {
        const_oid::db::rfc5912::ID_SHA_256 => {
            pkcs12_mac!(sha2::Sha256, password, &salt, mac.iterations, &auth_safe)
        }
        const_oid::db::rfc5912::ID_SHA_1 => {
            pkcs12_mac!(sha1::Sha1, password, &salt, mac.iterations, &auth_safe)
        }
        _ => return Err(der::Error::from(der::ErrorKind::Failed)),
    };
    mac.mac.digest = OctetString::new(digest)?;
    pfx.auth_safe.content = Any::from_der(&OctetString::new(auth_safe)?.to_der()?)?;
    pfx.to_der()
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
    /// True when the file carried a MAC and it verified; false for a MAC-less file read
    /// under [`Integrity::Optional`].
    pub integrity_protected: bool,
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

/// Whether a PKCS#12 file must carry a MAC to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// A MAC must be present and correct before anything in the file is used (backups,
    /// restore, rotation): a file without one could have been changed by anyone.
    Required,
    /// A file without a MAC is still read, and reported as having no integrity protection
    /// (`inspect` of a foreign file); a MAC that is present is checked all the same.
    Optional,
}

/// The most PBKDF2 or PKCS#12-KDF iterations one part of a file may ask for: a little above the
/// 600,000 that Windows accepts at most and far above what openssl (2,048), Windows (2,000),
/// Java and qvca (10,000) write.
pub const MAX_KDF_ITERATIONS: u64 = 1_000_000;
/// The most memory one scrypt derivation may ask for (128 * N * r bytes): four times the
/// 16 MiB that openssl and qvca use.
pub const MAX_SCRYPT_MEMORY: u64 = 64 * 1024 * 1024;
/// The most scrypt parallelism (p) a file may ask for; openssl and qvca use 1.
pub const MAX_SCRYPT_PARALLELISM: u64 = 4;
/// The most bags a file may hold before anything is decrypted.
pub const MAX_BAGS: usize = 200_000;
/// The most key-derivation work a whole file may ask for, in PBKDF2 iterations or their
/// scrypt equivalent: enough for a backup of 10,000 certificates (10,000 iterations a key).
pub const MAX_TOTAL_KDF_WORK: u64 = 1 << 28;

/// The MAC of a PKCS#12 file as its structure shows it.
struct MacLayout {
    digest: ObjectIdentifier,
    iterations: i64,
}

/// One protected (or unprotected) part of a PKCS#12 file, as its structure shows it.
struct PartLayout {
    protects: &'static str,
    /// The encryption algorithm; `None` for a part stored in the clear.
    algorithm: Option<x509_cert::spki::AlgorithmIdentifierOwned>,
}

/// The outer structure of a PKCS#12 file, read without its password.
struct PfxLayout {
    mac: Option<MacLayout>,
    parts: Vec<PartLayout>,
    bags: usize,
}

fn damaged(e: der::Error) -> Error {
    Error::authentication(format!("the PKCS#12 structure is damaged: {e}"))
}

/// Reads the structure of a PKCS#12 file: its MAC and how each part is encrypted. Nothing is
/// decrypted and no key is derived.
fn read_layout(data: &[u8]) -> Result<PfxLayout> {
    let pfx = pkcs12::Pfx::from_der(data).map_err(damaged)?;
    if pfx.auth_safe.content_type != const_oid::db::rfc5911::ID_DATA {
        return Err(Error::authentication(format!(
            "the PKCS#12 file is protected by a public-key signature ({}), which qvca does not \
             read: export it again with a password",
            pfx.auth_safe.content_type
        )));
    }
    let mac = pfx.mac_data.as_ref().map(|mac| MacLayout {
        digest: mac.mac.algorithm.oid,
        iterations: i64::from(mac.iterations),
    });
    let content =
        der::asn1::OctetString::from_der(&pfx.auth_safe.content.to_der().map_err(damaged)?)
            .map_err(damaged)?;
    let safes = pkcs12::AuthenticatedSafe::from_der(content.as_bytes()).map_err(damaged)?;
    let mut parts = Vec::new();
    let mut bags = 0;
    for safe in safes {
        if safe.content_type == const_oid::db::rfc5911::ID_ENCRYPTED_DATA {
            let encrypted = pkcs12::cms::encrypted_data::EncryptedData::from_der(
                &safe.content.to_der().map_err(damaged)?,
            )
            .map_err(damaged)?;
            bags += 1;
            parts.push(PartLayout {
                protects: "certificates (encrypted safe)",
                algorithm: Some(encrypted.enc_content_info.content_enc_alg),
            });
        } else if safe.content_type == const_oid::db::rfc5911::ID_DATA {
            let inner = der::asn1::OctetString::from_der(&safe.content.to_der().map_err(damaged)?)
                .map_err(damaged)?;
            let contents =
                pkcs12::safe_bag::SafeContents::from_der(inner.as_bytes()).map_err(damaged)?;
            for bag in contents {
                bags += 1;
                if bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID {
                    // The bag value is the [0] EXPLICIT wrapper around the EncryptedPrivateKeyInfo.
                    let info = der::asn1::ContextSpecific::<
                        pkcs12::pbe_params::EncryptedPrivateKeyInfo,
                    >::from_der(&bag.bag_value)
                    .map_err(damaged)?;
                    parts.push(PartLayout {
                        protects: "private key",
                        algorithm: Some(info.value.encryption_algorithm),
                    });
                } else if bag.bag_id == pkcs12::PKCS_12_SECRET_BAG_OID {
                    parts.push(PartLayout {
                        protects: "secret",
                        algorithm: None,
                    });
                } else if bag.bag_id == pkcs12::PKCS_12_KEY_BAG_OID {
                    parts.push(PartLayout {
                        protects: "private key",
                        algorithm: None,
                    });
                } else if bag.bag_id == pkcs12::PKCS_12_CERT_BAG_OID {
                    parts.push(PartLayout {
                        protects: "certificate",
                        algorithm: None,
                    });
                }
            }
        } else {
            return Err(Error::authentication(format!(
                "the PKCS#12 file holds a part of type {}, which qvca does not read",
                safe.content_type
            )));
        }
    }
    Ok(PfxLayout { mac, parts, bags })
}

/// The key-derivation work one encryption algorithm asks for, in PBKDF2-iteration units,
/// refused when a parameter is above its ceiling (`what` names the part in messages).
fn kdf_work(alg: &x509_cert::spki::AlgorithmIdentifierOwned, what: &str) -> Result<u64> {
    let too_much = |parameter: &str, value: u64, ceiling: u64| {
        Error::authentication(format!(
            "the {what} of this PKCS#12 file asks for {parameter} {value}, above qvca's ceiling \
             of {ceiling}: no ordinary tool writes that; the file is damaged or made to exhaust \
             the machine, so it is not opened"
        ))
    };
    if alg.oid == PBES2_OID {
        let params = alg
            .parameters
            .as_ref()
            .ok_or_else(|| Error::authentication(format!("the {what} has no PBES2 parameters")))?
            .to_der()
            .map_err(damaged)?;
        let params = pkcs8::pkcs5::pbes2::Parameters::from_der(&params).map_err(|e| {
            Error::authentication(format!(
                "the {what} uses PBES2 parameters qvca does not read ({e})"
            ))
        })?;
        return match params.kdf {
            pkcs8::pkcs5::pbes2::Kdf::Pbkdf2(pbkdf2) => {
                let iterations = u64::from(pbkdf2.iteration_count);
                if iterations > MAX_KDF_ITERATIONS {
                    return Err(too_much(
                        "PBKDF2 iterations",
                        iterations,
                        MAX_KDF_ITERATIONS,
                    ));
                }
                Ok(iterations)
            }
            pkcs8::pkcs5::pbes2::Kdf::Scrypt(scrypt) => {
                let n = scrypt.cost_parameter;
                let r = u64::from(scrypt.block_size);
                let p = u64::from(scrypt.parallelization);
                let memory = n.saturating_mul(r).saturating_mul(128);
                if memory > MAX_SCRYPT_MEMORY {
                    return Err(too_much(
                        "scrypt memory (128*N*r bytes)",
                        memory,
                        MAX_SCRYPT_MEMORY,
                    ));
                }
                if p > MAX_SCRYPT_PARALLELISM {
                    return Err(too_much("scrypt parallelism p", p, MAX_SCRYPT_PARALLELISM));
                }
                Ok(n.saturating_mul(r).saturating_mul(p) / 2)
            }
            _ => Err(Error::authentication(format!(
                "the {what} uses a PBES2 key derivation qvca does not read"
            ))),
        };
    }
    if is_pkcs12_pbe(&alg.oid) {
        let iterations = alg
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<pkcs12::pbe_params::Pkcs12PbeParams>().ok())
            .map(|p| u64::try_from(p.iterations).unwrap_or(u64::MAX))
            .ok_or_else(|| {
                Error::authentication(format!("the {what} has unreadable PBE parameters"))
            })?;
        if iterations > MAX_KDF_ITERATIONS {
            return Err(too_much("iterations", iterations, MAX_KDF_ITERATIONS));
        }
        return Ok(iterations);
    }
    Err(Error::authentication(format!(
        "the {what} is encrypted with {}, an algorithm qvca does not read",
        alg.oid
    )))
}

fn is_pkcs12_pbe(oid: &ObjectIdentifier) -> bool {
    [
        pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC,
        pkcs12::PKCS_12_PBE_WITH_SHAAND2_KEY_TRIPLE_DES_CBC,
        pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC,
        pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC,
        pkcs12::PKCS_12_PBE_WITH_SHAAND40_BIT_RC4,
        pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC4,
    ]
    .contains(oid)
}

/// Checks a PKCS#12 file before any key is derived: its size, that it has a MAC when one is
/// required, and that no part asks for more key-derivation work than the ceilings allow.
/// Returns whether the file carries a MAC.
fn preflight(data: &[u8], integrity: Integrity, source: &str) -> Result<bool> {
    if data.len() as u64 > crate::input::PKCS12_LIMIT {
        return Err(Error::authentication(format!(
            "{source} is larger than any PKCS#12 file qvca reads ({} MiB)",
            crate::input::PKCS12_LIMIT / (1024 * 1024)
        )));
    }
    let layout = read_layout(data).map_err(|e| {
        Error::authentication(format!(
            "{source} is not a readable PKCS#12 file ({}): it is damaged or not a .pfx",
            e.message()
        ))
    })?;
    let in_source = |e: Error| Error::authentication(format!("{source}: {}", e.message()));
    let mut work = 0u64;
    match &layout.mac {
        None if integrity == Integrity::Required => {
            return Err(Error::authentication(format!(
                "{source} has no integrity check (MAC): anyone could have changed it without \
                 knowing its password, so qvca does not use it; take the file as it was \
                 written (every `qvca backup` has a MAC), or re-export it with a password"
            )));
        }
        None => {}
        Some(mac) => {
            let iterations = u64::try_from(mac.iterations).unwrap_or(u64::MAX);
            if iterations > MAX_KDF_ITERATIONS {
                return Err(in_source(Error::authentication(format!(
                    "its MAC asks for {iterations} iterations, above qvca's ceiling of \
                     {MAX_KDF_ITERATIONS}; the file is damaged or made to exhaust the machine"
                ))));
            }
            work = iterations;
        }
    }
    if layout.bags > MAX_BAGS {
        return Err(in_source(Error::authentication(format!(
            "it holds {} bags, more than the {MAX_BAGS} qvca reads",
            layout.bags
        ))));
    }
    for part in &layout.parts {
        if let Some(alg) = &part.algorithm {
            work = work.saturating_add(kdf_work(alg, part.protects).map_err(in_source)?);
        }
    }
    if work > MAX_TOTAL_KDF_WORK {
        return Err(in_source(Error::authentication(format!(
            "its parts ask for {work} key-derivation iterations in all, above qvca's ceiling of \
             {MAX_TOTAL_KDF_WORK}; the file is damaged or made to exhaust the machine"
        ))));
    }
    Ok(layout.mac.is_some())
}

/// Reads a PKCS#12 file. The structure is checked first (size, MAC presence as `integrity`
/// requires, key-derivation ceilings), then the MAC is verified before any bag is decrypted.
/// A wrong password or a damaged or altered file is an authentication error (exit 4).
pub fn read_pfx(
    data: &[u8],
    password: &Password,
    source: &str,
    integrity: Integrity,
) -> Result<PfxArchive> {
    let has_mac = preflight(data, integrity, source)?;
    // p12-keystore verifies a present MAC before it decrypts or decodes any bag.
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
    Ok(PfxArchive {
        integrity_protected: has_mac,
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
    /// What is protected: "certificates (encrypted safe)", "private key", "secret",
    /// "certificate".
    pub protects: String,
    /// The algorithm, e.g. "PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)" or
    /// "pbeWithSHAAnd3-KeyTripleDES-CBC"; "NONE (stored in the clear)" for unencrypted bags.
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
    /// False when the file has no MAC: anyone could have changed it without its password.
    pub integrity_protected: bool,
    /// Each part, encrypted or not.
    pub parts: Vec<Protection>,
    /// True when everything uses algorithms Windows Server 2016 and older can import
    /// (3DES or RC2 and a SHA-1 MAC).
    pub legacy_windows_compatible: bool,
}

/// Describes how a PKCS#12 file is protected (no password needed for this).
pub fn describe_protection(data: &[u8]) -> Result<PfxProtection> {
    let layout = read_layout(data)?;
    let parts: Vec<Protection> = layout
        .parts
        .iter()
        .map(|part| {
            let (algorithm, iterations) = match &part.algorithm {
                Some(alg) => describe_algorithm(alg),
                // Secret bags written by qvca and Java wrap an encrypted key of their own.
                None if part.protects == "secret" => ("as the private keys".into(), None),
                None => ("NONE (stored in the clear)".into(), None),
            };
            Protection {
                protects: part.protects.into(),
                algorithm,
                iterations,
            }
        })
        .collect();
    let (mac, mac_iterations) = match &layout.mac {
        Some(mac) => (
            Some(digest_name(&mac.digest)),
            Some(u64::try_from(mac.iterations).unwrap_or(0)),
        ),
        None => (None, None),
    };
    let legacy_windows_compatible = mac.as_deref().is_none_or(|m| m == "SHA-1")
        && parts.iter().all(|p| !p.algorithm.starts_with("PBES2"));
    Ok(PfxProtection {
        integrity_protected: mac.is_some(),
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
    public_key_of(pkcs8).is_some_and(|spki| spki == spki_der)
}

/// The SubjectPublicKeyInfo DER of a PKCS#8 private key; `None` when the key cannot be read.
pub fn public_key_of(pkcs8: &SecretBytes) -> Option<Vec<u8>> {
    rcgen::KeyPair::try_from(pkcs8.expose())
        .ok()
        .map(|k| crate::key::public_key_info(&k))
}
