//! Loading a PKCS#11 module, once per process.
//!
//! `C_Initialize` may be called only once per process for a given module: a second call
//! returns `CKR_CRYPTOKI_ALREADY_INITIALIZED`, and a `C_Finalize` from one user tears the
//! module down under every other user (all users of one `dlopen`ed library share its state).
//! So modules live in a process-wide registry keyed by their canonical path: [`Module::open`]
//! loads and initialises a module the first time and hands out clones of the same context
//! afterwards, and nothing ever finalises it (the OS unloads it at exit; SoftHSM2 and network
//! HSM clients write token objects when they are created, not at `C_Finalize`).
//!
//! Configuration that a module reads at `C_Initialize` (SoftHSM2's `SOFTHSM2_CONF`, CloudHSM's
//! and Cloud KMS's configuration files) is therefore fixed for the life of the process.

use crate::error::{Error, Result};
use crate::pki::pkcs11::{Place, from_pkcs11, rv_of};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A loaded and initialised PKCS#11 module. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Module {
    context: Pkcs11,
    path: PathBuf,
}

/// The process-wide registry of initialised modules, keyed by canonical path.
fn registry() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}

impl Module {
    /// Loads and initialises the module at `path`, or returns the one this process already
    /// initialised. The path must name an existing file (qvca takes it from the URI's
    /// `module-path`, an option or an environment variable).
    pub fn open(path: &Path) -> Result<Self> {
        let canonical = path.canonicalize().map_err(|e| {
            Error::failed(format!(
                "the PKCS#11 module {} cannot be found: {e}; install it (SoftHSM2: apt-get \
                 install softhsm2) or give its full path with --pkcs11-module, \
                 QVCA_PKCS11_MODULE or module-path= in the URI",
                path.display()
            ))
        })?;
        // A poisoned lock only means another thread panicked while holding it; the map
        // itself is still consistent (entries are inserted whole).
        let mut modules = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(context) = modules.get(&canonical) {
            return Ok(Self {
                context: context.clone(),
                path: path.to_path_buf(),
            });
        }
        let context = Pkcs11::new(&canonical).map_err(|e| {
            Error::failed(format!(
                "the file {} cannot be loaded as a PKCS#11 module: {e}; check that it is the vendor's PKCS#11 library for this architecture",
                path.display()
            ))
        })?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            // Someone else in this process (another library) initialised it: share it.
            Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                let place = Place {
                    module: path.display().to_string(),
                    ..Place::default()
                };
                let mut err = from_pkcs11("initialising the PKCS#11 module", &place, &e);
                if rv_of(&e).is_some() {
                    err = Error::new(
                        err.kind(),
                        format!(
                            "{err}; check the module's configuration (SoftHSM2: SOFTHSM2_CONF and its tokendir)"
                        ),
                    );
                }
                return Err(err);
            }
        }
        modules.insert(canonical, context.clone());
        Ok(Self {
            context,
            path: path.to_path_buf(),
        })
    }

    /// The module's path, as given to [`Module::open`] (messages name it this way).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the module says about itself (`C_GetInfo`): manufacturer, description, library
    /// version and the PKCS#11 version it implements, e.g. "SoftHSM, Implementation of PKCS11,
    /// library 2.6, PKCS#11 2.40"; empty when it does not say.
    pub fn description(&self) -> String {
        let Ok(info) = self.context.get_library_info() else {
            return String::new();
        };
        let mut parts: Vec<String> = [info.manufacturer_id(), info.library_description()]
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty() && !p.chars().any(char::is_control))
            .map(str::to_owned)
            .collect();
        parts.push(format!("library {}", info.library_version()));
        parts.push(format!("PKCS#11 {}", info.cryptoki_version()));
        parts.join(", ")
    }

    /// The cryptoki context, for the rest of the crate.
    pub(crate) fn context(&self) -> &Pkcs11 {
        &self.context
    }

    /// A description of where a failure happened, naming this module.
    pub(crate) fn place(&self) -> Place {
        Place {
            module: self.path.display().to_string(),
            ..Place::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn a_missing_module_is_a_failure_that_names_it() {
        let err = Module::open(Path::new("/nonexistent/libpkcs11.so")).expect_err("missing");
        assert_eq!(err.kind(), ErrorKind::Failed);
        assert!(err.message().contains("/nonexistent/libpkcs11.so"), "{err}");
    }

    #[test]
    fn a_library_that_is_not_a_pkcs11_module_is_a_clear_failure() {
        // The C math library exists everywhere and has no C_GetFunctionList.
        let candidates = [
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/lib/aarch64-linux-gnu/libm.so.6",
            "/usr/lib/libm.so.6",
        ];
        let Some(path) = candidates.iter().map(Path::new).find(|p| p.exists()) else {
            return;
        };
        let err = Module::open(path).expect_err("not a module");
        assert_eq!(err.kind(), ErrorKind::Failed);
        assert!(
            err.message()
                .contains("cannot be loaded as a PKCS#11 module"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_library_is_a_clear_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("module.so");
        #[allow(clippy::disallowed_methods)] // a test fixture
        std::fs::write(&path, b"not an ELF file").expect("write");
        let err = Module::open(&path).expect_err("not a library");
        assert_eq!(err.kind(), ErrorKind::Failed);
    }
}
