//! Certificates made through a token key, judged by other verifiers: openssl, x509-parser
//! (aws-lc) and rustls-webpki.

use qvca::pki::pkcs11::signer::TokenKey;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SerialNumber,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::Path;
use std::process::Command;
use time::{Duration, OffsetDateTime};

/// The host name of test leaf certificates.
pub const HOST: &str = "qvs.example.test";

fn serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// Root CA parameters like qvca's.
pub fn root_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
    params.serial_number = Some(serial());
    params.key_identifier_method = KeyIdMethod::Sha256;
    params
}

/// Server leaf parameters for [`HOST`].
pub fn leaf_params() -> CertificateParams {
    let mut params = CertificateParams::new(vec![HOST.to_owned()]).expect("leaf params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, HOST);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(365);
    params.serial_number = Some(serial());
    params
}

/// A self-signed root made with `key`, and a server leaf (software P-256 key) it issues.
pub fn root_and_leaf(key: &TokenKey) -> (CertificateDer<'static>, CertificateDer<'static>) {
    let params = root_params("qvca test root");
    let root = params.self_signed(key).unwrap_or_else(|e| {
        panic!(
            "self-signing in the token: {e} / {:?}",
            qvca::pki::pkcs11::signer::take_last_error()
        )
    });
    let issuer = Issuer::new(params, key);
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
    let leaf = leaf_params()
        .signed_by(&leaf_key, &issuer)
        .expect("leaf signed in the token");
    (root.der().clone(), leaf.der().clone())
}

/// A leaf issued by `key` under an existing root certificate.
pub fn leaf_under(root: &CertificateDer<'_>, key: &TokenKey) -> CertificateDer<'static> {
    let issuer = Issuer::from_ca_cert_der(root, key).expect("issuer from the root");
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
    leaf_params()
        .signed_by(&leaf_key, &issuer)
        .expect("leaf signed in the token")
        .der()
        .clone()
}

fn pem(label: &str, der: &[u8]) -> String {
    qvca::pki::certificate::to_pem(label, der)
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

/// The root verifies itself and the leaf with openssl (strict), x509-parser and webpki.
pub fn verify_chain(dir: &Path, root: &CertificateDer<'_>, leaf: &CertificateDer<'_>) {
    let root_pem = dir.join("root.pem");
    let leaf_pem = dir.join("leaf.pem");
    std::fs::write(&root_pem, pem("CERTIFICATE", root)).expect("write root");
    std::fs::write(&leaf_pem, pem("CERTIFICATE", leaf)).expect("write leaf");
    let root_path = root_pem.to_str().expect("utf-8 path");
    let leaf_path = leaf_pem.to_str().expect("utf-8 path");
    let out = openssl(&["verify", "-x509_strict", "-CAfile", root_path, leaf_path]);
    assert!(out.contains(": OK"), "{out}");
    let out = openssl(&["verify", "-x509_strict", "-CAfile", root_path, root_path]);
    assert!(out.contains(": OK"), "{out}");

    let (_, root_x509) = x509_parser::parse_x509_certificate(root).expect("root parses");
    let (_, leaf_x509) = x509_parser::parse_x509_certificate(leaf).expect("leaf parses");
    root_x509
        .verify_signature(None)
        .expect("x509-parser: root self-signature");
    leaf_x509
        .verify_signature(Some(root_x509.public_key()))
        .expect("x509-parser: leaf signature");

    let anchor = webpki::anchor_from_trusted_cert(root).expect("webpki anchor");
    let end_entity = webpki::EndEntityCert::try_from(leaf).expect("webpki leaf");
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .expect("webpki: path validates");
    end_entity
        .verify_is_valid_for_subject_name(&ServerName::try_from(HOST).expect("name"))
        .expect("webpki: name");
}

/// A CRL signed by `key` under `root` that `openssl crl -verify` accepts.
pub fn verify_crl(dir: &Path, root: &CertificateDer<'_>, key: &TokenKey) {
    let issuer = Issuer::from_ca_cert_der(root, key).expect("issuer");
    let crl = CertificateRevocationListParams {
        this_update: OffsetDateTime::now_utc() - Duration::minutes(1),
        next_update: OffsetDateTime::now_utc() + Duration::days(7),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: serial(),
            revocation_time: OffsetDateTime::now_utc() - Duration::minutes(2),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .expect("CRL signed in the token");
    let crl_pem = dir.join("crl.pem");
    let root_pem = dir.join("root-for-crl.pem");
    std::fs::write(&crl_pem, pem("X509 CRL", crl.der())).expect("write crl");
    std::fs::write(&root_pem, pem("CERTIFICATE", root)).expect("write root");
    let out = openssl(&[
        "crl",
        "-noout",
        "-in",
        crl_pem.to_str().expect("utf-8"),
        "-CAfile",
        root_pem.to_str().expect("utf-8"),
    ]);
    assert!(out.contains("verify OK"), "{out}");
}
