//! TEMPORARY minimal TLS configuration (replaced by the tlsmod branch): roots, a journey's CA, skip-verify.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_rustls::rustls::{self, ClientConfig};

use crate::model::TlsCa;
use crate::outcome::CertSeen;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("tls_ca {0}: no usable certificate")]
    NoCertificate(String),
}

#[derive(Debug, Default)]
pub struct TlsConfigs {
    cache: Mutex<HashMap<(bool, Option<TlsCa>), Arc<ClientConfig>>>,
}

impl TlsConfigs {
    pub fn new() -> TlsConfigs {
        TlsConfigs::default()
    }

    pub fn config(&self, skip_verify: bool, ca: Option<&TlsCa>) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let key = (skip_verify, if skip_verify { None } else { ca.cloned() });
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&key) {
            return Ok(Arc::clone(c));
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(ca) = &key.1 {
            let mut n = 0;
            for cert in rustls_pemfile_certs(&ca.pem) {
                if roots.add(cert).is_ok() {
                    n += 1;
                }
            }
            if n == 0 {
                return Err(TlsSetupError::NoCertificate(ca.path.display().to_string()));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        let config = Arc::new(config);
        cache.insert(key, Arc::clone(&config));
        Ok(config)
    }
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem).filter_map(Result::ok).collect()
}

pub fn seen(conn: &rustls::ClientConnection) -> Option<CertSeen> {
    let version = match conn.protocol_version()? {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3",
        _ => "TLS 1.2",
    };
    let _ = conn.peer_certificates()?;
    Some(CertSeen {
        version,
        earliest_expiry: 0,
        leaf_expiry: 0,
        fingerprint_sha256: String::new(),
        serial: String::new(),
        subject: String::new(),
        issuer: String::new(),
    })
}

pub fn handshake_message(err: &std::io::Error) -> String {
    format!("tls handshake: {err}")
}
