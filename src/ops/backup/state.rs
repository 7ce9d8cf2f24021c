//! The CA state a backup carries in its `qvca-state` secret bag (format 2): the index (with
//! superseded and revoked entries and their reasons), the latest CRL, the operations log, the
//! certificates and keys of entries that are no key entry of their own, and the public key of
//! every private key in the backup.

use crate::domain::secret::SecretBytes;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::pki::pkcs12::PfxArchive;
use crate::store::Index;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The friendly name of the secret bag that carries the CA state.
pub const STATE_BAG_NAME: &str = "qvca-state";
/// The version of the state format this build writes (2: with the public-key manifest).
pub(super) const STATE_FORMAT: u32 = 2;

/// A certificate (and key) of an entry that is not a key entry of its own: superseded or
/// revoked, or keyless (no key at all).
#[derive(Serialize, Deserialize)]
pub(super) struct HistoricCertificate {
    pub(super) serial: Serial,
    pub(super) cert_pem: String,
    /// PKCS#8 DER, base64; absent when the key file was already gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) key_pkcs8: Option<String>,
}

/// The SHA-256 of the public key of one private key in the backup, by certificate serial.
#[derive(Serialize, Deserialize)]
pub(super) struct KeyRecord {
    pub(super) serial: Serial,
    /// SHA-256 of the key's SubjectPublicKeyInfo DER, upper-case hex.
    pub(super) spki_sha256: String,
}

/// The CA state carried in the `qvca-state` secret bag. With the index (which records the
/// SHA-256 of every certificate) and `keys` it names every bag the backup may hold: a restore
/// accepts exactly those bags and nothing else.
#[derive(Serialize, Deserialize)]
pub(super) struct BackupState {
    pub(super) format: u32,
    pub(super) qvca_version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) created: OffsetDateTime,
    pub(super) index: Index,
    #[serde(default)]
    pub(super) historic: Vec<HistoricCertificate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) crl_pem: Option<String>,
    /// Format 2: the public key of every private key in the backup (absent in format 1).
    #[serde(default)]
    pub(super) keys: Vec<KeyRecord>,
    /// The operations log (absent in backups of older qvca versions and of CAs without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) oplog: Option<String>,
}

impl BackupState {
    /// The state as the JSON that goes into its secret bag.
    pub(super) fn to_json(&self) -> Result<SecretBytes> {
        serde_json::to_vec(self)
            .map(SecretBytes::new)
            .map_err(|e| Error::failed(format!("encoding the CA state failed: {e}")))
    }

    /// The CA state from its secret bag; any other secret bag, or a second state, is a problem.
    pub(super) fn read(archive: &PfxArchive, problems: &mut Vec<String>) -> Result<Option<Self>> {
        let mut state = None;
        for secret in &archive.secrets {
            let name = secret.friendly_name.as_deref().unwrap_or("(unnamed)");
            if name != STATE_BAG_NAME {
                problems.push(format!(
                    "it holds a secret bag {name:?} that qvca does not write: a bag was added \
                     after the backup was written"
                ));
                continue;
            }
            if state.is_some() {
                problems.push(
                    "it holds two CA states: a bag was added after the backup was written".into(),
                );
                continue;
            }
            state = Some(
                serde_json::from_slice::<Self>(secret.bytes.expose()).map_err(|e| {
                    Error::authentication(format!("the CA state in the backup is damaged: {e}"))
                })?,
            );
        }
        Ok(state)
    }

    /// Refuses a state written in a newer format than this build knows.
    pub(super) fn check_format_known(&self) -> Result<()> {
        if self.format > STATE_FORMAT {
            return Err(Error::failed(format!(
                "the backup was written by qvca {} in state format {}, which this qvca does \
                 not know: restore it with that version",
                self.qvca_version, self.format
            )));
        }
        Ok(())
    }
}

/// The SHA-256 of `bytes`, upper-case hex (as the state records public keys).
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode_upper(sha2::Sha256::digest(bytes))
}
