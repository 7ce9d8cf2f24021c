//! The one error type of the library.
//!
//! Every failure carries an [`ErrorKind`] that says how a caller should react (the CLI maps
//! it to SPEC.md's exit codes in one place) and a message written for a person: what went
//! wrong, with which file or name, and what to do next. Messages never contain secrets.

use std::fmt;
use std::path::Path;

/// How a failure should be treated by a caller; the CLI maps each kind to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Anything that went wrong and is not one of the kinds below (exit 1).
    Failed,
    /// The request itself is malformed in a way the argument parser could not see (exit 2).
    Usage,
    /// Refused: the thing exists already, or the operation would overwrite it (exit 3).
    Refused,
    /// A wrong password, or an integrity or authentication check failed (exit 4).
    Authentication,
    /// A verification or health check found problems (exit 5).
    Verification,
    /// Not found: no CA, an unknown name or serial (exit 6).
    NotFound,
}

/// A library failure: its kind and a message for a person.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failure of the given kind with a message that says what is wrong and what to do.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A general failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    /// A refusal: it exists already or would be overwritten (exit 3).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }

    /// A wrong password or failed integrity check (exit 4).
    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Authentication, message)
    }

    /// A verification or health check that found problems (exit 5).
    pub fn verification(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Verification, message)
    }

    /// Something asked for does not exist (exit 6).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A request that cannot be carried out as given (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// An I/O failure on `path`, with the operation that failed ("reading", "writing", ...).
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Self {
        let advice = match err.kind() {
            std::io::ErrorKind::PermissionDenied => {
                " (permission denied: run qvca as the account that owns the CA directory)"
            }
            std::io::ErrorKind::StorageFull => " (the disk is full: free some space and retry)",
            std::io::ErrorKind::ReadOnlyFilesystem => {
                " (the file system is read-only: use a writable --ca-dir)"
            }
            _ => "",
        };
        let kind = if err.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::NotFound
        } else {
            ErrorKind::Failed
        };
        Self {
            kind,
            message: format!("{action} {}: {err}{advice}", path.display()),
            source: Some(Box::new(err)),
        }
    }

    /// Attaches the underlying error for callers that want the chain.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// How this failure should be treated.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message for a person.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
