//! `journeyd run`: the monitor daemon — load, schedule, serve, reload on SIGHUP or `POST /-/reload`, and
//! shut down without loss on SIGTERM/SIGINT.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alert::{AlertHandle, Clock, NewSettings};
use crate::cli::{parse_duration_arg, Exit};
use crate::config::{self, Diagnostics, LoadOptions};
use crate::http::Clients;
use crate::metrics::{Metrics, MetricsSink, StatsTable};
use crate::model::Suite;
use crate::pipeline::{self, Event, Sink};
use crate::runner::Monitor;
use crate::server::{self, ConnectionMetrics, ReloadRequest, ServeOptions, ServerState, WriteAccess};
use crate::settings::Settings;
use crate::shard::Shard;
use crate::status::{self, StateSource, Status, StatusBoard, StatusSink};
use crate::webconfig::{LiveWebConfig, WebConfig};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Journey files or directories (a directory contributes its *.yml and *.yaml files).
    #[arg(default_value = "journeys")]
    pub paths: Vec<PathBuf>,
    /// Address for the status page (/), /api/v1/*, /metrics, /-/healthy, /-/ready and /-/reload. Keep the
    /// loopback default unless the port is protected (docs/operations.md, "Exposing journeyd safely").
    #[arg(long, default_value = "127.0.0.1:9898", env = "JOURNEYD_LISTEN")]
    pub listen: SocketAddr,
    /// On SIGTERM/SIGINT, how long in-flight runs may finish before they are cancelled.
    #[arg(long, default_value = "10s", value_parser = parse_duration_arg)]
    pub grace: Duration,
    /// Run only this shard's journeys: `i/n` with 0 <= i < n, or a StatefulSet pod name and the count
    /// (`journeyd-2/3`). Every replica computes the same partition from the journey names.
    #[arg(long, default_value = "0/1", env = "JOURNEYD_SHARD")]
    pub shard: Shard,
    /// TLS and basic auth for every endpoint, in the Prometheus exporter-toolkit web-config format
    /// (see docs/operations.md).
    #[arg(long, value_name = "FILE", env = "JOURNEYD_WEB_CONFIG")]
    pub web_config: Option<PathBuf>,
    /// Alert settings: defaults, external labels, maintenance windows, receivers (see docs/alerting.md).
    /// Re-read on every reload.
    #[arg(long, value_name = "FILE", env = "JOURNEYD_SETTINGS")]
    pub settings: Option<PathBuf>,
    #[command(flatten)]
    pub web: WebArgs,
}

/// What the HTTP port serves beyond reads, and how many connections it keeps (`run` and `demo`).
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Serve `POST|PUT /-/reload` (off: 403; SIGHUP reloads either way). Use with a --web-config that
    /// sets basic_auth_users whenever the port is reachable from other hosts.
    #[arg(long, env = "JOURNEYD_ENABLE_LIFECYCLE")]
    pub enable_lifecycle: bool,
    /// Serve the write API: open and end maintenance windows (`POST /api/v1/maintenance`, `DELETE
    /// /api/v1/maintenance/ID`); off: 403. Use with a --web-config that sets basic_auth_users.
    #[arg(long, env = "JOURNEYD_ENABLE_ADMIN_API")]
    pub enable_admin_api: bool,
    /// Connections the HTTP port keeps open at once; more are closed at accept and counted in
    /// journeyd_http_connections_rejected_total.
    #[arg(long, default_value_t = 256, env = "JOURNEYD_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_connections: u16,
}

impl WebArgs {
    pub fn access(&self) -> WriteAccess {
        WriteAccess { lifecycle: self.enable_lifecycle, admin: self.enable_admin_api }
    }

    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions { max_connections: usize::from(self.max_connections), ..ServeOptions::default() }
    }
}

/// What `run` adds to a [`DaemonConfig`]; the defaults are what `demo` uses.
#[derive(Default)]
pub struct RunOptions {
    /// Only journeys this shard owns are scheduled (at start and on every reload).
    pub shard: Option<Shard>,
    /// TLS and basic auth for the HTTP endpoints.
    pub web: WebConfig,
    /// The `--web-config` file `web` came from, re-read on every reload.
    pub web_path: Option<PathBuf>,
    /// Where the status page gets journey states; `None`: the alert state machine (hysteresis, maintenance).
    pub state_source: Option<Arc<dyn StateSource>>,
    /// More consumers of outcomes (alerts), fed after the metrics and status sinks.
    pub sinks: Vec<Box<dyn Sink>>,
    /// Alert settings (`--settings`); `None`: defaults, no receivers (alerts show in metrics only).
    pub settings: Option<Arc<Settings>>,
    /// The `--settings` file `settings` came from, re-read on every reload.
    pub settings_path: Option<PathBuf>,
    /// Which write routes are served (`--enable-lifecycle`, `--enable-admin-api`); default: none.
    pub access: WriteAccess,
    /// Connection cap and timeouts of the HTTP port.
    pub serve: ServeOptions,
}

/// On shutdown, how long receivers may take to deliver pending alert notifications.
const ALERT_DRAIN: Duration = Duration::from_secs(5);

/// What a daemon-like command needs to start.
pub struct DaemonConfig {
    pub paths: Vec<PathBuf>,
    pub load: LoadOptions,
    pub listen: SocketAddr,
    pub grace: Duration,
    /// Applied to every loaded suite before it runs (the demo shortens intervals).
    pub adjust: Option<fn(Suite, &DaemonConfig) -> Suite>,
    pub every_override: Option<Duration>,
}

/// A running monitor with its server and pipeline.
pub struct Daemon {
    pub cfg: DaemonConfig,
    pub metrics: Metrics,
    pub stats: StatsTable,
    pub addr: SocketAddr,
    /// `http` or `https`, for the URLs printed at start.
    pub scheme: &'static str,
    pub status: Status,
    shard: Shard,
    /// `journeyd_schedulers`: scheduler tasks running, one per journey (a reload storm must not add any).
    schedulers: prometheus::IntGauge,
    monitor: Monitor,
    events: mpsc::Sender<Event>,
    pipeline: JoinHandle<Vec<Box<dyn Sink>>>,
    server_stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    state: ServerState,
    reloads: mpsc::Receiver<ReloadRequest>,
    /// journeyd's own alerting: drained on shutdown so pending notifications are delivered.
    alerts: AlertHandle,
    /// The web configuration the server reads per request and handshake; swapped by a reload.
    web: LiveWebConfig,
    /// The `--settings` file, re-read by every reload; `None`: the settings given at start stay.
    settings_path: Option<PathBuf>,
}

pub fn print_diagnostics(d: &Diagnostics) {
    eprint!("{}", config::render(&d.0));
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The suite as it will run: adjusted (demo intervals), then cut down to this shard's journeys.
fn prepare(cfg: &DaemonConfig, shard: Shard, suite: Suite) -> Suite {
    let suite = match cfg.adjust {
        Some(f) => f(suite, cfg),
        None => suite,
    };
    Suite { journeys: suite.journeys.into_iter().filter(|j| shard.owns_name(&j.name)).collect() }
}

/// Registers the daemon's own gauges: the scheduler count and which shard this replica runs.
fn daemon_gauges(metrics: &Metrics, shard: Shard) -> prometheus::IntGauge {
    let schedulers = prometheus::IntGauge::new(
        "journeyd_schedulers",
        "Journey schedulers running: exactly one per journey this replica owns.",
    )
    .expect("static");
    let info = prometheus::IntGaugeVec::new(
        prometheus::Opts::new("journeyd_shard_info", "The shard this replica runs (i/n); the value is always 1."),
        &["shard"],
    )
    .expect("static");
    info.with_label_values(&[shard.to_string().as_str()]).set(1);
    // A fresh registry per daemon: registration can only fail on a programming error, which tests catch.
    let _ = metrics.registry.register(Box::new(schedulers.clone()));
    let _ = metrics.registry.register(Box::new(info));
    schedulers
}

impl Daemon {
    /// Loads the configuration, binds the listener, starts everything, with sharding, web security, a
    /// state source and extra sinks. Errors are printed; the exit code says why it could not start.
    pub async fn start_with(cfg: DaemonConfig, opts: RunOptions) -> Result<Daemon, Exit> {
        let shard = opts.shard.unwrap_or(Shard::ALL);
        let loaded = match config::load(&cfg.paths, &cfg.load) {
            Ok(l) => l,
            Err(d) => {
                print_diagnostics(&d);
                eprintln!("journeyd: configuration has errors; not starting (run `journeyd check` for details)");
                return Err(Exit::Usage);
            }
        };
        for w in &loaded.warnings {
            eprintln!("{w}");
        }
        let total = loaded.suite.journeys.len();
        let suite = prepare(&cfg, shard, loaded.suite);
        if shard.count > 1 {
            tracing::info!(%shard, owned = suite.journeys.len(), total, "sharded: running this shard's journeys");
        }
        let listener = match tokio::net::TcpListener::bind(cfg.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("journeyd: cannot listen on {}: {e} (choose another address with --listen)", cfg.listen);
                return Err(Exit::Usage);
            }
        };
        let addr = listener.local_addr().map_err(|_| Exit::Usage)?;
        let clients = match Clients::new() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("journeyd: {e}");
                return Err(Exit::Usage);
            }
        };
        let metrics = Metrics::new();
        let settings = opts.settings.unwrap_or_default();
        let web = LiveWebConfig::new(opts.web_path, opts.web);
        let base_url = format!("{}://{addr}/", web.scheme());
        let alerts = match AlertHandle::start(settings, &metrics.registry, &base_url, Clock::system()) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("journeyd: {e}");
                return Err(Exit::Usage);
            }
        };
        let stats = StatsTable::new();
        let (events, rx) = pipeline::channel();
        let schedulers = daemon_gauges(&metrics, shard);
        let board = StatusBoard::new();
        let mut status = Status::new(board.clone(), shard).with_stats(stats.clone());
        let source = opts.state_source.unwrap_or_else(|| Arc::new(alerts.clone()));
        status = status.with_source(source);
        let mut sinks: Vec<Box<dyn Sink>> =
            vec![Box::new(MetricsSink::new(metrics.clone(), stats.clone())), Box::new(StatusSink::new(board))];
        sinks.push(Box::new(alerts.sink()));
        sinks.extend(opts.sinks);
        let pipeline = tokio::spawn(pipeline::run(rx, sinks));
        let mut monitor = Monitor::new(clients, events.clone());
        monitor.apply(suite).await;
        metrics.reload_success.set(1);
        metrics.reload_timestamp.set(now_seconds());
        schedulers.set(monitor.len() as i64);
        status.schedulers.store(monitor.len(), Ordering::Release);

        let (reload_tx, reloads) = mpsc::channel(4);
        let mut state = ServerState::new(metrics.clone());
        state.reload = Some(reload_tx);
        state.ready.store(true, Ordering::Release);
        let server_stop = CancellationToken::new();
        let app = server::router(state.clone()).merge(status::router(status.clone())).merge(alerts.router());
        let app = server::writes::guard(app, opts.access);
        let connections = ConnectionMetrics::register(&metrics.registry, &opts.serve);
        let scheme = web.scheme();
        let stop = server_stop.clone();
        let serving = web.clone();
        let serve = opts.serve;
        let server = tokio::spawn(async move { serving.serve(listener, app, serve, connections, stop).await });
        Ok(Daemon {
            cfg,
            metrics,
            stats,
            addr,
            scheme,
            status,
            shard,
            schedulers,
            monitor,
            events,
            pipeline,
            server_stop,
            server,
            state,
            reloads,
            alerts,
            web,
            settings_path: opts.settings_path,
        })
    }

    /// Re-reads every file. A bad configuration is rejected with its diagnostics and the running one keeps
    /// going; `journeyd_config_last_reload_successful` says which happened.
    pub async fn reload(&mut self) -> Result<(), String> {
        // Every file is read and validated before anything is applied: all of them, or none.
        let web = match self.web.reread() {
            Ok(w) => w,
            Err(e) => {
                self.metrics.reload_success.set(0);
                tracing::error!("reload rejected; the previous configuration keeps running: --web-config: {e}");
                return Err(format!("--web-config: {e}"));
            }
        };
        let settings = match self.reread_settings() {
            Ok(s) => s,
            Err(e) => {
                self.metrics.reload_success.set(0);
                tracing::error!("reload rejected; the previous configuration keeps running: --settings: {e}");
                return Err(format!("--settings: {e}"));
            }
        };
        let loaded = match config::load(&self.cfg.paths, &self.cfg.load) {
            Ok(l) => l,
            Err(d) => {
                self.metrics.reload_success.set(0);
                let text: Vec<String> = d.0.iter().map(ToString::to_string).collect();
                tracing::error!("reload rejected; the previous configuration keeps running:\n{}", text.join("\n"));
                return Err(text.join("\n"));
            }
        };
        let suite = prepare(&self.cfg, self.shard, loaded.suite);
        let n = suite.journeys.len();
        self.monitor.apply(suite).await;
        if let Some(web) = web {
            self.web.install(web);
        }
        if let Some(settings) = settings {
            self.alerts.apply_settings(settings);
        }
        self.metrics.reload_success.set(1);
        self.metrics.reload_timestamp.set(now_seconds());
        self.schedulers.set(self.monitor.len() as i64);
        self.status.schedulers.store(self.monitor.len(), Ordering::Release);
        tracing::info!(journeys = n, "configuration reloaded");
        Ok(())
    }

    /// Reads the `--settings` file and builds what applying it needs, without applying anything.
    fn reread_settings(&self) -> Result<Option<NewSettings>, String> {
        let Some(path) = &self.settings_path else { return Ok(None) };
        let settings = Settings::load(path).map_err(|e| e.to_string())?;
        self.alerts.prepare(settings).map(Some).map_err(|e| e.to_string())
    }

    /// Serves reload requests (SIGHUP, HTTP) until `stop` fires, then shuts down.
    pub async fn run_until(mut self, stop: impl std::future::Future<Output = ()>) -> Exit {
        tokio::pin!(stop);
        let mut hup = hangup_signal();
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading configuration");
                    let _ = self.reload().await;
                }
                Some(reply) = self.reloads.recv() => {
                    let result = self.reload().await;
                    let _ = reply.send(result);
                }
            }
        }
        self.shutdown().await
    }

    pub async fn shutdown(self) -> Exit {
        self.state.ready.store(false, Ordering::Release);
        tracing::info!(grace_ms = self.cfg.grace.as_millis() as u64, "shutting down: no new runs");
        self.monitor.shutdown(self.cfg.grace).await;
        self.schedulers.set(0);
        drop(self.events);
        // The pipeline ends after every outcome (cancelled ones included) is recorded and each sink's
        // `finish` ran (alert notifications flushed): only then may the process exit.
        let _ = self.pipeline.await;
        self.alerts.drain(ALERT_DRAIN).await;
        // The last word on every journey, read from the exported counters (the process is about to go,
        // so this log line is the only place they can still be seen).
        for journey in self.stats.names() {
            let count = |outcome: &str| {
                self.metrics.runs.get_metric_with_label_values(&[journey.as_str(), outcome]).map_or(0, |c| c.get())
            };
            tracing::info!(
                journey = %journey,
                success = count("success"),
                failure = count("failure"),
                cancelled = count("cancelled"),
                "final counts"
            );
        }
        self.server_stop.cancel();
        let _ = self.server.await;
        tracing::info!("stopped");
        Exit::Pass
    }
}

/// SIGHUP on Unix; a channel that never fires elsewhere.
fn hangup_signal() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    #[cfg(unix)]
    {
        if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            tokio::spawn(async move {
                while sig.recv().await.is_some() {
                    if tx.send(()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}

/// Exit code of a shutdown cut short by a second SIGTERM/SIGINT: 128 + the signal's number, what a shell
/// reports for a process the signal killed (130 for Ctrl-C, 143 for SIGTERM), so it is never taken for a
/// clean stop (0) or a failed check (1). In-flight runs and pending alert notifications are lost.
pub fn forced_exit_code(signal: i32) -> i32 {
    128 + signal
}

/// Resolves on SIGTERM or SIGINT. From then on, a second SIGTERM or SIGINT ends the process at once, for
/// the person who pressed Ctrl-C and does not want to wait out the grace period.
pub async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
                // The handlers stay installed, so a second signal arriving before this task runs is kept.
                tokio::spawn(async move {
                    let (name, number) = tokio::select! {
                        _ = term.recv() => ("SIGTERM", 15),
                        _ = int.recv() => ("SIGINT", 2),
                    };
                    let code = forced_exit_code(number);
                    tracing::warn!(signal = name, exit_code = code, "second signal during shutdown: exiting now");
                    std::process::exit(code);
                });
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn run(args: RunArgs) -> Exit {
    let web = match &args.web_config {
        Some(path) => match WebConfig::load(path) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("journeyd: --web-config: {e}");
                return Exit::Usage;
            }
        },
        None => WebConfig::default(),
    };
    let settings = match &args.settings {
        Some(path) => match Settings::load(path) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                eprintln!("journeyd: --settings: {e}");
                return Exit::Usage;
            }
        },
        None => None,
    };
    let opts = RunOptions {
        shard: Some(args.shard),
        web,
        web_path: args.web_config.clone(),
        settings,
        settings_path: args.settings.clone(),
        access: args.web.access(),
        serve: args.web.serve_options(),
        ..RunOptions::default()
    };
    let cfg = DaemonConfig {
        paths: args.paths,
        load: LoadOptions { strict_env: true, ..LoadOptions::default() },
        listen: args.listen,
        grace: args.grace,
        adjust: None,
        every_override: None,
    };
    let daemon = match Daemon::start_with(cfg, opts).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    println!("metrics: {}://{}/metrics", daemon.scheme, daemon.addr);
    println!("status:  {}://{}/", daemon.scheme, daemon.addr);
    tracing::info!(
        journeys = daemon.stats.names().len(),
        addr = %daemon.addr,
        shard = %daemon.shard,
        "journeyd running"
    );
    daemon.run_until(termination()).await
}
