//! The exit codes of SPEC.md, in one place.

use qvca::ErrorKind;

/// Success.
pub const SUCCESS: u8 = 0;
/// A verification or health check found problems.
pub const PROBLEMS_FOUND: u8 = 5;
/// Refused: it exists already, or it would overwrite.
pub const REFUSED: u8 = 3;
/// Any other error.
pub const ERROR: u8 = 1;

/// The exit code for a library error kind.
pub fn code_for(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Failed => 1,
        ErrorKind::Usage => 2,
        ErrorKind::Refused => 3,
        ErrorKind::Authentication => 4,
        ErrorKind::Verification => 5,
        ErrorKind::NotFound => 6,
    }
}

/// The exit code for any error reaching `main`: library errors by kind, everything else 1.
pub fn code_for_error(error: &anyhow::Error) -> u8 {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<qvca::Error>())
        .map_or(ERROR, |e| code_for(e.kind()))
}
