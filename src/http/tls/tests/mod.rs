//! Certificates made with rcgen, served by real tokio-rustls servers on 127.0.0.1:0, and handshakes with the
//! client configurations under test: no mocks of either side.

mod failures;
mod handshake;
mod parse;
mod recent;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, ServerConfig, SupportedProtocolVersion};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::model::TlsCa;

/// A certificate and its key.
pub struct Issued {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Issued {
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A `tls_ca` that trusts this certificate.
    pub fn as_tls_ca(&self) -> TlsCa {
        TlsCa { path: "test-ca.pem".into(), pem: self.cert.pem().into_bytes() }
    }
}

/// Parameters for `CN=cn,O=Acme` with these subjectAltNames.
pub fn params(cn: &str, sans: &[&str]) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::OrganizationName, "Acme");
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

/// Parameters for a CA certificate named `CN=cn,O=Acme`.
pub fn ca_params(cn: &str) -> CertificateParams {
    let mut p = params(cn, &[]);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    p
}

pub fn self_signed(params: CertificateParams) -> Issued {
    let key = KeyPair::generate().unwrap();
    Issued { cert: params.self_signed(&key).unwrap(), key }
}

pub fn issue(params: CertificateParams, issuer: &Issued) -> Issued {
    let key = KeyPair::generate().unwrap();
    Issued { cert: params.signed_by(&key, &issuer.cert, &issuer.key).unwrap(), key }
}

/// A root, an intermediate under it, and a leaf for `localhost` under that.
pub struct Pki {
    pub root: Issued,
    pub intermediate: Issued,
    pub leaf: Issued,
}

impl Pki {
    pub fn new() -> Pki {
        Pki::with_leaf(params("localhost", &["localhost"]))
    }

    pub fn with_leaf(leaf: CertificateParams) -> Pki {
        let root = self_signed(ca_params("Test Root"));
        let intermediate = issue(ca_params("Test Intermediate"), &root);
        let leaf = issue(leaf, &intermediate);
        Pki { root, intermediate, leaf }
    }

    /// What a well-configured server sends: the leaf and the intermediate.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.leaf.der(), self.intermediate.der()]
    }
}

pub const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
pub const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// A TLS server on 127.0.0.1:0 presenting `chain` (signed with `key`): each connection gets "ok" after
/// the handshake, then a close.
pub async fn serve(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> SocketAddr {
    serve_versions(chain, key, rustls::ALL_VERSIONS).await
}

pub async fn serve_versions(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
    versions: &[&'static SupportedProtocolVersion],
) -> SocketAddr {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    serve_config(config).await
}

pub async fn serve_config(config: ServerConfig) -> SocketAddr {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(sock).await {
                    let _ = tls.write_all(b"ok").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

/// A plain-http server on 127.0.0.1:0: whatever arrives gets a 400, as a web server answers a
/// ClientHello.
pub async fn serve_plain_http() -> SocketAddr {
    serve_raw(Some(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")).await
}

/// A server on 127.0.0.1:0 that reads the ClientHello and writes `reply` (or nothing), then closes.
pub async fn serve_raw(reply: Option<&'static [u8]>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            if let Some(reply) = reply {
                let _ = sock.write_all(reply).await;
            }
            let _ = sock.shutdown().await;
        }
    });
    addr
}

/// A handshake with `config` to `addr`, asking for `host`.
pub async fn connect(config: Arc<ClientConfig>, addr: SocketAddr, host: &str) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(host.to_string()).unwrap();
    TlsConnector::from(config).connect(name, tcp).await
}

/// The message of a handshake that must fail.
pub async fn failure(config: Arc<ClientConfig>, addr: SocketAddr) -> String {
    match connect(config, addr, "localhost").await {
        Ok(_) => panic!("the handshake with {addr} succeeded"),
        Err(e) => super::handshake_message(&e),
    }
}

/// Whole days from `unix` (in the past) to now.
pub fn days_since(unix: i64) -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    (now - unix) / 86_400
}
