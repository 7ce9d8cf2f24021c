//! The SecretsKey of an opened CA, for `secrets derive | encrypt | decrypt | rewrap`: version 1
//! from the root key file (which the CA password unlocks), or version 2 in the root key's
//! PKCS#11 token (which needs only the token's PIN: the CA password protects the leaf keys at
//! rest, which secrets never touch), with the escrowed version-1 key of a CA that was moved
//! into its token ([`crate::secrets::hsm`]).

use crate::error::Result;
use crate::ops::ca::{Ca, RootSigner};
use crate::ops::hsm::{TokenAccess, open_token_key};
use crate::pki::certificate::CertificateDetails;
use crate::pki::pkcs11::location::TokenKeyLocation;
use crate::secrets::hsm::HsmSecretsKey;
use crate::secrets::{CaSecretsKey, SecretsKey};

/// The SecretsKey of `ca`: for a root key file, version 1 of the root `unlock` opens (it asks
/// for the CA password); for a root key in a token, version 2 reached through `token`.
pub fn secrets_key(
    ca: &Ca,
    unlock: &dyn Fn() -> Result<RootSigner>,
    token: Option<&TokenAccess<'_>>,
) -> Result<CaSecretsKey> {
    match &ca.index().settings.root_key {
        None => {
            let signer = unlock()?;
            Ok(CaSecretsKey::file(SecretsKey::for_root(signer.root_key())?))
        }
        Some(location) => token_secrets_key(ca, location, token),
    }
}

/// The version-2 SecretsKey of a CA whose root key is at `location`: the root key is opened
/// and checked against the root certificate, then the SecretsKey next to it (with the escrowed
/// version-1 key, if the index records one).
fn token_secrets_key(
    ca: &Ca,
    location: &TokenKeyLocation,
    token: Option<&TokenAccess<'_>>,
) -> Result<CaSecretsKey> {
    let root_entry = ca.root_entry()?;
    let root = CertificateDetails::from_der(&ca.certificate_der(root_entry)?)?;
    let key = open_token_key(
        location,
        token,
        &root.spki_der,
        &root_entry.serial.to_string(),
    )?;
    let secrets = HsmSecretsKey::open(&key, &root.spki_der, location.secrets_key_label())?;
    CaSecretsKey::token(secrets, location.secrets_v1_escrow())
}
