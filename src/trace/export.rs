//! The exporter task: takes runs' spans off the bounded queue, batches what is waiting, and posts each batch
//! as one OTLP/HTTP protobuf request (`ExportTraceServiceRequest`, the OpenTelemetry project's own message
//! definitions from `opentelemetry-proto`, encoded with prost) under a deadline.
//!
//! One request at a time and no retries: a slow or dead collector holds this task, never a journey. While
//! it is held the queue fills and the sink drops new runs (counted); a failed batch is dropped and counted
//! too. The runs are monitoring data whose value is now; replaying a backlog after an outage would bury the
//! runs that matter under stale ones.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{DropReason, ExportConfig, TraceMetrics};

/// The running exporter: awaited on shutdown so queued runs are sent before the process ends.
#[derive(Debug)]
pub struct Exporter {
    task: JoinHandle<()>,
    metrics: TraceMetrics,
}

impl Exporter {
    pub(super) fn spawn(config: ExportConfig, rx: mpsc::Receiver<Vec<Span>>, metrics: TraceMetrics) -> Exporter {
        let task = tokio::spawn(run(config, rx, metrics.clone()));
        Exporter { task, metrics }
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

async fn run(config: ExportConfig, mut rx: mpsc::Receiver<Vec<Span>>, metrics: TraceMetrics) {
    let client = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "trace export: cannot build the HTTP client; runs are dropped");
            return drain_dropped(&mut rx, &metrics).await;
        }
    };
    let headers = request_headers(&config);
    let resource = Resource { attributes: config.resource.clone(), ..Resource::default() };
    let scope = InstrumentationScope {
        name: "journeyd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    };
    let mut batch: Vec<Vec<Span>> = Vec::with_capacity(config.batch_size);
    while rx.recv_many(&mut batch, config.batch_size).await > 0 {
        let runs = batch.len() as u64;
        metrics.queued.sub(runs as i64);
        let spans: Vec<Span> = batch.drain(..).flatten().collect();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans { scope: Some(scope.clone()), spans, schema_url: String::new() }],
                schema_url: String::new(),
            }],
        };
        let body = request.encode_to_vec();
        let sent = client.post(config.endpoint.clone()).headers(headers.clone()).body(body).send().await;
        match sent.map(|r| r.status()) {
            Ok(status) if status.is_success() => {
                metrics.requests.with_label_values(&["ok"]).inc();
                metrics.exported.inc_by(runs);
            }
            outcome => {
                // Never the error's URL or the headers: the endpoint may carry a token, the headers do.
                let why = match outcome {
                    Ok(status) => format!("the collector answered {status}"),
                    Err(e) if e.is_timeout() => {
                        format!("no answer within {}", crate::units::format_duration(config.timeout))
                    }
                    Err(e) => crate::http::error_chain(&e.without_url()),
                };
                tracing::warn!(
                    runs,
                    "trace export failed: {why}; the batch is dropped (journeyd_traces_dropped_total)"
                );
                metrics.requests.with_label_values(&["error"]).inc();
                metrics.dropped(DropReason::ExportFailed, runs);
            }
        }
    }
}

/// Without a client nothing can be sent: every run that arrives is counted as dropped.
async fn drain_dropped(rx: &mut mpsc::Receiver<Vec<Span>>, metrics: &TraceMetrics) {
    while rx.recv().await.is_some() {
        metrics.queued.dec();
        metrics.dropped(DropReason::ExportFailed, 1);
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
