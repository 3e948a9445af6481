//! `--web-config FILE`: TLS and basic auth for the daemon's HTTP endpoints, in the Prometheus
//! exporter-toolkit web-config format operators already have for Prometheus and the exporters.
//!
//! ```yaml
//! tls_server_config: { cert_file: server.crt, key_file: server.key }
//! basic_auth_users: { alice: $2y$10$... }   # bcrypt hashes
//! ```
//!
//! As in exporter-toolkit, the settings apply to every route (`/-/healthy` included), relative file paths
//! are relative to the web-config file, and unknown keys are errors.

mod auth;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use auth::{basic_auth, Auth};

use crate::server::listen::TlsSource;
use crate::server::{ConnectionMetrics, ServeOptions};

use crate::config::limits::{self, read_capped, ReadError, YamlError, MAX_PEM_BYTES, MAX_YAML_BYTES};

/// Why a web-config file cannot be used. Each message names the file and what to change.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}:{line}:{column}: {message} (see docs/operations.md, \"Web endpoint security\")")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: TLS certificate or key {file}: {message}")]
    Tls { path: PathBuf, file: PathBuf, message: String },
}

/// The file as written (exporter-toolkit field names).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    /// Serve HTTPS instead of HTTP.
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    /// Response headers and protocol options.
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    /// User name → bcrypt hash. Empty: no authentication.
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    /// PEM certificate chain, server certificate first.
    #[serde(default)]
    cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    key_file: Option<PathBuf>,
    /// Only `NoClientCert` (the default) is supported: client-certificate auth belongs in a proxy for now.
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    /// `TLS12` (default) or `TLS13`.
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    /// Accepted for compatibility and ignored: rustls only offers modern suites and curves.
    #[serde(default)]
    cipher_suites: Option<Vec<String>>,
    #[serde(default)]
    curve_preferences: Option<Vec<String>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// Accepted for compatibility; journeyd serves HTTP/1.1 only.
    #[serde(default)]
    http2: Option<bool>,
    /// Extra headers on every response (e.g. `Strict-Transport-Security`).
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A validated web configuration: what the server applies to every route.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User name → bcrypt hash; empty means no authentication.
    pub users: Arc<BTreeMap<String, String>>,
    /// Added to every response.
    pub headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    /// `users` with their decoy hash, made once per configuration.
    auth: Arc<Auth>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl WebConfig {
    /// Reads and validates a web-config file: certificates and keys are loaded and every hash is checked
    /// now, so a mistake stops the daemon at start instead of failing every scrape later.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let bytes = read_capped(path, MAX_YAML_BYTES).map_err(|e| match e {
            ReadError::Io(source) => WebConfigError::Read { path: path.into(), source },
            too_large @ ReadError::TooLarge { at, .. } => WebConfigError::Parse {
                path: path.into(),
                line: at.line,
                column: at.col,
                message: format!("the web-config file {too_large}"),
            },
        })?;
        let text = String::from_utf8(bytes).map_err(|_| WebConfigError::Read {
            path: path.into(),
            source: io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"),
        })?;
        WebConfig::parse(&text, path)
    }

    /// Parses `text` as if read from `path` (relative certificate paths resolve against its directory).
    pub fn parse(text: &str, path: &Path) -> Result<WebConfig, WebConfigError> {
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig::default()
        } else {
            limits::from_str(text).map_err(|e| match e {
                YamlError::Limit(limit) => WebConfigError::Parse {
                    path: path.into(),
                    line: limit.at.line,
                    column: limit.at.col,
                    message: limit.to_string(),
                },
                YamlError::Serde(e) => {
                    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                    WebConfigError::Parse { path: path.into(), line, column, message: e.to_string() }
                }
            })?
        };
        let invalid = |message: String| WebConfigError::Invalid { path: path.into(), message };
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = match raw.tls_server_config {
            Some(t) => Some(Arc::new(tls_config(t, dir, path)?)),
            None => None,
        };
        for (user, hash) in &raw.basic_auth_users {
            if user.contains(':') {
                return Err(invalid(format!(
                    "basic_auth_users: user name {user:?} contains ':' (not allowed in basic auth)"
                )));
            }
            if bcrypt::verify("", hash).is_err() {
                return Err(invalid(format!(
                    "basic_auth_users.{user}: not a bcrypt hash (expected $2y$/$2b$/$2a$…; create one with `htpasswd -nbBC 10 \"\" PASSWORD | tr -d ':\\n'`)"
                )));
            }
        }
        let mut headers = Vec::new();
        if let Some(http) = raw.http_server_config {
            if http.http2 == Some(true) {
                tracing::warn!(file = %path.display(), "http_server_config.http2 is ignored: journeyd serves HTTP/1.1");
            }
            for (k, v) in http.headers {
                let name = HeaderName::try_from(k.as_str())
                    .map_err(|_| invalid(format!("http_server_config.headers: invalid header name {k:?}")))?;
                let value = HeaderValue::try_from(v.as_str())
                    .map_err(|_| invalid(format!("http_server_config.headers.{k}: invalid header value")))?;
                headers.push((name, value));
            }
        }
        let users = Arc::new(raw.basic_auth_users);
        let auth = Arc::new(Auth::new(Arc::clone(&users)));
        Ok(WebConfig { tls, users, headers: Arc::new(headers), auth })
    }

    /// The URL scheme clients use.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// The web configuration in force, swapped by the daemon's reload: basic auth and headers are read per
/// request and the certificate per TLS handshake, so a rotated certificate or password applies on `SIGHUP`
/// or `POST /-/reload` without a restart (exporter-toolkit re-reads its file on every connection; journeyd
/// re-reads it with the other files, and a bad file is rejected like a bad journey).
#[derive(Clone, Default)]
pub struct LiveWebConfig {
    path: Option<PathBuf>,
    current: Arc<RwLock<WebConfig>>,
}

impl LiveWebConfig {
    /// `initial`, loaded from `path` (`None`: no file, plain HTTP without auth, nothing to reload).
    pub fn new(path: Option<PathBuf>, initial: WebConfig) -> LiveWebConfig {
        LiveWebConfig { path, current: Arc::new(RwLock::new(initial)) }
    }

    pub fn current(&self) -> WebConfig {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the file again and validates it, without applying it (see [`LiveWebConfig::install`]).
    /// Switching between HTTP and HTTPS is refused: the printed URLs and every scraper would be wrong.
    pub fn reread(&self) -> Result<Option<WebConfig>, WebConfigError> {
        let Some(path) = &self.path else { return Ok(None) };
        let next = WebConfig::load(path)?;
        if next.scheme() != self.current().scheme() {
            let message = format!(
                "switching between http and https ({} → {}) needs a restart; the file was not applied",
                self.current().scheme(),
                next.scheme()
            );
            return Err(WebConfigError::Invalid { path: path.clone(), message });
        }
        Ok(Some(next))
    }

    pub fn install(&self, next: WebConfig) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// The URL scheme clients use.
    pub fn scheme(&self) -> &'static str {
        self.current().scheme()
    }

    /// Wraps `app` with basic auth (when users are configured) and the configured response headers, both as
    /// configured at the time of each request.
    pub fn secure(&self, app: Router) -> Router {
        app.layer(axum::middleware::from_fn_with_state(self.clone(), guard))
    }

    /// Serves `app` on `listener` (HTTP or HTTPS as configured) until `shutdown` is cancelled.
    pub async fn serve(
        &self,
        listener: TcpListener,
        app: Router,
        opts: ServeOptions,
        metrics: ConnectionMetrics,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> io::Result<()> {
        let app = self.secure(app);
        let tls: Option<TlsSource> = match self.current().tls {
            None => None,
            Some(_) => {
                let live = self.clone();
                // The certificate in force now: a reload that rotated it applies to the next handshake.
                Some(Arc::new(move || live.current().tls))
            }
        };
        crate::server::listen::serve(listener, app, tls, opts, metrics, shutdown).await
    }
}

/// Basic auth, then the configured headers — outermost, so that 401 replies carry them too (as in
/// exporter-toolkit).
async fn guard(State(live): State<LiveWebConfig>, req: Request, next: Next) -> Response {
    let cfg = live.current();
    let mut resp =
        if cfg.users.is_empty() { next.run(req).await } else { basic_auth(Arc::clone(&cfg.auth), req, next).await };
    for (k, v) in cfg.headers.iter() {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

fn tls_config(t: RawTls, dir: &Path, path: &Path) -> Result<rustls::ServerConfig, WebConfigError> {
    let invalid = |message: String| WebConfigError::Invalid { path: path.into(), message };
    match t.client_auth_type.as_deref() {
        None | Some("") | Some("NoClientCert") => {}
        Some(other) => {
            return Err(invalid(format!(
                "tls_server_config.client_auth_type {other:?} is not supported (only NoClientCert); terminate client-certificate TLS in a proxy"
            )))
        }
    }
    if t.client_ca_file.is_some() || t.client_allowed_sans.is_some() {
        return Err(invalid(
            "tls_server_config.client_ca_file / client_allowed_sans need client certificates, which journeyd does not support; remove them".into(),
        ));
    }
    if t.cipher_suites.is_some() || t.curve_preferences.is_some() || t.prefer_server_cipher_suites.is_some() {
        tracing::warn!(file = %path.display(), "tls_server_config: cipher_suites, curve_preferences and prefer_server_cipher_suites are ignored (rustls offers only modern suites)");
    }
    let version = |v: &Option<String>, field: &str| -> Result<Option<u8>, WebConfigError> {
        match v.as_deref() {
            None | Some("") => Ok(None),
            Some("TLS12") => Ok(Some(12)),
            Some("TLS13") => Ok(Some(13)),
            Some(other) => Err(invalid(format!(
                "tls_server_config.{field} {other:?} is not supported: use TLS12 or TLS13 (older versions are insecure)"
            ))),
        }
    };
    let min = version(&t.min_version, "min_version")?.unwrap_or(12);
    let max = version(&t.max_version, "max_version")?.unwrap_or(13);
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= 12 && max >= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if min <= 13 && max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err(invalid("tls_server_config: min_version is above max_version".into()));
    }
    let (Some(cert_file), Some(key_file)) = (t.cert_file, t.key_file) else {
        return Err(invalid("tls_server_config needs both cert_file and key_file".into()));
    };
    let cert_file = dir.join(cert_file);
    let key_file = dir.join(key_file);
    let tls_err = |file: &Path, message: String| WebConfigError::Tls { path: path.into(), file: file.into(), message };
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_pem =
        |file: &Path| read_capped(file, MAX_PEM_BYTES).map_err(|e| tls_err(file, format!("cannot read: {e}")));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read_pem(&cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(&cert_file, format!("cannot read PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(&cert_file, "no CERTIFICATE block found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read_pem(&key_file)?)
        .map_err(|e| tls_err(&key_file, format!("cannot read a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(format!("tls_server_config: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(&cert_file, format!("certificate and key do not fit together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_limits_apply_before_parsing() {
        let p = Path::new("web.yml");
        let deep = format!("basic_auth_users: {}{}\n", "[".repeat(70), "]".repeat(70));
        let err = WebConfig::parse(&deep, p).unwrap_err().to_string();
        assert!(err.starts_with("web.yml:1:82: YAML nested deeper than 64 levels"), "{err}");
        let aliases = format!("a: &a [{}]\nb: [{}]\n", vec!["x"; 1000].join(","), vec!["*a"; 100].join(","));
        let err = WebConfig::parse(&aliases, p).unwrap_err().to_string();
        assert!(err.contains("aliases expand this file past 100000 nodes"), "{err}");
    }

    #[test]
    fn rejects_unknown_keys_with_a_location_and_bad_hashes_by_user() {
        let p = Path::new("/etc/journeyd/web.yml");
        let err = WebConfig::parse("basic_auth_users:\n  alice: x\nbasic_auth_user: {}\n", p).unwrap_err();
        assert!(err.to_string().starts_with("/etc/journeyd/web.yml:3:"), "{err}");
        let err = WebConfig::parse("basic_auth_users:\n  alice: plaintext\n", p).unwrap_err();
        assert!(err.to_string().contains("basic_auth_users.alice: not a bcrypt hash"), "{err}");
        let err = WebConfig::parse("tls_server_config:\n  cert_file: a.crt\n", p).unwrap_err();
        assert!(err.to_string().contains("needs both cert_file and key_file"), "{err}");
        let err =
            WebConfig::parse("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n", p).unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
        let ok = WebConfig::parse("", p).unwrap();
        assert!(ok.tls.is_none() && ok.users.is_empty());
    }
}
