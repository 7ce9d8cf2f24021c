//! Real mutual-TLS handshakes with rustls: the QVS01 Server certificate on a server that
//! requires client certificates, the QVProxy Client certificate on the client, each side
//! trusting only the qvca root, as the QlikView services do.

use crate::support::{PASSWORD, TestCa};
use qvca::domain::secret::Password;
use qvca::ops::ca::Ca;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, RootCertStore, ServerConfig,
    ServerConnection, StreamOwned,
};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// How long either side waits for the other before the test fails instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A certificate with its private key, and the root of the CA that issued it.
struct Identity {
    certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    root: CertificateDer<'static>,
}

impl Identity {
    /// The certificate issued to `name` in the CA of `ca`, with its key opened by the library.
    fn of(ca: &TestCa, name: &str) -> Self {
        let opened = Ca::open(&ca.dir()).expect("open the CA");
        let signer = opened
            .unlock(&|| Ok(Password::new(PASSWORD)))
            .expect("unlock the root");
        let entry = opened.resolve(name).expect("certificate in the index");
        let certificate = opened.certificate_der(entry).expect("certificate");
        let pkcs8 = opened.open_key(&signer, entry).expect("private key");
        Self {
            certificate,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.expose().to_vec())),
            root: opened.root_der().expect("root"),
        }
    }
}

/// A root store holding exactly one qvca root.
fn only(root: &CertificateDer<'static>) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots
        .add(root.clone())
        .expect("rustls accepts the qvca root as a trust anchor");
    Arc::new(roots)
}

/// A server presenting `identity` that requires a client certificate under `trusted_root`.
fn server_config(identity: &Identity, trusted_root: &CertificateDer<'static>) -> Arc<ServerConfig> {
    let verifier = WebPkiClientVerifier::builder(only(trusted_root))
        .build()
        .expect("client verifier");
    let config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.certificate.clone()], identity.key.clone_key())
        .expect("rustls accepts the Server certificate and its key");
    Arc::new(config)
}

/// A client presenting `identity` that trusts only `trusted_root`.
fn client_config(identity: &Identity, trusted_root: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let config = ClientConfig::builder()
        .with_root_certificates(only(trusted_root))
        .with_client_auth_cert(vec![identity.certificate.clone()], identity.key.clone_key())
        .expect("rustls accepts the Client certificate and its key");
    Arc::new(config)
}

/// What each side of one connection got.
struct Handshake {
    /// The server: the client's certificates, or its error.
    server: io::Result<Vec<CertificateDer<'static>>>,
    /// The client: the server's reply, or its error.
    client: io::Result<Vec<u8>>,
}

/// Connects a client to a server over localhost TCP (each in its own thread), the client
/// sends `ping`, the server answers `pong`.
fn handshake(server: Arc<ServerConfig>, client: Arc<ClientConfig>, server_name: &str) -> Handshake {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server_thread = std::thread::spawn(move || -> io::Result<Vec<CertificateDer<'static>>> {
        let (socket, _) = listener.accept()?;
        socket.set_read_timeout(Some(IO_TIMEOUT))?;
        socket.set_write_timeout(Some(IO_TIMEOUT))?;
        let connection = ServerConnection::new(server).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(connection, socket);
        let mut request = [0u8; 4];
        tls.read_exact(&mut request)?;
        if &request != b"ping" {
            return Err(io::Error::other(format!("server read {request:?}")));
        }
        let peer = tls
            .conn
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        tls.write_all(b"pong")?;
        tls.conn.send_close_notify();
        tls.flush()?;
        Ok(peer)
    });

    let name = ServerName::try_from(server_name.to_owned()).expect("server name");
    let client_result = (|| -> io::Result<Vec<u8>> {
        let socket = TcpStream::connect(address)?;
        socket.set_read_timeout(Some(IO_TIMEOUT))?;
        socket.set_write_timeout(Some(IO_TIMEOUT))?;
        let connection = ClientConnection::new(client, name).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(connection, socket);
        tls.write_all(b"ping")?;
        tls.flush()?;
        let mut reply = [0u8; 4];
        tls.read_exact(&mut reply)?;
        Ok(reply.to_vec())
    })();
    let server_result = server_thread.join().expect("server thread");
    Handshake {
        server: server_result,
        client: client_result,
    }
}

/// The rustls error inside an I/O error of a TLS stream.
fn tls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

#[test]
fn a_mutual_tls_handshake_succeeds_between_qvs01_and_qvproxy_trusting_only_the_qvca_root() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let server = Identity::of(&ca, "QVS01");
    let client = Identity::of(&ca, "QVProxy");

    let result = handshake(
        server_config(&server, &server.root),
        client_config(&client, &client.root),
        "QVS01",
    );
    let reply = result.client.expect("the client completes the handshake");
    assert_eq!(reply, b"pong");
    let seen = result.server.expect("the server accepts the client");
    assert_eq!(
        seen,
        vec![client.certificate.clone()],
        "the server saw the QVProxy certificate"
    );
}

#[test]
fn the_server_rejects_a_qvproxy_certificate_from_an_unrelated_qvca_ca() {
    // Two CAs made the same way (same key type, both roots named QlikViewCA): only the root
    // keys differ.
    let ca = TestCa::with_setup(&["QVS01"]);
    let other = TestCa::with_setup(&["QVS01"]);
    let server = Identity::of(&ca, "QVS01");
    let foreign_client = Identity::of(&other, "QVProxy");

    // The sanity check: the same handshake with our own QVProxy succeeds.
    let own_client = Identity::of(&ca, "QVProxy");
    let result = handshake(
        server_config(&server, &server.root),
        client_config(&own_client, &server.root),
        "QVS01",
    );
    assert_eq!(result.client.expect("own QVProxy handshake"), b"pong");

    // The foreign client trusts our root, so only the server's check can stop it.
    let result = handshake(
        server_config(&server, &server.root),
        client_config(&foreign_client, &server.root),
        "QVS01",
    );
    let server_error = result
        .server
        .expect_err("the server must reject a client certificate from another CA");
    assert!(
        matches!(
            tls_error(&server_error),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::BadSignature | CertificateError::UnknownIssuer
            ))
        ),
        "the server rejects the certificate as not issued by its root: {server_error:?}"
    );
    assert!(
        result.client.is_err(),
        "the client gets no application data from a server that rejected it"
    );
}

#[test]
fn the_client_rejects_the_server_when_connecting_to_another_name() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let server = Identity::of(&ca, "QVS01");
    let client = Identity::of(&ca, "QVProxy");

    let result = handshake(
        server_config(&server, &server.root),
        client_config(&client, &client.root),
        "OTHER",
    );
    let client_error = result
        .client
        .expect_err("a certificate for QVS01 must not be accepted for OTHER");
    assert!(
        matches!(
            tls_error(&client_error),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "the client rejects the name: {client_error:?}"
    );
    assert!(result.server.is_err(), "the server sees the handshake fail");
}

#[test]
fn a_server_certificate_also_authenticates_its_machine_as_a_tls_client() {
    // The QlikView services talk to each other both ways: QVS02 connects to QVS01 with its
    // own Server certificate.
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "server", "QVS01", "QVS02", "--key-type", "p256"])
        .assert()
        .success();
    let server = Identity::of(&ca, "QVS01");
    let peer = Identity::of(&ca, "QVS02");

    let result = handshake(
        server_config(&server, &server.root),
        client_config(&peer, &peer.root),
        "QVS01",
    );
    assert_eq!(result.client.expect("handshake"), b"pong");
    assert_eq!(
        result.server.expect("accepted"),
        vec![peer.certificate.clone()]
    );
}

#[test]
fn the_qvproxy_certificate_cannot_serve_tls() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256"])
        .assert()
        .success();
    let client = Identity::of(&ca, "QVProxy");

    // A server presenting the Client certificate (no serverAuth, no SAN) is refused.
    let result = handshake(
        server_config(&client, &client.root),
        client_config(&client, &client.root),
        "QVProxy",
    );
    let client_error = result
        .client
        .expect_err("a clientAuth-only certificate must not authenticate a server");
    assert!(
        matches!(
            tls_error(&client_error),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. }
            ))
        ),
        "the client rejects the certificate's purpose: {client_error:?}"
    );
}

#[test]
fn the_license_service_export_files_serve_tls_to_qvproxy_as_they_are() {
    // root.pem, server.pem and server_key.pem read back the way a TLS service reads them.
    let ca = TestCa::with_setup(&["QVS01"]);
    let export = ca.dir().join("Exported Certificates");
    let exported = Identity {
        certificate: CertificateDer::from_pem_file(export.join("server.pem")).expect("server.pem"),
        key: PrivateKeyDer::from_pem_file(export.join("server_key.pem")).expect("server_key.pem"),
        root: CertificateDer::from_pem_file(export.join("root.pem")).expect("root.pem"),
    };
    assert!(
        matches!(exported.key, PrivateKeyDer::Pkcs8(_)),
        "server_key.pem is PKCS#8"
    );
    let client = Identity::of(&ca, "QVProxy");

    let result = handshake(
        server_config(&exported, &exported.root),
        client_config(&client, &exported.root),
        "QVS01",
    );
    assert_eq!(result.client.expect("handshake"), b"pong");
    assert_eq!(
        result.server.expect("accepted"),
        vec![client.certificate.clone()]
    );
}
