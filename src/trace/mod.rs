//! Every run a trace: OpenTelemetry export of journey runs over OTLP/HTTP (protobuf).
//!
//! The runner only picks the ids (a trace id per run, a span id per step, sent as `traceparent` with a
//! `tracestate` of `journeyd=synthetic`) and puts them in the outcome. [`TraceSink`], fed by the pipeline
//! like every other consumer, decides at the end of each run whether it is exported (every failed or
//! degraded run, a share of passing ones: `spans::Sampler`), builds its spans (`spans`) and hands them to
//! the exporter task (`export`) through a bounded queue without ever waiting: when the queue is full the
//! run is dropped and counted, so a hung or refusing collector never slows a journey or the pipeline.
//!
//! Configuration: the settings file's `traces:` section, then the standard `OTEL_*` variables
//! ([`ExportConfig::resolve`]). Read at start; a reload does not restart the exporter (`trace_url` in alerts
//! does follow reloads).

mod export;
pub mod spans;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use reqwest::header::{HeaderName, HeaderValue};
use tokio::sync::mpsc;

use crate::location::Location;
use crate::model::{Journey, Suite};
use crate::outcome::RunOutcome;
use crate::pipeline::Sink;
use crate::settings::TraceSettings;
use crate::shard::Shard;
pub use export::{Exporter, Totals};
use spans::{JourneySpans, Sampler};

/// Everything the exporter needs, resolved from the settings and the environment.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// The full OTLP/HTTP traces URL.
    pub endpoint: reqwest::Url,
    /// Sent with every request (credentials: marked sensitive, never logged).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `service.name`, version, location, shard and the configured attributes.
    pub resource: Vec<KeyValue>,
    pub sample_passing: f64,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub timeout: Duration,
}

/// Why the `OTEL_*` environment cannot be used. Names the variable, never a header's value.
#[derive(Debug, thiserror::Error)]
pub enum TraceConfigError {
    #[error("{var}: `{value}` is not an http:// or https:// URL; set it to the collector's OTLP/HTTP address (e.g. http://otel-collector:4318)")]
    Endpoint { var: &'static str, value: String },
    #[error("{var}: entry {index} is not `name=value` with a valid header name and value; write it like `x-api-key=…,x-tenant=acme`")]
    Header { var: &'static str, index: usize },
    #[error("{var}: entry {index} is not `key=value`; write it like `deployment.environment=prod,team=shop`")]
    Attribute { var: &'static str, index: usize },
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

impl ExportConfig {
    /// The export configuration: the settings file first, then the standard variables
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`;
    /// `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_SERVICE_NAME`,
    /// `OTEL_RESOURCE_ATTRIBUTES`). `None`: no endpoint anywhere, or `OTEL_SDK_DISABLED=true`.
    pub fn resolve(
        s: &TraceSettings,
        env: &dyn Fn(&str) -> Option<String>,
        origin: Origin<'_>,
    ) -> Result<Option<ExportConfig>, TraceConfigError> {
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let endpoint =
            match (&s.endpoint, env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                // Validated with the file.
                (Some(url), _, _) => http_url("traces.endpoint", url)?,
                (None, Some(url), _) => http_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)?,
                (None, None, Some(base)) => {
                    let url = format!("{}/v1/traces", base.trim_end_matches('/'));
                    http_url("OTEL_EXPORTER_OTLP_ENDPOINT", &url)
                        .map_err(|_| TraceConfigError::Endpoint { var: "OTEL_EXPORTER_OTLP_ENDPOINT", value: base })?
                }
                (None, None, None) => return Ok(None),
            };
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
                let bad = TraceConfigError::Header { var: "OTEL_EXPORTER_OTLP_HEADERS", index: i + 1 };
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad)?;
                let value = HeaderValue::from_str(&v)
                    .map_err(|_| TraceConfigError::Header { var: "OTEL_EXPORTER_OTLP_HEADERS", index: i + 1 })?;
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
            headers,
            resource,
            sample_passing: s.sample_passing,
            queue_capacity: s.queue_capacity,
            batch_size: s.batch_size,
            timeout: s.timeout,
        }))
    }
}

/// Why a run's trace was not exported: the `reason` label of `journeyd_traces_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The export queue was full (the collector is slow or down).
    QueueFull,
    /// The collector refused the batch, failed, or did not answer in time.
    ExportFailed,
    /// Still queued when journeyd stopped and the drain time ran out.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [DropReason::QueueFull, DropReason::ExportFailed, DropReason::Shutdown];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::ExportFailed => "export_failed",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// The exporter's own series (`journeyd_*`: they describe the daemon, not the journeys).
#[derive(Debug, Clone)]
pub struct TraceMetrics {
    /// Runs whose spans a collector accepted.
    pub exported: IntCounter,
    dropped: IntCounterVec,
    /// Export requests by result (`ok`, `error`).
    pub requests: IntCounterVec,
    /// Runs waiting in the queue: never above `queue_capacity`.
    pub queued: IntGauge,
}

impl TraceMetrics {
    pub fn register(registry: &Registry) -> TraceMetrics {
        let exported = IntCounter::new(
            "journeyd_traces_exported_total",
            "Journey runs exported as traces and accepted by the OTLP collector.",
        )
        .expect("static");
        let dropped = IntCounterVec::new(
            Opts::new(
                "journeyd_traces_dropped_total",
                "Sampled journey runs whose trace was not exported, by reason (queue_full, export_failed, shutdown).",
            ),
            &["reason"],
        )
        .expect("static");
        let requests = IntCounterVec::new(
            Opts::new("journeyd_trace_export_requests_total", "OTLP export requests, by result (ok, error)."),
            &["result"],
        )
        .expect("static");
        let queued =
            IntGauge::new("journeyd_traces_queued", "Journey runs waiting to be exported as traces.").expect("static");
        for r in DropReason::ALL {
            dropped.with_label_values(&[r.as_str()]);
        }
        for r in ["ok", "error"] {
            requests.with_label_values(&[r]);
        }
        // A fresh registry per daemon or verify run: registration only fails on a programming error.
        let _ = registry.register(Box::new(exported.clone()));
        let _ = registry.register(Box::new(dropped.clone()));
        let _ = registry.register(Box::new(requests.clone()));
        let _ = registry.register(Box::new(queued.clone()));
        TraceMetrics { exported, dropped, requests, queued }
    }

    pub fn dropped(&self, reason: DropReason, runs: u64) {
        self.dropped.with_label_values(&[reason.as_str()]).inc_by(runs);
    }

    pub fn dropped_total(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.dropped.with_label_values(&[r.as_str()]).get()).sum()
    }
}

/// Starts the exporter task; the sink goes to the pipeline, the exporter is finished on shutdown.
pub fn start(config: ExportConfig, registry: &Registry) -> (TraceSink, Exporter) {
    let metrics = TraceMetrics::register(registry);
    let (tx, rx) = mpsc::channel(config.queue_capacity);
    let sink = TraceSink {
        tx: Some(tx),
        sampler: Sampler::new(config.sample_passing),
        journeys: HashMap::new(),
        metrics: metrics.clone(),
    };
    tracing::info!(
        endpoint = %config.endpoint.origin().ascii_serialization(),
        sample_passing = config.sample_passing,
        "exporting journey runs as OpenTelemetry traces"
    );
    (sink, Exporter::spawn(config, rx, metrics))
}

/// The pipeline's trace consumer: samples each finished run and queues its spans without waiting.
pub struct TraceSink {
    /// `None` once finished: the exporter sees the queue close and drains it.
    tx: Option<mpsc::Sender<Vec<Span>>>,
    sampler: Sampler,
    /// Per journey: its redactor and step servers, rebuilt when the suite changes.
    journeys: HashMap<String, Arc<JourneySpans>>,
    metrics: TraceMetrics,
}

impl Sink for TraceSink {
    fn suite_changed(&mut self, suite: &Suite) {
        self.journeys = suite.journeys.iter().map(|j| (j.name.clone(), Arc::new(JourneySpans::new(j)))).collect();
    }

    fn outcome(&mut self, journey: &Journey, outcome: &RunOutcome) {
        let (Some(tx), true) = (&self.tx, self.sampler.keeps(outcome)) else { return };
        let info = match self.journeys.get(&journey.name) {
            Some(info) => Arc::clone(info),
            None => {
                let info = Arc::new(JourneySpans::new(journey));
                self.journeys.insert(journey.name.clone(), Arc::clone(&info));
                info
            }
        };
        // Counted before the send: the exporter may take it off the queue at once.
        self.metrics.queued.inc();
        if tx.try_send(spans::run_spans(journey, &info, outcome)).is_err() {
            self.metrics.queued.dec();
            self.metrics.dropped(DropReason::QueueFull, 1);
        }
    }

    fn finish(&mut self) {
        self.tx = None;
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
}
