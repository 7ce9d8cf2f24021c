//! The entries of a PKCS#12 file as `inspect` lists them: keys with their certificates, other
//! certificates, secrets.

use super::CertificateReport;
use crate::error::Result;
use crate::pki::pkcs12::{PfxArchive, key_matches};
use serde::Serialize;

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
    pub certificate: Option<CertificateReport>,
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
        let details = cert.map(|c| CertificateReport::read(&c.der)).transpose()?;
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
            certificate: Some(CertificateReport::read(&cert.der)?),
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
