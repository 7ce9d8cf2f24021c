//! The root key in SoftHSM2 beside the same root key type in a file (issue 16), criterion:
//! signing a Server certificate, a CRL of 1,000 revoked certificates, and 64 certificates
//! signed on every core at once (the token's session pool). Run: `cargo bench --bench hsm`;
//! under `cargo test --benches` each benchmark runs once, so they cannot rot.
//!
//! SoftHSM2 reads its configuration (`SOFTHSM2_CONF`) once, when the module is initialised, so
//! the benchmark makes a token directory of its own and runs itself again with the variable
//! set for that child process only (no `set_var` in a running process). Without SoftHSM2
//! (`apt-get install softhsm2`) it says so and measures nothing; CI installs it (`.ci/run`).

use criterion::{Criterion, criterion_group};
use qvca::domain::kind::CertKind;
use qvca::domain::name::{FqdnPolicy, MachineName};
use qvca::domain::serial::Serial;
use qvca::ops::issue::{LeafRequest, leaf_params, root_params};
use qvca::pki::key::KeyType;
use qvca::pki::pkcs11::location::TokenKeyLocation;
use qvca::pki::pkcs11::module::Module;
use qvca::pki::pkcs11::pin::Pin;
use qvca::pki::pkcs11::pool::{PoolOptions, SessionPool};
use qvca::pki::pkcs11::signer::TokenKey;
use qvca::pki::pkcs11::token::TokenSelector;
use qvca::pki::pkcs11::uri::Pkcs11Uri;
use qvca::pki::profile::Profile;
use qvca::pki::signer::RootKey;
use rcgen::{Issuer, KeyPair};
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use time::{Duration, OffsetDateTime};

/// Debian's SoftHSM2 module.
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The benchmark token's label and user PIN (a throwaway token in a temporary directory).
const TOKEN: &str = "qvca-bench";
const PIN: &str = "bench-pin-2468";
/// Set in the child process that measures (its `SOFTHSM2_CONF` names the benchmark's token).
const CHILD: &str = "QVCA_HSM_BENCH_CHILD";

/// A root of `key_type` with its key in a file (software) and one in the SoftHSM2 token.
struct Roots {
    file: Issuer<'static, RootKey>,
    token: Issuer<'static, RootKey>,
}

/// A root certificate for `key`, and the rcgen issuer that signs with it.
fn issuer(key: RootKey, key_type: KeyType) -> Issuer<'static, RootKey> {
    let root = root_params(
        &Profile::builtin(CertKind::Root),
        "QlikViewCA",
        key_type,
        3653,
        &Serial::random(),
        OffsetDateTime::now_utc(),
    )
    .self_signed(&key)
    .expect("root certificate");
    Issuer::from_ca_cert_der(root.der(), key).expect("issuer")
}

/// The root key of `key_type` generated in the token, as qvca opens it (a session pool).
fn token_key(module: &Module, key_type: KeyType, label: &str) -> RootKey {
    let pin = Pin::new(PIN).expect("pin");
    let token = module
        .token(&TokenSelector::by_label(TOKEN))
        .expect("the benchmark token");
    let session = token.login(&pin).expect("login");
    let object = session
        .generate_key_pair(key_type, label)
        .expect("key generated in the token");
    let uri = Pkcs11Uri::parse(&format!("pkcs11:token={TOKEN};object={label}")).expect("uri");
    let location = TokenKeyLocation::of_key(&uri, token.description(), &object).expect("location");
    let pool = SessionPool::new(session, &PoolOptions::default()).expect("pool");
    RootKey::in_token(TokenKey::new(pool, &object).expect("token key"), location)
}

fn roots(module: &Module, key_type: KeyType) -> Roots {
    Roots {
        file: issuer(
            RootKey::from_key_pair(key_type.generate().expect("keygen")),
            key_type,
        ),
        token: issuer(
            token_key(module, key_type, &format!("root-{key_type}")),
            key_type,
        ),
    }
}

/// Signs one Server certificate for `leaf` (a key made beforehand: only the signature and
/// the encoding are measured, as the root's share of an issuance).
fn sign_server(issuer: &Issuer<'static, RootKey>, leaf: &KeyPair, machine: &MachineName) {
    let now = OffsetDateTime::now_utc();
    let params = leaf_params(
        &LeafRequest::server(machine),
        &Profile::builtin(CertKind::Server),
        KeyType::P256,
        (now, now + Duration::days(365)),
        &Serial::random(),
    )
    .expect("params");
    black_box(params.signed_by(leaf, issuer).expect("signed"));
}

/// A CRL listing 1,000 revoked certificates.
fn sign_crl(issuer: &Issuer<'static, RootKey>) {
    let now = OffsetDateTime::now_utc();
    let revoked_certs = (0..1000u32)
        .map(|i| rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&i.to_be_bytes()),
            revocation_time: now,
            reason_code: Some(rcgen::RevocationReason::Superseded),
            invalidity_date: None,
        })
        .collect();
    let params = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: now + Duration::days(30),
        crl_number: rcgen::SerialNumber::from_slice(&[1]),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    black_box(params.signed_by(issuer).expect("CRL signed"));
}

/// 64 Server certificates signed on `threads` threads at once, as a bulk `issue` does.
fn sign_many(issuer: &Issuer<'static, RootKey>, leaf: &KeyPair, threads: usize) {
    let machine = MachineName::parse("QVS01", FqdnPolicy::Refuse).expect("name");
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..64 / threads {
                    sign_server(issuer, leaf, &machine);
                }
            });
        }
    });
}

fn root_in_a_file_or_softhsm2(c: &mut Criterion) {
    let module = Module::open(Path::new(MODULE)).expect("SoftHSM2 loads");
    let leaf = KeyType::P256.generate().expect("leaf key");
    let machine = MachineName::parse("QVS01", FqdnPolicy::Refuse).expect("name");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for key_type in [KeyType::P256, KeyType::Rsa2048] {
        let roots = roots(&module, key_type);
        let mut group = c.benchmark_group(format!("server certificate, root {key_type}"));
        group.bench_function("key file", |b| {
            b.iter(|| sign_server(&roots.file, &leaf, &machine))
        });
        group.bench_function("SoftHSM2", |b| {
            b.iter(|| sign_server(&roots.token, &leaf, &machine))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("CRL of 1,000 revoked, root {key_type}"));
        group.sample_size(20);
        group.bench_function("key file", |b| b.iter(|| sign_crl(&roots.file)));
        group.bench_function("SoftHSM2", |b| b.iter(|| sign_crl(&roots.token)));
        group.finish();

        let mut group = c.benchmark_group(format!(
            "64 certificates on {threads} threads, root {key_type}"
        ));
        group.sample_size(10);
        group.bench_function("key file", |b| {
            b.iter(|| sign_many(&roots.file, &leaf, threads))
        });
        group.bench_function("SoftHSM2", |b| {
            b.iter(|| sign_many(&roots.token, &leaf, threads))
        });
        group.finish();
    }
}

criterion_group!(benches, root_in_a_file_or_softhsm2);

#[allow(clippy::print_stderr)]
fn main() {
    if !Path::new(MODULE).exists() {
        eprintln!(
            "benches/hsm.rs: SoftHSM2 is not installed ({MODULE} is missing): nothing measured; \
             apt-get install softhsm2"
        );
        return;
    }
    if std::env::var_os(CHILD).is_some() {
        benches();
        Criterion::default().configure_from_args().final_summary();
        return;
    }
    // A token directory of our own, and this benchmark again with SOFTHSM2_CONF naming it.
    let dir = tempfile::tempdir().expect("temporary directory");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("token directory");
    let conf = dir.path().join("softhsm2.conf");
    #[allow(clippy::disallowed_methods)] // a benchmark fixture outside any CA
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    let made = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN])
        .args(["--so-pin", "bench-so-pin-1357", "--pin", PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util runs (apt-get install softhsm2)");
    assert!(
        made.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let status = Command::new(std::env::current_exe().expect("this benchmark"))
        .args(std::env::args_os().skip(1))
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, "1")
        .status()
        .expect("run the benchmark with its token");
    drop(dir);
    std::process::exit(status.code().unwrap_or(1));
}
