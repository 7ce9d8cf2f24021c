//! Why a certificate was revoked: the RFC 5280 (5.3.1) reason codes `revoke --reason` takes.
//!
//! A [`RevocationReason`] is stored in the CA index and written on the CRL; in the index and in
//! JSON reports it is the RFC 5280 name (`keyCompromise`), exactly as before there was a type.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A reason for revoking a certificate (the ones `revoke --reason` offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RevocationReason {
    /// The certificate's private key was exposed.
    KeyCompromise,
    /// A newer certificate replaces it.
    Superseded,
    /// The service it identified is gone.
    CessationOfOperation,
    /// The subject's name or affiliation changed.
    AffiliationChanged,
    /// No reason given (the default).
    #[default]
    Unspecified,
}

impl RevocationReason {
    /// Every reason, in the order messages list them.
    pub const ALL: [RevocationReason; 5] = [
        RevocationReason::KeyCompromise,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::AffiliationChanged,
        RevocationReason::Unspecified,
    ];

    /// The RFC 5280 name (`keyCompromise`): what the index, JSON and messages carry.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Unspecified => "unspecified",
        }
    }
}

impl FromStr for RevocationReason {
    type Err = Error;

    /// Parses a reason by its RFC 5280 name, in any case; anything else is a usage error
    /// listing the names.
    fn from_str(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                Error::usage(format!(
                    "unknown revocation reason {text:?}: use one of {}",
                    Self::ALL.map(Self::as_str).join(", ")
                ))
            })
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RevocationReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RevocationReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|e: Error| serde::de::Error::custom(e.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_the_rfc_5280_names_case_insensitively() {
        assert_eq!(
            "keycompromise".parse::<RevocationReason>().expect("ok"),
            RevocationReason::KeyCompromise
        );
        for reason in RevocationReason::ALL {
            assert_eq!(
                reason.as_str().parse::<RevocationReason>().expect("ok"),
                reason
            );
        }
    }

    #[test]
    fn an_unknown_reason_is_a_usage_error_listing_the_names() {
        let e = "because".parse::<RevocationReason>().expect_err("refused");
        assert_eq!(e.kind(), crate::ErrorKind::Usage);
        assert_eq!(
            e.message(),
            "unknown revocation reason \"because\": use one of keyCompromise, superseded, \
             cessationOfOperation, affiliationChanged, unspecified"
        );
    }

    #[test]
    fn the_index_and_json_carry_the_rfc_5280_names() {
        for reason in RevocationReason::ALL {
            let json = serde_json::to_string(&reason).expect("serialize");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(
                serde_json::from_str::<RevocationReason>(&json).expect("deserialize"),
                reason
            );
        }
        assert!(serde_json::from_str::<RevocationReason>("\"because\"").is_err());
    }
}
