//! Reading and validating a web-config file: every mistake a located diagnostic with a hint, as journey
//! and settings files report theirs. Certificates and keys are loaded and every hash is checked here, so a
//! mistake stops the daemon at start (or a reload) instead of failing every scrape later.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;
use tokio_rustls::rustls;

use super::auth::Auth;
use super::{WebConfig, WebConfigError};
use crate::config::limits::{self, read_capped, ReadError, YamlError, MAX_PEM_BYTES, MAX_YAML_BYTES};
use crate::config::{Diagnostics, FileCtx, Severity};

const DOCS: &str = "see docs/operations.md, \"Web endpoint security\"";

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

impl WebConfig {
    /// Reads and validates a web-config file.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let bytes = read_capped(path, MAX_YAML_BYTES).map_err(|e| match e {
            ReadError::Io(source) => WebConfigError::Read { path: path.into(), source },
            too_large @ ReadError::TooLarge { at, .. } => {
                let mut ctx = FileCtx::unindexed(path, "");
                ctx.push(Severity::Error, at, format!("the web-config file {too_large}"), Some(DOCS.into()));
                WebConfigError::Invalid(Diagnostics(ctx.finish()))
            }
        })?;
        let text = String::from_utf8(bytes).map_err(|_| WebConfigError::Read {
            path: path.into(),
            source: io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"),
        })?;
        WebConfig::parse(&text, path)
    }

    /// Parses `text` as if read from `path` (relative certificate paths resolve against its directory).
    pub fn parse(text: &str, path: &Path) -> Result<WebConfig, WebConfigError> {
        let mut ctx = FileCtx::new(path, text);
        let Some(raw) = parse_raw(&mut ctx, text) else {
            return Err(WebConfigError::Invalid(Diagnostics(ctx.finish())));
        };
        // Whatever a user wrote as a hash may be a password: never shown.
        ctx.secrets.extend(raw.basic_auth_users.values().filter(|h| h.len() >= 4).cloned());
        users(&mut ctx, &raw.basic_auth_users);
        let headers = headers(&mut ctx, raw.http_server_config, path);
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = raw.tls_server_config.and_then(|t| tls_config(&mut ctx, t, dir, path)).map(Arc::new);
        if ctx.has_errors() {
            return Err(WebConfigError::Invalid(Diagnostics(ctx.finish())));
        }
        let users = Arc::new(raw.basic_auth_users);
        let auth = Arc::new(Auth::new(Arc::clone(&users)));
        Ok(WebConfig { tls, users, headers: Arc::new(headers), auth })
    }
}

fn parse_raw(ctx: &mut FileCtx, text: &str) -> Option<RawWebConfig> {
    if text.trim().is_empty() {
        return Some(RawWebConfig::default());
    }
    match limits::from_str(text) {
        Ok(raw) => Some(raw),
        Err(YamlError::Limit(limit)) => {
            ctx.push(Severity::Error, limit.at, limit.message(), limit.hint());
            None
        }
        Err(YamlError::Serde(e)) => {
            let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            let hint =
                unknown_field_hint(&message).map_or_else(|| DOCS.to_string(), |m| format!("did you mean `{m}`?"));
            ctx.push(Severity::Error, crate::config::Pos { line, col }, message, Some(hint));
            None
        }
    }
}

/// The closest expected field for serde's "unknown field `x`, expected one of `a`, `b`".
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    crate::config::did_you_mean(field, expected).map(str::to_string)
}

fn users(ctx: &mut FileCtx, users: &BTreeMap<String, String>) {
    for (user, hash) in users {
        let field = format!("basic_auth_users.{user}");
        if user.contains(':') {
            let message = format!("basic_auth_users: user name {user:?} contains ':' (not allowed in basic auth)");
            ctx.error_key(&field, message, Some("pick a user name without ':'".into()));
        }
        if bcrypt::verify("", hash).is_err() {
            let message = format!("{field}: not a bcrypt hash (expected $2y$/$2b$/$2a$…)");
            let hint = "create one with `htpasswd -nbBC 10 \"\" PASSWORD | tr -d ':\\n'`".to_string();
            ctx.error(&field, message, Some(hint));
        }
    }
}

fn headers(ctx: &mut FileCtx, http: Option<RawHttp>, path: &Path) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = Vec::new();
    let Some(http) = http else { return headers };
    if http.http2 == Some(true) {
        tracing::warn!(file = %path.display(), "http_server_config.http2 is ignored: journeyd serves HTTP/1.1");
    }
    for (k, v) in http.headers {
        let field = format!("http_server_config.headers.{k}");
        let Ok(name) = HeaderName::try_from(k.as_str()) else {
            let hint = "header names are letters, digits and -".to_string();
            ctx.error_key(&field, format!("http_server_config.headers: invalid header name {k:?}"), Some(hint));
            continue;
        };
        let Ok(value) = HeaderValue::try_from(v.as_str()) else {
            let hint = "header values are visible ASCII on one line".to_string();
            ctx.error(&field, format!("{field}: invalid header value"), Some(hint));
            continue;
        };
        headers.push((name, value));
    }
    headers
}

/// The TLS versions allowed: `min_version`..=`max_version`.
fn versions(ctx: &mut FileCtx, t: &RawTls) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut version = |v: &Option<String>, field: &str, default: u8| match v.as_deref() {
        None | Some("") => default,
        Some("TLS12") => 12,
        Some("TLS13") => 13,
        Some(other) => {
            let message = format!("tls_server_config.{field} {other:?} is not supported");
            let hint = "use TLS12 or TLS13 (older versions are insecure)".to_string();
            ctx.error(&format!("tls_server_config.{field}"), message, Some(hint));
            default
        }
    };
    let min = version(&t.min_version, "min_version", 12);
    let max = version(&t.max_version, "max_version", 13);
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= 12 && max >= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if min <= 13 && max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        let hint = "min_version TLS12 allows both".to_string();
        ctx.error("tls_server_config.min_version", "tls_server_config: min_version is above max_version", Some(hint));
    }
    versions
}

/// The server's TLS configuration; `None` after reporting why not.
fn tls_config(ctx: &mut FileCtx, t: RawTls, dir: &Path, path: &Path) -> Option<rustls::ServerConfig> {
    match t.client_auth_type.as_deref() {
        None | Some("") | Some("NoClientCert") => {}
        Some(other) => {
            let message = format!("tls_server_config.client_auth_type {other:?} is not supported (only NoClientCert)");
            let hint = "terminate client-certificate TLS in a proxy".to_string();
            ctx.error("tls_server_config.client_auth_type", message, Some(hint));
        }
    }
    for field in ["client_ca_file", "client_allowed_sans"] {
        if (field == "client_ca_file" && t.client_ca_file.is_some())
            || (field == "client_allowed_sans" && t.client_allowed_sans.is_some())
        {
            let message = format!(
                "tls_server_config.{field} needs client certificates, which journeyd does not support; remove it"
            );
            ctx.error_key(&format!("tls_server_config.{field}"), message, None);
        }
    }
    if t.cipher_suites.is_some() || t.curve_preferences.is_some() || t.prefer_server_cipher_suites.is_some() {
        tracing::warn!(file = %path.display(), "tls_server_config: cipher_suites, curve_preferences and prefer_server_cipher_suites are ignored (rustls offers only modern suites)");
    }
    let versions = versions(ctx, &t);
    let (Some(cert_file), Some(key_file)) = (&t.cert_file, &t.key_file) else {
        let missing = if t.cert_file.is_none() { "cert_file" } else { "key_file" };
        let hint = format!("add {missing}: a PEM file, relative to this file's directory");
        ctx.error_key("tls_server_config", "tls_server_config needs both cert_file and key_file", Some(hint));
        return None;
    };
    if ctx.has_errors() {
        return None;
    }
    let cert = (dir.join(cert_file), "tls_server_config.cert_file");
    let key = (dir.join(key_file), "tls_server_config.key_file");
    load_pair(ctx, &cert, &key, versions)
}

/// Loads the certificate chain and key; a problem is reported at the `cert_file` or `key_file` value.
fn load_pair(
    ctx: &mut FileCtx,
    (cert_file, cert_field): &(PathBuf, &str),
    (key_file, key_field): &(PathBuf, &str),
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
) -> Option<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = match read_capped(cert_file, MAX_PEM_BYTES) {
        Err(e) => return fail(ctx, cert_field, cert_file, format!("cannot read: {e}")),
        Ok(pem) => CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>(),
    };
    let certs: Vec<CertificateDer<'static>> = match certs {
        Err(e) => return fail(ctx, cert_field, cert_file, format!("cannot read PEM certificates: {e}")),
        Ok(c) if c.is_empty() => return fail(ctx, cert_field, cert_file, "no CERTIFICATE block found".into()),
        Ok(c) => c,
    };
    let key = match read_capped(key_file, MAX_PEM_BYTES) {
        Err(e) => return fail(ctx, key_field, key_file, format!("cannot read: {e}")),
        Ok(pem) => match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(k) => k,
            Err(e) => return fail(ctx, key_field, key_file, format!("cannot read a PEM private key: {e}")),
        },
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match rustls::ServerConfig::builder_with_provider(provider).with_protocol_versions(&versions) {
        Ok(b) => b,
        Err(e) => {
            ctx.error("tls_server_config", format!("tls_server_config: {e}"), None);
            return None;
        }
    };
    match builder.with_no_client_auth().with_single_cert(certs, key) {
        Ok(mut config) => {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(config)
        }
        Err(e) => fail(ctx, cert_field, cert_file, format!("certificate and key do not fit together: {e}")),
    }
}

/// Reports a certificate or key problem at the field naming the file.
fn fail(ctx: &mut FileCtx, field: &str, file: &Path, message: String) -> Option<rustls::ServerConfig> {
    let message = format!("TLS certificate or key {}: {message}", file.display());
    ctx.error(field, message, Some("paths are relative to the web-config file's directory".into()));
    None
}
