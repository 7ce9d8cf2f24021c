//! Statistics-based benchmarks of qvca's building blocks (criterion). Run: `cargo bench`.
//! Under `cargo test --benches` each benchmark runs once, so they cannot rot.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use qvca::domain::kind::CertKind;
use qvca::domain::secret::Password;
use qvca::domain::serial::Serial;
use qvca::ops::issue::{LeafRequest, leaf_params, root_params};
use qvca::pki::key::{KeyProtector, KeyType, pkcs8_der, public_key_info};
use qvca::pki::pkcs12::{PfxContents, PfxEncryption, PfxKey, write_pfx};
use qvca::pki::profile::Profile;
use qvca::secrets::{SecretsKey, decrypt_token, encrypt_token};
use qvca::store::{Entry, EntryStatus, Index, Settings};
use std::hint::black_box;
use time::OffsetDateTime;

fn key_generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("key generation");
    group.sample_size(20);
    for key_type in [
        KeyType::P256,
        KeyType::P384,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
    ] {
        if key_type == KeyType::Rsa3072 {
            group.sample_size(10);
        }
        group.bench_function(key_type.as_str(), |b| {
            b.iter(|| black_box(key_type.generate().expect("keygen")))
        });
    }
    group.finish();
}

fn signing(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    for key_type in [KeyType::P256, KeyType::Rsa2048] {
        let root_key = key_type.generate().expect("keygen");
        let root_profile = Profile::builtin(CertKind::Root);
        let root = root_params(
            &root_profile,
            "QlikViewCA",
            key_type,
            3653,
            &Serial::random(),
            now,
        )
        .self_signed(&root_key)
        .expect("root");
        let issuer = rcgen::Issuer::from_ca_cert_der(root.der(), root_key).expect("issuer");
        let leaf_key = key_type.generate().expect("keygen");
        let profile = Profile::builtin(CertKind::Server);
        let machine =
            qvca::domain::name::MachineName::parse("QVS01", qvca::domain::name::FqdnPolicy::Refuse)
                .expect("machine name");
        let request = LeafRequest::server(&machine);
        c.bench_function(&format!("sign a server certificate ({key_type})"), |b| {
            b.iter(|| {
                let params = leaf_params(
                    &request,
                    &profile,
                    key_type,
                    (now, now + time::Duration::days(365)),
                    &Serial::random(),
                )
                .expect("params");
                black_box(params.signed_by(&leaf_key, &issuer).expect("sign"))
            })
        });
    }
}

fn key_sealing(c: &mut Criterion) {
    let key = KeyType::P256.generate().expect("keygen");
    let der = pkcs8_der(&key);
    let mut group = c.benchmark_group("CA password");
    group.sample_size(10);
    group.bench_function(
        "scrypt key derivation + seal one key (once per command)",
        |b| {
            b.iter_batched(
                || KeyProtector::encrypted(Password::new("benchmark password")),
                |protector| black_box(protector.seal(der.expose()).expect("seal")),
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();
    let protector = KeyProtector::encrypted(Password::new("benchmark password"));
    protector.seal(der.expose()).expect("warm up");
    c.bench_function("seal one more key (same command)", |b| {
        b.iter(|| black_box(protector.seal(der.expose()).expect("seal")))
    });
}

fn pkcs12(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let key = KeyType::Rsa2048.generate().expect("keygen");
    let cert = root_params(
        &Profile::builtin(CertKind::Root),
        "QVS01",
        KeyType::Rsa2048,
        365,
        &Serial::random(),
        now,
    )
    .self_signed(&key)
    .expect("cert");
    let pkcs8 = pkcs8_der(&key);
    let password = Password::new("pfx password");
    let mut group = c.benchmark_group("PKCS#12 of one key");
    group.sample_size(20);
    for encryption in [PfxEncryption::Modern, PfxEncryption::Legacy] {
        group.bench_function(format!("{encryption:?}"), |b| {
            b.iter(|| {
                let contents = PfxContents {
                    keys: vec![PfxKey {
                        friendly_name: "QVS01",
                        pkcs8: &pkcs8,
                        cert_der: cert.der(),
                    }],
                    trusted: vec![("QlikViewCA", cert.der())],
                    secrets: Vec::new(),
                };
                black_box(write_pfx(&contents, &password, encryption).expect("pfx"))
            })
        });
    }
    group.finish();
}

fn secrets(c: &mut Criterion) {
    let key = KeyType::P256.generate().expect("keygen");
    let der = pkcs8_der(&key);
    let spki = public_key_info(&key);
    c.bench_function("SecretsKey derivation (HKDF-SHA256)", |b| {
        b.iter(|| black_box(SecretsKey::derive(&der, &spki).expect("derive")))
    });
    let secrets_key = SecretsKey::derive(&der, &spki).expect("derive");
    let value = vec![b'x'; 100];
    c.bench_function("encrypt a 100-byte value into a token", |b| {
        b.iter(|| black_box(encrypt_token(&secrets_key, &value, "dsn").expect("encrypt")))
    });
    let token = encrypt_token(&secrets_key, &value, "dsn").expect("encrypt");
    c.bench_function("decrypt a token of a 100-byte value", |b| {
        b.iter(|| black_box(decrypt_token(&secrets_key, &token, "dsn").expect("decrypt")))
    });
    let lines: Vec<u8> = (0..10_000)
        .flat_map(|i| format!("Server=db{i};Uid=app;Pwd=secret-password-{i:06}\n").into_bytes())
        .collect();
    let mut group = c.benchmark_group("bulk");
    group.sample_size(20);
    group.bench_function("encrypt 10,000 lines", |b| {
        b.iter(|| {
            black_box(qvca::secrets::encrypt_lines(&secrets_key, &lines, "dsn").expect("encrypt"))
        })
    });
    group.finish();
}

/// A synthetic index of `n` certificates, as JSON.
fn index_json(n: usize) -> Vec<u8> {
    let now = OffsetDateTime::now_utc();
    let mut index = Index::new(Settings {
        root_cn: "QlikViewCA".into(),
        key_protection: qvca::pki::key::KeyProtection::Encrypted,
        created: now,
        root_subject: Default::default(),
        root_key: None,
    });
    for i in 0..n {
        index.certificates.push(Entry {
            serial: Serial::random(),
            kind: if i == 0 {
                CertKind::Root
            } else {
                CertKind::Server
            },
            name: format!("QVS{i:05}"),
            key_type: KeyType::Rsa2048,
            not_before: now,
            not_after: now + time::Duration::days(1826),
            status: EntryStatus::Active,
            sha256: "AB".repeat(32),
            superseded_by: None,
            revocation: None,
            keyless: false,
        });
    }
    index.to_json().expect("json")
}

fn index_load(c: &mut Criterion) {
    for n in [100, 10_000] {
        let json = index_json(n);
        c.bench_function(&format!("load an index of {n} certificates"), |b| {
            b.iter(|| {
                let index = Index::parse(&json, std::path::Path::new("index.json")).expect("parse");
                black_box(index.current_entries().len())
            })
        });
    }
}

/// `--from-file` with 100,000 names, every one twice: parsing and de-duplication must stay linear.
fn machine_list(c: &mut Criterion) {
    let text: String = (0..100_000)
        .flat_map(|i| [format!("QVS{i:06}\n"), format!("qvs{i:06}\n")])
        .collect();
    c.bench_function("parse a machine list of 100,000 names, each twice", |b| {
        b.iter(|| {
            let names = qvca::domain::name::parse_machine_list(
                black_box(&text),
                "hosts.txt",
                qvca::domain::name::FqdnPolicy::Refuse,
            )
            .expect("valid names");
            black_box(names.len())
        })
    });
}

criterion_group!(
    benches,
    machine_list,
    key_generation,
    signing,
    key_sealing,
    pkcs12,
    secrets,
    index_load
);
criterion_main!(benches);
