//! Where and how runs are exported: the settings file's `traces:` section first, then the standard `OTEL_*`
//! variables, resolved once into an [`ExportConfig`] at start and again on every reload.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use reqwest::header::{HeaderName, HeaderValue};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;

use super::spans;
use crate::location::Location;
use crate::settings::{Protocol, TraceSettings};
use crate::shard::Shard;

/// Everything the exporter needs, resolved from the settings and the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    /// OTLP/HTTP: the full traces URL. gRPC: the collector's address (scheme, host and port are used).
    pub endpoint: reqwest::Url,
    pub protocol: Protocol,
    /// Sent with every request, as HTTP headers or gRPC metadata (credentials: marked sensitive, never
    /// logged).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Trusted for an `https://` collector besides the public roots (`OTEL_EXPORTER_OTLP_CERTIFICATE`): a
    /// collector behind a private CA.
    pub roots: Arc<[CertificateDer<'static>]>,
    /// `service.name`, version, location, shard and the configured attributes.
    pub resource: Vec<KeyValue>,
    pub sample_passing: f64,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub timeout: Duration,
}

impl ExportConfig {
    /// Whether requests made for `self` can go over the connection made for `other`.
    pub(super) fn same_connection(&self, other: &ExportConfig) -> bool {
        self.endpoint == other.endpoint
            && self.protocol == other.protocol
            && self.timeout == other.timeout
            && self.roots == other.roots
    }
}

/// Why the `OTEL_*` environment cannot be used. Names the variable, never a header's value.
#[derive(Debug, thiserror::Error)]
pub enum TraceConfigError {
    #[error("{var}: `{value}` is not an http:// or https:// URL; set it to the collector's OTLP address (e.g. http://otel-collector:4318 for http/protobuf, :4317 for grpc)")]
    Endpoint { var: &'static str, value: String },
    #[error("{var}: entry {index} is not `name=value` with a valid header name and value; write it like `x-api-key=…,x-tenant=acme`")]
    Header { var: &'static str, index: usize },
    #[error("{var}: entry {index} is not `key=value`; write it like `deployment.environment=prod,team=shop`")]
    Attribute { var: &'static str, index: usize },
    #[error("{var}: `{value}` is not an OTLP protocol journeyd sends; set it to `http/protobuf` or `grpc`")]
    Protocol { var: &'static str, value: String },
    #[error("{var}: {why}; set it to a PEM file of the CA that signed the collector's certificate")]
    Certificate { var: &'static str, why: String },
}

/// Where this replica runs, for the resource attributes.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub location: Option<&'a Location>,
    pub shard: Shard,
}

/// `k=v,k2=v2` with percent-encoded values (the W3C baggage form the `OTEL_*` list variables use).
fn pairs(text: &str) -> impl Iterator<Item = (usize, Option<(String, String)>)> + '_ {
    text.split(',').filter(|e| !e.trim().is_empty()).enumerate().map(|(i, entry)| {
        let pair = entry.split_once('=').and_then(|(k, v)| {
            let key = k.trim();
            let value = percent_encoding::percent_decode_str(v.trim()).decode_utf8().ok()?;
            (!key.is_empty()).then(|| (key.to_string(), value.into_owned()))
        });
        (i + 1, pair)
    })
}

fn http_url(var: &'static str, value: &str) -> Result<reqwest::Url, TraceConfigError> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err(TraceConfigError::Endpoint { var, value: value.to_string() }),
    }
}

/// The signal's own variable, then the general one.
fn either(
    env: &dyn Fn(&str) -> Option<String>,
    traces: &'static str,
    all: &'static str,
) -> Option<(&'static str, String)> {
    env(traces).map(|v| (traces, v)).or_else(|| env(all).map(|v| (all, v)))
}

/// The file's protocol, else the variables'; `None`: nobody chose one.
fn protocol(s: &TraceSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Protocol>, TraceConfigError> {
    if let Some(p) = s.protocol {
        return Ok(Some(p));
    }
    match either(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") {
        Some((var, value)) => Protocol::parse(&value).map(Some).ok_or(TraceConfigError::Protocol { var, value }),
        None => Ok(None),
    }
}

/// The collector: the file's endpoint, the variables', or the spec's default for a protocol that was chosen
/// explicitly; `None`: export is not configured.
fn endpoint(
    s: &TraceSettings,
    env: &dyn Fn(&str) -> Option<String>,
    chosen: Option<Protocol>,
) -> Result<Option<reqwest::Url>, TraceConfigError> {
    let protocol = chosen.unwrap_or(Protocol::HttpProtobuf);
    let url = match (&s.endpoint, env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        // Validated with the file.
        (Some(url), _, _) => http_url("traces.endpoint", url)?,
        (None, Some(url), _) => http_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)?,
        // gRPC has one fixed method path: the base is the address as it is.
        (None, None, Some(base)) if protocol == Protocol::Grpc => http_url("OTEL_EXPORTER_OTLP_ENDPOINT", &base)?,
        (None, None, Some(base)) => {
            let url = format!("{}/v1/traces", base.trim_end_matches('/'));
            http_url("OTEL_EXPORTER_OTLP_ENDPOINT", &url)
                .map_err(|_| TraceConfigError::Endpoint { var: "OTEL_EXPORTER_OTLP_ENDPOINT", value: base })?
        }
        (None, None, None) => match chosen {
            Some(Protocol::Grpc) => reqwest::Url::parse("http://localhost:4317").expect("static"),
            Some(Protocol::HttpProtobuf) => reqwest::Url::parse("http://localhost:4318/v1/traces").expect("static"),
            None => return Ok(None),
        },
    };
    Ok(Some(url))
}

/// The CA certificates in `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` or `OTEL_EXPORTER_OTLP_CERTIFICATE`.
fn roots(env: &dyn Fn(&str) -> Option<String>) -> Result<Arc<[CertificateDer<'static>]>, TraceConfigError> {
    let Some((var, path)) = either(env, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")
    else {
        return Ok(Arc::new([]));
    };
    let bad = |why: String| TraceConfigError::Certificate { var, why };
    let pem = std::fs::read(&path).map_err(|e| bad(format!("cannot read {path}: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{path} is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(format!("{path} holds no CERTIFICATE block")));
    }
    Ok(certs.into())
}

impl ExportConfig {
    /// The export configuration: the settings file first, then the standard variables
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else `OTEL_EXPORTER_OTLP_ENDPOINT`, + `/v1/traces` for
    /// http/protobuf; `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`, `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`,
    /// `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).
    /// `None`: no endpoint and no protocol anywhere, or `OTEL_SDK_DISABLED=true`.
    pub fn resolve(
        s: &TraceSettings,
        env: &dyn Fn(&str) -> Option<String>,
        origin: Origin<'_>,
    ) -> Result<Option<ExportConfig>, TraceConfigError> {
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let chosen = protocol(s, env)?;
        let Some(endpoint) = endpoint(s, env, chosen)? else { return Ok(None) };
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for var in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            for (index, pair) in pairs(&env(var).unwrap_or_default()) {
                let (k, v) = pair.ok_or(TraceConfigError::Header { var, index })?;
                headers.insert(k.to_ascii_lowercase(), v);
            }
        }
        headers.extend(s.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())));
        let headers = headers
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let bad = || TraceConfigError::Header { var: "OTEL_EXPORTER_OTLP_HEADERS", index: i + 1 };
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad())?;
                let value = HeaderValue::from_str(&v).map_err(|_| bad())?;
                Ok((name, value))
            })
            .collect::<Result<_, TraceConfigError>>()?;
        let mut attributes: BTreeMap<String, String> = BTreeMap::new();
        let var = "OTEL_RESOURCE_ATTRIBUTES";
        for (index, pair) in pairs(&env(var).unwrap_or_default()) {
            let (k, v) = pair.ok_or(TraceConfigError::Attribute { var, index })?;
            attributes.insert(k, v);
        }
        attributes.extend(s.resource_attributes.clone());
        let service = s.service_name.clone().or_else(|| env("OTEL_SERVICE_NAME")).filter(|n| !n.is_empty());
        attributes.insert("service.name".into(), service.unwrap_or_else(|| "journeyd".into()));
        attributes.insert("service.version".into(), env!("CARGO_PKG_VERSION").into());
        attributes.insert("journeyd.shard".into(), origin.shard.to_string());
        if let Some(loc) = origin.location {
            attributes.insert("journeyd.location".into(), loc.to_string());
        }
        let resource = attributes.into_iter().map(|(k, v)| spans::text(&k, v)).collect();
        Ok(Some(ExportConfig {
            endpoint,
            protocol: chosen.unwrap_or(Protocol::HttpProtobuf),
            headers,
            roots: roots(env)?,
            resource,
            sample_passing: s.sample_passing,
            queue_capacity: s.queue_capacity,
            batch_size: s.batch_size,
            timeout: s.timeout,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    fn origin() -> Origin<'static> {
        Origin { location: None, shard: Shard::ALL }
    }

    fn attribute(c: &ExportConfig, key: &str) -> Option<String> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        c.resource.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
    }

    #[test]
    fn the_standard_variables_configure_export_when_the_file_does_not() {
        let s = TraceSettings::default();
        assert!(ExportConfig::resolve(&s, &env(&[]), origin()).unwrap().is_none(), "no endpoint: no export");
        let c = ExportConfig::resolve(
            &s,
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=a%20b, X-Tenant=acme"),
                ("OTEL_SERVICE_NAME", "synthetics"),
                ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
            ]),
            origin(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint.as_str(), "http://collector:4318/v1/traces");
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(headers, [("x-api-key", "a b"), ("x-tenant", "acme")]);
        assert_eq!(attribute(&c, "service.name").as_deref(), Some("synthetics"));
        assert_eq!(attribute(&c, "deployment.environment").as_deref(), Some("prod"));
        assert_eq!(attribute(&c, "journeyd.shard").as_deref(), Some("0/1"));
        let traces_only = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318/custom"),
        ]);
        let c = ExportConfig::resolve(&s, &traces_only, origin()).unwrap().unwrap();
        assert_eq!(c.endpoint.as_str(), "http://b:4318/custom", "the signal's own variable is used as is");
        let disabled = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"), ("OTEL_SDK_DISABLED", "true")]);
        assert!(ExportConfig::resolve(&s, &disabled, origin()).unwrap().is_none());
    }

    #[test]
    fn the_settings_file_wins_and_bad_variables_are_named_without_values() {
        let mut s = TraceSettings { endpoint: Some("http://file:4318/v1/traces".into()), ..TraceSettings::default() };
        s.service_name = Some("from-file".into());
        s.headers.insert("X-Api-Key".into(), "file".into());
        let vars = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=env"),
            ("OTEL_SERVICE_NAME", "from-env"),
        ]);
        let c = ExportConfig::resolve(&s, &vars, origin()).unwrap().unwrap();
        assert_eq!(c.endpoint.host_str(), Some("file"));
        assert_eq!(c.headers.len(), 1);
        assert_eq!(c.headers[0].1, "file");
        assert_eq!(attribute(&c, "service.name").as_deref(), Some("from-file"));
        let bad =
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"), ("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,sekrit-only")]);
        let e = ExportConfig::resolve(&TraceSettings::default(), &bad, origin()).unwrap_err().to_string();
        assert!(e.starts_with("OTEL_EXPORTER_OTLP_HEADERS: entry 2") && !e.contains("sekrit"), "{e}");
        let bad = env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318")]);
        let e = ExportConfig::resolve(&TraceSettings::default(), &bad, origin()).unwrap_err().to_string();
        assert!(e.starts_with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `collector:4318`"), "{e}");
    }

    #[test]
    fn the_protocol_comes_from_the_file_then_the_variables_and_grpc_keeps_the_address() {
        let s = TraceSettings::default();
        let grpc = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317")]);
        let c = ExportConfig::resolve(&s, &grpc, origin()).unwrap().unwrap();
        assert_eq!((c.protocol, c.endpoint.as_str()), (Protocol::Grpc, "https://c:4317/"), "no /v1/traces for grpc");
        let traces_only =
            env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")]);
        let c = ExportConfig::resolve(&s, &traces_only, origin()).unwrap().unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf, "the signal's own variable wins");
        assert_eq!(c.endpoint.as_str(), "http://localhost:4318/v1/traces", "a chosen protocol: the spec's default");
        let c = ExportConfig::resolve(&s, &env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]), origin()).unwrap().unwrap();
        assert_eq!(c.endpoint.as_str(), "http://localhost:4317/");
        let file = TraceSettings { protocol: Some(Protocol::Grpc), ..TraceSettings::default() };
        let c = ExportConfig::resolve(&file, &env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]), origin());
        assert_eq!(c.unwrap().unwrap().protocol, Protocol::Grpc, "the file wins");
        let bad = env(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")]);
        let e = ExportConfig::resolve(&s, &bad, origin()).unwrap_err().to_string();
        assert!(e.starts_with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: `http/json` is not"), "{e}");
        let missing = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
        ]);
        let e = ExportConfig::resolve(&s, &missing, origin()).unwrap_err().to_string();
        assert!(e.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read /nonexistent/ca.pem"), "{e}");
    }
}
