//! The monitor daemon as a library: load the files, schedule every journey, serve the HTTP port, reload on
//! request, and shut down without losing an outcome.
//!
//! The caller owns everything outside the process's work: it binds the listener (so tests use
//! `127.0.0.1:0`), decides when to stop (the shutdown future: signals in `cli`, a timer or a token in
//! tests), asks for reloads through a [`Reloader`] (SIGHUP) and prints what [`Daemon::start`] returns
//! (warnings, URLs) or fails with ([`StartError`]). Nothing here prints, handles signals or exits.

mod error;
mod reload;
mod start;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alert::AlertHandle;
use crate::canary::Verdicts;
use crate::config::{Diagnostic, LoadOptions};
use crate::deploys::Deploys;
use crate::location::Location;
use crate::metrics::{Metrics, StatsTable};
use crate::model::Suite;
use crate::pipeline::{Event, Sink};
use crate::runner::Monitor;
use crate::server::{ReloadRequest, ServeOptions, ServerState, WriteAccess};
use crate::shard::Shard;
use crate::status::{StateSource, Status};
use crate::webconfig::LiveWebConfig;
use reload::TypedRequest;

pub use error::{LocationConflict, ReloadError, StartError};
pub use reload::Reloader;

/// Changes every loaded suite before it runs (at start and on every reload); the demo shortens intervals.
pub type Adjust = Box<dyn Fn(Suite) -> Suite + Send + Sync>;

/// What the daemon runs and how. [`Options::new`] gives `journeyd run`'s defaults.
pub struct Options {
    /// Journey files or directories, re-read on every reload.
    pub paths: Vec<PathBuf>,
    /// How the journey files are loaded (environment, strictness).
    pub load: LoadOptions,
    /// On shutdown, how long in-flight runs may finish before they are cancelled.
    pub grace: Duration,
    /// Applied to every loaded suite before it is cut to this shard's journeys.
    pub adjust: Option<Adjust>,
    /// Only journeys this shard owns are scheduled (at start and on every reload).
    pub shard: Shard,
    /// `--web-config`: TLS and basic auth for the HTTP port, read at start and on every reload.
    pub web_config: Option<PathBuf>,
    /// `--settings`: alert defaults and receivers, read at start and on every reload; `None`: defaults,
    /// no receivers (alerts show in metrics only).
    pub settings: Option<PathBuf>,
    /// Where the status page gets journey states; `None`: the alert state machine (hysteresis, maintenance).
    pub state_source: Option<Arc<dyn StateSource>>,
    /// More consumers of outcomes, fed after the metrics, status and alert sinks.
    pub sinks: Vec<Box<dyn Sink>>,
    /// Which write routes are served (`--enable-lifecycle`, `--enable-admin-api`); default: none.
    pub access: WriteAccess,
    /// Connection cap and timeouts of the HTTP port.
    pub serve: ServeOptions,
    /// `--location`: added as the `location` label to every alert journeyd sends (through the settings'
    /// external labels, at start and on every reload), shown on the status page and in `/api/v1/*`, and
    /// exported as `journeyd_location_info`. `None`: none of these change.
    pub location: Option<Location>,
    /// `--chromium`: the browser journeys' Chromium; `None`: `JOURNEYD_CHROMIUM`, then `PATH`. Without one,
    /// browser journeys are left out (logged at start and on every reload) and the rest run.
    pub chromium: Option<PathBuf>,
}

impl Options {
    /// The journeys under `paths`, with `journeyd run`'s defaults: missing env variables are errors, 10 s
    /// grace, one shard, plain HTTP, no write routes.
    pub fn new(paths: Vec<PathBuf>) -> Options {
        Options {
            paths,
            load: LoadOptions { strict_env: true, ..LoadOptions::default() },
            grace: Duration::from_secs(10),
            adjust: None,
            shard: Shard::ALL,
            web_config: None,
            settings: None,
            state_source: None,
            sinks: Vec::new(),
            access: WriteAccess::default(),
            serve: ServeOptions::default(),
            location: None,
            chromium: None,
        }
    }
}

/// On shutdown, how long receivers may take to deliver pending alert notifications.
const ALERT_DRAIN: Duration = Duration::from_secs(5);

/// What reloads re-read: the files and how they become a suite.
struct Sources {
    paths: Vec<PathBuf>,
    load: LoadOptions,
    adjust: Option<Adjust>,
    shard: Shard,
    /// The `--settings` file; `None`: the defaults given at start stay.
    settings: Option<PathBuf>,
    /// Merged into every settings file read, so a reload cannot drop the `location` label.
    location: Option<Location>,
    /// Why browser journeys cannot run (no Chromium), when they cannot: they are left out of every suite.
    no_browser: Option<String>,
}

/// A running monitor: its scheduler, outcome pipeline and HTTP server.
pub struct Daemon {
    sources: Sources,
    grace: Duration,
    /// The bound address (the port the OS chose for `:0`).
    addr: SocketAddr,
    /// Warnings of the first load, for the caller to show; the daemon runs anyway.
    warnings: Vec<Diagnostic>,
    metrics: Metrics,
    stats: StatsTable,
    status: Status,
    /// `journeyd_schedulers`: scheduler tasks running, one per journey (a reload storm must not add any).
    schedulers: prometheus::IntGauge,
    monitor: Monitor,
    /// Dropped on shutdown: the pipeline ends once the last sender is gone.
    events: mpsc::Sender<Event>,
    pipeline: JoinHandle<Vec<Box<dyn Sink>>>,
    server_stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    state: ServerState,
    /// Reload requests from `POST /-/reload` and every [`Reloader`], served one at a time by [`Daemon::run`].
    /// Reloads asked for over HTTP (`POST /-/reload`): answered with the error erased for the server.
    http_reloads: mpsc::Receiver<ReloadRequest>,
    /// Reloads asked for by a [`Reloader`]: answered with the typed error.
    reloads: mpsc::Receiver<TypedRequest>,
    /// Kept so [`Daemon::reloader`] can hand out senders for as long as the daemon runs.
    reload_tx: mpsc::Sender<TypedRequest>,
    /// journeyd's own alerting: drained on shutdown so pending notifications are delivered.
    alerts: AlertHandle,
    /// The web configuration the server reads per request and handshake; swapped by a reload.
    web: LiveWebConfig,
    /// The trace exporter (idle while no collector is configured): reconfigured by reloads, drained on
    /// shutdown so queued runs are sent.
    traces: crate::trace::Exporter,
    /// Deploy markers and their comparisons: kept across reloads (only `deploys:` settings change).
    deploys: Deploys,
    /// The canary comparisons of journeys with `targets:` (kept across reloads while a journey's shape is).
    canary: Verdicts,
}

/// One journey's runs as exported when the daemon stopped: its last word, returned for the caller to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalCount {
    pub journey: String,
    pub success: u64,
    pub failure: u64,
    pub cancelled: u64,
}

impl Daemon {
    /// The address the HTTP port is served on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http` or `https`, for the URLs shown to people.
    pub fn scheme(&self) -> &'static str {
        self.web.scheme()
    }

    /// Warnings of the first load (unknown names and the like); reloads log theirs.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Per-journey counters and latencies, as the status page and the demo summary read them.
    pub fn stats(&self) -> &StatsTable {
        &self.stats
    }

    /// The registry `/metrics` serves.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn shard(&self) -> Shard {
        self.sources.shard
    }

    /// `--location`, if given.
    pub fn location(&self) -> Option<&Location> {
        self.sources.location.as_ref()
    }

    /// Deploy markers and their verdicts (what `/api/v1/deploys` serves).
    pub fn deploys(&self) -> &Deploys {
        &self.deploys
    }

    /// The canary verdicts (what `/api/v1/canary` serves and the gates decide on). Cheap to clone.
    pub fn canary(&self) -> &Verdicts {
        &self.canary
    }

    /// A handle that asks the running daemon to reload, the way `POST /-/reload` does (SIGHUP uses it).
    pub fn reloader(&self) -> Reloader {
        Reloader::new(self.reload_tx.clone())
    }

    /// Serves reload requests until `shutdown` resolves, then shuts down (see [`Daemon::shutdown`]).
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> Vec<FinalCount> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(reply) = self.reloads.recv() => {
                    let result = self.reload().await;
                    let _ = reply.send(result);
                }
                Some(reply) = self.http_reloads.recv() => {
                    let result = self.reload().await;
                    let _ = reply.send(result.map_err(|e| Box::new(e) as _));
                }
            }
        }
        self.shutdown().await
    }

    /// Stops scheduling, lets in-flight runs finish within the grace period, records every outcome,
    /// delivers pending alert notifications, and stops the server. Returns each journey's final counts.
    pub async fn shutdown(self) -> Vec<FinalCount> {
        self.state.ready.store(false, Ordering::Release);
        tracing::info!(grace_ms = self.grace.as_millis() as u64, "shutting down: no new runs");
        self.monitor.shutdown(self.grace).await;
        self.schedulers.set(0);
        drop(self.events);
        // The pipeline ends after every outcome (cancelled ones included) is recorded and each sink's
        // `finish` ran (alert notifications flushed): only then may the process exit.
        let _ = self.pipeline.await;
        // Queued traces are sent while alert notifications are: neither waits for the other.
        let traces = self.traces.finish(ALERT_DRAIN);
        tokio::join!(self.alerts.drain(ALERT_DRAIN), traces);
        let counts = final_counts(&self.metrics, &self.stats);
        self.server_stop.cancel();
        let _ = self.server.await;
        counts
    }
}

/// Read from the exported counters, so the caller reports exactly what a last scrape would have seen.
fn final_counts(metrics: &Metrics, stats: &StatsTable) -> Vec<FinalCount> {
    let count = |journey: &str, outcome: &str| {
        metrics.runs.get_metric_with_label_values(&[journey, outcome]).map_or(0, |c| c.get())
    };
    stats
        .names()
        .into_iter()
        .map(|journey| FinalCount {
            success: count(&journey, "success"),
            failure: count(&journey, "failure"),
            cancelled: count(&journey, "cancelled"),
            journey,
        })
        .collect()
}
