//! The scripts in examples/ run end to end, unattended, as an admin would run them.

use std::path::Path;

#[test]
fn install_site_sets_up_a_three_node_site_without_a_prompt_and_is_idempotent() {
    let temp = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/install-site.sh");
    let site = temp.path().join("site");
    for run in 1..=2 {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(&site)
            .env("QVCA", env!("CARGO_BIN_EXE_qvca"))
            .env_remove("QVCA_DIR")
            .env_remove("QVCA_PASSWORD")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("install-site.sh");
        assert!(
            out.status.success(),
            "run {run}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for node in ["QMS01", "QVS01", "QVWEB01"] {
        let package = site.join("packages").join(node);
        for file in [
            format!("{node}.pfx"),
            "QVProxy.pfx".into(),
            "QlikViewCA.cer".into(),
            "install.ps1".into(),
        ] {
            assert!(package.join(&file).is_file(), "{node}: {file} missing");
        }
    }
    for file in ["root.pem", "server.pem", "server_key.pem"] {
        assert!(
            site.join("Exported Certificates").join(file).is_file(),
            "{file} missing"
        );
    }
    let index = std::fs::read_to_string(site.join("ca/index.json")).expect("index");
    assert_eq!(
        index.matches("\"kind\": \"server\"").count(),
        3,
        "the second run issued nothing new"
    );
}
