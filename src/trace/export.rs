//! The exporter task: takes runs' spans off the bounded queue, batches what is waiting, and sends each batch
//! as one OTLP request (`ExportTraceServiceRequest`, the OpenTelemetry project's own message definitions
//! from `opentelemetry-proto`, encoded with prost) under a deadline: posted over HTTP (reqwest), or as a
//! unary gRPC call (`grpc`).
//!
//! One request at a time and no retries: a slow or dead collector holds this task, never a journey. While
//! it is held the queue fills and the sink drops new runs (counted); a failed batch is dropped and counted
//! too, whatever the HTTP status or gRPC code (UNAVAILABLE and RESOURCE_EXHAUSTED included). The runs are
//! monitoring data whose value is now; replaying a backlog after an outage would bury the runs that matter
//! under stale ones.
//!
//! Each run carries the configuration it was sampled under; a batch only holds runs of one configuration,
//! and the connection (HTTP client or HTTP/2 channel) is rebuilt only when the collector, protocol,
//! deadline or trusted CAs change.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prometheus::Registry;
use prost::Message;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::grpc::Channel;
use super::{DropReason, ExportConfig, Protocol, Queued, TraceMetrics};

/// The running exporter: swapped to a new configuration by reloads, awaited on shutdown so queued runs are
/// sent before the process ends.
#[derive(Debug)]
pub struct Exporter {
    task: JoinHandle<()>,
    metrics: TraceMetrics,
    /// The configuration the sink samples new runs under; `None`: not exporting.
    current: watch::Sender<Option<Arc<ExportConfig>>>,
    /// Where the series are registered the first time export is configured (at start or by a reload).
    registry: Registry,
    registered: bool,
}

impl Exporter {
    pub(super) fn spawn(
        rx: mpsc::Receiver<Queued>,
        metrics: TraceMetrics,
        current: watch::Sender<Option<Arc<ExportConfig>>>,
        registry: Registry,
    ) -> Exporter {
        let task = tokio::spawn(run(rx, metrics.clone()));
        Exporter { task, metrics, current, registry, registered: false }
    }

    /// From the next run on, samples and exports with `config` (`None`: stops exporting). Runs already
    /// queued are sent with the configuration they were sampled under. The counters go on from where they
    /// were.
    pub fn apply(&mut self, config: Option<ExportConfig>) {
        if self.current.borrow().as_deref() == config.as_ref() {
            return;
        }
        match &config {
            Some(c) => {
                if !self.registered {
                    self.metrics.register(&self.registry);
                    self.registered = true;
                }
                tracing::info!(
                    endpoint = %c.endpoint.origin().ascii_serialization(),
                    protocol = c.protocol.as_str(),
                    sample_passing = c.sample_passing,
                    "exporting journey runs as OpenTelemetry traces"
                );
            }
            None => tracing::info!("trace export stopped: the settings and OTEL_* variables name no collector"),
        }
        self.current.send_replace(config.map(Arc::new));
    }

    /// Waits up to `grace` for the queue to drain once the sink has finished (the pipeline ended); runs
    /// still queued after that are counted as dropped (`shutdown`). Returns the totals of the export.
    pub async fn finish(self, grace: Duration) -> Totals {
        let abort = self.task.abort_handle();
        if tokio::time::timeout(grace, self.task).await.is_err() {
            abort.abort();
            let left = self.metrics.queued.get().max(0) as u64;
            self.metrics.dropped(DropReason::Shutdown, left);
            self.metrics.queued.set(0);
        }
        Totals { exported: self.metrics.exported.get(), dropped: self.metrics.dropped_total() }
    }
}

/// What an export came to, for `verify`'s closing line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub exported: u64,
    pub dropped: u64,
}

/// How batches reach the collector of one configuration.
enum Transport {
    Http(reqwest::Client),
    /// One HTTP/2 connection, reused until it breaks.
    Grpc(Channel),
}

impl Transport {
    fn new(config: &ExportConfig) -> Result<Transport, String> {
        match config.protocol {
            Protocol::Grpc => Ok(Transport::Grpc(Channel::new())),
            Protocol::HttpProtobuf => {
                let mut builder = reqwest::Client::builder().timeout(config.timeout);
                for root in config.roots.iter() {
                    let cert = reqwest::Certificate::from_der(root).map_err(|e| crate::http::error_chain(&e))?;
                    builder = builder.add_root_certificate(cert);
                }
                builder.build().map(Transport::Http).map_err(|e| crate::http::error_chain(&e))
            }
        }
    }

    /// Sends one encoded request; the error says why, without the endpoint or the headers.
    async fn send(&mut self, config: &ExportConfig, body: Vec<u8>) -> Result<(), String> {
        match self {
            Transport::Grpc(channel) => channel.export(config, body).await.map_err(|e| e.to_string()),
            Transport::Http(client) => {
                let sent =
                    client.post(config.endpoint.clone()).headers(request_headers(config)).body(body).send().await;
                match sent.map(|r| r.status()) {
                    Ok(status) if status.is_success() => Ok(()),
                    // Never the error's URL or the headers: the endpoint may carry a token, the headers do.
                    Ok(status) => Err(format!("the collector answered {status}")),
                    Err(e) if e.is_timeout() => {
                        Err(format!("no answer within {}", crate::units::format_duration(config.timeout)))
                    }
                    Err(e) => Err(crate::http::error_chain(&e.without_url())),
                }
            }
        }
    }
}

async fn run(mut rx: mpsc::Receiver<Queued>, metrics: TraceMetrics) {
    let scope = InstrumentationScope {
        name: "journeyd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    };
    let mut transport: Option<(Arc<ExportConfig>, Transport)> = None;
    // A run of another configuration taken off the queue while a batch was gathered: the next batch's first.
    let mut next: Option<Queued> = None;
    loop {
        let first = match next.take() {
            Some(run) => run,
            None => match rx.recv().await {
                Some(run) => run,
                None => return,
            },
        };
        metrics.queued.dec();
        let config = Arc::clone(&first.config);
        let mut spans = first.spans;
        let mut runs = 1u64;
        while runs < config.batch_size as u64 {
            match rx.try_recv() {
                Ok(run) if Arc::ptr_eq(&run.config, &config) => {
                    metrics.queued.dec();
                    spans.extend(run.spans);
                    runs += 1;
                }
                Ok(other) => {
                    // Still waiting: counted off the queue when its batch starts.
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let reuse = transport.as_ref().is_some_and(|(used, _)| used.same_connection(&config));
        if !reuse {
            transport = match Transport::new(&config) {
                Ok(t) => Some((Arc::clone(&config), t)),
                Err(why) => {
                    tracing::error!("trace export: cannot build the client: {why}; the batch is dropped");
                    metrics.dropped(DropReason::ExportFailed, runs);
                    continue;
                }
            };
        }
        let (_, sender) = transport.as_mut().expect("built above");
        let body = request(&config, &scope, spans).encode_to_vec();
        match sender.send(&config, body).await {
            Ok(()) => {
                metrics.requests.with_label_values(&["ok"]).inc();
                metrics.exported.inc_by(runs);
            }
            Err(why) => {
                tracing::warn!(
                    runs,
                    protocol = config.protocol.as_str(),
                    "trace export failed: {why}; the batch is dropped (journeyd_traces_dropped_total)"
                );
                metrics.requests.with_label_values(&["error"]).inc();
                metrics.dropped(DropReason::ExportFailed, runs);
            }
        }
    }
}

fn request(config: &ExportConfig, scope: &InstrumentationScope, spans: Vec<Span>) -> ExportTraceServiceRequest {
    let resource = Resource { attributes: config.resource.clone(), ..Resource::default() };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans { scope: Some(scope.clone()), spans, schema_url: String::new() }],
            schema_url: String::new(),
        }],
    }
}

fn request_headers(config: &ExportConfig) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(config.headers.len() + 1);
    for (name, value) in &config.headers {
        let mut value = value.clone();
        value.set_sensitive(true);
        headers.insert(name.clone(), value);
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
    headers
}
