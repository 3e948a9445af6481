//! The Prometheus registry and the metrics sink that keeps it current from outcomes.
//!
//! Names follow Prometheus conventions and the shapes blackbox_exporter users already alert on: base units,
//! `_total` counters, and label values only from names in the journey files (journey, step) or closed sets
//! (outcome, reason, phase) — never URLs or response data. The one exception is the TLS certificate a step's
//! server presents (`certs`): its labels hold exactly one certificate per step at a time, clipped.

pub mod browser;
mod certs;
mod handles;
mod process;
mod sink;
pub mod stats;
pub mod window;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

pub use sink::MetricsSink;
pub use stats::{JourneySummary, StatsTable};
pub use window::Windows;

/// Histogram buckets (seconds) for every latency histogram. Fixed and documented so that `sum by (le)`
/// across replicas and shards is valid.
pub const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Buckets (seconds) of `journey_step_phase_seconds`: finer at the bottom, where connect and DNS on a LAN
/// live (100 µs – 5 ms), then the latency buckets. Fixed for the same reason.
pub const PHASE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The `phase` label values of `journey_step_phase_seconds`. `tls` is not among them: reqwest does not expose
/// the boundary between TCP connect and the TLS handshake, so for https `connect` includes the handshake.
/// `outcome` values of `journey_runs_total` (and `journey_target_runs_total`), in [`outcome_index`]'s order.
pub const OUTCOMES: [&str; 3] = ["success", "failure", "cancelled"];

/// A run's place in [`OUTCOMES`].
pub fn outcome_index(status: &crate::outcome::RunStatus) -> usize {
    match status {
        crate::outcome::RunStatus::Passed => 0,
        crate::outcome::RunStatus::Failed(_) => 1,
        crate::outcome::RunStatus::Cancelled => 2,
    }
}

pub const PHASES: [&str; 5] = ["dns", "connect", "tls", "waiting", "transfer"];

/// Every metric family journeyd exports. Cloning is cheap (handles into the same registry).
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// The per-journey and per-step histogram families, each in a registry of its own, so a scrape holds
    /// one of them gathered at a time (they are most of a large monitor's series).
    histograms: Arc<[Registry]>,
    /// Bytes of the last exposition: the next one's buffer is made that size at once (a 1,000-journey
    /// monitor's text is 18 MB; grown by doubling, it peaked at 16 + 32 MB during the copy).
    last_size: Arc<AtomicUsize>,
    pub success: IntGaugeVec,
    pub runs: IntCounterVec,
    pub duration: HistogramVec,
    pub step_duration: HistogramVec,
    /// Request sent → response complete, summed over a journey's steps (think time and waits excluded).
    pub service: HistogramVec,
    pub step_service: HistogramVec,
    /// Per-phase time of a step's last request; a pooled connection observes 0 for dns and connect.
    pub step_phase: HistogramVec,
    /// Requests by whether they opened a new connection or reused a pooled one.
    pub step_requests: IntCounterVec,
    pub late: IntCounterVec,
    /// Failed monitor attempts retried at once (`alerts.confirm`), by the reason they failed.
    pub retries: IntCounterVec,
    /// Requests to `oauth` token endpoints, by source and result: a token refreshed on every 401 or an
    /// endpoint failing shows here before it shows as `auth` failures.
    pub token_fetches: IntCounterVec,
    /// Sliding-window HDRs behind the `*_latency_window_seconds` gauges (computed at scrape time).
    pub windows: Windows,
    pub step_failures: IntCounterVec,
    pub step_success: IntGaugeVec,
    pub step_status: IntGaugeVec,
    pub last_run: GaugeVec,
    pub missed: IntCounterVec,
    pub dropped: IntCounterVec,
    pub start_delay: HistogramVec,
    pub tls_skip_verify: IntGaugeVec,
    /// `journey_ssl_earliest_cert_expiry`: the earliest `notAfter` of the chain a step's server last
    /// presented (see `certs`).
    pub cert_expiry: GaugeVec,
    /// `journey_tls_version_info`: 1 for the TLS version of a step's last fresh handshake.
    pub tls_version: IntGaugeVec,
    /// `journey_ssl_last_chain_info`: 1 for the leaf certificate a step's server last presented.
    pub cert_chain: IntGaugeVec,
    pub journeys: IntGauge,
    pub active_users: IntGauge,
    pub reload_success: IntGauge,
    pub reload_timestamp: prometheus::Gauge,
    /// Browser journeys' page timings, web vitals, JavaScript errors and failed requests.
    pub browser: browser::BrowserFamilies,
}

/// Locks a table shared between the pipeline and scrapes; a panic elsewhere leaves data, not a poison.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

fn histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), labels)
        .expect("static histogram definition")
}

/// `journeyd_config_last_reload_successful` and `journeyd_config_last_reload_success_timestamp_seconds`.
fn reload_gauges() -> (IntGauge, prometheus::Gauge) {
    (
        IntGauge::new(
            "journeyd_config_last_reload_successful",
            "Whether the last configuration load or reload succeeded.",
        )
        .expect("static"),
        prometheus::Gauge::new(
            "journeyd_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload.",
        )
        .expect("static"),
    )
}

/// `journey_step_phase_seconds`, on its own finer buckets.
fn phase_histogram() -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(
            "journey_step_phase_seconds",
            "Time of a step's last request by phase (dns, connect, tls, waiting, transfer), as \
             blackbox_exporter's probe_http_duration_seconds splits it. A reused connection observes 0 for \
             dns, connect and tls; plain http observes 0 for tls.",
        )
        .buckets(PHASE_BUCKETS.to_vec()),
        &["journey", "step", "phase"],
    )
    .expect("static histogram definition")
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(opts(name, help), labels).expect("static counter definition")
}

pub(crate) fn int_gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(opts(name, help), labels).expect("static gauge definition")
}

pub(crate) fn gauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(opts(name, help), labels).expect("static gauge definition")
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let (cert_expiry, tls_version, cert_chain) = certs::families();
        let (reload_success, reload_timestamp) = reload_gauges();
        let mut m = Metrics {
            success: int_gauge(
                "journey_success",
                "Whether the last completed iteration of the journey passed (1) or failed (0).",
                &["journey"],
            ),
            runs: counter(
                "journey_runs_total",
                "Journey iterations by outcome (success, failure, cancelled).",
                &["journey", "outcome"],
            ),
            duration: histogram(
                "journey_duration_seconds",
                "Journey response time, from the intended start to the end of the last step that ran.",
                &["journey"],
            ),
            step_duration: histogram(
                "journey_step_duration_seconds",
                "Step response time, from the step's intended start to the response being complete.",
                &["journey", "step"],
            ),
            service: histogram(
                "journey_service_seconds",
                "Journey service time: the sum of its steps' request-sent-to-response-complete times.",
                &["journey"],
            ),
            step_service: histogram(
                "journey_step_service_seconds",
                "Step service time, from the request being sent to the response being complete.",
                &["journey", "step"],
            ),
            step_phase: phase_histogram(),
            step_requests: counter(
                "journey_step_requests_total",
                "Step requests (the last of each step) by connection: new or reused from the pool.",
                &["journey", "step", "connection"],
            ),
            late: counter(
                "journey_schedule_late_total",
                "Monitor runs that started more than 100ms after their scheduled time (machine or runtime stalls).",
                &["journey"],
            ),
            retries: counter(
                "journey_run_retries_total",
                "Failed monitor attempts retried at once to confirm the failure (alerts.confirm), by the \
                 reason the attempt failed. Not counted in journey_runs_total: only a run's last attempt is.",
                &["journey", "reason"],
            ),
            token_fetches: counter(
                "journey_oauth_token_fetches_total",
                "Requests to a journey's oauth token endpoints, by token source and result (success, failure).",
                &["journey", "source", "result"],
            ),
            windows: Windows::default(),
            step_failures: counter(
                "journey_step_failures_total",
                "Failed steps by reason (connect, dns, tls, timeout, status, check, capture, body, redirect, auth, script, \
                 element, browser).",
                &["journey", "step", "reason"],
            ),
            step_success: int_gauge(
                "journey_step_success",
                "Whether the step passed (1) or failed (0) the last time it ran.",
                &["journey", "step"],
            ),
            step_status: int_gauge(
                "journey_step_status_code",
                "HTTP status code of the step's last response (0: none).",
                &["journey", "step"],
            ),
            last_run: gauge(
                "journey_last_run_timestamp_seconds",
                "Unix time of the intended start of the last completed iteration.",
                &["journey"],
            ),
            missed: counter(
                "journey_schedule_missed_total",
                "Scheduled runs not started because the previous run was still in flight.",
                &["journey"],
            ),
            dropped: counter(
                "journey_iterations_dropped_total",
                "Open-model iterations that could not start in time because all virtual users were busy.",
                &["journey"],
            ),
            start_delay: histogram(
                "journey_start_delay_seconds",
                "How late iterations started relative to their intended start (scheduler or generator stalls).",
                &["journey"],
            ),
            tls_skip_verify: int_gauge(
                "journey_tls_skip_verify",
                "1 when the journey accepts invalid TLS certificates (tls_skip_verify: true).",
                &["journey"],
            ),
            cert_expiry,
            tls_version,
            cert_chain,
            journeys: IntGauge::new("journeyd_journeys", "Journeys loaded.").expect("static"),
            active_users: IntGauge::new("journeyd_virtual_users_active", "Virtual users running an iteration now.")
                .expect("static"),
            reload_success,
            reload_timestamp,
            browser: browser::BrowserFamilies::new(),
            registry,
            histograms: Arc::from([]),
            last_size: Arc::new(AtomicUsize::new(0)),
        };
        m.register();
        m
    }

    /// Registers every family: the histogram families each in a registry of its own, the rest in `registry`.
    fn register(&mut self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.success.clone()),
            Box::new(self.runs.clone()),
            Box::new(self.step_requests.clone()),
            Box::new(self.late.clone()),
            Box::new(self.retries.clone()),
            Box::new(self.token_fetches.clone()),
            Box::new(window::WindowCollector::new(self.windows.clone())),
            Box::new(self.step_failures.clone()),
            Box::new(self.step_success.clone()),
            Box::new(self.step_status.clone()),
            Box::new(self.last_run.clone()),
            Box::new(self.missed.clone()),
            Box::new(self.dropped.clone()),
            Box::new(self.tls_skip_verify.clone()),
            Box::new(self.cert_expiry.clone()),
            Box::new(self.tls_version.clone()),
            Box::new(self.cert_chain.clone()),
            Box::new(self.journeys.clone()),
            Box::new(self.active_users.clone()),
            Box::new(self.reload_success.clone()),
            Box::new(self.reload_timestamp.clone()),
            Box::new(build_info()),
            Box::new(process::ProcessCollector::new()),
        ];
        for c in collectors.into_iter().chain(self.browser.collectors()) {
            self.registry.register(c).expect("metric names are unique");
        }
        let histograms = [
            &self.duration,
            &self.step_duration,
            &self.service,
            &self.step_service,
            &self.step_phase,
            &self.start_delay,
        ];
        self.histograms = histograms
            .into_iter()
            .map(|h| {
                let registry = Registry::new();
                registry.register(Box::new(h.clone())).expect("a registry of its own");
                registry
            })
            .collect();
    }

    /// The text exposition format: the main registry's families, then each histogram family's, gathered a
    /// registry at a time into a buffer sized from the last scrape. A scrape of a 1,000-journey monitor (18 MB
    /// of text, 223,000 series) raised its peak memory from 62 to 101 MB when every family was gathered at
    /// once and written into a buffer that grew by doubling; 89 MB now, and 91 MB after repeated scrapes.
    /// (Streaming the registries' parts as the response body held less at a time but left 107 MB resident:
    /// each worker thread's allocator kept the large buffers it had freed.)
    pub fn encode(&self) -> String {
        let last = self.last_size.load(Ordering::Relaxed);
        let mut text = String::with_capacity(last + last / 16);
        let encoder = prometheus::TextEncoder::new();
        for registry in std::iter::once(&self.registry).chain(self.histograms.iter()) {
            // Only fails on a family without metrics or a non-UTF-8 name, which gather() never returns.
            let _ = encoder.encode_utf8(&registry.gather(), &mut text);
        }
        self.last_size.store(text.len(), Ordering::Relaxed);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn build_info() -> IntGaugeVec {
    let g = IntGaugeVec::new(
        opts("journeyd_build_info", "Build information; the value is always 1."),
        &["version", "revision"],
    )
    .expect("static");
    g.with_label_values(&[crate::VERSION, option_env!("JOURNEYD_REVISION").unwrap_or("unknown")]).set(1);
    g
}
