//! An HTTPS test server on 127.0.0.1:0 with certificates from a private CA made at test time (rcgen): it
//! counts TCP accepts and completed handshakes, can swap its certificate between connections, and can stop
//! accepting (drop its listening socket) while the connections it has stay open.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A private CA: its PEM (for `tls_ca`) and what signs leaves.
pub struct Ca {
    pub pem: String,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), cert, key }
    }

    /// Writes the CA's PEM to a fresh file, for `defaults: { tls_ca: … }`.
    pub fn file(&self, tag: &str) -> std::path::PathBuf {
        let path = super::tempdir::tempfile(&format!("{tag}-ca.pem"));
        std::fs::write(&path, &self.pem).unwrap();
        path
    }

    /// A leaf for `host` valid until 1 January of `expires_year`, with `serial`.
    pub fn leaf(&self, host: &str, expires_year: i32, serial: u64) -> Leaf {
        self.leaf_until(host, expires_year, 1, 1, serial)
    }

    /// A leaf for `host` valid until the start of the given day (UTC), with `serial`.
    pub fn leaf_until(&self, host: &str, year: i32, month: u8, day: u8, serial: u64) -> Leaf {
        self.leaf_valid(&[host], (year, month, day), serial)
    }

    /// A leaf valid for every one of `names` (an IP address becomes an IP SAN), named after the first.
    pub fn leaf_for(&self, names: &[&str], expires_year: i32, serial: u64) -> Leaf {
        self.leaf_valid(names, (expires_year, 1, 1), serial)
    }

    fn leaf_valid(&self, names: &[&str], (year, month, day): (i32, u8, u8), serial: u64) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, month, day);
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf { der: cert.der().clone(), key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())) }
    }
}

pub struct Leaf {
    pub der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl Leaf {
    /// A server-side acceptor presenting this leaf, for servers of their own (the hostile ones, say).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(server_config(self))
    }

    /// The same, offering `protocols` by ALPN (an HTTP/2 server: `b"h2"`).
    pub fn acceptor_alpn(&self, protocols: &[&[u8]]) -> TlsAcceptor {
        let mut config = (*server_config(self)).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        TlsAcceptor::from(Arc::new(config))
    }
}

fn server_config(leaf: &Leaf) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der.clone()], leaf.key.clone_key())
        .unwrap();
    Arc::new(config)
}

/// A running HTTPS server answering every request `200 ok` on a kept-alive connection.
pub struct TlsServer {
    pub port: u16,
    accepted: Arc<AtomicU64>,
    handshakes: Arc<AtomicU64>,
    config: Arc<RwLock<Arc<ServerConfig>>>,
    stop_accepting: Arc<Notify>,
}

impl TlsServer {
    pub async fn start(leaf: &Leaf) -> TlsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = TlsServer {
            port,
            accepted: Arc::default(),
            handshakes: Arc::default(),
            config: Arc::new(RwLock::new(server_config(leaf))),
            stop_accepting: Arc::new(Notify::new()),
        };
        let (accepted, handshakes, config, stop) = (
            Arc::clone(&server.accepted),
            Arc::clone(&server.handshakes),
            Arc::clone(&server.config),
            Arc::clone(&server.stop_accepting),
        );
        tokio::spawn(async move {
            loop {
                let sock = tokio::select! {
                    // Returning drops the listener: new connections are refused, open ones live on.
                    _ = stop.notified() => return,
                    r = listener.accept() => match r {
                        Ok((sock, _)) => sock,
                        Err(_) => return,
                    },
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let acceptor = TlsAcceptor::from(Arc::clone(&config.read().unwrap()));
                let handshakes = Arc::clone(&handshakes);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(sock).await else { return };
                    handshakes.fetch_add(1, Ordering::SeqCst);
                    keep_answering(tls).await;
                });
            }
        });
        server
    }

    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// New connections get `leaf` from now on; open ones keep theirs.
    pub fn swap(&self, leaf: &Leaf) {
        *self.config.write().unwrap() = server_config(leaf);
    }

    /// Closes the listening socket; connections already open keep being served.
    pub fn stop_accepting(&self) {
        self.stop_accepting.notify_one();
    }
}

/// Answers each request head with `200 ok`, keeping the connection open, until the client closes it.
async fn keep_answering(mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";
            if tls.write_all(reply).await.is_err() {
                return;
            }
        }
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// An https server of a test's own on 127.0.0.1:0: each connection that completes its handshake with
/// `acceptor` is handed to `serve` in a task of its own. Returns `https://localhost:PORT`.
pub async fn serve_each<F, Fut>(acceptor: TlsAcceptor, serve: F) -> String
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (acceptor, serve) = (acceptor.clone(), Arc::clone(&serve));
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(sock).await {
                    serve(tls).await;
                }
            });
        }
    });
    format!("https://localhost:{port}")
}
