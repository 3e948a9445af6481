//! TLS for journeyd's own HTTP/1.1 client: the client configurations ([`TlsConfigs`]), certificate
//! verifiers whose failures say what is wrong (`verify`), what a handshake presented ([`seen`]), the
//! one-line message of a failed handshake ([`handshake_message`]), and what recent handshakes established
//! (`recent`: accepted chains and their facts, so a monitor's next run with the same chain skips that work).
//!
//! Every connection is a full handshake: session resumption is off, because a resumed handshake presents
//! no certificate, and a monitor must see the certificate on every run (a replaced or expiring one shows
//! on the next run, not when a ticket runs out). ALPN offers `http/1.1` only: all the client speaks. The
//! roots are webpki-roots — those reqwest's `rustls-tls` trusts on the other client path, so both paths
//! trust the same — plus a journey's `tls_ca` bundle. TLS 1.2 and 1.3, with the ring provider.
//!
//! Certificates are read by a small DER reader (`cert`, about 450 lines with its guards), not a crate: six
//! fields of already-verified certificates do not justify x509-cert (+8 crates: der, der_derive, spki,
//! const-oid, …; +8 to 13 s of clean debug build on this 2-core machine) or x509-parser (+12 crates: nom,
//! asn1-rs and its two proc-macro crates, num-bigint, …; +14 to 31 s), measured on 2026-12-06. Its tests
//! feed it every truncation of real certificates and random mutations of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use tokio_rustls::rustls::client::danger::ServerCertVerifier;
use tokio_rustls::rustls::client::{Resumption, VerifierBuilderError, WebPkiServerVerifier};
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, ProtocolVersion, RootCertStore};
use tokio_rustls::rustls::{SupportedProtocolVersion, ALL_VERSIONS};

use crate::model::TlsCa;
use crate::outcome::CertSeen;

mod cert;
mod message;
mod recent;
mod verify;

pub use message::handshake_message;

use cert::Cert;
use recent::{ChainKey, Recent};
use verify::{AcceptAny, Explaining};

/// The only protocol the client speaks, offered in ALPN so that servers that select by it pick HTTP/1.1.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Why a TLS client configuration could not be built: a `tls_ca` file without a usable certificate (the
/// loader checks the file, so this is rare), or rustls refusing the configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("tls_ca {}: no certificate in the file (expected PEM `BEGIN CERTIFICATE` blocks)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("tls_ca {}: cannot read the PEM: {source}", path.display())]
    Pem {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("tls_ca {}: certificate {number} cannot be a trusted root: {source}", path.display())]
    BadRoot {
        path: PathBuf,
        /// 1-based, in file order.
        number: usize,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot build the TLS client configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(#[from] VerifierBuilderError),
}

/// Client TLS configurations, one per distinct (skip_verify, tls_ca) — built once and shared (cheap Arc
/// clone per connection).
#[derive(Debug, Default)]
pub struct TlsConfigs {
    /// Built on first use under the lock: a build copies ~150 roots and parses a bundle, and two threads
    /// building the same one at once would only waste it.
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    /// `tls_skip_verify: true`, whatever the CA.
    skip_verify: Option<Arc<ClientConfig>>,
    /// The webpki roots alone: most journeys.
    webpki: Option<Arc<ClientConfig>>,
    /// The webpki roots plus one `tls_ca` bundle, per distinct file.
    with_ca: HashMap<TlsCa, Arc<ClientConfig>>,
}

impl TlsConfigs {
    pub fn new() -> TlsConfigs {
        TlsConfigs::default()
    }

    /// The configuration for a journey's TLS settings: skipping verification wins over a CA.
    pub fn config(&self, skip_verify: bool, ca: Option<&TlsCa>) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = match (skip_verify, ca) {
            (true, _) => &mut cache.skip_verify,
            (false, None) => &mut cache.webpki,
            (false, Some(ca)) => {
                if let Some(config) = cache.with_ca.get(ca) {
                    return Ok(config.clone());
                }
                let config = Arc::new(client_config(false, Some(ca), ALL_VERSIONS)?);
                cache.with_ca.insert(ca.clone(), config.clone());
                return Ok(config);
            }
        };
        if let Some(config) = slot {
            return Ok(config.clone());
        }
        let config = Arc::new(client_config(skip_verify, None, ALL_VERSIONS)?);
        *slot = Some(config.clone());
        Ok(config)
    }
}

/// A client configuration (see the module doc); `versions` is narrowed only by tests.
fn client_config(
    skip_verify: bool,
    ca: Option<&TlsCa>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if skip_verify {
        Arc::new(AcceptAny::new(provider.clone()))
    } else {
        let roots = Arc::new(roots(ca)?);
        Arc::new(Explaining::new(WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build()?))
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.resumption = Resumption::disabled();
    Ok(config)
}

fn roots(ca: Option<&TlsCa>) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let Some(ca) = ca else { return Ok(roots) };
    let mut added = 0;
    for (i, cert) in CertificateDer::pem_slice_iter(&ca.pem).enumerate() {
        let cert = cert.map_err(|source| TlsSetupError::Pem { path: ca.path.clone(), source })?;
        roots.add(cert).map_err(|source| TlsSetupError::BadRoot { path: ca.path.clone(), number: i + 1, source })?;
        added += 1;
    }
    if added == 0 {
        return Err(TlsSetupError::NoCertificate { path: ca.path.clone() });
    }
    Ok(roots)
}

/// What the handshake of a completed connection presented (see [`CertSeen`]). `None` before the handshake
/// completed, or when the leaf cannot be read (it passed verification, so only with `tls_skip_verify`).
/// The same version and chain give the same facts: they are read once and shared (see [`recent`]).
pub fn seen(conn: &ClientConnection) -> Option<Arc<CertSeen>> {
    let version = match conn.protocol_version()? {
        ProtocolVersion::TLSv1_3 => "TLS 1.3",
        ProtocolVersion::TLSv1_2 => "TLS 1.2",
        _ => return None, // never negotiated: the configurations offer no other
    };
    let chain = conn.peer_certificates()?;
    let key = ChainKey::of(std::iter::once(version.as_bytes()).chain(chain.iter().map(|c| c.as_ref())));
    if let Some(seen) = SEEN.get(&key) {
        return Some(seen);
    }
    let seen = Arc::new(read(version, chain)?);
    SEEN.insert(key, Arc::clone(&seen));
    Some(seen)
}

/// The facts of recent chains, for every connection of the process: they depend on the bytes alone.
static SEEN: LazyLock<Recent<Arc<CertSeen>>> = LazyLock::new(Recent::default);

fn read(version: &'static str, chain: &[CertificateDer<'_>]) -> Option<CertSeen> {
    let (leaf_der, rest) = chain.split_first()?;
    let leaf = Cert::parse(leaf_der).ok()?;
    let earliest_expiry =
        rest.iter().filter_map(|c| Cert::parse(c).ok()).map(|c| c.not_after).fold(leaf.not_after, i64::min);
    Some(CertSeen {
        version,
        earliest_expiry,
        leaf_expiry: leaf.not_after,
        fingerprint_sha256: cert::hex(ring::digest::digest(&ring::digest::SHA256, leaf_der).as_ref()),
        serial: leaf.serial_hex(),
        subject: leaf.subject.as_str().to_owned(),
        issuer: leaf.issuer.as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests;
