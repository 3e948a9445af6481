//! `/api/v1/journeys` and `/api/v1/failures`: the status board as JSON, and the views the page renders.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::outcome::{Failure, Reason};
use crate::settings::CertExpiryDefaults;
use crate::units::rfc3339;

use super::certs::{self, CertExpiryView, StepTlsView};
use super::history::{minute_of, StepMinute, AVAILABILITY_MINUTES, FAILURES_KEPT};
use super::{FailureRecord, JourneyState, LastOutcome, Status};

/// One journey as the API and the page show it.
#[derive(Debug, Clone, Serialize)]
pub struct JourneyView {
    pub name: String,
    pub description: String,
    pub state: JourneyState,
    /// RFC 3339, when the journey entered its state.
    pub state_since: Option<String>,
    pub state_reason: Option<String>,
    pub maintenance: bool,
    /// Share of completed runs that passed in the last hour (0–1); null without runs.
    pub availability_1h: Option<f64>,
    pub availability_24h: Option<f64>,
    pub runs_1h: u64,
    pub failures_1h: u64,
    pub last_run: Option<LastRunView>,
    pub last_failure: Option<FailureView>,
    /// The step certificate that expires first; null when no step presented one.
    pub earliest_cert: Option<CertExpiryView>,
    pub steps: Vec<StepView>,
    /// Per step, per minute p50/p99 over the plot window (the page's SVG); not serialized.
    #[serde(skip)]
    pub plot: Vec<Vec<StepMinute>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastRunView {
    pub at: String,
    /// `passed`, `degraded` or `failed`.
    pub outcome: &'static str,
    pub duration_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub name: String,
    pub runs: u64,
    pub p50_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    /// What the step's latest fresh TLS handshake presented; null for plain http or before the first.
    pub tls: Option<StepTlsView>,
}

/// One failure with its (already redacted) evidence: where and when, then the failure itself
/// (`step`, `message`, `check`, `actual`, `request`, `status`, `excerpt`, `redirects`).
#[derive(Debug, Clone, Serialize)]
pub struct FailureView {
    pub journey: String,
    pub at: String,
    /// A soft check: the run passed, degraded.
    pub soft: bool,
    pub reason: Reason,
    #[serde(flatten)]
    pub failure: Failure,
}

impl From<&FailureRecord> for FailureView {
    fn from(r: &FailureRecord) -> FailureView {
        FailureView {
            journey: r.journey.clone(),
            at: rfc3339(r.at),
            soft: r.soft,
            reason: r.failure.reason,
            failure: r.failure.clone(),
        }
    }
}

/// Every journey, sorted by name, as of `now`. The board lock is released before the state source is
/// asked, so a source may read the board itself.
pub fn journey_views(status: &Status, now: SystemTime) -> Vec<JourneyView> {
    let now_minute = minute_of(now);
    let now_unix = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let mut views: Vec<JourneyView> = {
        let b = status.board.lock();
        b.journeys
            .values()
            .map(|h| {
                let (passed, failed) = h.runs_in(now_minute, 60);
                JourneyView {
                    name: h.name.clone(),
                    description: h.description.clone(),
                    state: JourneyState::Unknown,
                    state_since: None,
                    state_reason: None,
                    maintenance: false,
                    availability_1h: h.availability(now_minute, 60),
                    availability_24h: h.availability(now_minute, AVAILABILITY_MINUTES),
                    runs_1h: passed + failed,
                    failures_1h: failed,
                    last_run: h.last_run.as_ref().map(|r| LastRunView {
                        at: rfc3339(r.at),
                        outcome: match r.outcome {
                            LastOutcome::Passed => "passed",
                            LastOutcome::Degraded => "degraded",
                            LastOutcome::Failed => "failed",
                        },
                        duration_seconds: r.duration.as_secs_f64(),
                    }),
                    last_failure: h.last_failure.as_ref().map(FailureView::from),
                    // Its warning is set below, once the board lock is released.
                    earliest_cert: None,
                    // Filled from the stats table below, once the board lock is released.
                    steps: h
                        .steps
                        .iter()
                        .map(|s| StepView {
                            name: s.name.clone(),
                            runs: 0,
                            p50_seconds: None,
                            p99_seconds: None,
                            tls: s.cert.as_ref().map(|c| StepTlsView::of(c, now_unix)),
                        })
                        .collect(),
                    plot: h.steps.iter().map(|s| s.plot(now_minute)).collect(),
                }
            })
            .collect()
    };
    for v in &mut views {
        status.stats.with(&v.name, |js| {
            for (view, st) in v.steps.iter_mut().zip(&js.steps).filter(|(view, st)| view.name == st.name) {
                let n = st.response.count();
                view.runs = n;
                view.p50_seconds = (n > 0).then(|| st.response.quantile(0.5).as_secs_f64());
                view.p99_seconds = (n > 0).then(|| st.response.quantile(0.99).as_secs_f64());
            }
        });
        v.earliest_cert = certs::earliest(v.steps.iter().map(|s| (s.name.as_str(), s.tls.as_ref())));
        if let Some(c) = &mut v.earliest_cert {
            let ticket = status.source.cert_ticket(&v.name).unwrap_or(CertExpiryDefaults::default().ticket);
            c.warning = certs::warn(c, ticket, now_unix);
        }
        if let Some(s) = status.source.state(&v.name) {
            v.state = if s.maintenance { JourneyState::Maintenance } else { s.state };
            v.state_since = s.since.map(rfc3339);
            v.state_reason = s.reason;
            v.maintenance = s.maintenance;
        }
    }
    views
}

/// The last `limit` failures across journeys, newest first.
pub fn failure_views(status: &Status, limit: usize) -> Vec<FailureView> {
    status.board.lock().failures.iter().rev().take(limit).map(FailureView::from).collect()
}

#[derive(Debug, Serialize)]
pub struct JourneysReply {
    /// `--location`; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// This replica's shard (`i/n`); `0/1` when not sharded.
    pub shard: String,
    /// Schedulers running now: exactly one per journey.
    pub schedulers: usize,
    pub generated_at: String,
    pub journeys: Vec<JourneyView>,
}

pub(super) async fn journeys(State(status): State<Status>) -> Json<JourneysReply> {
    let now = SystemTime::now();
    Json(JourneysReply {
        location: status.location.as_ref().map(ToString::to_string),
        shard: status.shard.to_string(),
        schedulers: status.schedulers(),
        generated_at: rfc3339(now),
        journeys: journey_views(&status, now),
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct FailuresQuery {
    /// How many failures (default 20, at most the number kept).
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct FailuresReply {
    /// `--location`; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub failures: Vec<FailureView>,
}

pub(super) async fn failures(State(status): State<Status>, Query(q): Query<FailuresQuery>) -> Json<FailuresReply> {
    let limit = q.limit.unwrap_or(20).min(FAILURES_KEPT);
    Json(FailuresReply {
        location: status.location.as_ref().map(ToString::to_string),
        failures: failure_views(&status, limit),
    })
}

/// `GET /evidence/<file>`: a failure screenshot (PNG). Only plain file names of the evidence directory are
/// served (journey and step names are `[a-z0-9_.-]`), never a path: `..` and `/` are 404.
pub(super) async fn screenshot(
    axum::extract::State(s): axum::extract::State<Status>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let plain = file.ends_with(".png")
        && !file.starts_with('.')
        && file.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    let path = s.evidence.as_ref().filter(|_| plain).map(|dir| dir.join(&file));
    match path.map(std::fs::read) {
        Some(Ok(png)) => {
            ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "no-store")], png).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no such screenshot (the oldest are removed)\n").into_response(),
    }
}
