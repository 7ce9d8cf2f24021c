//! Signed License Keys: `license inspect` decodes the seed sample and rejects mangled keys.

use super::{bare, bare_ok};
use crate::support::{assert_code, bare_qvca, describe, path_str, stderr, stdout};
use serde_json::Value;

/// The sample Signed License Key of seed 003, wrapped exactly as the page shows it.
pub(crate) const SEED_003_SLK: &str = "\
eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCIsImtpZCI6ImEzMzdhZDE3LTk1ODctNGNhOS05M2I3LTBi
MmI5ZTNlOWI0OCJ9.eyJqdGkiOiI2MjNhYTlhZi05NTBmLTQ3ZjctOGJmMC1mNGQzOWY0MmQ5N
mMiLCJsaWNlbnNlIjoiOTk5OTAwMDAwMDAwMTI1MyJ9.YJqTct2ngqLfl2VP3jxW4RsDNK2MTL-BpJ
WnBdIfF5gGbJcX0hc__tfIa2ab5ZrL9h6tsZxTwgucTFiRTAOz8PaOQP7JTnhPCyrBZwpnmhvCrSHx2
C-HbCARFUIueBzMg8fgvWH-3HxBuxx6jnDhekDTUbb12vBq7CySampJkgMT7QsDdUkeJy5E7O0U
8yhd1RtEDeuTbeX35eIdQUN4DyJWHHPiT9qZt1AV0_Ofe1iLKxYZMa5jC0kIsVwYnRCJzibZlrLE7mS
VlNitxmcm8OoUrR_ZIk8VuOkoz_qqy8N_wwrt7FcT2slWz50XzuL8TIWY9mcGIL
";

const SEED_003_KID: &str = "a337ad17-9587-4ca9-93b7-0b2b9e3e9b48";

const SEED_003_LICENSE: &str = "9999000000001253";

// -------------------------------------------------------------------------------- license inspect

fn assert_decodes_the_seed_sample(text: &str) {
    assert!(text.contains(SEED_003_KID), "{text}");
    assert!(text.contains(SEED_003_LICENSE), "{text}");
    assert!(text.contains("RS512"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("not verified"),
        "it must say the signature is not verified: {text}"
    );
}

#[test]
fn the_seed_license_key_decodes_from_an_argument_with_its_line_breaks() {
    assert!(SEED_003_SLK.lines().count() > 3, "the sample stays wrapped");
    let text = bare_ok(&["license", "inspect", SEED_003_SLK]);
    assert_decodes_the_seed_sample(&text);
}

#[test]
fn the_seed_license_key_decodes_from_stdin() {
    let dir = tempfile::tempdir().expect("temp");
    let out = bare_qvca()
        .args(["license", "inspect"])
        .current_dir(dir.path())
        .write_stdin(SEED_003_SLK)
        .output()
        .expect("run");
    assert_code(&out, 0, "license inspect < key");
    assert_decodes_the_seed_sample(&stdout(&out));
}

#[test]
fn the_seed_license_key_decodes_from_a_file() {
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("license key.txt");
    std::fs::write(&file, SEED_003_SLK.replace('\n', "\r\n")).expect("write");
    let text = bare_ok(&["license", "inspect", path_str(&file)]);
    assert_decodes_the_seed_sample(&text);
}

#[test]
fn license_inspect_json_has_the_header_and_the_claims() {
    let report: Value =
        serde_json::from_str(&bare_ok(&["--json", "license", "inspect", SEED_003_SLK]))
            .expect("JSON");
    assert_eq!(report["header"]["kid"], SEED_003_KID);
    assert_eq!(report["header"]["alg"], "RS512");
    assert_eq!(report["header"]["typ"], "JWT");
    assert_eq!(report["claims"]["license"], SEED_003_LICENSE);
    assert_eq!(
        report["claims"]["jti"],
        "623aa9af-950f-47f7-8bf0-f4d39f42d96c"
    );
    assert_eq!(report["signature_verified"], false);
    assert!(report["signature_length"].as_u64().expect("length") > 0);
}

#[test]
fn malformed_license_keys_fail_with_exit_1_naming_the_part_that_is_wrong() {
    let cases = [
        ("garbage", "1 part"),
        ("abc.def", "2 part"),
        ("a.b.c.d", "4 part"),
        ("!!.e30.c2ln", "header"),
        ("e30.!!.c2ln", "claims"),
        ("e30.e30.!!", "signature"),
        ("e30.e30.", "signature"),
        ("e30.bm90IGpzb24.c2ln", "claims"),
        ("bm90IGpzb24.e30.c2ln", "header"),
        ("W10.e30.c2ln", "header"),
    ];
    for (key, part) in cases {
        let out = bare(&["license", "inspect", key]);
        assert_code(&out, 1, key);
        assert!(stderr(&out).contains(part), "{key}: {}", describe(&out));
        assert!(stdout(&out).is_empty(), "{key}: {}", describe(&out));
    }
    let out = bare(&["license", "inspect", ""]);
    assert_code(&out, 1, "an empty key");
    let out = bare(&["license", "inspect"]);
    assert_code(&out, 1, "nothing on stdin");
}

#[test]
fn truncated_and_mangled_license_keys_never_panic() {
    let compact: String = SEED_003_SLK.split_whitespace().collect();
    let mut variants: Vec<String> = (1..compact.len())
        .step_by(13)
        .map(|n| compact[..n].to_owned())
        .collect();
    variants.push(compact.replace('.', ".."));
    variants.push(compact.replace('-', "+"));
    variants.push(format!("Bearer {compact}"));
    variants.push("\u{feff}".to_owned() + &compact);
    variants.push("é.ü.ß".to_owned());
    for key in &variants {
        let out = bare(&["license", "inspect", key]);
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "{key:?}: {}",
            describe(&out)
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "{key:?}: {}",
            describe(&out)
        );
    }
    // Bytes that are not UTF-8 on stdin.
    let dir = tempfile::tempdir().expect("temp");
    let out = bare_qvca()
        .args(["license", "inspect"])
        .current_dir(dir.path())
        .write_stdin(vec![0xff, 0xfe, b'.', 0x80, b'.', 0x00])
        .output()
        .expect("run");
    assert_code(&out, 1, "binary stdin");
}
