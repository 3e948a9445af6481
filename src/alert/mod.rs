//! journeyd's own alerting: rules and state machine per journey, SLO burn rates, maintenance windows,
//! dependency suppression, and delivery to Alertmanager, webhooks and Slack without losing alerts.
//!
//! Files: `rules` (one journey's state machine), `slo` (time-bucketed counts and burn rates), `certs` (the
//! certificate each step presents and when its expiry alerts fire), `engine`
//! (all journeys → alerts, the one place alerts change), `maintenance` (weekly and ad hoc windows),
//! `notify` (alerts and wire formats), `delivery` (per-receiver outboxes, retries, coalescing),
//! `receivers` (the running set, changed in place by a reload), `api` (HTTP routes), `metrics`, `clock`
//! (wall time on the pausable clock).
//!
//! The pipeline feeds [`AlertSink`] (a `Sink`: it never waits on I/O); the engine's notices go to one
//! [`delivery::Outbox`] per receiver, drained by its own task. A reloaded settings file is
//! [`AlertHandle::prepare`]d (everything that can fail) and then applied, which cannot fail.

pub mod api;
pub mod certs;
pub mod clock;
pub mod delivery;
pub mod engine;
pub mod maintenance;
pub mod metrics;
pub mod notify;
pub mod receivers;
pub mod rules;
pub mod slo;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use clock::Clock;
pub use delivery::{Outbox, Transport};
pub use engine::{Engine, JourneyView};
pub use maintenance::{WindowError, WindowView};
pub use metrics::AlertMetrics;
pub use notify::{Alert, AlertName, Notice, NoticeKind};
pub use rules::Health;

use crate::model::{Journey, Suite};
use crate::outcome::RunOutcome;
use crate::pipeline::Sink;
use crate::settings::Settings;
use receivers::Receivers;

/// Why alerting could not start.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("cannot register the alert metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot build the HTTP client for alert delivery: {0}")]
    Client(#[from] reqwest::Error),
}

struct Shared {
    engine: Mutex<Engine>,
    /// Locked while `engine` is held, never the other way round: notices reach the outboxes in the order
    /// the engine made them, and a reload cannot slip between the two (a resolve overtaking its firing).
    receivers: Mutex<Receivers>,
    /// Stops the tick and starts the final flush of every outbox.
    stop: CancellationToken,
    tick: Mutex<Option<JoinHandle<()>>>,
}

/// A settings file read by a reload, with everything applying it needs already built, so that applying it
/// cannot fail (all files of a reload apply, or none).
pub struct NewSettings {
    settings: Arc<Settings>,
    /// A new client (the timeout changed) or delivery section; `None`: the current one stays.
    transport: Option<Transport>,
}

impl NewSettings {
    /// The settings file as read (the daemon hands its other sections to their owners).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// The running alert engine and its delivery tasks. Cheap to clone.
#[derive(Clone)]
pub struct AlertHandle {
    shared: Arc<Shared>,
}

impl AlertHandle {
    /// Starts the engine, one delivery task per receiver and the one-second tick. `base_url` is the
    /// `generatorURL` base when the settings set no `external_url` (`http://<listen>/`).
    pub fn start(
        settings: Arc<Settings>,
        registry: &prometheus::Registry,
        base_url: &str,
        clock: Clock,
    ) -> Result<AlertHandle, AlertError> {
        let metrics = AlertMetrics::register(registry)?;
        let stop = CancellationToken::new();
        let transport = Transport::new(settings.delivery.clone())?;
        let mut receivers = Receivers::new(transport, stop.clone(), clock, metrics.clone());
        for outbox in receivers.reconfigure(&settings.receivers, None) {
            receivers.start(outbox);
        }
        let engine = Engine::new(settings, base_url, clock, metrics);
        let handle = AlertHandle {
            shared: Arc::new(Shared {
                engine: Mutex::new(engine),
                receivers: Mutex::new(receivers),
                stop,
                tick: Mutex::new(None),
            }),
        };
        *handle.shared.tick.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokio::spawn(tick(handle.clone())));
        Ok(handle)
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.shared.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn receivers(&self) -> MutexGuard<'_, Receivers> {
        self.shared.receivers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks and builds what applying `settings` needs; nothing changes yet.
    pub fn prepare(&self, settings: Settings) -> Result<NewSettings, AlertError> {
        let current = self.receivers().transport();
        let transport = if settings.delivery == current.delivery {
            None
        } else if settings.delivery.timeout == current.delivery.timeout {
            // The client (and its open connections) can stay: backoff and capacity are read per use.
            Some(Transport { client: current.client.clone(), delivery: settings.delivery.clone() })
        } else {
            Some(Transport::new(settings.delivery.clone())?)
        };
        Ok(NewSettings { settings: Arc::new(settings), transport })
    }

    /// Applies a reloaded settings file (see [`Engine::settings_changed`] and [`receivers`]). Receivers
    /// that stay are told what changed; new ones are told every alert firing now, so they are not blind
    /// until the next change. An unchanged file changes nothing.
    pub fn apply_settings(&self, new: NewSettings) {
        let now = Instant::now();
        let mut engine = self.engine();
        if **engine.settings() == *new.settings {
            return;
        }
        let notices = engine.settings_changed(Arc::clone(&new.settings), now);
        let mut receivers = self.receivers();
        let added = receivers.reconfigure(&new.settings.receivers, new.transport);
        dispatch(&receivers, &notices, now);
        let firing = engine.firing_alerts();
        for outbox in added {
            for alert in &firing {
                outbox.push(&Notice { kind: NoticeKind::Firing, alert: alert.clone() }, now);
            }
            tracing::info!(receiver = %outbox.config.name, firing = firing.len(), "receiver started");
            receivers.start(outbox);
        }
        tracing::info!(receivers = receivers.outboxes().count(), "alert settings applied");
    }

    /// Runs `f` on the engine and delivers the notices it returns, under the engine lock (see `Shared`).
    fn apply(&self, f: impl FnOnce(&mut Engine, Instant) -> Vec<Notice>) {
        let now = Instant::now();
        let mut engine = self.engine();
        let notices = f(&mut engine, now);
        dispatch(&self.receivers(), &notices, now);
    }

    /// The pipeline sink that feeds this engine.
    pub fn sink(&self) -> AlertSink {
        AlertSink { handle: self.clone() }
    }

    /// The HTTP routes (`/api/v1/maintenance`, `/api/v1/alerts`).
    pub fn router(&self) -> axum::Router {
        api::router(self.clone(), None)
    }

    /// The same routes, whose list replies name this replica's `--location`.
    pub fn router_at(&self, location: Option<&crate::location::Location>) -> axum::Router {
        api::router(self.clone(), location)
    }

    /// Opens an ad hoc maintenance window for a journey (or `*`), within the limits of [`maintenance`].
    pub fn add_maintenance(&self, journey: &str, duration: Duration, reason: &str) -> Result<WindowView, WindowError> {
        let mut result = Err(WindowError::UnknownJourney(journey.to_string()));
        self.apply(|e, now| {
            if journey != "*" && !e.has_journey(journey) {
                return Vec::new();
            }
            let wall = e.wall(now);
            result = e.maintenance.add(journey, duration, reason, now, wall).map(|w| w.view());
            let Ok(w) = &result else { return Vec::new() };
            tracing::info!(id = w.id, journey, reason, duration_s = duration.as_secs(), "maintenance window opened");
            e.reconcile(now)
        });
        result
    }

    /// Raises (with its annotations) or resolves (`None`) a journey's `JourneyDeployRegression`.
    pub fn deploy_regression(&self, journey: &str, annotations: Option<std::collections::BTreeMap<String, String>>) {
        self.apply(|e, now| e.deploy_regression(journey, annotations, now));
    }

    /// Raises (with its annotations) or resolves (`None`) a journey's `JourneyCanaryRegression`.
    pub fn canary_regression(&self, journey: &str, annotations: Option<std::collections::BTreeMap<String, String>>) {
        self.apply(|e, now| e.canary_regression(journey, annotations, now));
    }

    /// Ends an ad hoc window early.
    pub fn end_maintenance(&self, id: u64) -> bool {
        let mut found = false;
        self.apply(|e, now| {
            found = e.maintenance.remove(id);
            if found {
                tracing::info!(id, "maintenance window ended early");
            }
            e.reconcile(now)
        });
        found
    }

    pub fn maintenance_windows(&self) -> Vec<WindowView> {
        let now = Instant::now();
        let e = self.engine();
        e.maintenance.list(now, e.wall(now))
    }

    /// Journey states and firing alerts.
    pub fn snapshot(&self) -> (Vec<JourneyView>, Vec<serde_json::Value>) {
        let e = self.engine();
        (e.views(), e.firing())
    }

    /// One journey's state: up, degraded, down, maintenance or unknown.
    pub fn state(&self, journey: &str) -> Option<Health> {
        self.engine().views().into_iter().find(|v| v.journey == journey).map(|v| v.state)
    }

    /// Re-evaluates now (tests; the tick does this every second).
    pub fn reconcile(&self) {
        self.apply(|e, now| e.reconcile(now));
    }

    /// Notifications not yet delivered, per receiver name.
    pub fn pending(&self) -> Vec<(String, usize)> {
        self.receivers().outboxes().map(|o| (o.config.name.clone(), o.pending())).collect()
    }

    /// Stops the tick and lets every receiver deliver what is pending, for at most `within`.
    pub async fn drain(&self, within: Duration) {
        self.shared.stop.cancel();
        let mut tasks = self.receivers().take_tasks();
        tasks.extend(self.shared.tick.lock().unwrap_or_else(|e| e.into_inner()).take());
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(within, all).await.is_err() {
            for (name, n) in self.pending() {
                if n > 0 {
                    tracing::error!(receiver = %name, pending = n, "shutting down with undelivered notifications");
                }
            }
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
    }
}

/// The status page shows the state machine's view: hysteresis, maintenance and all.
impl crate::status::StateSource for AlertHandle {
    fn state(&self, journey: &str) -> Option<crate::status::StateView> {
        use crate::status::JourneyState;
        let (state, since, reason) = self.engine().state_of(journey)?;
        let state = match state {
            Health::Up => JourneyState::Up,
            Health::Degraded => JourneyState::Degraded,
            Health::Down => JourneyState::Down,
            Health::Maintenance => JourneyState::Maintenance,
            Health::Unknown => JourneyState::Unknown,
        };
        Some(crate::status::StateView {
            state,
            since: Some(since),
            reason,
            maintenance: state == JourneyState::Maintenance,
        })
    }

    fn cert_ticket(&self, journey: &str) -> Option<Duration> {
        self.engine().cert_thresholds(journey).map(|t| t.ticket)
    }
}

/// Logs each notice and hands it to every running receiver.
fn dispatch(receivers: &Receivers, notices: &[Notice], now: Instant) {
    for n in notices {
        tracing::info!(
            alertname = n.alert.label("alertname"),
            journey = n.alert.label("journey"),
            severity = n.alert.label("severity"),
            kind = ?n.kind,
            summary = n.alert.annotations.get("summary").map_or("", String::as_str),
            suppressed_by = n.alert.annotations.get("suppressed_by").map_or("", String::as_str),
            "alert"
        );
        for o in receivers.outboxes() {
            o.push(n, now);
        }
    }
}

/// Re-evaluates once a second: maintenance windows open and close, latency samples age out.
async fn tick(handle: AlertHandle) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = handle.shared.stop.cancelled() => return,
            _ = every.tick() => handle.apply(|e, now| e.tick(now)),
        }
    }
}

/// Feeds outcomes to the engine. Never waits on I/O: notices go to outboxes.
pub struct AlertSink {
    handle: AlertHandle,
}

impl Sink for AlertSink {
    fn suite_changed(&mut self, suite: &Suite) {
        self.handle.apply(|e, now| e.suite_changed(suite, now));
    }

    fn outcome(&mut self, journey: &Journey, outcome: &RunOutcome) {
        self.handle.apply(|e, now| e.outcome(journey, outcome, now));
    }

    /// The pipeline ended (shutdown): receivers start their final delivery; the daemon waits for it with
    /// [`AlertHandle::drain`].
    fn finish(&mut self) {
        self.handle.shared.stop.cancel();
    }
}
