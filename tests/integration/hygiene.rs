//! Secrets hygiene: with distinctive passwords, a distinctive plaintext and the SecretsKey
//! known, every output stream of every command (successes and failures) and every file qvca
//! writes are searched for them. Only the places that must hold a secret may: the password
//! files the test wrote, the plaintext input, the decrypted output, and `derive --reveal`.

use crate::support::bare_qvca;
use std::path::{Path, PathBuf};

const CA_PASSWORD: &str = "Zebra-Quasar-9137-ca";
const PFX_PASSWORD: &str = "Narwhal-Pfx-5521";
const PLAINTEXT: &str = "PLAINTEXT-Marmalade-4242";
const WRONG_PASSWORD: &str = "Wrong-Ocelot-7788";

struct Run {
    args: Vec<String>,
    stdin: Option<String>,
    env: Vec<(&'static str, String)>,
}

fn run(dir: &Path, r: &Run) -> (Option<i32>, String) {
    let mut cmd = bare_qvca();
    cmd.current_dir(dir);
    if !r.args.iter().any(|a| a == "--ca-dir") {
        cmd.arg("--ca-dir").arg(dir.join("ca"));
    }
    cmd.args(&r.args);
    for (k, v) in &r.env {
        cmd.env(k, v);
    }
    if let Some(input) = &r.stdin {
        cmd.write_stdin(input.clone());
    }
    let out = cmd.output().expect("run");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let utf16: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
        || haystack.windows(utf16.len()).any(|w| w == utf16.as_slice())
}

#[test]
fn passwords_plaintexts_and_the_secrets_key_never_leak_into_output_or_files() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path();
    let file = |name: &str| dir.join(name).display().to_string();
    std::fs::write(dir.join("ca-pass.txt"), format!("{CA_PASSWORD}\n")).expect("write");
    std::fs::write(dir.join("pfx-pass.txt"), format!("{PFX_PASSWORD}\n")).expect("write");
    std::fs::write(dir.join("wrong-pass.txt"), format!("{WRONG_PASSWORD}\n")).expect("write");
    std::fs::write(
        dir.join("values.txt"),
        format!("{PLAINTEXT}\nsecond {PLAINTEXT}\n"),
    )
    .expect("write");

    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let with_passwords = |list: &[&str]| {
        let mut all = args(&[
            "--password-file",
            &file("ca-pass.txt"),
            "--pfx-password-file",
            &file("pfx-pass.txt"),
        ]);
        all.extend(args(list));
        all
    };
    let plain = |list: &[&str]| Run {
        args: with_passwords(list),
        stdin: None,
        env: vec![],
    };

    let mut outputs = Vec::new();
    let mut steps = vec![
        plain(&["setup", "QVS01", "QVS02"]),
        plain(&["--json", "issue", "server", "QVS03", "--key-type", "p256"]),
        plain(&["export", "pfx", "QVS01", "--out", &file("qvs01.pfx")]),
        plain(&[
            "export",
            "pfx",
            "QVProxy",
            "--legacy",
            "--out",
            &file("proxy.pfx"),
        ]),
        plain(&["package", "QVS02", "--out", &file("pkg")]),
        plain(&["backup", "--dir", &file("backups")]),
        plain(&["--json", "backup", "--out", &file("b.pfx")]),
        plain(&["backup", "verify", &file("b.pfx")]),
        plain(&[
            "secrets",
            "encrypt",
            "--context",
            "dsn",
            "--in",
            &file("values.txt"),
            "--out",
            &file("tokens.txt"),
        ]),
        plain(&[
            "secrets",
            "decrypt",
            "--context",
            "dsn",
            "--in",
            &file("tokens.txt"),
            "--out",
            &file("decrypted.txt"),
        ]),
        Run {
            args: with_passwords(&["secrets", "encrypt"]),
            stdin: Some(format!("{PLAINTEXT}\n")),
            env: vec![],
        },
        plain(&["secrets", "derive"]),
        plain(&["--json", "doctor"]),
        plain(&["--json", "list", "--all"]),
        plain(&["verify"]),
        plain(&["-y", "revoke", "QVS03"]),
        plain(&["crl"]),
        plain(&["renew", "QVS02"]),
        plain(&["inspect", &file("qvs01.pfx")]),
        // Failures must not leak either.
        Run {
            args: args(&[
                "--password-file",
                &file("wrong-pass.txt"),
                "issue",
                "server",
                "QVS09",
            ]),
            stdin: None,
            env: vec![],
        },
        Run {
            args: args(&[
                "--pfx-password-file",
                &file("wrong-pass.txt"),
                "backup",
                "verify",
                &file("b.pfx"),
            ]),
            stdin: None,
            env: vec![],
        },
        Run {
            args: args(&["issue", "server", "QVS09"]),
            stdin: None,
            env: vec![("QVCA_PASSWORD", WRONG_PASSWORD.to_owned())],
        },
        Run {
            args: with_passwords(&["--json", "secrets", "decrypt", "--context", "other"]),
            stdin: Some("qvca:v1:0011223344556677:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
            env: vec![],
        },
        Run {
            args: args(&["--ca-dir", &file("restored"), "restore", &file("b.pfx")]),
            stdin: None,
            env: vec![
                ("QVCA_PASSWORD", CA_PASSWORD.to_owned()),
                ("QVCA_PFX_PASSWORD", PFX_PASSWORD.to_owned()),
            ],
        },
    ];
    for step in steps.drain(..) {
        let (code, text) = run(dir, &step);
        outputs.push((step.args.join(" "), code, text));
    }
    assert_eq!(
        outputs.last().map(|o| o.1),
        Some(Some(0)),
        "the restore ran: {:?}",
        outputs.last()
    );
    // The only command that prints the SecretsKey on purpose.
    let (_, revealed) = run(
        dir,
        &plain(&["secrets", "derive", "--reveal", "--format", "hex"]),
    );
    let secrets_key_hex = revealed.trim().to_owned();
    assert_eq!(secrets_key_hex.len(), 64, "{revealed}");
    let (_, revealed_b64) = run(dir, &plain(&["secrets", "derive", "--reveal"]));
    let secrets_key_b64 = revealed_b64.trim().to_owned();

    let secrets = [
        CA_PASSWORD,
        PFX_PASSWORD,
        WRONG_PASSWORD,
        PLAINTEXT,
        &secrets_key_hex,
        &secrets_key_b64,
    ];
    for (command, code, text) in &outputs {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "`qvca {command}` (exit {code:?}) printed a secret:\n{text}"
            );
        }
        assert!(
            !text.contains("panicked"),
            "`qvca {command}` panicked:\n{text}"
        );
    }

    let allowed: Vec<PathBuf> = [
        "ca-pass.txt",
        "pfx-pass.txt",
        "wrong-pass.txt",
        "values.txt",
        "decrypted.txt",
    ]
    .iter()
    .map(|n| dir.join(n))
    .collect();
    let mut checked = 0;
    for path in all_files(dir) {
        if allowed.contains(&path) {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        for secret in secrets {
            assert!(
                !contains(&bytes, secret),
                "{} holds a secret",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 35, "only {checked} files were written?");
    // The decrypted output is the one file that holds the plaintext, and it is owner-only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("decrypted.txt"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0);
}

#[test]
fn debug_output_of_secret_types_is_redacted() {
    let password = qvca::domain::secret::Password::new(CA_PASSWORD);
    assert!(!format!("{password:?}").contains(CA_PASSWORD));
    let bytes = qvca::domain::secret::SecretBytes::new(PLAINTEXT.as_bytes().to_vec());
    assert!(!format!("{bytes:?}").contains(PLAINTEXT));
}
