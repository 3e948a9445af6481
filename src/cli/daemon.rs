//! `journeyd run`: its flags, and the wiring around the library's [`Daemon`]: bind the port, print the
//! warnings and URLs, reload on SIGHUP, stop on SIGTERM/SIGINT, and turn a failed start into exit code 2.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::signals::{reload_on_hangup, termination};
use crate::cli::{bind, parse_duration_arg, Exit};
use crate::config::{self, Diagnostics};
use crate::daemon::{Daemon, FinalCount, Options, StartError};
use crate::location::Location;
use crate::server::{ServeOptions, WriteAccess};
use crate::shard::Shard;

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
    /// Where this replica probes from (a region, a data centre): a short name, `[a-z0-9][a-z0-9_-]{0,62}`.
    /// Added as the `location` label to journeyd's own alerts, shown on the status page and in /api/v1/*,
    /// exported as journeyd_location_info. Label the journey_* series in the scrape config instead
    /// (docs/operations.md, "Running from several locations").
    #[arg(long, value_name = "NAME", env = "JOURNEYD_LOCATION")]
    pub location: Option<Location>,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub browser: BrowserArgs,
}

/// Where browser journeys' Chromium is (`run`, `verify`, `demo`, `check`).
#[derive(Debug, Clone, Args)]
pub struct BrowserArgs {
    /// The Chromium that browser journeys run in; default: JOURNEYD_CHROMIUM, then
    /// chromium-headless-shell, chromium, google-chrome or chromium-browser on PATH. Without one, browser journeys
    /// are left out (with an error naming each) and the others run.
    #[arg(long, value_name = "PATH")]
    pub chromium: Option<PathBuf>,
}

/// What the HTTP port serves beyond reads, and how many connections it keeps (`run` and `demo`).
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Serve `POST|PUT /-/reload` (off: 403; SIGHUP reloads either way). Use with a --web-config that
    /// sets basic_auth_users whenever the port is reachable from other hosts.
    #[arg(long, env = "JOURNEYD_ENABLE_LIFECYCLE")]
    pub enable_lifecycle: bool,
    /// Serve the write API: open and end maintenance windows (`POST /api/v1/maintenance`, `DELETE
    /// /api/v1/maintenance/ID`) and record deploy markers (`POST /api/v1/deploys`); off: 403. Use with a
    /// --web-config that sets basic_auth_users.
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

/// `verify` prints load errors the same way.
pub fn print_diagnostics(d: &Diagnostics) {
    eprint!("{}", config::render(&d.0));
}

/// Prints why the daemon did not start. Every reason is a usage or configuration error: exit 2.
pub(crate) fn start_failed(e: &StartError) -> Exit {
    match e {
        StartError::Journeys(d) => {
            print_diagnostics(d);
            eprintln!("journeyd: configuration has errors; not starting (run `journeyd check` for details)");
        }
        e => eprintln!("journeyd: {e}"),
    }
    Exit::Usage
}

/// Starts the daemon on `listener`, reloading on SIGHUP from then on, and prints the load warnings.
pub(crate) async fn start(listener: tokio::net::TcpListener, options: Options) -> Result<Daemon, Exit> {
    let daemon = Daemon::start(listener, options).await.map_err(|e| start_failed(&e))?;
    // Before any URL is printed: a SIGHUP sent by whoever read it must reload, not kill the process.
    reload_on_hangup(daemon.reloader());
    for w in daemon.warnings() {
        eprintln!("{w}");
    }
    Ok(daemon)
}

/// Serves until `stop` (SIGTERM/SIGINT, the demo's duration); logs the last word on every journey (the
/// process is about to go, so this log line is the only place they can still be seen).
pub(crate) async fn serve_until(daemon: Daemon, stop: impl std::future::Future<Output = ()>) -> Exit {
    let counts = daemon.run(stop).await;
    for FinalCount { journey, success, failure, cancelled } in counts {
        tracing::info!(journey = %journey, success, failure, cancelled, "final counts");
    }
    tracing::info!("stopped");
    Exit::Pass
}

/// The daemon's options from `run`'s flags.
fn options(args: RunArgs) -> Options {
    Options {
        grace: args.grace,
        shard: args.shard,
        web_config: args.web_config,
        settings: args.settings,
        access: args.web.access(),
        serve: args.web.serve_options(),
        location: args.location,
        chromium: args.browser.chromium,
        ..Options::new(args.paths)
    }
}

pub async fn run(args: RunArgs) -> Exit {
    let listener = match bind(args.listen).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let daemon = match start(listener, options(args)).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    println!("metrics: {}://{}/metrics", daemon.scheme(), daemon.addr());
    println!("status:  {}://{}/", daemon.scheme(), daemon.addr());
    tracing::info!(
        journeys = daemon.stats().names().len(),
        addr = %daemon.addr(),
        shard = %daemon.shard(),
        location = daemon.location().map_or("", |l| l.as_str()),
        "journeyd running"
    );
    serve_until(daemon, termination()).await
}
