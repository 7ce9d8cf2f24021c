//! The exit codes of SPEC.md, in one place.

use qvca::ErrorKind;

/// Success.
pub const SUCCESS: u8 = 0;
/// Any other error.
pub const ERROR: u8 = 1;
/// A usage error (a bad command line).
pub const USAGE: u8 = 2;
/// Refused: it exists already, or it would overwrite.
pub const REFUSED: u8 = 3;
/// A wrong password, or an integrity or authentication check failed.
pub const AUTHENTICATION: u8 = 4;
/// A verification or health check found problems.
pub const PROBLEMS_FOUND: u8 = 5;
/// Not found: no CA, an unknown name or serial.
pub const NOT_FOUND: u8 = 6;

/// The exit code for a library error kind.
pub fn code_for(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Failed => ERROR,
        ErrorKind::Usage => USAGE,
        ErrorKind::Refused => REFUSED,
        ErrorKind::Authentication => AUTHENTICATION,
        ErrorKind::Verification => PROBLEMS_FOUND,
        ErrorKind::NotFound => NOT_FOUND,
    }
}

/// The exit code for an error reaching `main`, by its kind.
pub fn code_for_error(error: &qvca::Error) -> u8 {
    code_for(error.kind())
}
