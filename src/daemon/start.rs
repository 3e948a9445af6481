//! Starting the daemon: every file read and checked, then the pipeline, the scheduler and the server.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Daemon, LocationConflict, Options, Sources, StartError};
use crate::alert::{AlertHandle, Clock};
use crate::canary::{self, Verdicts};
use crate::config;
use crate::deploys::{self, Deploys};
use crate::gates::{self, Gates};
use crate::http::Clients;
use crate::location::{self, Location};
use crate::metrics::browser::BrowserProcessCollector;
use crate::metrics::{Metrics, MetricsSink, StatsTable};
use crate::model::Suite;
use crate::pipeline::{self, Sink};
use crate::runner::browser_host::BrowserHost;
use crate::runner::evidence::EvidenceStore;
use crate::runner::Monitor;
use crate::server::{self, ConnectionMetrics, ServerState};
use crate::settings::Settings;
use crate::status::{self, Status, StatusBoard, StatusSink};
use crate::trace;
use crate::webconfig::{LiveWebConfig, WebConfig};

pub(super) fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Sources {
    /// The suite as it will run: adjusted (demo intervals), then cut down to this shard's journeys.
    pub(super) fn prepare(&self, suite: Suite) -> Suite {
        let suite = match &self.adjust {
            Some(f) => f(suite),
            None => suite,
        };
        let runnable = |j: &Arc<crate::model::Journey>| match (&self.no_browser, &j.browser) {
            (Some(why), Some(_)) => {
                tracing::error!(journey = %j.name, source = %j.source.display(), "browser journey not loaded: {why}");
                false
            }
            _ => true,
        };
        let journeys = suite.journeys.into_iter().filter(|j| self.shard.owns_name(&j.name));
        Suite { journeys: journeys.filter(runnable).collect() }
    }
}

/// Registers the daemon's own gauges: the scheduler count and which shard this replica runs.
fn daemon_gauges(metrics: &Metrics, shard: crate::shard::Shard) -> prometheus::IntGauge {
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

/// Adds `--location` to the settings' external labels, the path every alert's labels come from, so
/// journeyd's own alerts carry `location` and Alertmanager groups and deduplicates them per location. A
/// settings file that already sets the same `location` is fine; a different one is a conflict.
pub(super) fn locate(mut settings: Settings, location: Option<&Location>) -> Result<Settings, LocationConflict> {
    let Some(loc) = location else { return Ok(settings) };
    match settings.external_labels.get(location::LABEL) {
        Some(set) if set != loc.as_str() => Err(LocationConflict { settings: set.clone(), flag: loc.to_string() }),
        _ => {
            settings.external_labels.insert(location::LABEL.into(), loc.to_string());
            Ok(settings)
        }
    }
}

/// Trace export as the settings and the `OTEL_*` variables say, at start and on every reload.
pub(super) fn trace_config(
    settings: &Settings,
    location: Option<&Location>,
    shard: crate::shard::Shard,
) -> Result<Option<trace::ExportConfig>, trace::TraceConfigError> {
    let env = |k: &str| std::env::var(k).ok();
    trace::ExportConfig::resolve(&settings.traces, &env, trace::Origin { location, shard })
}

/// The files read at start, in the order their errors are reported: web config, settings, journeys.
struct Files {
    web: WebConfig,
    settings: Arc<Settings>,
    loaded: config::Loaded,
}

fn read_files(opts: &Options) -> Result<Files, StartError> {
    let web = match &opts.web_config {
        Some(path) => WebConfig::load(path).map_err(StartError::WebConfig)?,
        None => WebConfig::default(),
    };
    let settings = match &opts.settings {
        Some(path) => Settings::load(path).map_err(StartError::Settings)?,
        None => Settings::default(),
    };
    let settings = Arc::new(locate(settings, opts.location.as_ref()).map_err(StartError::Location)?);
    let loaded = config::load(&opts.paths, &opts.load).map_err(StartError::Journeys)?;
    Ok(Files { web, settings, loaded })
}

impl Daemon {
    /// Reads and checks every file, then starts the pipeline, the scheduler and the server on `listener`.
    /// Nothing runs unless everything is valid; the error carries what to show the operator.
    pub async fn start(listener: TcpListener, opts: Options) -> Result<Daemon, StartError> {
        let files = read_files(&opts)?;
        let addr = listener.local_addr().map_err(StartError::Listener)?;
        let Options {
            paths,
            load,
            grace,
            adjust,
            shard,
            web_config,
            settings,
            state_source,
            sinks,
            access,
            serve,
            location,
            chromium,
        } = opts;
        let browser = BrowserHost::new(chromium.as_deref(), EvidenceStore::from_env());
        let no_browser = browser.executable().err().map(str::to_string);
        let sources = Sources { paths, load, adjust, shard, settings, location: location.clone(), no_browser };
        let total = files.loaded.suite.journeys.len();
        let suite = sources.prepare(files.loaded.suite);
        if shard.count > 1 {
            tracing::info!(%shard, owned = suite.journeys.len(), total, "sharded: running this shard's journeys");
        }
        let clients = Clients::new().map_err(StartError::Client)?.with_browser(browser.clone());
        let metrics = Metrics::new();
        let (restarts, contexts) = (browser.clone(), browser.clone());
        // A fresh registry per daemon: registration can only fail on a programming error.
        let _ = BrowserProcessCollector::register(
            &metrics.registry,
            move || restarts.restarts(),
            move || contexts.open_contexts(),
        );
        let web = LiveWebConfig::new(web_config, files.web);
        let base_url = format!("{}://{addr}/", web.scheme());
        let trace_config = trace_config(&files.settings, location.as_ref(), shard).map_err(StartError::Traces)?;
        let trace_url = files.settings.traces.trace_url.clone();
        let trace_queue = files.settings.traces.queue_capacity;
        let deploy_settings = files.settings.deploys;
        let alerts = AlertHandle::start(files.settings, &metrics.registry, &base_url, Clock::system())
            .map_err(StartError::Alerts)?;
        let deploys = Deploys::new(deploy_settings, &metrics.registry, Some(alerts.clone()))
            .map_err(|e| StartError::Alerts(e.into()))?;
        let canary =
            Verdicts::new(&metrics.registry, Some(alerts.clone())).map_err(|e| StartError::Alerts(e.into()))?;
        let stats = StatsTable::new();
        let (events, rx) = pipeline::channel();
        let schedulers = daemon_gauges(&metrics, shard);
        if let Some(loc) = &location {
            // A fresh registry per daemon: registration can only fail on a programming error.
            let _ = location::register_info(&metrics.registry, loc);
        }
        let board = StatusBoard::new();
        let source = state_source.unwrap_or_else(|| Arc::new(alerts.clone()));
        let gates =
            Gates::new(clients.clone(), deploys.clone(), canary.clone(), Arc::clone(&source), &metrics.registry)
                .map_err(|e| StartError::Alerts(e.into()))?;
        let status = Status::new(board.clone(), shard)
            .with_stats(stats.clone())
            .with_source(source)
            .with_location(location.clone())
            .with_trace_url(trace_url)
            .with_deploys(Arc::new(deploys.clone()))
            .with_evidence(browser.evidence().dir().to_path_buf())
            .with_targets(Arc::new(canary.clone()));
        let mut all: Vec<Box<dyn Sink>> =
            vec![Box::new(MetricsSink::new(metrics.clone(), stats.clone())), Box::new(StatusSink::new(board))];
        all.push(Box::new(alerts.sink()));
        all.push(Box::new(deploys.sink()));
        all.push(Box::new(canary.sink()));
        all.push(Box::new(gates.sink()));
        // Always in the pipeline, idle without a collector: a reload may name one.
        let (trace_sink, traces) = trace::start_live(trace_config, trace_queue, &metrics.registry);
        all.push(Box::new(trace_sink));
        all.extend(sinks);
        let pipeline = tokio::spawn(pipeline::run(rx, all));
        let mut monitor = Monitor::new(clients, events.clone());
        monitor.apply(suite).await;
        metrics.reload_success.set(1);
        metrics.reload_timestamp.set(now_seconds());
        schedulers.set(monitor.len() as i64);
        status.schedulers.store(monitor.len(), Ordering::Release);

        let (reload_tx, reloads) = mpsc::channel(4);
        let (http_reload_tx, http_reloads) = mpsc::channel(4);
        let mut state = ServerState::new(metrics.clone());
        state.reload = Some(http_reload_tx);
        state.ready.store(true, Ordering::Release);
        let server_stop = CancellationToken::new();
        let app = server::router(state.clone())
            .merge(status::router(status.clone()))
            .merge(alerts.router_at(location.as_ref()))
            .merge(deploys::api::router(deploys.clone()))
            .merge(canary::api::router(canary.clone()))
            .merge(gates::api::router(gates));
        let app = server::writes::guard(app, access);
        let connections = ConnectionMetrics::register(&metrics.registry, &serve);
        let (stop, serving) = (server_stop.clone(), web.clone());
        let server = tokio::spawn(async move { serving.serve(listener, app, serve, connections, stop).await });
        Ok(Daemon {
            sources,
            grace,
            addr,
            warnings: files.loaded.warnings,
            metrics,
            stats,
            status,
            schedulers,
            monitor,
            events,
            pipeline,
            server_stop,
            server,
            state,
            http_reloads,
            reloads,
            reload_tx,
            alerts,
            web,
            traces,
            deploys,
            canary,
        })
    }
}
