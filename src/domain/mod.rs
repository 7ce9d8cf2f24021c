//! Checked values of the CA's domain. Constructing one is the check: a value of these types
//! came through its rule, whatever its source (arguments, lists, templates, indexes read back,
//! backups, certificates).

pub mod kind;
pub mod name;
pub mod reason;
pub mod secret;
pub mod serial;
pub mod subject;
