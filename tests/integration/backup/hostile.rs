//! Hostile backups: files changed by someone who does not know (or does know) the password,
//! and files built to make key derivation or reading endless.

use super::{assert_rejected_without_change, backup_into_dir, write_damaged};
use crate::support::{
    PFX_PASSWORD, TestCa, assert_code, describe, openssl_ok, p256_ca, path_str, root_serial, run,
    stderr,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Hostile backups: files changed by someone who does not know (or does know) the password

/// A PKCS#12 file edited at the DER level: `edit` gets the file's content infos (the parts of
/// its AuthenticatedSafe) to change; the MAC is kept only when `keep_mac` (it then no longer
/// matches if anything changed).
pub(crate) fn edit_pfx(
    bytes: &[u8],
    keep_mac: bool,
    edit: impl FnOnce(&mut Vec<pkcs12::cms::content_info::ContentInfo>),
) -> Vec<u8> {
    use der::{Decode, Encode};
    let mut pfx = pkcs12::Pfx::from_der(bytes).expect("a PKCS#12 file");
    let octets = der::asn1::OctetString::from_der(&pfx.auth_safe.content.to_der().expect("der"))
        .expect("data content");
    let mut safes =
        Vec::<pkcs12::cms::content_info::ContentInfo>::from_der(octets.as_bytes()).expect("safes");
    edit(&mut safes);
    let inner = der::asn1::OctetString::new(safes.to_der().expect("encode safes")).expect("octets");
    pfx.auth_safe.content = der::Any::encode_from(&inner).expect("any");
    if !keep_mac {
        pfx.mac_data = None;
    }
    pfx.to_der().expect("encode pfx")
}

/// The parts of a PKCS#12 file (its content infos).
pub(crate) fn content_infos(bytes: &[u8]) -> Vec<pkcs12::cms::content_info::ContentInfo> {
    let mut parts = Vec::new();
    edit_pfx(bytes, true, |safes| parts = safes.clone());
    parts
}

/// An attacker's self-signed CA named like the root with the root's serial, as a PKCS#12 file
/// without MAC whose key and certificate bags are stored in the clear (what `openssl pkcs12
/// -nomac -keypbe NONE -certpbe NONE` writes).
pub(crate) fn attackers_clear_root_pfx(ca: &TestCa, root_serial: &str) -> Vec<u8> {
    let dir = ca.path().join("attacker");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let pfx = dir.join("clear.pfx");
    openssl_ok(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        path_str(&key),
        "-out",
        path_str(&cert),
        "-subj",
        "/CN=QlikViewCA",
        "-set_serial",
        &format!("0x{root_serial}"),
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl_ok(&[
        "pkcs12",
        "-export",
        "-nomac",
        "-keypbe",
        "NONE",
        "-certpbe",
        "NONE",
        "-in",
        path_str(&cert),
        "-inkey",
        path_str(&key),
        "-name",
        "QlikViewCA",
        "-passout",
        "pass:",
        "-out",
        path_str(&pfx),
    ]);
    std::fs::read(&pfx).expect("read")
}

#[test]
fn a_backup_with_its_mac_stripped_and_an_attackers_root_appended_never_verifies_or_restores() {
    let ca = p256_ca(&["QVS01"]);
    let genuine = std::fs::read(backup_into_dir(&ca, &[])).expect("read backup");
    let attacker = attackers_clear_root_pfx(&ca, &root_serial(&ca));
    let hostile = edit_pfx(&genuine, false, |safes| {
        safes.extend(content_infos(&attacker));
    });
    let file = write_damaged(&ca, "mac-stripped.pfx", &hostile);
    assert_rejected_without_change(&ca, &file, 4, "a MAC-stripped backup with an appended root");
    let out = run(&ca, &["backup", "verify", path_str(&file)]);
    assert!(
        stderr(&out).contains("no integrity check (MAC)"),
        "{}",
        describe(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn a_mac_less_pkcs12_opens_in_inspect_with_a_warning_but_never_in_backup_verify_or_restore() {
    let ca = p256_ca(&[]);
    let attacker = attackers_clear_root_pfx(&ca, "01");
    let file = write_damaged(&ca, "clear.pfx", &attacker);
    assert_rejected_without_change(&ca, &file, 4, "a MAC-less PKCS#12");
    // inspect shows what it can, and says plainly that nothing protects the file.
    let out = run(&ca, &["inspect", path_str(&file)]);
    assert_code(&out, 0, "inspect of a MAC-less file");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no integrity protection"), "{text}");
    let out = run(&ca, &["--json", "inspect", path_str(&file)]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["pkcs12_protection"]["integrity_protected"], false);
}

#[test]
fn a_backup_rewritten_with_its_password_and_an_extra_root_entry_is_refused_naming_the_bag() {
    use qvca::domain::secret::{Password, SecretBytes};
    use qvca::pki::pkcs12::{Integrity, PfxContents, PfxEncryption, PfxKey, read_pfx, write_pfx};
    let ca = p256_ca(&["QVS01"]);
    let genuine = std::fs::read(backup_into_dir(&ca, &[])).expect("read backup");
    let password = Password::new(PFX_PASSWORD);
    let archive = read_pfx(&genuine, &password, "backup", Integrity::Required).expect("open");
    // Someone who knows the backup password adds a root of their own that reuses the root's
    // serial and name, and writes the file again with a valid MAC.
    let dir = ca.path().join("attacker");
    attackers_clear_root_pfx(&ca, &root_serial(&ca));
    let key_pem = std::fs::read_to_string(dir.join("key.pem")).expect("key");
    let cert_pem = std::fs::read_to_string(dir.join("cert.pem")).expect("cert");
    let (_, key_der) = der::pem::decode_vec(key_pem.as_bytes()).expect("key pem");
    let (_, cert_der) = der::pem::decode_vec(cert_pem.as_bytes()).expect("cert pem");
    let attacker_key = SecretBytes::new(key_der);
    let certificate_of = |key: &qvca::pki::pkcs12::PfxKeyBag| {
        archive
            .certificate_for(key)
            .expect("a certificate for every key")
            .der
            .clone()
    };
    let genuine_certs: Vec<Vec<u8>> = archive.keys.iter().map(certificate_of).collect();
    let names: Vec<String> = archive
        .keys
        .iter()
        .map(|k| k.friendly_name.clone().unwrap_or_default())
        .collect();
    let state = archive
        .secrets
        .iter()
        .find(|s| s.friendly_name.as_deref() == Some("qvca-state"))
        .expect("state");
    let rewrite = |extra: Option<(&str, &SecretBytes, &[u8])>| {
        let mut keys: Vec<PfxKey> = archive
            .keys
            .iter()
            .zip(&genuine_certs)
            .zip(&names)
            .map(|((k, cert), name)| PfxKey {
                friendly_name: name,
                pkcs8: &k.pkcs8,
                cert_der: cert,
            })
            .collect();
        if let Some((name, pkcs8, cert_der)) = extra {
            keys.push(PfxKey {
                friendly_name: name,
                pkcs8,
                cert_der,
            });
        }
        let contents = PfxContents {
            keys,
            trusted: Vec::new(),
            secrets: vec![("qvca-state", state.bytes.expose())],
        };
        write_pfx(&contents, &password, PfxEncryption::Modern).expect("write")
    };
    // The rewrite itself is sound: without an extra bag it verifies.
    let clean = write_damaged(&ca, "rewritten.pfx", &rewrite(None));
    assert_code(
        &run(&ca, &["backup", "verify", path_str(&clean)]),
        0,
        "a faithful rewrite",
    );

    let hostile = rewrite(Some(("QlikViewCA (2)", &attacker_key, &cert_der)));
    let file = write_damaged(&ca, "extra-root.pfx", &hostile);
    let out = run(&ca, &["backup", "verify", path_str(&file)]);
    assert_code(&out, 5, "backup verify of an extra root entry");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(text.contains("appears twice"), "{text}");
    assert!(text.contains("not the one the CA state records"), "{text}");
    let before = ca.snapshot();
    for args in [
        vec!["-y", "restore", path_str(&file)],
        vec!["-y", "restore", "--force", path_str(&file)],
    ] {
        let out = run(&ca, &args);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        assert_eq!(ca.snapshot(), before, "{args:?} changed the CA");
    }

    // The same key entry twice is refused as well.
    let again = rewrite(Some((
        "QVS01 (2)",
        &archive.keys[1].pkcs8,
        genuine_certs[1].as_slice(),
    )));
    let file = write_damaged(&ca, "duplicate.pfx", &again);
    let out = run(&ca, &["backup", "verify", path_str(&file)]);
    assert_code(&out, 5, "backup verify of a duplicate entry");
    assert!(
        stderr(&out).contains("appears twice")
            || String::from_utf8_lossy(&out.stdout).contains("appears twice"),
        "{}",
        describe(&out)
    );
}

/// A PBES2 AlgorithmIdentifier with scrypt at the given N, r and p (AES-256-CBC).
pub(crate) fn scrypt_algorithm(log_n: u8, r: u32, p: u32) -> Vec<u8> {
    use der::Encode;
    let params = pkcs8::pkcs5::scrypt::Params::new(log_n, r, p).expect("scrypt params");
    let scheme =
        pkcs8::pkcs5::pbes2::Parameters::generate_scrypt_aes256cbc(params, &[7u8; 16], [9u8; 16])
            .expect("pbes2");
    pkcs8::pkcs5::EncryptionScheme::from(scheme)
        .to_der()
        .expect("encode")
}

/// DER of one TLV with a short tag.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A data content info holding `count` shrouded key bags encrypted with `algorithm`.
pub(crate) fn shrouded_key_bags(
    algorithm: &[u8],
    count: usize,
) -> pkcs12::cms::content_info::ContentInfo {
    use der::{Decode, Encode};
    let epki = tlv(0x30, &[algorithm, &tlv(0x04, &[0u8; 32])].concat());
    let oid = pkcs12::PKCS_12_PKCS8_KEY_BAG_OID.to_der().expect("oid");
    let bag = tlv(0x30, &[oid.as_slice(), &tlv(0xA0, &epki)].concat());
    let contents = tlv(0x30, &bag.repeat(count));
    let data_oid = const_oid::db::rfc5911::ID_DATA.to_der().expect("oid");
    let info = tlv(
        0x30,
        &[data_oid.as_slice(), &tlv(0xA0, &tlv(0x04, &contents))].concat(),
    );
    pkcs12::cms::content_info::ContentInfo::from_der(&info).expect("content info")
}

#[test]
fn a_pkcs12_asking_for_huge_scrypt_or_iterations_is_refused_before_any_key_derivation() {
    let ca = p256_ca(&[]);
    let genuine = std::fs::read(backup_into_dir(&ca, &[])).expect("read backup");
    // scrypt at 1 GiB and p = 16 in many bags, without a MAC: today's ceilings refuse it at
    // once, naming the parameter (before, inspect spent minutes and a gigabyte a bag).
    let scrypt = scrypt_algorithm(20, 8, 16);
    let hostile = edit_pfx(&genuine, false, |safes| {
        safes.push(shrouded_key_bags(&scrypt, 50));
    });
    let file = write_damaged(&ca, "scrypt.pfx", &hostile);
    let started = std::time::Instant::now();
    let out = run(&ca, &["inspect", path_str(&file)]);
    assert_code(&out, 4, "inspect of a scrypt bomb");
    assert!(stderr(&out).contains("scrypt memory"), "{}", describe(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_rejected_without_change(&ca, &file, 4, "a scrypt bomb");

    // A MAC asking for a billion iterations is refused before it is computed.
    let pbkdf2_bomb = edit_pfx(&genuine, true, |_| {});
    let mut pfx = <pkcs12::Pfx as der::Decode>::from_der(&pbkdf2_bomb).expect("pfx");
    if let Some(mac) = pfx.mac_data.as_mut() {
        mac.iterations = 1_000_000_000;
    }
    let bytes = der::Encode::to_der(&pfx).expect("der");
    let file = write_damaged(&ca, "mac-iterations.pfx", &bytes);
    let out = run(&ca, &["backup", "verify", path_str(&file)]);
    assert_code(&out, 4, "a MAC with a billion iterations");
    assert!(stderr(&out).contains("iterations"), "{}", describe(&out));
    assert!(stderr(&out).contains("ceiling"), "{}", describe(&out));
}

#[test]
fn an_endless_backup_file_is_refused_at_once() {
    let ca = p256_ca(&[]);
    let out = run(&ca, &["backup", "verify", "/dev/zero"]);
    assert_code(&out, 1, "backup verify /dev/zero");
    assert!(stderr(&out).contains("never ends"), "{}", describe(&out));
}

#[test]
fn keys_inside_an_encrypted_safe_meet_the_kdf_ceilings_before_any_is_decrypted() {
    use der::Encode;
    let ca = p256_ca(&[]);
    // Eight keys at scrypt 128 MiB, p = 16, inside a safe encrypted with PBKDF2 (1,000
    // iterations) under the password "x", no MAC: the inner parameters are visible only after
    // the safe is decrypted, and must still be refused before a single key is.
    let scrypt = scrypt_algorithm(17, 8, 16);
    let epki = tlv(0x30, &[scrypt.as_slice(), &tlv(0x04, &[0u8; 32])].concat());
    let bag_oid = pkcs12::PKCS_12_PKCS8_KEY_BAG_OID.to_der().expect("oid");
    let bag = tlv(0x30, &[bag_oid.as_slice(), &tlv(0xA0, &epki)].concat());
    let contents = tlv(0x30, &bag.repeat(8));
    let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
        1000, &[1u8; 16], [2u8; 16],
    )
    .expect("params");
    let ciphertext = params.encrypt(b"x", &contents).expect("encrypt");
    let algorithm = pkcs8::pkcs5::EncryptionScheme::from(params)
        .to_der()
        .expect("algorithm");
    let data_oid = const_oid::db::rfc5911::ID_DATA.to_der().expect("oid");
    let encrypted_oid = const_oid::db::rfc5911::ID_ENCRYPTED_DATA
        .to_der()
        .expect("oid");
    let enc_content_info = tlv(
        0x30,
        &[data_oid.as_slice(), &algorithm, &tlv(0x80, &ciphertext)].concat(),
    );
    let encrypted_data = tlv(0x30, &[&[2u8, 1, 0][..], &enc_content_info].concat());
    let content_info = tlv(
        0x30,
        &[encrypted_oid.as_slice(), &tlv(0xA0, &encrypted_data)].concat(),
    );
    let auth_safe = tlv(0x30, &content_info);
    let pfx = tlv(
        0x30,
        &[
            &[2u8, 1, 3][..],
            &tlv(
                0x30,
                &[data_oid.as_slice(), &tlv(0xA0, &tlv(0x04, &auth_safe))].concat(),
            ),
        ]
        .concat(),
    );
    let file = write_damaged(&ca, "nested-scrypt.pfx", &pfx);
    let started = std::time::Instant::now();
    let out = ca
        .qvca()
        .env("QVCA_PFX_PASSWORD", "x")
        .args(["inspect", path_str(&file)])
        .output()
        .expect("run");
    assert_code(
        &out,
        4,
        "inspect of keys at scrypt 128 MiB inside an encrypted safe",
    );
    assert!(stderr(&out).contains("scrypt memory"), "{}", describe(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
