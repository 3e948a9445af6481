//! The status page at `/` and its JSON API (`/api/v1/journeys`, `/api/v1/failures`).
//!
//! [`StatusSink`] keeps a bounded history from outcomes; the handlers copy what they need out of it and
//! render. `certs` holds the views of the certificates steps present. A journey's state comes from a pluggable [`StateSource`]: by default the last run decides (down
//! if it failed, degraded if it passed with soft failures, up otherwise); the alert state machine can take
//! over by implementing the trait.

mod api;
mod certs;
pub mod history;
mod page;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::routing::get;
use axum::Router;

pub use api::{FailureView, JourneyView, StepView};
pub use certs::{CertExpiryView, StepTlsView};
pub use history::{Board, FailureRecord, LastOutcome, StatusBoard, StatusSink};
pub use page::escape;

use crate::location::Location;
use crate::metrics::StatsTable;
use crate::shard::Shard;

/// What the page shows for a journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JourneyState {
    Up,
    Degraded,
    Down,
    Maintenance,
    /// No completed run yet.
    Unknown,
}

impl JourneyState {
    pub fn as_str(self) -> &'static str {
        match self {
            JourneyState::Up => "up",
            JourneyState::Degraded => "degraded",
            JourneyState::Down => "down",
            JourneyState::Maintenance => "maintenance",
            JourneyState::Unknown => "unknown",
        }
    }
}

/// A journey's state as a [`StateSource`] sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateView {
    pub state: JourneyState,
    /// When the journey entered this state, if known.
    pub since: Option<SystemTime>,
    /// Why, in one line (the failure, or the alert's summary).
    pub reason: Option<String>,
    /// In a maintenance window: failures are expected and not alerted on.
    pub maintenance: bool,
}

/// Where journey states come from. `None`: the source knows nothing about this journey (shown as unknown).
pub trait StateSource: Send + Sync {
    fn state(&self, journey: &str) -> Option<StateView>;

    /// The time left under which a journey's certificate is shown in the warning colour: its
    /// JourneyCertExpiring threshold. `None`: the settings file's default.
    fn cert_ticket(&self, _journey: &str) -> Option<std::time::Duration> {
        None
    }
}

/// A deploy marker as the plots draw it: a vertical line at its minute on the journeys it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployMark {
    pub at: SystemTime,
    pub version: String,
    pub journeys: Vec<String>,
    /// A journey regressed after it: drawn in the failure colour.
    pub regression: bool,
}

/// Where the deploy markers come from (the deploy comparison).
pub trait MarkSource: Send + Sync {
    fn marks(&self) -> Vec<DeployMark>;
}

/// One target of a journey with `targets:`, over its canary window, for the page's "Targets" table.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRow {
    pub journey: String,
    pub target: String,
    pub baseline: bool,
    pub runs: u64,
    /// 0–1; `None` without runs.
    pub availability: Option<f64>,
    pub p50: Duration,
    pub p90: Duration,
    /// The regressions this target shows against the baseline, in words (empty: none).
    pub evidence: Vec<String>,
}

/// Where the per-target rows come from (the canary comparison).
pub trait TargetSource: Send + Sync {
    fn targets(&self) -> Vec<TargetRow>;
}

/// The default source: the last completed run decides.
#[derive(Debug, Clone)]
pub struct LastRunState {
    board: StatusBoard,
}

impl LastRunState {
    pub fn new(board: StatusBoard) -> LastRunState {
        LastRunState { board }
    }
}

impl StateSource for LastRunState {
    fn state(&self, journey: &str) -> Option<StateView> {
        let b = self.board.lock();
        let last = b.journeys.get(journey)?.last_run.as_ref()?;
        let state = match last.outcome {
            LastOutcome::Passed => JourneyState::Up,
            LastOutcome::Degraded => JourneyState::Degraded,
            LastOutcome::Failed => JourneyState::Down,
        };
        Some(StateView { state, since: Some(last.since), reason: last.reason.clone(), maintenance: false })
    }
}

/// Everything the status handlers need. Cheap to clone.
#[derive(Clone)]
pub struct Status {
    pub board: StatusBoard,
    pub source: Arc<dyn StateSource>,
    /// This replica's share of the journeys, shown on the page and in the API.
    pub shard: Shard,
    /// Schedulers running now (one per journey), kept current by the daemon.
    pub schedulers: Arc<AtomicUsize>,
    /// Per-step runs and latency since start, written by the metrics sink (empty unless `with_stats`).
    pub stats: StatsTable,
    /// `--location`: in the page header and a top-level `location` in the API; `None`: neither shows it.
    pub location: Option<Location>,
    /// The settings' `traces.trace_url`: a failure's trace id on the page links to its trace. Shared with
    /// the daemon, which sets it on every reload.
    trace_url: Arc<std::sync::RwLock<Option<String>>>,
    /// Deploy markers drawn on the plots; `None`: none.
    pub deploys: Option<Arc<dyn MarkSource>>,
    /// Where browser journeys' failure screenshots are kept, served at `/evidence/<file>`; `None`: not served.
    pub evidence: Option<std::path::PathBuf>,
    /// Journeys with `targets:`, per target; `None`: no table.
    pub targets: Option<Arc<dyn TargetSource>>,
}

impl Status {
    /// A status with the default last-run state source.
    pub fn new(board: StatusBoard, shard: Shard) -> Status {
        let source = Arc::new(LastRunState::new(board.clone()));
        Status {
            board,
            source,
            shard,
            schedulers: Arc::new(AtomicUsize::new(0)),
            stats: StatsTable::new(),
            location: None,
            trace_url: Arc::default(),
            deploys: None,
            evidence: None,
            targets: None,
        }
    }

    /// Serves the failure screenshots in `dir` at `/evidence/<file>` and links them from the page.
    pub fn with_evidence(mut self, dir: std::path::PathBuf) -> Status {
        self.evidence = Some(dir);
        self
    }

    /// Names the location this replica probes from (`--location`).
    pub fn with_location(mut self, location: Option<Location>) -> Status {
        self.location = location;
        self
    }

    /// Links each failure's trace id to `traces.trace_url` (`{trace_id}` replaced).
    pub fn with_trace_url(self, trace_url: Option<String>) -> Status {
        self.set_trace_url(trace_url);
        self
    }

    /// Changes the link template of this status and every clone of it (a reload).
    pub fn set_trace_url(&self, trace_url: Option<String>) {
        *self.trace_url.write().unwrap_or_else(|e| e.into_inner()) = trace_url;
    }

    /// The link template in force.
    pub fn trace_url(&self) -> Option<String> {
        self.trace_url.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Draws these deploy markers on the plots.
    pub fn with_deploys(mut self, deploys: Arc<dyn MarkSource>) -> Status {
        self.deploys = Some(deploys);
        self
    }

    /// Shows each target of journeys with `targets:` (the canary comparison).
    pub fn with_targets(mut self, targets: Arc<dyn TargetSource>) -> Status {
        self.targets = Some(targets);
        self
    }

    /// Replaces the state source (the alert state machine).
    pub fn with_source(mut self, source: Arc<dyn StateSource>) -> Status {
        self.source = source;
        self
    }

    /// Reads steps' runs, p50 and p99 from the metrics sink's table.
    pub fn with_stats(mut self, stats: StatsTable) -> Status {
        self.stats = stats;
        self
    }

    pub fn schedulers(&self) -> usize {
        self.schedulers.load(Ordering::Acquire)
    }
}

/// `/`, `/api/v1/journeys`, `/api/v1/failures`.
pub fn router(status: Status) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/api/v1/journeys", get(api::journeys))
        .route("/api/v1/failures", get(api::failures))
        .route("/evidence/{file}", get(api::screenshot))
        .with_state(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Suite;
    use crate::outcome::{Failure, Reason};
    use history::tests::{journey, outcome};

    #[test]
    fn the_last_run_decides_the_default_state() {
        let board = StatusBoard::new();
        board.set_suite(&Suite { journeys: vec![journey("a", &["home"], 1)] });
        let source = LastRunState::new(board.clone());
        assert_eq!(source.state("a"), None, "no run yet: unknown");
        let t0 = SystemTime::now();
        board.record(&outcome("a", t0, false, 5));
        assert_eq!(source.state("a").unwrap().state, JourneyState::Up);
        let mut soft = outcome("a", t0, false, 5);
        soft.soft_failures.push(Failure::new(0, "home", Reason::Check, "slow banner"));
        board.record(&soft);
        let v = source.state("a").unwrap();
        assert_eq!(v.state, JourneyState::Degraded);
        assert!(v.reason.unwrap().contains("slow banner"));
        board.record(&outcome("a", t0 + std::time::Duration::from_secs(1), true, 5));
        board.record(&outcome("a", t0 + std::time::Duration::from_secs(2), true, 5));
        let v = source.state("a").unwrap();
        assert_eq!(v.state, JourneyState::Down);
        assert!(v.since.unwrap() < t0 + std::time::Duration::from_secs(2), "since the first failure");
        assert!(!v.maintenance);
    }
}
