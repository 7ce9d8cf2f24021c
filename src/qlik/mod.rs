//! Qlik's own facts: the port tables of the seeds and Qlik's signed license keys.

pub mod license;
pub mod ports;
