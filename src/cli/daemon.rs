//! `journeyd run`: the monitor daemon — load, schedule, serve, reload on SIGHUP or `POST /-/reload`, and
//! shut down without loss on SIGTERM/SIGINT.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::{parse_duration_arg, Exit};
use crate::config::{self, Diagnostics, LoadOptions};
use crate::http::Clients;
use crate::metrics::{Metrics, MetricsSink, StatsTable};
use crate::model::Suite;
use crate::pipeline::{self, Event, Sink};
use crate::runner::Monitor;
use crate::server::{self, ReloadRequest, ServerState};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Journey files or directories (a directory contributes its *.yml and *.yaml files).
    #[arg(default_value = "journeys")]
    pub paths: Vec<PathBuf>,
    /// Address for /metrics, /-/healthy, /-/ready and /-/reload.
    #[arg(long, default_value = "127.0.0.1:9898", env = "JOURNEYD_LISTEN")]
    pub listen: SocketAddr,
    /// On SIGTERM/SIGINT, how long in-flight runs may finish before they are cancelled.
    #[arg(long, default_value = "10s", value_parser = parse_duration_arg)]
    pub grace: Duration,
}

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
    monitor: Monitor,
    events: mpsc::Sender<Event>,
    pipeline: JoinHandle<Vec<Box<dyn Sink>>>,
    server_stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    state: ServerState,
    reloads: mpsc::Receiver<ReloadRequest>,
}

pub fn print_diagnostics(d: &Diagnostics) {
    for diag in &d.0 {
        eprintln!("{diag}");
    }
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Daemon {
    /// Loads the configuration, binds the listener, starts everything. Errors are printed; the exit code
    /// says why it could not start.
    pub async fn start(cfg: DaemonConfig) -> Result<Daemon, Exit> {
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
        let suite = match cfg.adjust {
            Some(f) => f(loaded.suite, &cfg),
            None => loaded.suite,
        };
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
        let stats = StatsTable::new();
        let (events, rx) = pipeline::channel();
        let sinks: Vec<Box<dyn Sink>> = vec![Box::new(MetricsSink::new(metrics.clone(), stats.clone()))];
        let pipeline = tokio::spawn(pipeline::run(rx, sinks));
        let mut monitor = Monitor::new(clients, events.clone());
        if let Err(e) = monitor.apply(suite).await {
            eprintln!("journeyd: {e}");
            return Err(Exit::Usage);
        }
        metrics.reload_success.set(1);
        metrics.reload_timestamp.set(now_seconds());

        let (reload_tx, reloads) = mpsc::channel(4);
        let mut state = ServerState::new(metrics.clone());
        state.reload = Some(reload_tx);
        state.ready.store(true, Ordering::Release);
        let server_stop = CancellationToken::new();
        let app = server::router(state.clone());
        let server = tokio::spawn(server::serve(listener, app, server_stop.clone()));
        Ok(Daemon { cfg, metrics, stats, addr, monitor, events, pipeline, server_stop, server, state, reloads })
    }

    /// Re-reads every file. A bad configuration is rejected with its diagnostics and the running one keeps
    /// going; `journeyd_config_last_reload_successful` says which happened.
    pub async fn reload(&mut self) -> Result<(), String> {
        let loaded = match config::load(&self.cfg.paths, &self.cfg.load) {
            Ok(l) => l,
            Err(d) => {
                self.metrics.reload_success.set(0);
                let text: Vec<String> = d.0.iter().map(ToString::to_string).collect();
                tracing::error!("reload rejected; the previous configuration keeps running:\n{}", text.join("\n"));
                return Err(text.join("\n"));
            }
        };
        let suite = match self.cfg.adjust {
            Some(f) => f(loaded.suite, &self.cfg),
            None => loaded.suite,
        };
        let n = suite.journeys.len();
        if let Err(e) = self.monitor.apply(suite).await {
            self.metrics.reload_success.set(0);
            tracing::error!("reload rejected: {e}");
            return Err(e.to_string());
        }
        self.metrics.reload_success.set(1);
        self.metrics.reload_timestamp.set(now_seconds());
        tracing::info!(journeys = n, "configuration reloaded");
        Ok(())
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
        drop(self.events);
        let _ = self.pipeline.await;
        self.server_stop.cancel();
        let _ = self.server.await;
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

/// Resolves on SIGTERM or SIGINT.
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
    let cfg = DaemonConfig {
        paths: args.paths,
        load: LoadOptions { strict_env: true, ..LoadOptions::default() },
        listen: args.listen,
        grace: args.grace,
        adjust: None,
        every_override: None,
    };
    let daemon = match Daemon::start(cfg).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    println!("metrics: http://{}/metrics", daemon.addr);
    tracing::info!(journeys = daemon.stats.snapshot().len(), addr = %daemon.addr, "journeyd running");
    daemon.run_until(termination()).await
}
