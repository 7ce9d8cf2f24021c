//! `qvca hsm migrate --key URI`: moving a file-key CA's root key into a PKCS#11 token, keeping
//! the root certificate (and so every certificate it signed, the CRLs and the key id of the
//! SecretsKey).
//!
//! The order makes every interruption harmless and every run repeatable:
//!
//! 1. Under the CA lock, the root is unlocked with the CA password (its key file), and the files
//!    named for `--rewrap` are read.
//! 2. In the token: the key is imported as sensitive, never extractable and sign-only
//!    ([`crate::pki::pkcs11::import`], which checks the public key read back and a signature);
//!    a key the token already holds under that label is taken only when it is this root's key
//!    (a run interrupted after the import). The SecretsKey (version 2) is found or made next
//!    to it.
//! 3. Before anything is recorded: the key, found again through the location the index will
//!    record (as every later command finds it), must sign for the root certificate; the
//!    version-1 SecretsKey is escrowed under the version-2 one (and the escrow opened again);
//!    every token in the `--rewrap` files is opened and sealed again in memory. A failure here
//!    removes from the token what this run made, and nothing changed.
//! 4. The index records where the key lives (the commit point, logged as `hsm migrate`).
//! 5. The `--rewrap` files are rewritten, each atomically (a file that cannot be written is
//!    reported: its tokens still open through the escrow, and `secrets rewrap` moves them
//!    later).
//! 6. The root key files (the root's, and those of renewed roots with the same key) are
//!    removed, under the lock, now that the token key is proven and recorded.
//!
//! A crash before 4 leaves the file-key CA as it was (perhaps with the key already in the
//! token, which the next run takes); a crash after it leaves a CA whose root key is in the
//! token, perhaps with files not yet rewritten and the key file still there: running `hsm
//! migrate` again finishes (rewraps, removes the key file).

use crate::domain::kind::CertKind;
use crate::domain::secret::SecretBytes;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::ca::{LockedCa, RootSigner};
use crate::ops::hsm::{
    PinRequest, TokenAccess, check_key_request, in_token_session, open_token_key,
    secrets_key_or_undo,
};
use crate::pki::certificate::CertificateDetails;
use crate::pki::pkcs11::location::{TokenKeyLocation, connect_timeout};
use crate::pki::pkcs11::pool::{PoolOptions, SessionPool};
use crate::pki::pkcs11::public_key::PublicKey;
use crate::pki::pkcs11::signer::TokenKey;
use crate::pki::pkcs11::token::{
    KeyObject, KeySelector, TokenDescription, TokenSelector, UserSession,
};
use crate::pki::pkcs11::uri::Pkcs11Uri;
use crate::secrets::hsm::HsmSecretsKey;
use crate::secrets::{CaSecretsKey, RewrapSummary, SecretsKey, escrow_v1, rewrap_tokens};
use crate::store::Entry;
use crate::store::oplog::Operation;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `hsm migrate` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct MigrateRequest<'a> {
    /// The URI of the key in the token: the token, and `object=` the label the imported key
    /// gets (no `id=`: the key gets a random id).
    pub uri: &'a Pkcs11Uri,
    /// Files whose `qvca:v1:` tokens of this root are rewrapped to `qvca:v2:` in the same step.
    pub rewrap: &'a [PathBuf],
    /// The contexts those tokens were made for (each token keeps the one it opens under).
    pub contexts: &'a [String],
}

/// One `--rewrap` file rewritten.
#[derive(Debug, Clone, Serialize)]
pub struct RewrappedFile {
    /// The file.
    pub file: PathBuf,
    /// Tokens moved from version 1 to version 2.
    pub rewrapped: usize,
    /// Tokens already version 2 of this CA, left as they were.
    pub already_current: usize,
}

/// A `--rewrap` file that could not be rewritten after the migration was recorded (its tokens
/// still open through the escrowed key; `secrets rewrap --in FILE --in-place` moves them).
#[derive(Debug, Clone, Serialize)]
pub struct NotRewritten {
    /// The file.
    pub file: PathBuf,
    /// Why.
    pub problem: String,
}

/// What `hsm migrate` did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// The CA directory.
    pub ca_dir: PathBuf,
    /// The root certificate kept (serial).
    pub root_serial: Serial,
    /// The URI the CA directory records (no PIN source).
    pub uri: String,
    /// The token's label.
    pub token_label: String,
    /// The token's serial number.
    pub token_serial: String,
    /// The key's label in the token.
    pub key_label: String,
    /// The key's id, in hex.
    pub key_id: String,
    /// True when this run imported the key; false when the token held it already (a run that
    /// was interrupted, or one that only finished an interrupted migration).
    pub imported: bool,
    /// The label of the SecretsKey object (version 2).
    pub secrets_key_label: String,
    /// True when this run made the SecretsKey.
    pub secrets_key_generated: bool,
    /// True when the version-1 SecretsKey is escrowed under version 2 in the index.
    pub v1_escrowed: bool,
    /// The `--rewrap` files rewritten.
    pub files: Vec<RewrappedFile>,
    /// The `--rewrap` files that could not be rewritten (their tokens still open).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_rewritten: Vec<NotRewritten>,
    /// The root key files removed.
    pub key_files_removed: Vec<PathBuf>,
    /// True when the index already placed the root key in the token: this run finished what an
    /// earlier (interrupted) migration left (files to rewrap, root key files to remove).
    pub finished_interrupted: bool,
}

/// A `--rewrap` file read, then rewrapped in memory.
struct Pending {
    file: PathBuf,
    text: SecretBytes,
    rewrapped: Option<(SecretBytes, RewrapSummary)>,
}

/// What the token step made or found.
struct Placed {
    key: TokenKey,
    object: KeyObject,
    token: TokenDescription,
    imported: bool,
    secrets_label: String,
    secrets_generated: bool,
}

/// Moves the root key of the file-key CA `ca` (unlocked as `signer`) into the token
/// `request.uri` names: see the module documentation for the steps.
pub fn migrate(
    ca: &mut LockedCa,
    signer: &RootSigner,
    request: &MigrateRequest<'_>,
    access: &TokenAccess<'_>,
) -> Result<MigrateReport> {
    if ca.index().settings.root_key.is_some() {
        return finish_migration(ca, request, access);
    }
    let (module, label) = check_request(request, access)?;
    let pkcs8 = signer.root_key().key_material().cloned().ok_or_else(|| {
        Error::failed("the root key is not a key file, so there is nothing to move into a token")
    })?;
    let root_spki = signer.root().spki_der.clone();
    let root_entry = ca.root_entry()?.clone();
    let v1 = SecretsKey::derive(&pkcs8, &root_spki)?;
    let mut pending = read_files(request.rewrap)?;

    let tokens = TokenSelector::from_uri(request.uri);
    let pin = (access.pin)(&PinRequest {
        token: tokens.to_string(),
        pin_source: request.uri.pin_source(),
    })?;
    let expected = PublicKey::from_spki_der(&root_spki)?;
    let placed = place_key(&module, tokens, &pin, &expected, pkcs8, label)?;
    crate::store::crash_point("migrate-after-import");

    let prepared = prepare(
        request,
        &placed,
        &module,
        &pin,
        &expected,
        &root_spki,
        &v1,
        &mut pending,
    );
    let (location, secrets) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            undo(&placed);
            return Err(e);
        }
    };

    record_location(ca, &location, &root_entry)?;
    drop(secrets);

    let (files, not_rewritten) = write_files(pending);
    crate::store::crash_point("migrate-before-key-removal");
    let key_files_removed = remove_root_key_files(ca, &root_spki)?;
    let token_step = TokenStep {
        imported: placed.imported,
        secrets_key_label: placed.secrets_label.clone(),
        secrets_key_generated: placed.secrets_generated,
    };
    let done = AfterCommit {
        files,
        not_rewritten,
        key_files_removed,
    };
    Ok(report(
        ca,
        root_entry.serial,
        &location,
        token_step,
        done,
        false,
    ))
}

/// Step 4 of the module documentation, the commit point: the index records where the root
/// key lives (logged as `hsm migrate`).
fn record_location(
    ca: &mut LockedCa,
    location: &TokenKeyLocation,
    root_entry: &Entry,
) -> Result<()> {
    ca.index_mut().settings.root_key = Some(location.clone());
    ca.commit(
        &Operation::new("hsm migrate").with_certificate(&root_entry.serial, &root_entry.name),
    )?;
    crate::store::crash_point("migrate-after-commit");
    Ok(())
}

/// Step 2 of the module documentation, within the connect time limit: see
/// [`place_in_session`].
fn place_key(
    module: &Path,
    tokens: TokenSelector,
    pin: &crate::pki::pkcs11::pin::Pin,
    expected: &PublicKey,
    pkcs8: SecretBytes,
    label: String,
) -> Result<Placed> {
    let wanted = expected.clone();
    in_token_session(module, tokens, pin.clone(), move |session| {
        place_in_session(session, &label, &wanted, &pkcs8)
    })
}

/// In the logged-in `session`: imports the root key as `label` (or takes this root's key the
/// token already holds under that label, refusing another key), then finds or makes the
/// SecretsKey next to it; a failure there removes the key this run imported.
fn place_in_session(
    session: UserSession,
    label: &str,
    wanted: &PublicKey,
    pkcs8: &SecretBytes,
) -> Result<Placed> {
    let (object, imported) = match session.find_private_key_if_any(&KeySelector::by_label(label))? {
        Some(found) if found.public_key() == wanted => (found, false),
        Some(found) => {
            return Err(Error::refused(format!(
                "the token ({}) already holds a private key labelled {label:?} (id {}) that \
                 is not this CA's root key; nothing was changed: name the imported key \
                 with another object= label",
                session.token().description(),
                hex::encode(found.id())
            )));
        }
        None => {
            // Refuse a token that cannot hold the SecretsKey before anything is made.
            session.check_secrets_key_support()?;
            (session.import_pkcs8(pkcs8.expose(), label)?, true)
        }
    };
    let (secrets_label, secrets_generated) = secrets_key_or_undo(&session, &object, imported)?;
    let token = session.token().description().clone();
    let pool = SessionPool::new(session, &PoolOptions::default())?;
    Ok(Placed {
        key: TokenKey::new(pool, &object)?,
        object,
        token,
        imported,
        secrets_label,
        secrets_generated,
    })
}

/// What a run did in the token, as the report states it.
struct TokenStep {
    imported: bool,
    secrets_key_label: String,
    secrets_key_generated: bool,
}

/// What the steps after the commit did (steps 5 and 6 of the module documentation).
struct AfterCommit {
    files: Vec<RewrappedFile>,
    not_rewritten: Vec<NotRewritten>,
    key_files_removed: Vec<PathBuf>,
}

/// The report of a run: where the key lives (`location`) and what each step did.
fn report(
    ca: &LockedCa,
    root_serial: Serial,
    location: &TokenKeyLocation,
    token_step: TokenStep,
    done: AfterCommit,
    finished_interrupted: bool,
) -> MigrateReport {
    MigrateReport {
        ca_dir: ca.dir().to_owned(),
        root_serial,
        uri: location.uri().to_string(),
        token_label: location.token_label().to_owned(),
        token_serial: location.token_serial().to_owned(),
        key_label: location.key_label().to_owned(),
        key_id: hex::encode(location.key_id()),
        imported: token_step.imported,
        secrets_key_label: token_step.secrets_key_label,
        secrets_key_generated: token_step.secrets_key_generated,
        v1_escrowed: location.secrets_v1_escrow().is_some(),
        files: done.files,
        not_rewritten: done.not_rewritten,
        key_files_removed: done.key_files_removed,
        finished_interrupted,
    }
}

/// The checks before anything is touched: the URI names the new key by `object=` and not by
/// `id=`, and one module is named. Returns the module and the label.
fn check_request(
    request: &MigrateRequest<'_>,
    access: &TokenAccess<'_>,
) -> Result<(PathBuf, String)> {
    let (module, selector) = check_key_request(request.uri, access)?;
    let Some(label) = selector.label else {
        return Err(Error::usage(
            "the URI does not say what to call the key in the token: add object=LABEL (e.g. \
             pkcs11:token=qvca;object=qvca-root)",
        ));
    };
    if selector.id.is_some() {
        return Err(Error::usage(
            "qvca gives the imported key a random id: leave id= out of the URI",
        ));
    }
    Ok((module, label))
}

/// Step 3 of the module documentation: the proofs and the work in memory before the commit.
/// Returns the location to record and the CA's new SecretsKey.
#[allow(clippy::too_many_arguments)]
fn prepare(
    request: &MigrateRequest<'_>,
    placed: &Placed,
    module: &Path,
    pin: &crate::pki::pkcs11::pin::Pin,
    expected: &PublicKey,
    root_spki: &[u8],
    v1: &SecretsKey,
    pending: &mut [Pending],
) -> Result<(TokenKeyLocation, CaSecretsKey)> {
    let not_the_root = || {
        Error::failed(format!(
            "the key in the token (label {:?}, id {}) does not sign for the root certificate; \
             nothing was changed",
            placed.object.label(),
            hex::encode(placed.object.id())
        ))
    };
    if !placed.key.signs_for(expected)? {
        return Err(not_the_root());
    }
    let location = TokenKeyLocation::of_key(request.uri, &placed.token, &placed.object)?
        .with_secrets_key(placed.secrets_label.clone())?;
    let hsm = HsmSecretsKey::open(&placed.key, root_spki, Some(&placed.secrets_label))?;
    let escrow = escrow_v1(&hsm, v1)?;
    let location = location.with_v1_escrow(escrow)?;
    // Found again exactly as every later command will find it, the key signs for the root.
    location.open(module, pin, expected, connect_timeout(), not_the_root)?;
    let secrets = CaSecretsKey::token(hsm, location.secrets_v1_escrow())?;
    for file in pending.iter_mut() {
        let rewrapped = rewrap_tokens(file.text.expose(), &[v1], &secrets, request.contexts)
            .map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "{}: {}; nothing was migrated (give every --context the file's tokens \
                         use, or leave the file out and rewrap it later with `qvca secrets \
                         rewrap`)",
                        file.file.display(),
                        e.message()
                    ),
                )
            })?;
        file.rewrapped = Some((SecretBytes::new(rewrapped.0), rewrapped.1));
    }
    Ok((location, secrets))
}

/// Removes from the token what this run made, after a failure before the commit (failures
/// are ignored: the objects are then left, as after a crash, and the next run takes them).
fn undo(placed: &Placed) {
    if placed.secrets_generated
        && let Ok(secrets) = HsmSecretsKey::open(
            &placed.key,
            placed.object.public_key().spki_der(),
            Some(&placed.secrets_label),
        )
    {
        let _ = secrets.destroy_unused();
    }
    if placed.imported {
        let _ = placed.key.destroy_unused();
    }
}

/// Reads the `--rewrap` files (all before anything is changed).
fn read_files(files: &[PathBuf]) -> Result<Vec<Pending>> {
    files
        .iter()
        .map(|file| {
            let text =
                crate::input::read_limited(file, crate::input::TEXT_LIMIT, "the file to rewrap")?;
            Ok(Pending {
                file: file.clone(),
                text: SecretBytes::new(text),
                rewrapped: None,
            })
        })
        .collect()
}

/// Rewrites each rewrapped file in place (atomically, keeping its mode and owner); a file
/// with nothing to rewrap is left untouched. Failures are reported, not fatal: the migration
/// is recorded, and the file's tokens still open through the escrowed key.
fn write_files(pending: Vec<Pending>) -> (Vec<RewrappedFile>, Vec<NotRewritten>) {
    let (mut written, mut failed) = (Vec::new(), Vec::new());
    for file in pending {
        let Some((text, summary)) = file.rewrapped else {
            continue;
        };
        if summary.rewrapped > 0 {
            crate::store::crash_point("rewrap-before-write");
            if let Err(e) = crate::store::atomic::rewrite_in_place(&file.file, text.expose(), false)
            {
                failed.push(NotRewritten {
                    file: file.file,
                    problem: e.message().to_owned(),
                });
                continue;
            }
        }
        written.push(RewrappedFile {
            file: file.file,
            rewrapped: summary.rewrapped,
            already_current: summary.already_current,
        });
    }
    (written, failed)
}

/// Removes the key files of every root certificate with the root's key (the current root and
/// those it renewed, which `renew --root` gave a copy of the key file), under the CA lock.
/// Returns the files that were there.
fn remove_root_key_files(ca: &LockedCa, root_spki: &[u8]) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in ca
        .index()
        .certificates
        .iter()
        .filter(|e| e.kind == CertKind::Root)
    {
        let path = ca.store().key_path(&entry.serial);
        if !path.is_file() {
            continue;
        }
        let same_key = ca
            .certificate_der(entry)
            .ok()
            .and_then(|der| CertificateDetails::from_der(&der).ok())
            .is_some_and(|d| d.spki_der == root_spki);
        if same_key {
            ca.remove_key_file(&entry.serial)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// `hsm migrate` on a CA whose root key the index already places in a token: finishes what an
/// interrupted run left (the `--rewrap` files, the root key files), after proving that the
/// recorded key signs for the root. Nothing left to do is refused (exit 3).
pub fn finish_migration(
    ca: &mut LockedCa,
    request: &MigrateRequest<'_>,
    access: &TokenAccess<'_>,
) -> Result<MigrateReport> {
    let location = ca
        .index()
        .settings
        .root_key
        .clone()
        .ok_or_else(|| Error::failed("internal error: the CA's root key is not in a token"))?;
    check_same_key(request, &location)?;
    let root_entry = ca.root_entry()?.clone();
    let root = CertificateDetails::from_der(&ca.certificate_der(&root_entry)?)?;
    check_something_left(ca, request, &location)?;
    let mut pending = read_files(request.rewrap)?;
    let key = open_token_key(
        &location,
        Some(access),
        &root.spki_der,
        &root_entry.serial.to_string(),
    )?;
    let hsm = HsmSecretsKey::open(&key, &root.spki_der, location.secrets_key_label())?;
    let secrets_label = hsm.label().to_owned();
    let secrets = CaSecretsKey::token(hsm, location.secrets_v1_escrow())?;
    rewrap_left_files(&mut pending, &secrets, request.contexts)?;
    drop(secrets);
    let (files, not_rewritten) = write_files(pending);
    let key_files_removed = remove_root_key_files(ca, &root.spki_der)?;
    let token_step = TokenStep {
        imported: false,
        secrets_key_label: secrets_label,
        secrets_key_generated: false,
    };
    let done = AfterCommit {
        files,
        not_rewritten,
        key_files_removed,
    };
    Ok(report(
        ca,
        root_entry.serial,
        &location,
        token_step,
        done,
        true,
    ))
}

/// Refuses (exit 3) a URI that names another token or key than the recorded `location`.
fn check_same_key(request: &MigrateRequest<'_>, location: &TokenKeyLocation) -> Result<()> {
    let names_another = request
        .uri
        .token()
        .is_some_and(|t| t != location.token_label())
        || request
            .uri
            .object()
            .is_some_and(|o| o != location.key_label());
    if names_another {
        return Err(Error::refused(format!(
            "the root key of this CA already lives in a PKCS#11 token ({location}); the URI \
             names another token or key: nothing was changed"
        )));
    }
    Ok(())
}

/// Refuses (exit 3) a finished migration with nothing left to do: no root key file left and
/// no `--rewrap` file named.
fn check_something_left(
    ca: &LockedCa,
    request: &MigrateRequest<'_>,
    location: &TokenKeyLocation,
) -> Result<()> {
    let leftover_keys = ca
        .index()
        .certificates
        .iter()
        .filter(|e| e.kind == CertKind::Root && ca.store().key_path(&e.serial).is_file())
        .count();
    if leftover_keys == 0 && request.rewrap.is_empty() {
        return Err(Error::refused(format!(
            "the root key of this CA already lives in a PKCS#11 token ({location}) and no root \
             key file is left: there is nothing to migrate; `qvca secrets rewrap --in FILE \
             --in-place` moves version 1 tokens that are left"
        )));
    }
    Ok(())
}

/// Rewraps in memory the `--rewrap` files of a finishing run, from the escrowed version-1
/// key to the CA's `secrets`; a failure names the file.
fn rewrap_left_files(
    pending: &mut [Pending],
    secrets: &CaSecretsKey,
    contexts: &[String],
) -> Result<()> {
    let old: Vec<&SecretsKey> = secrets.escrowed_v1().into_iter().collect();
    for file in pending.iter_mut() {
        let (text, summary) =
            rewrap_tokens(file.text.expose(), &old, secrets, contexts).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("{}: {}", file.file.display(), e.message()),
                )
            })?;
        file.rewrapped = Some((SecretBytes::new(text), summary));
    }
    Ok(())
}
