//! What the commands do, over an opened CA ([`ca`]): each module is one operation or a family
//! of them. Operations change the CA only through a [`ca::LockedCa`] and the [`crate::store`].

pub mod backup;
pub mod ca;
pub mod doctor;
pub mod export;
pub mod hsm;
pub mod hsm_doctor;
pub mod init;
pub mod inventory;
pub mod issue;
pub mod lifecycle;
pub mod migrate;
pub mod monitoring;
pub mod package;
pub mod passwd;
pub mod revocation;
pub mod secrets;
pub mod setup;
pub mod sign;
pub mod status;
pub mod verify;
