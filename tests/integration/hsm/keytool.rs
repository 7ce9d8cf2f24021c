//! Java's keytool judges what a root in a token signed: a Server certificate's PKCS#12 opens,
//! and keytool installs the certificate chain (leaf and root) as a reply to the key entry,
//! which it accepts only when every signature in the chain verifies.

use super::cli::HsmCa;
use crate::support::{PFX_PASSWORD, path_str, pfx_password_file, tool};

fn keytool(args: &[&str]) -> String {
    let (ok, out) = tool("keytool", args);
    assert!(ok, "keytool {args:?} failed:\n{out}");
    out
}

fn keytool_accepts_the_chain_an_hsm_root_signed(key_type: &str) {
    let ca = HsmCa::init(key_type);
    ca.ok(&["issue", "server", "QVS01"]);
    let pfx = ca.ca.path().join("QVS01.pfx");
    let password_file = pfx_password_file(&ca.ca);
    ca.ok(&[
        "--pfx-password-file",
        path_str(&password_file),
        "export",
        "pfx",
        "QVS01",
        "--out",
        path_str(&pfx),
    ]);
    let store = ["-storetype", "PKCS12", "-keystore", path_str(&pfx)];
    let mut list = vec!["-list", "-storepass", PFX_PASSWORD];
    list.extend(store);
    let listed = keytool(&list);
    let alias = listed
        .lines()
        .find(|l| l.contains("PrivateKeyEntry"))
        .and_then(|l| l.split(',').next())
        .unwrap_or_else(|| panic!("a key entry:\n{listed}"))
        .to_owned();

    let chain = ca.ca.path().join("chain.pem");
    ca.ok(&[
        "export",
        "cert",
        "QVS01",
        "--chain",
        "--out",
        path_str(&chain),
    ]);
    let mut reply = vec![
        "-importcert",
        "-noprompt",
        "-alias",
        &alias,
        "-file",
        path_str(&chain),
        "-storepass",
        PFX_PASSWORD,
    ];
    reply.extend(store);
    let installed = keytool(&reply);
    assert!(
        installed.contains("Certificate reply was installed in keystore"),
        "{installed}"
    );
    let printed = keytool(&["-printcert", "-file", path_str(&ca.root())]);
    assert!(printed.contains("QlikViewCA"), "{printed}");
}

#[test]
fn keytool_accepts_the_chain_an_rsa_root_in_a_token_signed() {
    keytool_accepts_the_chain_an_hsm_root_signed("rsa2048");
}

#[test]
fn keytool_accepts_the_chain_a_p256_root_in_a_token_signed() {
    keytool_accepts_the_chain_an_hsm_root_signed("p256");
}
