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
//!
//! `parse` reads and validates the file, reporting every mistake located as settings errors are; this
//! file holds the validated configuration, its live swap on reload, and serving.

mod auth;
mod parse;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use auth::{basic_auth, Auth};

use crate::server::listen::TlsSource;
use crate::server::{ConnectionMetrics, ServeOptions};

use crate::config::{Diagnostic, Diagnostics, Severity};

/// Why a web-config file cannot be used. Each message names the file, the line and column, and what to
/// change.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// Every mistake found, located in the web-config file (a certificate problem at its `cert_file` or
    /// `key_file`), as settings errors print.
    #[error("{}", crate::settings::located(.0))]
    Invalid(Diagnostics),
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
            let d = Diagnostic {
                file: path.clone(),
                line: 0,
                column: 0,
                severity: Severity::Error,
                message,
                snippet: None,
                hint: Some("restart journeyd to change the scheme".into()),
            };
            return Err(WebConfigError::Invalid(Diagnostics(vec![d])));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
