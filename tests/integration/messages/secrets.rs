//! docs/bad-input.md, "Tokens and secrets" and the `secrets rewrap --in-place` rows of "Files
//! and directories qvca did not make". The token each case reads on stdin is named by the case.
//!
//! Not pinned here: "a target whose owner cannot be kept" by `rewrap --in-place` through a link
//! (the tests run as root, who can keep any owner).

use super::pin;
use crate::support::{TestCa, p256_ca, path_str, pfx_password_file};
use std::path::PathBuf;

/// `secrets encrypt --context CONTEXT` of `value`: the token.
fn encrypt(ca: &TestCa, value: &str, context: &str) -> String {
    let out = ca
        .qvca()
        .args(["secrets", "encrypt", "--context", context])
        .write_stdin(value.to_owned())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim_end()
        .to_owned()
}

/// A backup of `ca` named `name`.
fn backup(ca: &TestCa, name: &str) -> PathBuf {
    let file = ca.path().join(name);
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(ca))
        .args(["backup", "--out", path_str(&file)])
        .assert()
        .success();
    file
}

#[test]
fn tokens() {
    use base64::Engine;
    let ca = p256_ca(&[]);
    let token = encrypt(&ca, "secret value", "ctx");
    let (head, data) = token.rsplit_once(':').expect("token");
    let kid = head.strip_prefix("qvca:v1:").expect("prefix");
    let other_kid = if kid.starts_with('0') { "1" } else { "0" }.to_owned() + &kid[1..];
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = engine.decode(data).expect("b64");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let flipped = format!("{head}:{}", engine.encode(bytes));
    for (case, bad, context) in [
        ("token_flipped_byte", flipped, "ctx"),
        ("token_wrong_context", token.clone(), "other"),
        (
            "token_of_another_root",
            format!("qvca:v1:{other_kid}:{data}"),
            "ctx",
        ),
        ("token_version_2", format!("qvca:v2:{kid}:{data}"), "ctx"),
        (
            "token_truncated",
            token[..token.len() - 21].to_owned(),
            "ctx",
        ),
        (
            "token_payload_truncated",
            format!("{head}:{}", &data[..10]),
            "ctx",
        ),
        ("token_not_base64url", format!("{head}:****"), "ctx"),
        ("token_not_a_token", "not a token at all".to_owned(), "ctx"),
    ] {
        pin!(
            case,
            ca.qvca()
                .args(["secrets", "decrypt", "--context", context])
                .write_stdin(bad)
        );
    }
    pin!(
        "value_on_the_command_line",
        ca.qvca().args(["secrets", "encrypt", "value-on-argv"])
    );

    // A bad line in --in.
    let values = ca.path().join("values.txt");
    std::fs::write(&values, "Server=a;Pwd=1\n\nServer=b;Pwd=2\nthird\n").expect("write");
    let tokens = ca.path().join("tokens.txt");
    ca.qvca()
        .args(["secrets", "encrypt", "--context", "bulk", "--in"])
        .arg(&values)
        .arg("--out")
        .arg(&tokens)
        .assert()
        .success();
    let text = std::fs::read_to_string(&tokens).expect("tokens");
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    lines[3] = lines[3].replace("qvca:v1:", "qvca:v1:X");
    std::fs::write(&tokens, lines.join("\n")).expect("write");
    let failed = ca.path().join("failed.txt");
    pin!(
        "bulk_bad_line",
        ca.qvca()
            .args(["secrets", "decrypt", "--context", "bulk", "--in"])
            .arg(&tokens)
            .arg("--out")
            .arg(&failed)
    );
}

#[test]
fn rewrap() {
    let ca = p256_ca(&[]);
    let old = backup(&ca, "old.pfx");
    let token = encrypt(&ca, "Pwd=secret", "");
    // A token under neither key.
    let other = p256_ca(&[]);
    let foreign = encrypt(&other, "x", "");
    let config = ca.path().join("foreign.ini");
    std::fs::write(&config, format!("a={foreign}\n")).expect("write");
    let rewrap = |file: &std::path::Path, force: bool| {
        let mut cmd = ca.qvca();
        cmd.arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .args(["secrets", "rewrap", "--from-backup", path_str(&old), "--in"])
            .arg(file)
            .arg("--in-place");
        if force {
            cmd.arg("--force");
        }
        cmd
    };
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["-y", "init", "--force", "--key-type", "p256"])
        .assert()
        .success();
    pin!(
        "rewrap_token_under_neither_key",
        &mut rewrap(&config, false)
    );

    // A file with two hard links, then forced.
    let file = ca.path().join("app.ini");
    std::fs::write(&file, format!("conn={token}\n")).expect("write");
    std::fs::hard_link(&file, ca.path().join("app-copy.ini")).expect("hard link");
    pin!("rewrap_in_place_hard_links", &mut rewrap(&file, false));
    pin!(
        "rewrap_in_place_hard_links_forced",
        &mut rewrap(&file, true)
    );

    // Through a symbolic link: the target is rewritten.
    let configs = ca.path().join("configs");
    std::fs::create_dir(&configs).expect("mkdir");
    let real = configs.join("real.ini");
    std::fs::write(&real, format!("[db]\nconn={token}\n")).expect("write");
    let link = ca.path().join("link.ini");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    pin!(
        "rewrap_in_place_through_a_symlink",
        &mut rewrap(&link, false)
    );

    // --out over an existing file.
    let existing = ca.path().join("existing.txt");
    std::fs::write(&existing, "x\n").expect("write");
    pin!(
        "rewrap_out_exists",
        ca.qvca()
            .arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .args(["secrets", "rewrap", "--from-backup", path_str(&old), "--in"])
            .arg(&real)
            .arg("--out")
            .arg(&existing)
    );
    pin!(
        "decrypt_out_exists",
        ca.qvca()
            .args(["secrets", "decrypt", "--in"])
            .arg(&real)
            .arg("--out")
            .arg(&existing)
    );
}
