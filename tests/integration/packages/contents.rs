//! What a package holds: the CSP attribute of the keys in PFX files and the README's ports.

use super::{node_ca, pfx_package, pfx_password_file_without_newline};
use crate::support::{TestCa, assert_code, openssl_ok, path_str};
use std::path::Path;

// ------------------------------------------------------------------------- the CSP attribute

/// `openssl pkcs12 -info` of a package's Server PFX (the MAC is verified on the way).
fn pfx_info(ca: &TestCa, pfx: &Path) -> String {
    openssl_ok(&[
        "pkcs12",
        "-info",
        "-nodes",
        "-in",
        path_str(pfx),
        "-passin",
        &format!("file:{}", path_str(&pfx_password_file_without_newline(ca))),
    ])
}

#[test]
fn rsa_keys_in_pfx_files_name_the_aes_csp_and_ecdsa_keys_name_none() {
    let csp = "Microsoft CSP Name: Microsoft Enhanced RSA and AES Cryptographic Provider";
    let rsa = node_ca("rsa2048", "QlikViewCA", "QVProxy");
    for legacy in [false, true] {
        let extra: &[&str] = if legacy {
            &["--legacy", "--force"]
        } else {
            &[]
        };
        let package = pfx_package(&rsa, extra);
        for pfx in ["QVS01.pfx", "QVProxy.pfx"] {
            let info = pfx_info(&rsa, &package.join(pfx));
            assert_eq!(
                info.matches(csp).count(),
                1,
                "{pfx}, legacy {legacy}:\n{info}"
            );
        }
        // qvca itself still reads them, MAC and all.
        let json = rsa.json(&[
            "--pfx-password-file",
            path_str(&pfx_password_file_without_newline(&rsa)),
            "inspect",
            path_str(&package.join("QVS01.pfx")),
        ]);
        assert_eq!(
            json["pkcs12_protection"]["legacy_windows_compatible"],
            legacy
        );
    }
    let ecdsa = node_ca("p256", "QlikViewCA", "QVProxy");
    let package = pfx_package(&ecdsa, &[]);
    let info = pfx_info(&ecdsa, &package.join("QVS01.pfx"));
    assert!(!info.contains("Microsoft CSP Name"), "{info}");
}

#[test]
fn a_package_readme_lists_only_the_ports_of_the_nodes_roles() {
    let ca = crate::support::p256_ca(&["QVS01"]);
    let all = ca.path().join("all");
    let qvs = ca.path().join("qvs");
    for (dir, roles) in [(&all, None), (&qvs, Some("qvs"))] {
        let mut args = vec!["package", "QVS01", "--out", path_str(dir)];
        if let Some(roles) = roles {
            args.extend(["--role", roles]);
        }
        assert_code(&crate::support::run(&ca, &args), 0, "package");
    }
    let readme = |dir: &Path| {
        let bytes = std::fs::read(dir.join("README.txt")).expect("README.txt");
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let everything = readme(&all);
    let only_qvs = readme(&qvs);
    let port_lines = |text: &str| {
        text.lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .count()
    };
    assert!(
        port_lines(&only_qvs) < port_lines(&everything),
        "{only_qvs}\n---\n{everything}"
    );
    assert!(only_qvs.contains("QlikView Server"), "{only_qvs}");
    assert!(
        !only_qvs.contains("QlikView Management Service ("),
        "{only_qvs}"
    );
}
