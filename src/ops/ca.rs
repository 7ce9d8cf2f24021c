//! An opened CA: its store and index, lookups by name or serial, and unlocking the root key
//! for signing. Changing state requires the CA lock: only a [`LockedCa`] (from
//! [`Ca::open_for_update`]) can change the index and commit it, so a state change without the
//! lock does not compile. Reading needs no lock, because every file is replaced atomically and
//! the index is written last.

use crate::domain::kind::CertKind;
use crate::domain::secret::{Password, SecretBytes};
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::hsm::{TokenAccess, open_root_key};
use crate::pki::certificate::{CertificateDetails, parse_one_certificate};
use crate::pki::key::{KeyProtection, KeyProtector};
use crate::pki::signer::RootKey;
use crate::store::oplog::Operation;
use crate::store::{CaLock, Entry, EntryStatus, Index, Store};
use rcgen::Issuer;
use rustls_pki_types::CertificateDer;
use std::path::Path;

/// The fewest hex digits of a serial that `show`, `revoke` and the other lookups accept as a
/// prefix (what `list` shows in a narrow terminal).
pub const MIN_SERIAL_PREFIX: usize = 8;

/// A CA directory with its index loaded, for reading.
#[derive(Debug)]
pub struct Ca {
    store: Store,
    index: Index,
}

/// A CA opened under its exclusive lock, for changing it: everything a [`Ca`] offers (through
/// `Deref`) plus changing the index and committing it. The index was loaded after the lock was
/// taken, so it is the state of the CA that is in place.
#[derive(Debug)]
pub struct LockedCa {
    ca: Ca,
    lock: CaLock,
    label: Option<&'static str>,
}

/// The unlocked root: the decrypted root key, ready to sign, and the key protector for the
/// command (which holds the CA password until it is dropped).
pub struct RootSigner {
    issuer: Issuer<'static, RootKey>,
    root_der: CertificateDer<'static>,
    root: CertificateDetails,
    protector: KeyProtector,
}

impl std::fmt::Debug for RootSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootSigner")
            .field("root", &self.root.subject)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Opens the CA in `dir` for reading (no lock).
    pub fn open(dir: &Path) -> Result<Self> {
        let store = Store::at(dir);
        let index = store.load_index()?;
        Ok(Self { store, index })
    }

    /// Opens the CA in `dir` under its exclusive lock, for changing it.
    pub fn open_for_update(dir: &Path) -> Result<LockedCa> {
        let store = Store::at(dir);
        if !store.has_ca() {
            // Report "no CA" without creating the directory as a side effect.
            store.load_index()?;
        }
        let lock = store.lock()?;
        let index = store.load_index()?;
        Ok(LockedCa {
            ca: Self { store, index },
            lock,
            label: None,
        })
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// The index as loaded.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// True when private keys are encrypted under a CA password.
    pub fn is_password_protected(&self) -> bool {
        self.index.settings.key_protection == KeyProtection::Encrypted
    }

    /// The current root's index entry.
    pub fn root_entry(&self) -> Result<&Entry> {
        self.index.root().ok_or_else(|| {
            Error::failed(format!(
                "the CA index in {} has no active root; restore the CA from a backup",
                self.dir().display()
            ))
        })
    }

    /// A stored certificate in DER.
    pub fn certificate_der(&self, entry: &Entry) -> Result<CertificateDer<'static>> {
        let pem = self.store.read_cert_pem(&entry.serial)?;
        parse_one_certificate(&pem, &self.store.cert_path(&entry.serial))
    }

    /// The current root certificate in DER.
    pub fn root_der(&self) -> Result<CertificateDer<'static>> {
        self.certificate_der(self.root_entry()?)
    }

    /// Finds a certificate by name (the newest active one; `QlikViewCA` finds the root) or serial.
    /// A name that several current certificates carry (a Server and a Client both called
    /// `QVS01`) is refused, listing their serials: the caller must say which one.
    pub fn resolve(&self, name_or_serial: &str) -> Result<&Entry> {
        let index = &self.index;
        let current: Vec<&Entry> = [CertKind::Server, CertKind::Client, CertKind::Root]
            .into_iter()
            .filter_map(|kind| index.current(kind, name_or_serial))
            .collect();
        if current.len() > 1 {
            let which: Vec<String> = current
                .iter()
                .map(|e| format!("{} {} (serial {})", e.kind.description(), e.name, e.serial))
                .collect();
            return Err(Error::refused(format!(
                "{name_or_serial:?} names {} current certificates: {}; nothing was done: give \
                 the serial of the one you mean instead of the name",
                current.len(),
                which.join(", ")
            )));
        }
        let by_name = current.first().copied().or_else(|| {
            index
                .certificates
                .iter()
                .rev()
                .find(|e| e.name.eq_ignore_ascii_case(name_or_serial))
        });
        if let Some(entry) = by_name {
            return Ok(entry);
        }
        if let Ok(serial) = name_or_serial.parse::<Serial>()
            && let Some(entry) = index.by_serial(&serial)
        {
            return Ok(entry);
        }
        if let Some(entry) = self.by_serial_prefix(name_or_serial)? {
            return Ok(entry);
        }
        Err(Error::not_found(format!(
            "no certificate named or numbered {name_or_serial:?} in this CA; `qvca list --all` \
             shows every name and serial"
        )))
    }

    /// The certificate whose serial starts with `prefix` (at least [`MIN_SERIAL_PREFIX`] hex
    /// digits, any case, colons allowed), as `list` shows them shortened; an ambiguous prefix is
    /// refused listing the candidates.
    fn by_serial_prefix(&self, prefix: &str) -> Result<Option<&Entry>> {
        let digits: String = prefix
            .trim_end_matches('…')
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_uppercase();
        if digits.len() < MIN_SERIAL_PREFIX || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let found: Vec<&Entry> = self
            .index
            .certificates
            .iter()
            .filter(|e| e.serial.to_hex().starts_with(&digits))
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            many => Err(Error::refused(format!(
                "the serial prefix {digits} matches {} certificates ({}); give more digits",
                many.len(),
                many.iter()
                    .map(|e| format!("{} {}", e.name, e.serial))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Decrypts the root key (asking for the CA password only if the CA has one) and checks
    /// that it belongs to the root certificate. A CA whose root key is in a PKCS#11 token needs
    /// [`Ca::unlock_with`].
    pub fn unlock(&self, password: &dyn Fn() -> Result<Password>) -> Result<RootSigner> {
        self.unlock_with(password, None)
    }

    /// Like [`Ca::unlock`]; when the root key lives in a PKCS#11 token, `token` says how to
    /// reach it (module, PIN): the token is logged in to and its key must sign for the root
    /// certificate ([`crate::ops::hsm::open_root_key`]). Leaf keys stay under the CA password.
    pub fn unlock_with(
        &self,
        password: &dyn Fn() -> Result<Password>,
        token: Option<&TokenAccess<'_>>,
    ) -> Result<RootSigner> {
        let protector = if self.is_password_protected() {
            KeyProtector::encrypted(password()?)
        } else {
            KeyProtector::unprotected()
        };
        let root_entry = self.root_entry()?;
        let root_der = self.certificate_der(root_entry)?;
        let root = CertificateDetails::from_der(&root_der)?;
        if let Some(location) = &self.index.settings.root_key {
            // No root key file to prove the CA password: check it on a stored leaf key before
            // the token is touched, so that a mistyped password never seals new keys.
            self.check_password_on_a_leaf_key(&protector)?;
            let key = open_root_key(
                location,
                token,
                &root.spki_der,
                &root_entry.serial.to_string(),
            )?;
            let issuer = root_issuer(&root_der, key)?;
            return Ok(RootSigner {
                issuer,
                root_der,
                root,
                protector,
            });
        }
        let key_path = self.store.key_path(&root_entry.serial);
        let key_pem = self.store.read_key_pem(&root_entry.serial)?;
        let pkcs8 = protector.open(key_pem.expose(), &key_path)?;
        let key = RootKey::from_pkcs8(pkcs8, &key_path)?;
        key.check_matches(&root.spki_der, || {
            Error::failed(format!(
                "the root key {} does not belong to the root certificate; the CA is damaged: \
                 restore it from a backup",
                key_path.display()
            ))
        })?;
        let issuer = root_issuer(&root_der, key)?;
        Ok(RootSigner {
            issuer,
            root_der,
            root,
            protector,
        })
    }

    /// Like [`Ca::unlock_with`], with the root key already opened in its token (`doctor` opens
    /// it while checking the token, [`crate::ops::hsm_doctor`]): the CA password is checked on
    /// a stored leaf key, and `key` must sign for the root certificate.
    pub fn unlock_with_root_key(
        &self,
        password: &dyn Fn() -> Result<Password>,
        key: RootKey,
    ) -> Result<RootSigner> {
        let protector = if self.is_password_protected() {
            KeyProtector::encrypted(password()?)
        } else {
            KeyProtector::unprotected()
        };
        self.check_password_on_a_leaf_key(&protector)?;
        let root_der = self.root_der()?;
        let root = CertificateDetails::from_der(&root_der)?;
        key.check_matches(&root.spki_der, || {
            Error::failed("the root key given is not the key of the root certificate")
        })?;
        let issuer = root_issuer(&root_der, key)?;
        Ok(RootSigner {
            issuer,
            root_der,
            root,
            protector,
        })
    }

    /// Opens the newest stored leaf key with `protector`: a wrong CA password is an
    /// authentication error (exit 4). Nothing to check without a password or without keys.
    fn check_password_on_a_leaf_key(&self, protector: &KeyProtector) -> Result<()> {
        if protector.protection() != KeyProtection::Encrypted {
            return Ok(());
        }
        let stored = self.index.certificates.iter().rev().find(|e| {
            !e.keyless && e.kind != CertKind::Root && self.store.key_path(&e.serial).is_file()
        });
        if let Some(entry) = stored {
            let pem = self.store.read_key_pem(&entry.serial)?;
            protector.open(pem.expose(), &self.store.key_path(&entry.serial))?;
        }
        Ok(())
    }

    /// Opens the private key of `entry` with the command's key protector (PKCS#8 DER). A
    /// keyless entry has none: refused with [`keyless_refusal`].
    pub fn open_key(&self, signer: &RootSigner, entry: &Entry) -> Result<SecretBytes> {
        if entry.keyless {
            return Err(keyless_refusal(entry));
        }
        if entry.kind == CertKind::Root
            && let Some(location) = &self.index.settings.root_key
        {
            return Err(Error::refused(format!(
                "the root key lives in a PKCS#11 token ({location}) and never leaves it: it \
                 cannot be exported or copied; back it up with the HSM's own means (see \
                 docs/hsm.md)"
            )));
        }
        let pem = self.store.read_key_pem(&entry.serial)?;
        signer
            .protector
            .open(pem.expose(), &self.store.key_path(&entry.serial))
    }

    /// Entries that are active and within their validity at `now`, of one kind.
    pub fn usable(&self, kind: CertKind, now: time::OffsetDateTime) -> Vec<&Entry> {
        self.index
            .current_entries()
            .into_iter()
            .filter(|e| e.kind == kind && e.is_usable_at(now))
            .collect()
    }
}

impl std::ops::Deref for LockedCa {
    type Target = Ca;

    fn deref(&self) -> &Ca {
        &self.ca
    }
}

impl LockedCa {
    /// The index, for a state change that [`LockedCa::commit`] then writes.
    pub fn index_mut(&mut self) -> &mut Index {
        &mut self.ca.index
    }

    /// Writes the index: the commit point of a state change, with `op` appended to the
    /// operations log first ([`crate::store::oplog`]). An operation that changes nothing in
    /// the index (an export of a key) commits too, to log it.
    pub fn commit(&mut self, op: &Operation) -> Result<()> {
        self.ca.store.save_index(&mut self.ca.index, &self.lock, op)
    }

    /// Writes the index as an intermediate step of an operation that ends with
    /// [`LockedCa::commit`] (no log record of its own).
    pub fn commit_step(&mut self) -> Result<()> {
        self.ca.store.save_index_step(&self.ca.index, &self.lock)
    }

    /// The command an operation of the library logs under, when its caller names it
    /// (`renew`, `sign`, `setup` run `issue`'s batch); `None`: the library's own name.
    pub fn operation_label(&self) -> Option<&'static str> {
        self.label
    }

    /// Names the command the next commits log under (see [`LockedCa::operation_label`]).
    pub fn set_operation_label(&mut self, label: &'static str) {
        self.label = Some(label);
    }

    /// Removes the key file of `serial` under the CA lock ([`Store::remove_key`]): for a root
    /// key that now lives in a PKCS#11 token (`hsm migrate`), after the index says so.
    pub fn remove_key_file(&self, serial: &Serial) -> Result<()> {
        self.ca.store.remove_key(serial, &self.lock)
    }

    /// Marks `old` superseded by `new` (renewal or forced re-issue).
    pub fn supersede(&mut self, old: &Serial, new: &Serial) {
        if let Some(entry) = self.ca.index.by_serial_mut(old)
            && entry.status == EntryStatus::Active
        {
            entry.status = EntryStatus::Superseded;
            entry.superseded_by = Some(new.clone());
        }
    }
}

/// The refusal of anything that needs the private key of a keyless certificate (export pfx,
/// the license-service export, package, renew): the key lives on the node and the CA never
/// held it (exit 1).
pub fn keyless_refusal(entry: &Entry) -> Error {
    Error::failed(format!(
        "the key of {} {} (serial {}) lives on the node (keyless: its certificate was signed \
         from the node's request with `qvca sign`); the CA never held it, so it cannot export, \
         package or renew it: on the node, make a new request and sign it with `qvca sign`, or \
         issue a certificate with a CA-held key with `qvca issue {} {} --force`",
        entry.kind.description(),
        entry.name,
        entry.serial,
        entry.kind.description().to_lowercase(),
        entry.name
    ))
}

/// An rcgen issuer for the root certificate and its key.
fn root_issuer(root_der: &CertificateDer<'_>, key: RootKey) -> Result<Issuer<'static, RootKey>> {
    Issuer::from_ca_cert_der(root_der, key).map_err(|e| {
        Error::failed(format!(
            "the root certificate cannot be used for signing: {e}"
        ))
    })
}

impl RootSigner {
    /// The rcgen issuer that signs with the root key.
    pub fn issuer(&self) -> &Issuer<'static, RootKey> {
        &self.issuer
    }

    /// The root's key (what signs).
    pub fn root_key(&self) -> &RootKey {
        self.issuer.key()
    }

    /// The root certificate in DER.
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// The root certificate's details.
    pub fn root(&self) -> &CertificateDetails {
        &self.root
    }

    /// A signer for a renewed root certificate with the same key (no password needed again).
    pub fn with_root_certificate(&self, root_der: Vec<u8>) -> Result<RootSigner> {
        let root = CertificateDetails::from_der(&root_der)?;
        let key = self.root_key().clone();
        key.check_matches(&root.spki_der, || {
            Error::failed("the renewed root does not carry the root's key")
        })?;
        let root_der = CertificateDer::from(root_der);
        let issuer = root_issuer(&root_der, key)?;
        Ok(RootSigner {
            issuer,
            root_der,
            root,
            protector: self.protector.clone(),
        })
    }

    /// The key protector of this command (seals new keys, opens stored ones).
    pub fn protector(&self) -> &KeyProtector {
        &self.protector
    }
}
