//! PKCS#12 (`.pfx`) files: writing them for Windows, Java and NSS (with p12-keystore), reading
//! them back, and describing how a file is protected, so an admin can tell why an old Windows
//! says "wrong password" to a modern file.
//!
//! Modern files use PBES2 (PBKDF2-HMAC-SHA256 + AES-256-CBC) and a SHA-256 MAC; legacy files
//! (`--legacy`) use pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificate bags and a SHA-1 MAC,
//! which Windows Server 2016 and older need.

use crate::domain::secret::{Password, SecretBytes};
use crate::error::{Error, Result};
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
    pkcs12::Pfx::from_der(&as_der(data)).is_ok()
}

/// The file as DER: itself when it is DER, else its BER (indefinite lengths, OCTET STRINGs in
/// pieces, what NSS's pk12util writes) rewritten as DER. The contents of OCTET STRINGs are
/// kept byte for byte, so a MAC over the authenticated safe still verifies.
fn as_der(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if pkcs12::Pfx::from_der(data).is_ok() {
        return std::borrow::Cow::Borrowed(data);
    }
    crate::pki::der_walk::ber_to_der(data)
        .map_or(std::borrow::Cow::Borrowed(data), std::borrow::Cow::Owned)
}

/// Decodes DER, or BER rewritten as DER (the inner layers of a BER file are BER too).
fn decode_lenient<T: for<'a> Decode<'a, Error = der::Error>>(bytes: &[u8]) -> der::Result<T> {
    T::from_der(bytes).or_else(|e| match crate::pki::der_walk::ber_to_der(bytes) {
        Some(der) => T::from_der(&der),
        None => Err(e),
    })
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
    /// The MAC algorithm's parameters (PBMAC1 keeps its KDF and HMAC there).
    parameters: Option<der::Any>,
    iterations: i64,
}

/// PBMAC1 (RFC 8018 section 7.1, in PKCS#12 by RFC 9579): what OpenSSL 3.4+ writes with
/// `-pbmac1_pbkdf2`.
const PBMAC1_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.14");

/// PBMAC1-params ::= SEQUENCE { keyDerivationFunc, messageAuthScheme } (RFC 8018 A.5).
#[derive(der::Sequence)]
struct Pbmac1Params {
    key_derivation_func: x509_cert::spki::AlgorithmIdentifierOwned,
    message_auth_scheme: x509_cert::spki::AlgorithmIdentifierOwned,
}

impl MacLayout {
    /// The PBMAC1 parameters and their PBKDF2 parameters, when this MAC is PBMAC1.
    fn pbmac1(&self) -> Option<Result<(Pbmac1Params, pkcs8::pkcs5::pbes2::Pbkdf2Params)>> {
        if self.digest != PBMAC1_OID {
            return None;
        }
        let unreadable = |e: der::Error| {
            Error::authentication(format!("the PBMAC1 parameters cannot be read ({e})"))
        };
        Some((|| {
            let any = self
                .parameters
                .as_ref()
                .ok_or_else(|| Error::authentication("the PBMAC1 MAC has no parameters"))?;
            let params: Pbmac1Params = any.decode_as().map_err(unreadable)?;
            if params.key_derivation_func.oid != PBKDF2_OID {
                return Err(Error::authentication(format!(
                    "the PBMAC1 MAC derives its key with {}, which qvca does not read (only \
                     PBKDF2)",
                    params.key_derivation_func.oid
                )));
            }
            let kdf = params
                .key_derivation_func
                .parameters
                .as_ref()
                .ok_or_else(|| Error::authentication("the PBMAC1 PBKDF2 has no parameters"))?
                .decode_as::<pkcs8::pkcs5::pbes2::Pbkdf2Params>()
                .map_err(unreadable)?;
            Ok((params, kdf))
        })())
    }

    /// The key-derivation iterations this MAC asks for.
    fn work(&self) -> Result<u64> {
        match self.pbmac1() {
            Some(params) => Ok(u64::from(params?.1.iteration_count)),
            None => Ok(u64::try_from(self.iterations).unwrap_or(u64::MAX)),
        }
    }
}

/// PBKDF2 (RFC 8018).
const PBKDF2_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");

/// One protected (or unprotected) part of a PKCS#12 file, as its structure shows it.
struct PartLayout {
    protects: &'static str,
    /// The encryption algorithm; `None` for a part stored in the clear.
    algorithm: Option<x509_cert::spki::AlgorithmIdentifierOwned>,
}

/// CertBag ::= SEQUENCE { certId, certValue [0] EXPLICIT OCTET STRING } (RFC 7292 4.2.3).
#[derive(der::Sequence)]
struct ClearCertBag {
    cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: der::asn1::OctetString,
}

/// What an encrypted safe protects, as [`Protection::protects`] names it.
const ENCRYPTED_SAFE: &str = "certificates (encrypted safe)";

/// The outer structure of a PKCS#12 file, read without its password.
struct PfxLayout {
    /// True when the file is BER, not DER (NSS): qvca reads it itself.
    ber: bool,
    mac: Option<MacLayout>,
    parts: Vec<PartLayout>,
    bags: usize,
    /// Certificates stored in the clear (outside any encrypted part), DER.
    clear_certificates: Vec<Vec<u8>>,
}

fn damaged(e: der::Error) -> Error {
    Error::authentication(format!("the PKCS#12 structure is damaged: {e}"))
}

/// Reads the structure of a PKCS#12 file: its MAC and how each part is encrypted. Nothing is
/// decrypted and no key is derived.
fn read_layout(data: &[u8]) -> Result<PfxLayout> {
    let der = as_der(data);
    let ber = matches!(der, std::borrow::Cow::Owned(_));
    let pfx = pkcs12::Pfx::from_der(&der).map_err(damaged)?;
    if pfx.auth_safe.content_type != const_oid::db::rfc5911::ID_DATA {
        return Err(Error::authentication(format!(
            "the PKCS#12 file is protected by a public-key signature ({}), which qvca does not \
             read: export it again with a password",
            pfx.auth_safe.content_type
        )));
    }
    let mac = pfx.mac_data.as_ref().map(|mac| MacLayout {
        digest: mac.mac.algorithm.oid,
        parameters: mac.mac.algorithm.parameters.clone(),
        iterations: i64::from(mac.iterations),
    });
    let content =
        der::asn1::OctetString::from_der(&pfx.auth_safe.content.to_der().map_err(damaged)?)
            .map_err(damaged)?;
    let safes: pkcs12::AuthenticatedSafe = decode_lenient(content.as_bytes()).map_err(damaged)?;
    let mut layout = PfxLayout {
        ber,
        mac,
        parts: Vec::new(),
        bags: 0,
        clear_certificates: Vec::new(),
    };
    for safe in safes {
        layout.add_safe(&safe)?;
    }
    Ok(layout)
}

impl PfxLayout {
    /// Adds one safe of the authenticated safe: an encrypted safe is one part; a plain safe
    /// adds each of its bags.
    fn add_safe(&mut self, safe: &pkcs12::cms::content_info::ContentInfo) -> Result<()> {
        if safe.content_type == const_oid::db::rfc5911::ID_ENCRYPTED_DATA {
            let encrypted = pkcs12::cms::encrypted_data::EncryptedData::from_der(
                &safe.content.to_der().map_err(damaged)?,
            )
            .map_err(damaged)?;
            self.bags += 1;
            self.parts.push(PartLayout {
                protects: ENCRYPTED_SAFE,
                algorithm: Some(encrypted.enc_content_info.content_enc_alg),
            });
        } else if safe.content_type == const_oid::db::rfc5911::ID_DATA {
            let inner = der::asn1::OctetString::from_der(&safe.content.to_der().map_err(damaged)?)
                .map_err(damaged)?;
            let contents: pkcs12::safe_bag::SafeContents =
                decode_lenient(inner.as_bytes()).map_err(damaged)?;
            for bag in contents {
                self.bags += 1;
                self.add_bag(&bag)?;
            }
        } else {
            return Err(Error::authentication(format!(
                "the PKCS#12 file holds a part of type {}, which qvca does not read",
                safe.content_type
            )));
        }
        Ok(())
    }

    /// Adds one bag of a plain safe: a shrouded key is a part encrypted under the password;
    /// secrets, plain keys and certificates are parts in the clear (a certificate is kept).
    fn add_bag(&mut self, bag: &pkcs12::safe_bag::SafeBag) -> Result<()> {
        let (protects, algorithm) = if bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID {
            // The bag value is the [0] EXPLICIT wrapper around the EncryptedPrivateKeyInfo.
            let info = der::asn1::ContextSpecific::<pkcs12::pbe_params::EncryptedPrivateKeyInfo>::from_der(
                &bag.bag_value,
            )
            .map_err(damaged)?;
            ("private key", Some(info.value.encryption_algorithm))
        } else if bag.bag_id == pkcs12::PKCS_12_SECRET_BAG_OID {
            ("secret", None)
        } else if bag.bag_id == pkcs12::PKCS_12_KEY_BAG_OID {
            ("private key", None)
        } else if bag.bag_id == pkcs12::PKCS_12_CERT_BAG_OID {
            // The bag value is the [0] EXPLICIT wrapper around the CertBag.
            if let Ok(cert) = der::asn1::ContextSpecific::<ClearCertBag>::from_der(&bag.bag_value)
                && cert.value.cert_id == pkcs12::PKCS_12_X509_CERT_OID
            {
                self.clear_certificates
                    .push(cert.value.cert_value.as_bytes().to_vec());
            }
            ("certificate", None)
        } else {
            return Ok(());
        };
        self.parts.push(PartLayout {
            protects,
            algorithm,
        });
        Ok(())
    }
}

/// The key-derivation work one encryption algorithm asks for, in PBKDF2-iteration units,
/// refused when a parameter is above its ceiling (`what` names the part in messages).
fn kdf_work(alg: &x509_cert::spki::AlgorithmIdentifierOwned, what: &str) -> Result<u64> {
    if alg.oid == PBES2_OID {
        return pbes2_work(alg, what);
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
            return Err(too_much(what, "iterations", iterations, MAX_KDF_ITERATIONS));
        }
        return Ok(iterations);
    }
    Err(Error::authentication(format!(
        "the {what} is encrypted with {}, an algorithm qvca does not read",
        alg.oid
    )))
}

/// The refusal of a part (`what`) whose `parameter` asks for `value`, above `ceiling`.
fn too_much(what: &str, parameter: &str, value: u64, ceiling: u64) -> Error {
    Error::authentication(format!(
        "the {what} of this PKCS#12 file asks for {parameter} {value}, above qvca's ceiling of \
         {ceiling}: no ordinary tool writes that; the file is damaged or made to exhaust the \
         machine, so it is not opened"
    ))
}

/// The work of a PBES2 part: its PBKDF2 iterations, or its scrypt cost in PBKDF2 units (N*r*p
/// / 2), each parameter held to its ceiling.
fn pbes2_work(alg: &x509_cert::spki::AlgorithmIdentifierOwned, what: &str) -> Result<u64> {
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
    match params.kdf {
        pkcs8::pkcs5::pbes2::Kdf::Pbkdf2(pbkdf2) => {
            let iterations = u64::from(pbkdf2.iteration_count);
            if iterations > MAX_KDF_ITERATIONS {
                return Err(too_much(
                    what,
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
                    what,
                    "scrypt memory (128*N*r bytes)",
                    memory,
                    MAX_SCRYPT_MEMORY,
                ));
            }
            if p > MAX_SCRYPT_PARALLELISM {
                return Err(too_much(
                    what,
                    "scrypt parallelism p",
                    p,
                    MAX_SCRYPT_PARALLELISM,
                ));
            }
            Ok(n.saturating_mul(r).saturating_mul(p) / 2)
        }
        _ => Err(Error::authentication(format!(
            "the {what} uses a PBES2 key derivation qvca does not read"
        ))),
    }
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
/// Returns the file's structure.
fn preflight(data: &[u8], integrity: Integrity, source: &str) -> Result<PfxLayout> {
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
            let iterations = mac.work().map_err(in_source)?;
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
    Ok(layout)
}

/// Reads a PKCS#12 file. The structure is checked first (size, MAC presence as `integrity`
/// requires, key-derivation ceilings), then the MAC is verified before any bag is decrypted.
/// A wrong password or a damaged or altered file is an authentication error (exit 4).
///
/// The MAC is verified once and each part decrypted once: what qvca has verified and decrypted
/// itself (a MAC it reads, the encrypted safes it must hold to the ceilings before
/// p12-keystore sees them) is handed to p12-keystore in the clear (`keystore_input`),
/// and kept for qvca's own reader when p12-keystore cannot read the bags.
pub fn read_pfx(
    data: &[u8],
    password: &Password,
    source: &str,
    integrity: Integrity,
) -> Result<PfxArchive> {
    let layout = preflight(data, integrity, source)?;
    let reading = PfxReading {
        data,
        layout: &layout,
        password,
        source,
    };
    if needs_own_reader(&layout) {
        return reading.read_unwrapped(reading.open()?);
    }
    if layout.parts.iter().any(|p| p.protects == ENCRYPTED_SAFE) {
        // The bags inside an encrypted safe meet the ceilings before p12-keystore reads them.
        let mut opened = reading.open()?;
        reading.decrypt_encrypted_safes(&mut opened)?;
        return reading.read_opened(opened);
    }
    if reading.mac_verifies_alike() {
        return reading.read_opened(reading.open()?);
    }
    // No MAC, or one qvca does not verify exactly as p12-keystore would: p12-keystore reads
    // the file as it is and verifies a present MAC itself before it decodes any bag.
    reading.read_with_keystore(data, None)
}

/// One read of a PKCS#12 file with its password (its structure already checked).
struct PfxReading<'a> {
    data: &'a [u8],
    layout: &'a PfxLayout,
    password: &'a Password,
    source: &'a str,
}

/// A PKCS#12 file opened with its password: its authenticated safe decoded, its MAC (if any)
/// verified, and the encrypted safes decrypted so far.
struct OpenedPfx {
    pfx: pkcs12::Pfx,
    /// The authenticated safe's bytes (what the MAC covers).
    content: Vec<u8>,
    /// Its safes, in the order of the file.
    safes: Vec<pkcs12::cms::content_info::ContentInfo>,
    /// The password forms the parts decrypt with.
    forms: Vec<zeroize::Zeroizing<Vec<u8>>>,
    /// False when the MAC verified only with a form p12-keystore does not try (an empty
    /// password as no bytes at all).
    usual_form: bool,
    /// For each safe (by position): its contents, once an encrypted safe is decrypted.
    decrypted: Vec<Option<DecryptedSafe>>,
}

/// An encrypted safe once decrypted.
struct DecryptedSafe {
    /// The plaintext, as decrypted (a SafeContents, perhaps BER).
    plain: zeroize::Zeroizing<Vec<u8>>,
    /// Its bags.
    contents: pkcs12::safe_bag::SafeContents,
    /// True when it decrypted with the password form p12-keystore uses, so p12-keystore's
    /// decryption gives the same plaintext.
    usual_form: bool,
}

impl PfxReading<'_> {
    /// An error that names the file.
    fn in_source(&self, e: Error) -> Error {
        Error::authentication(format!("{}: {}", self.source, e.message()))
    }

    /// Decodes the authenticated safe and verifies the MAC (classic or PBMAC1), once.
    fn open(&self) -> Result<OpenedPfx> {
        let pfx = pkcs12::Pfx::from_der(&as_der(self.data)).map_err(damaged)?;
        let content =
            der::asn1::OctetString::from_der(&pfx.auth_safe.content.to_der().map_err(damaged)?)
                .map_err(damaged)?
                .as_bytes()
                .to_vec();
        let safes: pkcs12::AuthenticatedSafe = decode_lenient(&content).map_err(damaged)?;
        let (forms, usual_form) =
            verified_password_forms(&pfx, self.layout, &content, self.password, self.source)?;
        let decrypted = safes.iter().map(|_| None).collect();
        Ok(OpenedPfx {
            pfx,
            content,
            safes,
            forms,
            usual_form,
            decrypted,
        })
    }

    /// True when the file has a MAC that qvca verifies exactly where p12-keystore would (a
    /// digest qvca reads, a password a BMPString holds), so that qvca verifies it instead.
    fn mac_verifies_alike(&self) -> bool {
        self.layout.mac.as_ref().is_some_and(|mac| {
            reads_digest(mac.digest) && kdf_password_forms(self.password).is_ok()
        })
    }

    /// Decrypts each encrypted safe and holds the bags inside it to the ceilings, before
    /// p12-keystore (which has looser limits of its own) is given the file.
    fn decrypt_encrypted_safes(&self, opened: &mut OpenedPfx) -> Result<()> {
        let mut budget = InnerBudget::after_outer(self.layout);
        for (i, safe) in opened.safes.iter().enumerate() {
            if safe.content_type != const_oid::db::rfc5911::ID_ENCRYPTED_DATA {
                continue;
            }
            let Some(decrypted) = self.decrypt_safe(safe, &opened.forms)? else {
                continue;
            };
            budget
                .check(&decrypted.contents)
                .map_err(|e| self.in_source(e))?;
            opened.decrypted[i] = Some(decrypted);
        }
        Ok(())
    }

    /// Decrypts one encrypted safe with the first password form that gives readable
    /// contents; `None` for a safe without encrypted content.
    fn decrypt_safe(
        &self,
        safe: &pkcs12::cms::content_info::ContentInfo,
        forms: &[zeroize::Zeroizing<Vec<u8>>],
    ) -> Result<Option<DecryptedSafe>> {
        let encrypted = pkcs12::cms::encrypted_data::EncryptedData::from_der(
            &safe.content.to_der().map_err(damaged)?,
        )
        .map_err(damaged)?;
        let info = encrypted.enc_content_info;
        let Some(bytes) = info.encrypted_content else {
            return Ok(None);
        };
        #[cfg(test)]
        tally::safe();
        let ((plain, contents), form) = decrypt_with_forms(
            &info.content_enc_alg,
            bytes.as_bytes(),
            self.password,
            forms,
            |plain| {
                decode_lenient::<pkcs12::safe_bag::SafeContents>(plain)
                    .ok()
                    .map(|contents| (zeroize::Zeroizing::new(plain.to_vec()), contents))
            },
        )
        .map_err(|e| self.in_source(e))?;
        Ok(Some(DecryptedSafe {
            plain,
            contents,
            usual_form: form == 0,
        }))
    }

    /// Reads an opened file: through p12-keystore, given the file in the clear, unless the MAC
    /// verified only with a form p12-keystore does not try (then as p12-keystore's MAC failure
    /// with an empty password led to: qvca's own reader).
    fn read_opened(&self, opened: OpenedPfx) -> Result<PfxArchive> {
        if opened.pfx.mac_data.is_some() && !opened.usual_form {
            return self.read_unwrapped(opened);
        }
        let input = keystore_input(&opened).map_err(damaged)?;
        self.read_with_keystore(&input, Some(opened))
    }

    /// Reads `input` (the file, or its clear form for an `opened` one) with p12-keystore;
    /// what it cannot read goes to qvca's own reader, the MAC verified first.
    fn read_with_keystore(&self, input: &[u8], opened: Option<OpenedPfx>) -> Result<PfxArchive> {
        let unwrapped = |opened: Option<OpenedPfx>| match opened {
            Some(opened) => self.read_unwrapped(opened),
            None => self.read_unwrapped(self.open()?),
        };
        #[cfg(test)]
        tally::keystore_work(input);
        match Pkcs12Archive::from_pkcs12(input, self.password.expose()) {
            Ok(archive) => Ok(from_keystore(archive, self.layout.mac.is_some())),
            // An empty password is written two ways: an empty BMPString (two zero bytes, what
            // p12-keystore and openssl try first) or no bytes at all (NSS, some Java stores).
            Err(p12_keystore::error::Error::MacError(_)) if self.password.is_empty() => {
                unwrapped(opened)
            }
            Err(p12_keystore::error::Error::MacError(_)) => Err(wrong_password(self.source)),
            // Bags p12-keystore does not take (plain key bags with attributes, ...): read them
            // the same way qvca reads what p12-keystore lacks, the MAC verified first.
            Err(other) => unwrapped(opened).map_err(|e| {
                Error::authentication(format!(
                    "{} cannot be decrypted ({other}; {}): the file is damaged, or uses an \
                     algorithm qvca does not read",
                    self.source,
                    e.message()
                ))
            }),
        }
    }

    /// qvca's own reader of an opened file: decrypts every part itself (each encrypted safe
    /// not decrypted yet) and reads the keys and certificates of the result. (Secret bags,
    /// which only qvca's and Java's own files carry and which p12-keystore reads, are not read
    /// here.)
    fn read_unwrapped(&self, mut opened: OpenedPfx) -> Result<PfxArchive> {
        let mut budget = InnerBudget::after_outer(self.layout);
        let mut archive = PfxArchive {
            integrity_protected: opened.pfx.mac_data.is_some(),
            keys: Vec::new(),
            certs: Vec::new(),
            secrets: Vec::new(),
        };
        let safes = std::mem::take(&mut opened.safes);
        for (safe, decrypted) in safes.iter().zip(std::mem::take(&mut opened.decrypted)) {
            let contents = if safe.content_type == const_oid::db::rfc5911::ID_ENCRYPTED_DATA {
                match decrypted {
                    Some(done) => done.contents,
                    None => self
                        .decrypt_safe(safe, &opened.forms)?
                        .map(|done| done.contents)
                        .unwrap_or_default(),
                }
            } else {
                let inner =
                    der::asn1::OctetString::from_der(&safe.content.to_der().map_err(damaged)?)
                        .map_err(damaged)?;
                decode_lenient::<pkcs12::safe_bag::SafeContents>(inner.as_bytes())
                    .map_err(damaged)?
            };
            budget.check(&contents).map_err(|e| self.in_source(e))?;
            let bags = unwrap_bags(contents, self.password, &opened.forms)
                .map_err(|e| self.in_source(e))?;
            for bag in bags {
                self.take_bag(&bag, &mut archive)?;
            }
        }
        Ok(archive)
    }

    /// Adds a plain key bag or an X.509 certificate bag to the archive; other bags are left.
    fn take_bag(&self, bag: &pkcs12::safe_bag::SafeBag, archive: &mut PfxArchive) -> Result<()> {
        let friendly_name = bag_attribute(bag, FRIENDLY_NAME_OID)
            .and_then(|a| a.decode_as::<der::asn1::BmpString>().ok())
            .map(|n| n.to_string());
        let local_key_id = bag_attribute(bag, LOCAL_KEY_ID_OID)
            .and_then(|a| a.decode_as::<der::asn1::OctetString>().ok())
            .map(|id| id.as_bytes().to_vec());
        // Both bag values are the [0] EXPLICIT wrapper around the value itself.
        let value = crate::pki::der_walk::first_child(&bag.bag_value);
        if bag.bag_id == pkcs12::PKCS_12_KEY_BAG_OID {
            let key = value.ok_or_else(|| {
                Error::authentication(format!("{}: a key bag is damaged", self.source))
            })?;
            archive.keys.push(PfxKeyBag {
                friendly_name,
                local_key_id,
                pkcs8: SecretBytes::new(key.to_vec()),
            });
        } else if bag.bag_id == pkcs12::PKCS_12_CERT_BAG_OID
            && let Ok(cert) = der::asn1::ContextSpecific::<ClearCertBag>::from_der(&bag.bag_value)
            && cert.value.cert_id == pkcs12::PKCS_12_X509_CERT_OID
        {
            archive.certs.push(PfxCertBag {
                friendly_name,
                local_key_id,
                der: cert.value.cert_value.as_bytes().to_vec(),
            });
        }
        Ok(())
    }
}

/// What p12-keystore is given of an opened file: the file without its MAC (qvca has verified
/// it), and each encrypted safe that qvca decrypted with the password form p12-keystore uses
/// replaced by a plain safe holding the same plaintext, so p12-keystore reads the same bags
/// without deriving any key qvca has derived already. An encrypted safe p12-keystore would
/// refuse or fail on (a CMS version other than 0, no content, another password form) is left
/// as it is, and so is the whole authenticated safe when it is not strict DER: p12-keystore
/// then fails where it always did.
fn keystore_input(opened: &OpenedPfx) -> der::Result<zeroize::Zeroizing<Vec<u8>>> {
    use pkcs12::cms::content_info::{CmsVersion, ContentInfo};
    let mut pfx = pkcs12::Pfx {
        version: opened.pfx.version,
        auth_safe: opened.pfx.auth_safe.clone(),
        mac_data: None,
    };
    if let Ok(safes) = pkcs12::AuthenticatedSafe::from_der(&opened.content) {
        let mut replaced = false;
        let mut clear: Vec<ContentInfo> = Vec::with_capacity(safes.len());
        for (safe, decrypted) in safes.into_iter().zip(&opened.decrypted) {
            let version_zero = || {
                safe.content
                    .to_der()
                    .and_then(|der| pkcs12::cms::encrypted_data::EncryptedData::from_der(&der))
                    .is_ok_and(|e| e.version == CmsVersion::V0)
            };
            match decrypted {
                Some(done) if done.usual_form && version_zero() => {
                    let octets = der::asn1::OctetString::new(done.plain.to_vec())?;
                    clear.push(ContentInfo {
                        content_type: const_oid::db::rfc5911::ID_DATA,
                        content: der::Any::encode_from(&octets)?,
                    });
                    replaced = true;
                }
                _ => clear.push(safe),
            }
        }
        if replaced {
            let auth_safe = zeroize::Zeroizing::new(clear.to_der()?);
            let octets = der::asn1::OctetString::new(auth_safe.to_vec())?;
            pfx.auth_safe.content = der::Any::encode_from(&octets)?;
        }
    }
    Ok(zeroize::Zeroizing::new(pfx.to_der()?))
}

/// The archive p12-keystore read, in qvca's types.
fn from_keystore(archive: Pkcs12Archive, integrity_protected: bool) -> PfxArchive {
    PfxArchive {
        integrity_protected,
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
    }
}

// ------------------------------------------------------------------------------------------
// What p12-keystore cannot read: a PBMAC1 MAC (RFC 9579), the PKCS#12 PBEs it lacks (RC2-128,
// two-key 3DES), an empty password written as no bytes at all. qvca verifies the MAC itself,
// decrypts every part itself, and hands p12-keystore the same contents in the clear.

/// True when the file needs qvca's own MAC check and decryption.
fn needs_own_reader(layout: &PfxLayout) -> bool {
    let own_pbe = [
        pkcs12::PKCS_12_PBE_WITH_SHAAND2_KEY_TRIPLE_DES_CBC,
        pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC,
    ];
    layout.ber
        || layout.mac.as_ref().is_some_and(|m| m.digest == PBMAC1_OID)
        || layout.parts.iter().any(|p| {
            p.algorithm
                .as_ref()
                .is_some_and(|a| own_pbe.contains(&a.oid))
        })
}

/// The password as the PKCS#12 key derivation takes it: a BMPString with its two zero bytes
/// of termination, and for the empty password also no bytes at all.
fn kdf_password_forms(password: &Password) -> Result<Vec<zeroize::Zeroizing<Vec<u8>>>> {
    let bmp = der::asn1::BmpString::from_utf8(password.expose()).map_err(|_| {
        Error::authentication("the password has characters a PKCS#12 password cannot hold")
    })?;
    let mut form = zeroize::Zeroizing::new(bmp.into_bytes().to_vec());
    form.extend([0, 0]);
    let mut forms = vec![form];
    if password.is_empty() {
        forms.push(zeroize::Zeroizing::new(Vec::new()));
    }
    Ok(forms)
}

macro_rules! with_digest {
    ($oid:expr, $d:ident => $body:expr) => {{
        use const_oid::db::rfc5912;
        match $oid {
            rfc5912::ID_SHA_1 => {
                type $d = sha1::Sha1;
                Some($body)
            }
            rfc5912::ID_SHA_224 => {
                type $d = sha2::Sha224;
                Some($body)
            }
            rfc5912::ID_SHA_256 => {
                type $d = sha2::Sha256;
                Some($body)
            }
            rfc5912::ID_SHA_384 => {
                type $d = sha2::Sha384;
                Some($body)
            }
            rfc5912::ID_SHA_512 => {
                type $d = sha2::Sha512;
                Some($body)
            }
            _ => None,
        }
    }};
}

/// True when qvca computes the classic PKCS#12 MAC with this digest.
fn reads_digest(digest: ObjectIdentifier) -> bool {
    with_digest!(digest, D => <D as sha2::digest::OutputSizeUser>::output_size()).is_some()
}

/// The digest an HMAC OID (RFC 8018 B.1) names, as its hash OID.
fn hmac_digest(oid: &ObjectIdentifier) -> Option<ObjectIdentifier> {
    use const_oid::db::rfc5912;
    Some(match oid.to_string().as_str() {
        "1.2.840.113549.2.7" => rfc5912::ID_SHA_1,
        "1.2.840.113549.2.8" => rfc5912::ID_SHA_224,
        "1.2.840.113549.2.9" => rfc5912::ID_SHA_256,
        "1.2.840.113549.2.10" => rfc5912::ID_SHA_384,
        "1.2.840.113549.2.11" => rfc5912::ID_SHA_512,
        _ => return None,
    })
}

/// HMAC of `data` under `key` with the digest `digest`, checked against `expected`.
fn hmac_verifies(digest: ObjectIdentifier, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
    use hmac::{KeyInit, Mac};
    with_digest!(digest, D => {
        hmac::Hmac::<D>::new_from_slice(key)
            .map(|mut mac| {
                mac.update(data);
                mac.verify_slice(expected).is_ok()
            })
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// The classic PKCS#12 MAC (RFC 7292 B): the PKCS#12 KDF, then HMAC with the same digest.
fn classic_mac_verifies(mac: &pkcs12::MacData, password: &[u8], data: &[u8]) -> Result<bool> {
    #[cfg(test)]
    tally::mac();
    let digest = mac.mac.algorithm.oid;
    let salt = mac.mac_salt.as_bytes();
    let key = with_digest!(digest, D => {
        let size = <D as sha2::digest::OutputSizeUser>::output_size();
        zeroize::Zeroizing::new(pkcs12::kdf::derive_key::<D>(
            password,
            salt,
            pkcs12::kdf::Pkcs12KeyType::Mac,
            mac.iterations,
            size,
        ))
    })
    .ok_or_else(|| {
        Error::authentication(format!(
            "the MAC uses the digest {digest}, which qvca does not read"
        ))
    })?;
    Ok(hmac_verifies(digest, &key, data, mac.mac.digest.as_bytes()))
}

/// PBMAC1 (RFC 9579): PBKDF2 over the password as UTF-8, then the HMAC its parameters name.
fn pbmac1_verifies(
    mac: &pkcs12::MacData,
    layout: &MacLayout,
    password: &Password,
    data: &[u8],
) -> Result<bool> {
    #[cfg(test)]
    tally::mac();
    let (params, kdf) = layout
        .pbmac1()
        .ok_or_else(|| Error::authentication("the MAC is not PBMAC1"))??;
    let hmac = hmac_digest(&params.message_auth_scheme.oid).ok_or_else(|| {
        Error::authentication(format!(
            "the PBMAC1 MAC uses {}, which qvca does not read",
            params.message_auth_scheme.oid
        ))
    })?;
    let length = usize::from(kdf.key_length.ok_or_else(|| {
        Error::authentication("the PBMAC1 parameters give no key length (RFC 9579 requires one)")
    })?);
    if !(1..=64).contains(&length) {
        return Err(Error::authentication(format!(
            "the PBMAC1 key length {length} is outside 1 to 64 bytes: the file is damaged"
        )));
    }
    let prf = hmac_digest(&kdf.prf.oid())
        .ok_or_else(|| Error::authentication("the PBMAC1 PBKDF2 uses a PRF qvca does not read"))?;
    let salt = kdf.salt.as_bytes();
    let mut key = zeroize::Zeroizing::new(vec![0u8; length]);
    with_digest!(prf, D => pbkdf2::pbkdf2_hmac::<D>(
        password.expose().as_bytes(),
        salt,
        kdf.iteration_count,
        &mut key,
    ))
    .ok_or_else(|| Error::authentication("the PBMAC1 PBKDF2 uses a PRF qvca does not read"))?;
    Ok(hmac_verifies(hmac, &key, data, mac.mac.digest.as_bytes()))
}

/// Decrypts one part with a PKCS#12 PBE (RFC 7292 B, C) or PBES2 (RFC 8018).
fn decrypt_part(
    alg: &x509_cert::spki::AlgorithmIdentifierOwned,
    data: &[u8],
    password: &Password,
    kdf_password: &[u8],
) -> Result<Vec<u8>> {
    use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
    let failed = || Error::authentication("decryption failed (wrong password or damaged file)");
    if alg.oid == PBES2_OID {
        let der = alg.to_der().map_err(damaged)?;
        let scheme = pkcs8::pkcs5::EncryptionScheme::from_der(&der)
            .map_err(|e| Error::authentication(format!("unreadable PBES2 parameters ({e})")))?;
        return scheme
            .decrypt(password.expose().as_bytes(), data)
            .map_err(|_| failed());
    }
    let params = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<pkcs12::pbe_params::Pkcs12PbeParams>().ok())
        .ok_or_else(|| Error::authentication("unreadable PBE parameters"))?;
    let derive = |id, len| {
        zeroize::Zeroizing::new(pkcs12::kdf::derive_key::<sha1::Sha1>(
            kdf_password,
            params.salt.as_bytes(),
            id,
            params.iterations,
            len,
        ))
    };
    let iv = derive(pkcs12::kdf::Pkcs12KeyType::Iv, 8);
    let key_len = match alg.oid {
        pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC => 24,
        pkcs12::PKCS_12_PBE_WITH_SHAAND2_KEY_TRIPLE_DES_CBC
        | pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC => 16,
        pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC => 5,
        _ => {
            return Err(Error::authentication(format!(
                "a part is encrypted with {}, which qvca does not read: export the file again \
                 with AES (or 3DES for old Windows)",
                describe_algorithm(alg).0
            )));
        }
    };
    let key = derive(pkcs12::kdf::Pkcs12KeyType::EncryptionKey, key_len);
    let plain = match alg.oid {
        pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC => {
            cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                .map_err(|_| failed())?
                .decrypt_padded_vec::<Pkcs7>(data)
        }
        pkcs12::PKCS_12_PBE_WITH_SHAAND2_KEY_TRIPLE_DES_CBC => {
            cbc::Decryptor::<des::TdesEde2>::new_from_slices(&key, &iv)
                .map_err(|_| failed())?
                .decrypt_padded_vec::<Pkcs7>(data)
        }
        _ => cbc::Decryptor::<rc2::Rc2>::new_from_slices(&key, &iv)
            .map_err(|_| failed())?
            .decrypt_padded_vec::<Pkcs7>(data),
    };
    plain.map_err(|_| failed())
}

/// Decrypts a part with the first password form that gives readable contents; returns them
/// with the position of that form.
fn decrypt_with_forms<T>(
    alg: &x509_cert::spki::AlgorithmIdentifierOwned,
    data: &[u8],
    password: &Password,
    forms: &[zeroize::Zeroizing<Vec<u8>>],
    check: impl Fn(&[u8]) -> Option<T>,
) -> Result<(T, usize)> {
    let mut last = Error::authentication("decryption failed");
    for (i, form) in forms.iter().enumerate() {
        match decrypt_part(alg, data, password, form) {
            Ok(plain) => {
                let plain = zeroize::Zeroizing::new(plain);
                if let Some(value) = check(&plain) {
                    return Ok((value, i));
                }
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The bags of one SafeContents with every shrouded key decrypted into a plain key bag.
fn unwrap_bags(
    contents: pkcs12::safe_bag::SafeContents,
    password: &Password,
    forms: &[zeroize::Zeroizing<Vec<u8>>],
) -> Result<pkcs12::safe_bag::SafeContents> {
    let mut out = Vec::new();
    for mut bag in contents {
        if bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID {
            let info = der::asn1::ContextSpecific::<pkcs12::pbe_params::EncryptedPrivateKeyInfo>::from_der(
                &bag.bag_value,
            )
            .map_err(damaged)?;
            let (key, _) = decrypt_with_forms(
                &info.value.encryption_algorithm,
                info.value.encrypted_data.as_bytes(),
                password,
                forms,
                |plain| {
                    pkcs8::PrivateKeyInfoRef::from_der(plain)
                        .is_ok()
                        .then(|| plain.to_vec())
                },
            )?;
            let key = zeroize::Zeroizing::new(key);
            let plain = pkcs12::safe_bag::PrivateKeyInfo::from_der(&key).map_err(damaged)?;
            let wrapped = der::asn1::ContextSpecific {
                tag_number: der::TagNumber(0),
                tag_mode: der::TagMode::Explicit,
                value: plain,
            };
            bag.bag_id = pkcs12::PKCS_12_KEY_BAG_OID;
            bag.bag_value = wrapped.to_der().map_err(damaged)?;
        }
        out.push(bag);
    }
    Ok(out)
}

/// Verifies a present MAC (classic or PBMAC1) with `password` and returns the password forms
/// the parts are to be decrypted with (the form the MAC was made with), and whether that is
/// the usual form (the one p12-keystore tries). Without a MAC, every form (there is nothing to
/// check a password against).
fn verified_password_forms(
    pfx: &pkcs12::Pfx,
    layout: &PfxLayout,
    content: &[u8],
    password: &Password,
    source: &str,
) -> Result<(Vec<zeroize::Zeroizing<Vec<u8>>>, bool)> {
    let in_source = |e: Error| Error::authentication(format!("{source}: {}", e.message()));
    let forms = kdf_password_forms(password)?;
    let (Some(mac), Some(mac_layout)) = (&pfx.mac_data, &layout.mac) else {
        return Ok((forms, true));
    };
    let verified = if mac_layout.digest == PBMAC1_OID {
        pbmac1_verifies(mac, mac_layout, password, content)
            .map_err(in_source)?
            .then_some((forms, true))
    } else {
        let mut matching = None;
        for (i, form) in forms.into_iter().enumerate() {
            if classic_mac_verifies(mac, &form, content).map_err(in_source)? {
                matching = Some((vec![form], i == 0));
                break;
            }
        }
        matching
    };
    verified.ok_or_else(|| wrong_password(source))
}

/// The MAC of `source` does not verify with the password given.
fn wrong_password(source: &str) -> Error {
    Error::authentication(format!(
        "wrong password for {source} (or the file was altered): its integrity check (MAC) fails; \
         give the password it was written with (--pfx-password-file or QVCA_PFX_PASSWORD)"
    ))
}

/// The key-derivation work and bag count a file may still ask for once its outer parts are
/// counted: the shrouded keys inside an encrypted safe become visible only after it is
/// decrypted, and are held to the same ceilings before any of them is decrypted.
struct InnerBudget {
    work: u64,
    bags: usize,
}

impl InnerBudget {
    /// What the outer structure has used already.
    fn after_outer(layout: &PfxLayout) -> Self {
        let work = layout
            .parts
            .iter()
            .filter_map(|p| p.algorithm.as_ref())
            .filter_map(|alg| kdf_work(alg, "part").ok())
            .fold(0u64, u64::saturating_add);
        Self {
            work,
            bags: layout.bags,
        }
    }

    /// Counts the bags of one decrypted safe against the ceilings (each shrouded key's
    /// parameters, the bag count, the total work).
    fn check(&mut self, contents: &pkcs12::safe_bag::SafeContents) -> Result<()> {
        for bag in contents {
            self.bags += 1;
            if bag.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID {
                let info = der::asn1::ContextSpecific::<
                    pkcs12::pbe_params::EncryptedPrivateKeyInfo,
                >::from_der(&bag.bag_value)
                .map_err(damaged)?;
                let work = kdf_work(&info.value.encryption_algorithm, "private key")?;
                self.work = self.work.saturating_add(work);
            }
        }
        if self.bags > MAX_BAGS {
            return Err(Error::authentication(format!(
                "it holds more than the {MAX_BAGS} bags qvca reads"
            )));
        }
        if self.work > MAX_TOTAL_KDF_WORK {
            return Err(Error::authentication(format!(
                "its parts ask for more than {MAX_TOTAL_KDF_WORK} key-derivation iterations in \
                 all, above qvca's ceiling; the file is damaged or made to exhaust the machine"
            )));
        }
        Ok(())
    }
}

/// friendlyName (PKCS #9).
const FRIENDLY_NAME_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
/// localKeyId (PKCS #9).
const LOCAL_KEY_ID_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");

/// The first value of a bag attribute.
fn bag_attribute(bag: &pkcs12::safe_bag::SafeBag, oid: ObjectIdentifier) -> Option<der::Any> {
    bag.bag_attributes
        .as_ref()?
        .iter()
        .find(|a| a.oid == oid)
        .and_then(|a| a.values.iter().next().cloned())
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
    /// True when this part is encrypted under the password.
    pub encrypted: bool,
}

/// The most iterations Windows accepts in a PKCS#12 MAC or PBE (Windows Server 2016 and
/// later refuse files above it).
pub const WINDOWS_MAX_ITERATIONS: u64 = 600_000;

/// How a PKCS#12 file is protected: its MAC and the encryption of each part.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PfxProtection {
    /// The MAC: a digest for the classic PKCS#12 MAC (e.g. "SHA-256"), or
    /// "PBMAC1 (PBKDF2-HMAC-SHA256, HMAC-SHA256)"; absent for MAC-less files.
    pub mac: Option<String>,
    /// The MAC's iteration count.
    pub mac_iterations: Option<u64>,
    /// False when the file has no MAC: anyone could have changed it without its password.
    pub integrity_protected: bool,
    /// Each part, encrypted or not.
    pub parts: Vec<Protection>,
    /// True when Windows Server 2016 and older can import the file: only PKCS#12 PBE (3DES,
    /// RC2) for its parts, a SHA-1 MAC (or none), at most 600,000 iterations.
    pub legacy_windows_compatible: bool,
    /// Why Windows Server 2016 and older cannot import it (empty when they can).
    pub legacy_windows_reasons: Vec<String>,
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
                encrypted: part.algorithm.is_some(),
            }
        })
        .collect();
    let (mac, mac_iterations) = match &layout.mac {
        Some(mac) => match mac.pbmac1() {
            Some(Ok((params, kdf))) => (
                Some(format!(
                    "PBMAC1 (PBKDF2-{}, {})",
                    prf_name(&kdf.prf),
                    hmac_name(&params.message_auth_scheme.oid)
                )),
                Some(u64::from(kdf.iteration_count)),
            ),
            Some(Err(_)) => (Some("PBMAC1 (unreadable parameters)".into()), None),
            None => (
                Some(digest_name(&mac.digest)),
                Some(u64::try_from(mac.iterations).unwrap_or(0)),
            ),
        },
        None => (None, None),
    };
    let legacy_windows_reasons = windows_2016_obstacles(mac.as_deref(), mac_iterations, &parts);
    Ok(PfxProtection {
        integrity_protected: mac.is_some(),
        mac,
        mac_iterations,
        parts,
        legacy_windows_compatible: legacy_windows_reasons.is_empty(),
        legacy_windows_reasons,
    })
}

/// Why Windows Server 2016 (and older) cannot import a file so protected: they read the
/// PKCS#12 PBEs (3DES, RC2) and a SHA-1 MAC, at most 600,000 iterations; PBES2 (AES) and
/// SHA-2 MACs need Windows Server 2019 or Windows 10 1709 and later, PBMAC1 newer still.
fn windows_2016_obstacles(
    mac: Option<&str>,
    mac_iterations: Option<u64>,
    parts: &[Protection],
) -> Vec<String> {
    const NEWER: &str = "(Windows Server 2019 / Windows 10 1709 and later only)";
    let mut reasons = Vec::new();
    match mac {
        Some(m) if m.starts_with("PBMAC1") => {
            reasons.push(format!(
                "a {m} MAC, which Windows Server 2016 does not read"
            ));
        }
        Some("SHA-1") | None => {}
        Some(other) => reasons.push(format!("an HMAC-{other} MAC {NEWER}")),
    }
    if let Some(n) = mac_iterations.filter(|n| *n > WINDOWS_MAX_ITERATIONS) {
        reasons.push(format!(
            "{n} MAC iterations (Windows accepts at most {WINDOWS_MAX_ITERATIONS})"
        ));
    }
    // One reason per algorithm, naming the parts that use it.
    let mut by_algorithm: Vec<(&str, Vec<&str>)> = Vec::new();
    for part in parts.iter().filter(|p| p.encrypted) {
        match by_algorithm.iter_mut().find(|(a, _)| *a == part.algorithm) {
            Some((_, uses)) if !uses.contains(&part.protects.as_str()) => {
                uses.push(&part.protects);
            }
            Some(_) => {}
            None => by_algorithm.push((&part.algorithm, vec![&part.protects])),
        }
        if let Some(n) = part.iterations.filter(|n| *n > WINDOWS_MAX_ITERATIONS) {
            reasons.push(format!(
                "{n} iterations for the {} (Windows accepts at most {WINDOWS_MAX_ITERATIONS})",
                part.protects
            ));
        }
    }
    for (algorithm, uses) in by_algorithm {
        let uses = uses.join(" and the ");
        if algorithm.starts_with("PBES2") {
            reasons.push(format!("{algorithm} for the {uses} {NEWER}"));
        } else if !algorithm.starts_with("pbeWithSHAAnd") {
            reasons.push(format!(
                "{algorithm} for the {uses}, which Windows does not read"
            ));
        }
    }
    reasons
}

/// The certificates a PKCS#12 file stores outside any encrypted part (readable without the
/// password; their integrity is not checked without it), DER.
pub fn clear_certificates(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(read_layout(data)?.clear_certificates)
}

fn prf_name(prf: &pkcs8::pkcs5::pbes2::Pbkdf2Prf) -> &'static str {
    use pkcs8::pkcs5::pbes2::Pbkdf2Prf as P;
    match prf {
        P::HmacWithSha1 => "HMAC-SHA1",
        P::HmacWithSha224 => "HMAC-SHA224",
        P::HmacWithSha256 => "HMAC-SHA256",
        P::HmacWithSha384 => "HMAC-SHA384",
        P::HmacWithSha512 => "HMAC-SHA512",
        _ => "HMAC-?",
    }
}

fn hmac_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.2.7" => "HMAC-SHA1".into(),
        "1.2.840.113549.2.8" => "HMAC-SHA224".into(),
        "1.2.840.113549.2.9" => "HMAC-SHA256".into(),
        "1.2.840.113549.2.10" => "HMAC-SHA384".into(),
        "1.2.840.113549.2.11" => "HMAC-SHA512".into(),
        other => other.to_owned(),
    }
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

/// An encryption algorithm in words with its iteration count (PKCS#12 PBEs, PBES2).
pub(crate) fn describe_algorithm(
    alg: &x509_cert::spki::AlgorithmIdentifierOwned,
) -> (String, Option<u64>) {
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

/// True when a PKCS#8 key's public key equals a certificate's SubjectPublicKeyInfo.
pub fn key_matches(pkcs8: &SecretBytes, spki_der: &[u8]) -> bool {
    public_key_of(pkcs8).is_some_and(|spki| spki == spki_der)
}

/// The SubjectPublicKeyInfo DER of a PKCS#8 private key; `None` when the key cannot be read.
pub fn public_key_of(pkcs8: &SecretBytes) -> Option<Vec<u8>> {
    rcgen::KeyPair::try_from(pkcs8.expose())
        .ok()
        .map(|k| crate::pki::key::public_key_info(&k))
}

/// Counts, in unit tests, the key derivations one read asks for: MACs computed and encrypted
/// safes decrypted, by qvca or by p12-keystore (which verifies the MAC of a file it is given
/// and decrypts each encrypted safe in it).
#[cfg(test)]
mod tally {
    use std::cell::Cell;

    thread_local! {
        static MACS: Cell<usize> = const { Cell::new(0) };
        static SAFES: Cell<usize> = const { Cell::new(0) };
    }

    /// A MAC is computed.
    pub(super) fn mac() {
        MACS.with(|c| c.set(c.get() + 1));
    }

    /// An encrypted safe is decrypted.
    pub(super) fn safe() {
        SAFES.with(|c| c.set(c.get() + 1));
    }

    /// p12-keystore is given `input`: its MAC and each encrypted safe with content.
    pub(super) fn keystore_work(input: &[u8]) {
        use der::{Decode, Encode};
        let Ok(pfx) = pkcs12::Pfx::from_der(input) else {
            return;
        };
        if pfx.mac_data.is_some() {
            mac();
        }
        let safes = pfx
            .auth_safe
            .content
            .to_der()
            .ok()
            .and_then(|der| der::asn1::OctetString::from_der(&der).ok())
            .and_then(|octets| pkcs12::AuthenticatedSafe::from_der(octets.as_bytes()).ok())
            .unwrap_or_default();
        for part in safes {
            let encrypted =
                part.content.to_der().ok().and_then(|der| {
                    pkcs12::cms::encrypted_data::EncryptedData::from_der(&der).ok()
                });
            if encrypted.is_some_and(|e| e.enc_content_info.encrypted_content.is_some()) {
                safe();
            }
        }
    }

    /// The MACs and safes counted since the last call.
    pub(super) fn take() -> (usize, usize) {
        (MACS.with(|c| c.replace(0)), SAFES.with(|c| c.replace(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::KeyType;

    /// A key, its self-signed certificate and a second (root) certificate.
    fn key_and_certificates() -> (SecretBytes, Vec<u8>, Vec<u8>) {
        let certificate = |key: &rcgen::KeyPair, name: &str| {
            rcgen::CertificateParams::new(vec![name.to_owned()])
                .expect("params")
                .self_signed(key)
                .expect("signs")
                .der()
                .to_vec()
        };
        let key = KeyType::P256.generate().expect("key");
        let root = KeyType::P256.generate().expect("key");
        (
            crate::pki::key::pkcs8_der(&key),
            certificate(&key, "web01"),
            certificate(&root, "QlikViewCA"),
        )
    }

    /// qvca's own file: a key with its certificate, a trusted root and a secret.
    fn qvca_file(password: &Password, encryption: PfxEncryption, windows: bool) -> Vec<u8> {
        let (pkcs8, cert, root) = key_and_certificates();
        let contents = PfxContents {
            keys: vec![PfxKey {
                friendly_name: "web01",
                pkcs8: &pkcs8,
                cert_der: &cert,
            }],
            trusted: vec![("QlikViewCA", &root)],
            secrets: vec![("qvca-state", b"{}")],
        };
        if windows {
            write_pfx_for_windows(&contents, password, encryption).expect("writes")
        } else {
            write_pfx(&contents, password, encryption).expect("writes")
        }
    }

    #[test]
    fn a_file_is_mac_verified_once_and_its_encrypted_safe_decrypted_once() {
        for encryption in [PfxEncryption::Modern, PfxEncryption::Legacy] {
            for (password, windows) in [("pw", false), ("", false), ("pw", true)] {
                let password = Password::new(password);
                let file = qvca_file(&password, encryption, windows);
                tally::take();
                let archive =
                    read_pfx(&file, &password, "t.p12", Integrity::Required).expect("reads");
                assert_eq!(
                    tally::take(),
                    (1, 1),
                    "MACs and safe decryptions, {encryption:?} {windows}"
                );
                assert!(archive.integrity_protected);
                assert_eq!(
                    (
                        archive.keys.len(),
                        archive.certs.len(),
                        archive.secrets.len()
                    ),
                    (1, 2, 1)
                );
                assert_eq!(archive.secrets[0].bytes.expose(), b"{}");
                let wrong = read_pfx(&file, &Password::new("no"), "t.p12", Integrity::Required);
                let message = wrong
                    .err()
                    .map(|e| e.message().to_owned())
                    .unwrap_or_default();
                assert!(message.starts_with("wrong password for t.p12"), "{message}");
            }
        }
    }

    #[test]
    fn without_a_mac_the_encrypted_safe_is_still_decrypted_once() {
        let password = Password::new("pw");
        let mut pfx = pkcs12::Pfx::from_der(&qvca_file(&password, PfxEncryption::Modern, false))
            .expect("pfx");
        pfx.mac_data = None;
        let file = pfx.to_der().expect("encodes");
        tally::take();
        let archive = read_pfx(&file, &password, "t.p12", Integrity::Optional).expect("reads");
        assert_eq!(tally::take(), (0, 1));
        assert!(!archive.integrity_protected);
        assert_eq!((archive.keys.len(), archive.certs.len()), (1, 2));
        assert!(read_pfx(&file, &password, "t.p12", Integrity::Required).is_err());
    }

    #[test]
    fn p12_keystore_is_given_the_verified_file_in_the_clear_and_reads_the_same_bags() {
        let password = Password::new("pw");
        let file = qvca_file(&password, PfxEncryption::Legacy, false);
        let layout = preflight(&file, Integrity::Required, "t.p12").expect("layout");
        let reading = PfxReading {
            data: &file,
            layout: &layout,
            password: &password,
            source: "t.p12",
        };
        let mut opened = reading.open().expect("opens");
        reading
            .decrypt_encrypted_safes(&mut opened)
            .expect("decrypts");
        let clear = keystore_input(&opened).expect("encodes");
        let clear_pfx = pkcs12::Pfx::from_der(&clear).expect("pfx");
        assert!(clear_pfx.mac_data.is_none());
        let layout = read_layout(&clear).expect("layout");
        assert!(layout.parts.iter().all(|p| p.protects != ENCRYPTED_SAFE));
        let from_clear = Pkcs12Archive::from_pkcs12(&clear, "pw").expect("reads");
        let from_file = Pkcs12Archive::from_pkcs12(&file, "pw").expect("reads");
        assert_eq!(from_clear, from_file);
    }
}
