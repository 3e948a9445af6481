//! The `traces:` section: where runs are exported as OpenTelemetry traces, how many passing runs are, and
//! the `trace_url` link alerts carry. What the file leaves unset comes from the standard `OTEL_*`
//! variables when the exporter starts (`trace::ExportConfig`), not here: the file is the same on every
//! replica, the environment is the deployment's.

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw;
use super::validate::{duration, invalid, is_http};
use crate::config::FileCtx;

/// Validated `traces:` settings. The default exports nothing unless the `OTEL_*` variables name an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    /// The collector: for OTLP/HTTP the full traces URL (`…/v1/traces`), for gRPC its address (the path is
    /// not used); `None`: the environment decides.
    pub endpoint: Option<String>,
    /// How runs are sent; `None`: the `OTEL_*_PROTOCOL` variables decide, else OTLP/HTTP.
    pub protocol: Option<Protocol>,
    /// Sent with every export request; values are credentials, never logged or shown.
    pub headers: BTreeMap<String, String>,
    /// Share of passing runs exported, by trace id (the OTel ratio rule: every replica and every backend
    /// sampler that reads the same id agrees); failed and degraded runs are always exported.
    pub sample_passing: f64,
    /// A link to a trace with `{trace_id}` in it: alerts get it as the `trace_url` annotation.
    pub trace_url: Option<String>,
    /// `service.name`; `None`: `OTEL_SERVICE_NAME`, else `journeyd`.
    pub service_name: Option<String>,
    /// Resource attributes over `OTEL_RESOURCE_ATTRIBUTES` (which they override).
    pub resource_attributes: BTreeMap<String, String>,
    /// Runs waiting for export: the bound on the exporter's memory while a collector is slow or down (the
    /// bench's four-step checkout encodes to about 2.4 KB a run, a few KB in memory: the default is a few MB).
    pub queue_capacity: usize,
    /// Most runs per export request: bounds a request's size.
    pub batch_size: usize,
    /// Deadline of one export request: a hung collector costs at most this per batch.
    pub timeout: Duration,
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            endpoint: None,
            protocol: None,
            headers: BTreeMap::new(),
            sample_passing: 0.1,
            trace_url: None,
            service_name: None,
            resource_attributes: BTreeMap::new(),
            queue_capacity: 512,
            batch_size: 256,
            timeout: Duration::from_secs(10),
        }
    }
}

impl TraceSettings {
    /// The `trace_url` link for one trace, when a template is set.
    pub fn link(&self, trace_id: &str) -> Option<String> {
        self.trace_url.as_deref().map(|t| trace_link(t, trace_id))
    }
}

/// A `trace_url` template with the trace id filled in.
pub fn trace_link(template: &str, trace_id: &str) -> String {
    template.replace(TRACE_ID, trace_id)
}

/// The OTLP transport: the values of `traces.protocol` and the `OTEL_*_PROTOCOL` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Protobuf posted to `…/v1/traces` over HTTP/1.1.
    HttpProtobuf,
    /// Unary gRPC `TraceService/Export` over HTTP/2 (h2c for `http://`, TLS with ALPN h2 for `https://`).
    Grpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }

    /// The spec's names; `http/json` is one too, but journeyd does not send JSON.
    pub fn parse(text: &str) -> Option<Protocol> {
        match text.trim() {
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "grpc" => Some(Protocol::Grpc),
            _ => None,
        }
    }
}

/// What `trace_url` replaces.
const TRACE_ID: &str = "{trace_id}";

pub(super) fn validate(ctx: &mut FileCtx, t: raw::Traces) -> TraceSettings {
    let mut s = TraceSettings::default();
    if let Some(url) = &t.endpoint {
        if !is_http(url) || reqwest::Url::parse(url).is_err() {
            let hint = "the collector's OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces".to_string();
            invalid(ctx, "traces.endpoint", format!("`{url}` is not an http:// or https:// URL"), Some(hint));
        }
    }
    if let Some(text) = &t.protocol {
        s.protocol = Protocol::parse(text);
        if s.protocol.is_none() {
            let hint = "`http/protobuf` (port 4318, …/v1/traces) or `grpc` (port 4317); http/json is not supported";
            invalid(
                ctx,
                "traces.protocol",
                format!("`{text}` is not an OTLP protocol journeyd sends"),
                Some(hint.into()),
            );
        }
    }
    for (name, value) in &t.headers {
        ctx.secrets.push(value.clone());
        let field = format!("traces.headers.{name}");
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            let hint = "letters, digits and -, e.g. x-api-key".to_string();
            ctx.error_key(&field, format!("`{field}`: `{name}` is not a valid header name"), Some(hint));
        } else if reqwest::header::HeaderValue::from_str(value).is_err() {
            invalid(ctx, &field, "the value is not a valid header value (no line breaks)".into(), None);
        }
    }
    if let Some(share) = t.sample_passing {
        if !(0.0..=1.0).contains(&share) {
            let hint = "0 exports only failed and degraded runs, 1 every run, 0.01 one passing run in 100".to_string();
            invalid(ctx, "traces.sample_passing", format!("{share} is not between 0 and 1"), Some(hint));
        }
        s.sample_passing = share;
    }
    if let Some(url) = &t.trace_url {
        if !is_http(url) || !url.contains(TRACE_ID) {
            let hint = "e.g. https://tempo.example/trace/{trace_id} or https://jaeger.example/trace/{trace_id}";
            let msg = format!("`{url}` must be an http:// or https:// URL with {TRACE_ID} in it");
            invalid(ctx, "traces.trace_url", msg, Some(hint.into()));
        }
    }
    for (field, value) in [("traces.queue_capacity", t.queue_capacity), ("traces.batch_size", t.batch_size)] {
        if value == Some(0) {
            invalid(ctx, field, "must be at least 1".into(), Some("the defaults are 512 and 256".into()));
        }
    }
    s.queue_capacity = t.queue_capacity.unwrap_or(s.queue_capacity);
    s.batch_size = t.batch_size.unwrap_or(s.batch_size);
    s.timeout = duration(ctx, "traces.timeout", &t.timeout, s.timeout).unwrap_or(s.timeout);
    s.endpoint = t.endpoint;
    s.headers = t.headers;
    s.trace_url = t.trace_url;
    s.service_name = t.service_name;
    s.resource_attributes = t.resource_attributes;
    s
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::settings::Settings;

    fn parse(text: &str) -> Result<Settings, String> {
        Settings::parse(Path::new("settings.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_traces_section_is_read_with_defaults() {
        let s = parse(
            "traces:\n  endpoint: http://127.0.0.1:4318/v1/traces\n  headers: { x-api-key: k }\n  sample_passing: 0.5\n  trace_url: https://tempo.example/trace/{trace_id}\n",
        )
        .unwrap();
        let t = &s.traces;
        assert_eq!(t.endpoint.as_deref(), Some("http://127.0.0.1:4318/v1/traces"));
        assert_eq!(t.sample_passing, 0.5);
        assert_eq!(t.queue_capacity, 512);
        assert_eq!(t.link("ab").as_deref(), Some("https://tempo.example/trace/ab"));
        assert_eq!(Settings::default().traces.link("ab"), None);
    }

    #[test]
    fn mistakes_in_traces_are_located_and_header_values_never_shown() {
        let e = parse("traces:\n  protocol: http/json\n").unwrap_err();
        assert!(e.starts_with("settings.yml:2:13: `traces.protocol`: `http/json` is not"), "{e}");
        let s = parse("traces:\n  protocol: grpc\n  endpoint: https://collector:4317\n").unwrap();
        assert_eq!(s.traces.protocol, Some(super::Protocol::Grpc));
        let e = parse("traces:\n  sample_passing: 2\n").unwrap_err();
        assert!(e.starts_with("settings.yml:2:19: `traces.sample_passing`: 2 is not between 0 and 1"), "{e}");
        let e = parse("traces:\n  trace_url: https://tempo.example/trace/\n").unwrap_err();
        assert!(e.contains("`traces.trace_url`") && e.contains("{trace_id}"), "{e}");
        let e = parse("traces:\n  endpoint: collector:4318\n  headers: { x-api-key: \"sekrit-1\\n\" }\n").unwrap_err();
        assert!(e.contains("`traces.endpoint`"), "{e}");
        assert!(e.contains("`traces.headers.x-api-key`") && !e.contains("sekrit"), "{e}");
    }
}
