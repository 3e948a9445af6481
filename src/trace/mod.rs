//! Every run a trace: OpenTelemetry export of journey runs over OTLP, HTTP/protobuf or gRPC.
//!
//! The runner only picks the ids (a trace id per run, a span id per step, sent as `traceparent` with a
//! `tracestate` of `journeyd=synthetic`) and puts them in the outcome. [`TraceSink`], fed by the pipeline
//! like every other consumer, decides at the end of each run whether it is exported (every failed or
//! degraded run, a share of passing ones: `spans::Sampler`), builds its spans (`spans`) and hands them to
//! the exporter task (`export`, over `grpc` for gRPC) through a bounded queue without ever waiting: when
//! the queue is full the run is dropped and counted, so a hung or refusing collector never slows a journey
//! or the pipeline.
//!
//! Configuration: the settings file's `traces:` section, then the standard `OTEL_*` variables
//! ([`ExportConfig::resolve`]), at start and on every reload ([`Exporter::apply`]). Each queued run carries
//! the configuration it was sampled under, so a reload never re-routes a run: runs queued before it go
//! where they were meant to, the next ones where the new settings say.

mod config;
mod export;
mod grpc;
pub mod spans;

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::Span;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::{mpsc, watch};

use crate::model::{Journey, Suite};
use crate::outcome::RunOutcome;
use crate::pipeline::Sink;
pub use crate::settings::Protocol;
pub use config::{ExportConfig, Origin, TraceConfigError};
pub use export::{Exporter, Totals};
use spans::{JourneySpans, Sampler};

/// One sampled run waiting for export, with the configuration it was sampled under.
#[derive(Debug)]
struct Queued {
    config: Arc<ExportConfig>,
    spans: Vec<Span>,
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
    /// The series, not yet registered: they appear on `/metrics` once export is configured ([`Self::register`]).
    fn new() -> TraceMetrics {
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
        TraceMetrics { exported, dropped, requests, queued }
    }

    /// Adds the series to `registry`; the same counters before and after, so they stay continuous.
    fn register(&self, registry: &Registry) {
        // A fresh registry per daemon or verify run, registered once: only fails on a programming error.
        let _ = registry.register(Box::new(self.exported.clone()));
        let _ = registry.register(Box::new(self.dropped.clone()));
        let _ = registry.register(Box::new(self.requests.clone()));
        let _ = registry.register(Box::new(self.queued.clone()));
    }

    pub fn dropped(&self, reason: DropReason, runs: u64) {
        self.dropped.with_label_values(&[reason.as_str()]).inc_by(runs);
    }

    pub fn dropped_total(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.dropped.with_label_values(&[r.as_str()]).get()).sum()
    }
}

/// Starts exporting with `config` (verify: fixed for the whole run).
pub fn start(config: ExportConfig, registry: &Registry) -> (TraceSink, Exporter) {
    let capacity = config.queue_capacity;
    start_live(Some(config), capacity, registry)
}

/// Starts the exporter task, exporting with `config` until [`Exporter::apply`] changes it (`None`: not
/// exporting; runs are not even sampled). `queue_capacity` bounds the queue for the daemon's lifetime.
/// The sink goes to the pipeline, the exporter is finished on shutdown.
pub fn start_live(config: Option<ExportConfig>, queue_capacity: usize, registry: &Registry) -> (TraceSink, Exporter) {
    let metrics = TraceMetrics::new();
    let (tx, rx) = mpsc::channel(queue_capacity.max(1));
    let (current, watching) = watch::channel(None);
    let sink = TraceSink { tx: Some(tx), config: watching, journeys: HashMap::new(), metrics: metrics.clone() };
    let mut exporter = Exporter::spawn(rx, metrics, current, registry.clone());
    exporter.apply(config);
    (sink, exporter)
}

/// The pipeline's trace consumer: samples each finished run and queues its spans without waiting.
pub struct TraceSink {
    /// `None` once finished: the exporter sees the queue close and drains it.
    tx: Option<mpsc::Sender<Queued>>,
    /// The configuration in force, swapped by reloads: read at every run, so the next run follows a reload.
    config: watch::Receiver<Option<Arc<ExportConfig>>>,
    /// Per journey: its redactor and step servers, rebuilt when the suite changes.
    journeys: HashMap<String, Arc<JourneySpans>>,
    metrics: TraceMetrics,
}

impl Sink for TraceSink {
    fn suite_changed(&mut self, suite: &Suite) {
        if self.config.borrow().is_none() {
            // Not exporting: nothing to build now; a reload that turns export on builds them as runs end.
            self.journeys.clear();
            return;
        }
        self.journeys = suite.journeys.iter().map(|j| (j.name.clone(), Arc::new(JourneySpans::new(j)))).collect();
    }

    fn outcome(&mut self, journey: &Journey, outcome: &RunOutcome) {
        let Some(config) = self.config.borrow().clone() else { return };
        let keep = Sampler::new(config.sample_passing).keeps(outcome) || spans::over_budget(journey, outcome);
        let (Some(tx), true) = (&self.tx, keep) else { return };
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
        let run = Queued { config, spans: spans::run_spans(journey, &info, outcome) };
        if tx.try_send(run).is_err() {
            self.metrics.queued.dec();
            self.metrics.dropped(DropReason::QueueFull, 1);
        }
    }

    fn finish(&mut self) {
        self.tx = None;
    }
}
