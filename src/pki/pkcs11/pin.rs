//! The token user PIN: zeroized on drop, never printed, in the style of
//! [`crate::domain::secret::Password`]. Where it comes from (`--pin-file`, `pin-source=file:`
//! in the URI, `QVCA_PKCS11_PIN`, a prompt) is the CLI's business; there is deliberately no way
//! to take a PIN from a URI's `pin-value`.

use crate::error::{Error, Result};
use std::fmt;
use zeroize::Zeroizing;

/// The longest PIN accepted; PKCS#11 tokens allow far less (SoftHSM2: 255).
pub const MAX_PIN_LEN: usize = 1024;

/// A token user PIN: zeroized on drop; `Debug` prints `Pin([redacted])`.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Wraps a PIN; refuses an empty one or one longer than [`MAX_PIN_LEN`] (exit 2).
    pub fn new(value: impl Into<String>) -> Result<Self> {
        let pin = Zeroizing::new(value.into());
        if pin.is_empty() {
            return Err(Error::usage(
                "the token PIN is empty: give the user PIN of the token (with --pin-file FILE, \
                 pin-source=file: in the URI, QVCA_PKCS11_PIN, or at the prompt)",
            ));
        }
        if pin.len() > MAX_PIN_LEN {
            return Err(Error::usage(format!(
                "the token PIN is longer than {MAX_PIN_LEN} bytes: check that the PIN file holds \
                 only the PIN on its first line"
            )));
        }
        Ok(Self(pin))
    }

    /// Takes the first line of a PIN file's contents, without its line ending.
    pub fn from_file_contents(contents: &str) -> Result<Self> {
        let line = contents.split('\n').next().unwrap_or("");
        Self::new(line.strip_suffix('\r').unwrap_or(line))
    }

    /// The PIN itself, for handing to `C_Login`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn debug_never_shows_the_pin() {
        let pin = Pin::new("123456").expect("valid pin");
        assert_eq!(format!("{pin:?}"), "Pin([redacted])");
    }

    #[test]
    fn a_pin_file_gives_its_first_line_without_line_ending() {
        let pin = Pin::from_file_contents("s3cret\r\nsecond line\n").expect("valid pin");
        assert_eq!(pin.expose(), "s3cret");
    }

    #[test]
    fn an_empty_or_huge_pin_is_a_usage_error() {
        let err = Pin::from_file_contents("\n").expect_err("empty pin");
        assert_eq!(err.kind(), ErrorKind::Usage);
        let err = Pin::new("1".repeat(MAX_PIN_LEN + 1)).expect_err("too long");
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(!err.message().contains("1111"), "{err}");
    }
}
