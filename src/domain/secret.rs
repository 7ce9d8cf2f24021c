//! Types for secrets: passwords and secret bytes that are zeroized when dropped and never
//! printed. Reading a secret's value is always an explicit `expose()`.

use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// A password (CA password or PKCS#12 password): zeroized on drop, `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password; the caller's copy should be a `Zeroizing` too.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// Takes the first line of a password file's contents (without its line ending).
    pub fn from_file_contents(contents: &str) -> Self {
        let line = contents.split('\n').next().unwrap_or("");
        Self::new(line.strip_suffix('\r').unwrap_or(line))
    }

    /// The password itself, for handing to a KDF.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the password is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// Secret bytes (a decrypted private key, a SecretsKey, a plaintext): zeroized on drop.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps bytes that are secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes themselves.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(value: Zeroizing<Vec<u8>>) -> Self {
        Self(value)
    }
}

impl Zeroize for SecretBytes {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {}])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password() {
        let password = Password::new("hunter2-distinctive");
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn a_password_file_contributes_only_its_first_line() {
        assert_eq!(
            Password::from_file_contents("s3cret\r\nsecond").expose(),
            "s3cret"
        );
        assert_eq!(Password::from_file_contents("only").expose(), "only");
        assert!(Password::from_file_contents("\nx").is_empty());
    }
}
