//! Certificate serial numbers: random, positive, at most 20 octets (RFC 5280 4.1.2.2),
//! written as upper-case hex without separators (what `openssl x509 -serial` prints).

use crate::error::{Error, Result};
use rand::Rng;
use std::fmt;
use std::str::FromStr;

/// How many random octets a new serial has: 127 bits of entropy, well above the 64 that the
/// CA/Browser Forum asks for, and (with the top bit clear) never more than 16 octets in DER.
const SERIAL_OCTETS: usize = 16;
/// RFC 5280: conforming CAs must not use serial numbers longer than 20 octets.
const MAX_SERIAL_OCTETS: usize = 20;

/// A certificate serial number: the big-endian bytes of a positive integer, without leading zeros.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh random serial: 16 octets, top bit clear (so it is positive), first octet non-zero.
    pub fn random() -> Self {
        let mut bytes = [0u8; SERIAL_OCTETS];
        rand::rng().fill_bytes(&mut bytes);
        bytes[0] = (bytes[0] & 0x7f).max(1);
        Self(bytes.to_vec())
    }

    /// A serial from the big-endian bytes of a DER INTEGER (a leading 0x00 sign octet is dropped).
    pub fn from_be_bytes(bytes: &[u8]) -> Result<Self> {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        if trimmed.is_empty() || trimmed.len() > MAX_SERIAL_OCTETS {
            return Err(Error::failed(format!(
                "serial number of {} octets: RFC 5280 allows 1 to {MAX_SERIAL_OCTETS}",
                trimmed.len()
            )));
        }
        Ok(Self(trimmed))
    }

    /// The big-endian bytes, without a sign octet.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case hex, no separators.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl FromStr for Serial {
    type Err = Error;

    /// Parses hex as openssl (`1A:2B`), Windows (`1a 2b`) or qvca (`1A2B`) print it.
    fn from_str(s: &str) -> Result<Self> {
        let digits: String = s
            .trim()
            .trim_start_matches("0x")
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect();
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits
        };
        let bytes = hex::decode(&padded).map_err(|_| {
            Error::usage(format!(
                "{s:?} is not a serial number: give it in hex as `qvca list` shows it"
            ))
        })?;
        Self::from_be_bytes(&bytes)
    }
}

impl serde::Serialize for Serial {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_and_short_enough() {
        for _ in 0..1000 {
            let serial = Serial::random();
            assert!(serial.as_bytes()[0] & 0x80 == 0);
            assert!(serial.as_bytes()[0] != 0);
            assert!(serial.as_bytes().len() <= MAX_SERIAL_OCTETS);
        }
    }

    #[test]
    fn serials_parse_in_every_common_notation() {
        let serial: Serial = "1A:2B:3C".parse().expect("colons");
        assert_eq!(serial.to_hex(), "1A2B3C");
        assert_eq!("1a2b3c".parse::<Serial>().expect("lower"), serial);
        assert_eq!("00 1a 2b 3c".parse::<Serial>().expect("spaces"), serial);
        assert!("xyz".parse::<Serial>().is_err());
        assert!("00".parse::<Serial>().is_err());
        assert!("01".repeat(21).parse::<Serial>().is_err());
    }
}
