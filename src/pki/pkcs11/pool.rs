//! A pool of logged-in sessions, so that several threads can use one token at once.
//!
//! A PKCS#11 session is not shareable across threads (cryptoki's `Session` is `Send` but not
//! `Sync`, and a session runs one operation at a time). The pool owns N sessions; a thread
//! borrows one for one operation and gives it back. By default the pool starts with one session
//! per core and opens another whenever every session is busy and the token allows more (its
//! `ulMaxSessionCount`/`ulMaxRwSessionCount`, less one for other applications), so a command
//! signing on `--jobs N` threads uses up to N sessions at once; a fixed size can be asked for
//! instead. The first session carries the login, which PKCS#11 shares with every session of the
//! process on that token, and which lasts while any stays open.
//!
//! Object handles are looked up in each session separately and cached there: the standard is
//! ambiguous about handles across sessions, and Thales Luna HA groups really do give the same
//! object different handles in different sessions.
//!
//! A session that dies (`CKR_SESSION_HANDLE_INVALID`, `CKR_SESSION_CLOSED`, a removed device)
//! is dropped from the pool; when none is left, operations fail with advice to run again.
//! Waiting for a free session is bounded by [`PoolOptions::acquire_timeout`].

use crate::error::{Error, Result};
use crate::pki::pkcs11::token::{Token, UserSession};
use crate::pki::pkcs11::{Place, from_pkcs11, rv_of};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many sessions to open and how long to wait for a free one.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// The number of sessions, fixed; `None` means one per core to start with and more on
    /// demand (while every session is busy), up to the token's limit. Capped by the token's
    /// limits either way.
    pub sessions: Option<usize>,
    /// How long an operation waits for a free session before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            sessions: None,
            acquire_timeout: Duration::from_secs(120),
        }
    }
}

/// Identifies a token object independently of any session's handle for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectLocator {
    pub class: ObjectClass,
    pub label: String,
    pub id: Vec<u8>,
}

impl ObjectLocator {
    fn template(&self) -> Vec<Attribute> {
        vec![
            Attribute::Class(self.class),
            Attribute::Label(self.label.as_bytes().to_vec()),
            Attribute::Id(self.id.clone()),
        ]
    }

    pub(crate) fn describe(&self) -> String {
        format!("label {:?}, id {}", self.label, hex::encode(&self.id))
    }
}

/// The most sessions a growing pool opens when the token states no limit. Sessions are only
/// opened while every open one is busy, so a pool never holds more than the number of threads
/// that used it at once.
const UNSTATED_LIMIT: usize = 256;

/// One pooled session and the object handles it has looked up.
pub(crate) struct PooledSession {
    session: Session,
    handles: Vec<(ObjectLocator, ObjectHandle)>,
    /// The pool's number for this session (0 for the first), for the test log.
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    number: usize,
}

impl PooledSession {
    /// The raw session.
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// This session's handle for an object, looked up once.
    pub(crate) fn handle(
        &mut self,
        locator: &ObjectLocator,
        place: &Place,
    ) -> Result<ObjectHandle> {
        if let Some((_, h)) = self.handles.iter().find(|(l, _)| l == locator) {
            return Ok(*h);
        }
        let found = self
            .session
            .find_objects(&locator.template())
            .map_err(|e| from_pkcs11("searching for the key", place, &e))?;
        match found.as_slice() {
            [one] => {
                self.handles.push((locator.clone(), *one));
                Ok(*one)
            }
            [] => Err(Error::failed(format!(
                "the key is no longer in the token ({place}); was it deleted? restore it from the HSM's backup"
            ))),
            _ => Err(Error::failed(format!(
                "the token now holds several objects with this label and id ({place}); remove the copies"
            ))),
        }
    }
}

struct PoolState {
    idle: Vec<PooledSession>,
    /// Sessions open, lent out or idle (and ones being opened).
    live: usize,
    /// The most sessions the pool may have open.
    limit: usize,
    /// Sessions lent out now.
    in_use: usize,
    /// The most sessions lent out at once so far.
    peak_in_use: usize,
    /// Sessions opened so far (numbers them).
    opened: usize,
}

/// A pool of logged-in sessions on one token. `Send + Sync`; share it with an [`Arc`].
pub struct SessionPool {
    token: Token,
    state: Mutex<PoolState>,
    available: Condvar,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionPool")
            .field("token", self.token.description())
            .field("sessions", &self.size())
            .finish()
    }
}

impl SessionPool {
    /// Turns a logged-in session into a pool, opening more sessions as `options` and the
    /// token's limits allow (at least the one given).
    pub fn new(session: UserSession, options: &PoolOptions) -> Result<Arc<Self>> {
        let (token, first) = session.into_parts();
        // Leave room for other applications and tools on the token.
        let token_limit = token
            .max_sessions()
            .and_then(|m| usize::try_from(m).ok())
            .map(|m| m.saturating_sub(1).max(1));
        let cap = |n: usize| token_limit.map_or(n, |m| n.min(m)).max(1);
        let (start, limit) = match options.sessions {
            Some(fixed) => (cap(fixed), cap(fixed)),
            None => (
                cap(std::thread::available_parallelism().map_or(2, |n| n.get())),
                token_limit.unwrap_or(UNSTATED_LIMIT).max(1),
            ),
        };
        let mut idle = vec![PooledSession {
            session: first,
            handles: Vec::new(),
            number: 0,
        }];
        let mut limit = limit;
        while idle.len() < start {
            // A token whose real limit is lower than it said: use the sessions we have.
            let Ok(session) = token.open_session() else {
                limit = idle.len();
                break;
            };
            idle.push(PooledSession {
                session,
                handles: Vec::new(),
                number: idle.len(),
            });
        }
        let live = idle.len();
        Ok(Arc::new(Self {
            token,
            state: Mutex::new(PoolState {
                idle,
                live,
                limit,
                in_use: 0,
                peak_in_use: 0,
                opened: live,
            }),
            available: Condvar::new(),
            acquire_timeout: options.acquire_timeout,
        }))
    }

    /// The token the pool's sessions are on.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The number of sessions still open.
    pub fn size(&self) -> usize {
        self.lock().live
    }

    /// The most sessions that operations used at the same time so far: how much the pool's
    /// concurrency was used (a bulk issuance on several threads uses several).
    pub fn peak_in_use(&self) -> usize {
        self.lock().peak_in_use
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The state is consistent even if a holder panicked (it only moves whole sessions).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Destroys the object `locator` names, if it is there (undoing what a command made in the
    /// token before it failed; nothing else is ever destroyed).
    pub(crate) fn destroy(&self, locator: &ObjectLocator, place: &Place) -> Result<()> {
        self.with_session(place, |pooled: &mut PooledSession| {
            let found = pooled
                .session
                .find_objects(&locator.template())
                .map_err(|err| PoolError::Pkcs11 {
                    action: "searching for an object to remove",
                    err,
                })?;
            for handle in found {
                pooled
                    .session
                    .destroy_object(handle)
                    .map_err(|err| PoolError::Pkcs11 {
                        action: "removing an object",
                        err,
                    })?;
            }
            pooled.handles.retain(|(l, _)| l != locator);
            Ok(())
        })
    }

    /// Runs `operation` on a free session, waiting for one if all are busy.
    pub(crate) fn with_session<T>(
        &self,
        place: &Place,
        operation: impl FnOnce(&mut PooledSession) -> std::result::Result<T, PoolError>,
    ) -> Result<T> {
        let mut lease = self.acquire(place)?;
        let outcome = operation(lease.session());
        #[cfg(feature = "test-hooks")]
        test_hold();
        if let Err(PoolError::Pkcs11 { err, .. }) = &outcome
            && session_is_dead(err)
        {
            lease.discard();
        }
        outcome.map_err(|e| e.into_error(place))
    }

    fn acquire(&self, place: &Place) -> Result<Lease<'_>> {
        let deadline = Instant::now() + self.acquire_timeout;
        let mut state = self.lock();
        loop {
            if let Some(session) = state.idle.pop() {
                return Ok(self.lend(state, session));
            }
            if state.live == 0 {
                return Err(Error::failed(format!(
                    "every session with the token has failed ({place}); check that the HSM is reachable and run the command again"
                )));
            }
            if state.live < state.limit {
                // Every session is busy and the token allows another: open it (outside the
                // lock, a network HSM may take a while), counting it as open meanwhile.
                state.live += 1;
                drop(state);
                let opened = self.token.open_session();
                state = self.lock();
                match opened {
                    Ok(session) => {
                        let number = state.opened;
                        state.opened += 1;
                        let session = PooledSession {
                            session,
                            handles: Vec::new(),
                            number,
                        };
                        return Ok(self.lend(state, session));
                    }
                    Err(_) => {
                        // The token's real limit is lower than it said: wait for ours.
                        state.live -= 1;
                        state.limit = state.live.max(1);
                        continue;
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::failed(format!(
                    "no session with the token became free within {:?} ({place}); an operation may be hanging in the HSM",
                    self.acquire_timeout
                )));
            }
            let (next, _) = self
                .available
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner());
            state = next;
        }
    }

    /// Lends `session` out, counting it as in use.
    fn lend(&self, mut state: MutexGuard<'_, PoolState>, session: PooledSession) -> Lease<'_> {
        state.in_use += 1;
        state.peak_in_use = state.peak_in_use.max(state.in_use);
        #[cfg(feature = "test-hooks")]
        test_log(&format!(
            "session {} lent: {} in use, {} open",
            session.number, state.in_use, state.live
        ));
        drop(state);
        Lease {
            pool: self,
            session: Some(session),
            discard: false,
        }
    }
}

/// Test builds only (`test-hooks`): `QVCA_TEST_PKCS11_POOL_LOG=FILE` appends a line to FILE
/// each time the pool lends a session (its number, how many are in use and open), so a test of
/// the real binary can see that a bulk issuance signs on several sessions at once.
#[cfg(feature = "test-hooks")]
fn test_log(line: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("QVCA_TEST_PKCS11_POOL_LOG") else {
        return;
    };
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// Test builds only (`test-hooks`): `QVCA_TEST_PKCS11_HOLD_MS=N` keeps each lent session N ms
/// longer, as a network HSM's round trip would, so that concurrent operations overlap for
/// certain in a test.
#[cfg(feature = "test-hooks")]
fn test_hold() {
    if let Some(ms) = std::env::var("QVCA_TEST_PKCS11_HOLD_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// A session borrowed from the pool; goes back (or is closed, if it died) when dropped, also
/// when the operation panicked.
struct Lease<'a> {
    pool: &'a SessionPool,
    session: Option<PooledSession>,
    discard: bool,
}

impl Lease<'_> {
    fn session(&mut self) -> &mut PooledSession {
        // Invariant: `session` is Some from acquire until drop.
        self.session
            .as_mut()
            .expect("a lease holds its session until it is dropped")
    }

    fn discard(&mut self) {
        self.discard = true;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let mut state = self.pool.lock();
        state.in_use -= 1;
        if self.discard || std::thread::panicking() {
            state.live -= 1;
            drop(state);
            drop(session); // closes it; errors are ignored, the session is dead anyway
            self.pool.available.notify_all();
        } else {
            state.idle.push(session);
            drop(state);
            self.pool.available.notify_one();
        }
    }
}

/// A failure inside a pooled operation: a PKCS#11 error (which may mean the session died) or
/// one of ours.
pub(crate) enum PoolError {
    /// A PKCS#11 call failed while doing `action`.
    Pkcs11 {
        /// What was being done ("signing", ...).
        action: &'static str,
        /// The cryptoki error.
        err: P11Error,
    },
    /// Any other failure.
    Other(Error),
}

impl PoolError {
    fn into_error(self, place: &Place) -> Error {
        match self {
            Self::Pkcs11 { action, err } => from_pkcs11(action, place, &err),
            Self::Other(e) => e,
        }
    }
}

impl From<Error> for PoolError {
    fn from(e: Error) -> Self {
        Self::Other(e)
    }
}

/// True when a PKCS#11 error means the session cannot be used again.
fn session_is_dead(err: &P11Error) -> bool {
    matches!(
        rv_of(err),
        Some(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::DeviceError
        )
    )
}
