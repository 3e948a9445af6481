//! `GET /api/v1/canary[?journeys=a,b]`: the verdict a gate decides on (`state`, `judged`, `regressed`) and
//! per journey each target's runs, availability and latency over the window with its comparison. Read-only,
//! so no write gate; `--web-config` auth covers it like every route.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::Verdicts;

pub fn router(verdicts: Verdicts) -> Router {
    Router::new().route("/api/v1/canary", get(show)).with_state(verdicts)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Comma-separated journey names; absent: every journey with `targets:`.
    journeys: Option<String>,
}

async fn show(State(verdicts): State<Verdicts>, Query(params): Query<Params>) -> Response {
    let wanted: Vec<String> = params
        .journeys
        .iter()
        .flat_map(|j| j.split(','))
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(str::to_string)
        .collect();
    let verdict = verdicts.verdict(&wanted);
    // One word for a web-provider analysis to match on: regressed wins, then not-yet-known.
    let state = match (verdict.regressed.is_empty(), verdict.judged) {
        (false, _) => "regression",
        (true, false) => "pending",
        (true, true) => "passed",
    };
    let journeys: Vec<_> =
        verdicts.views().into_iter().filter(|v| wanted.is_empty() || wanted.contains(&v.journey)).collect();
    Json(json!({
        "state": state,
        "judged": verdict.judged,
        "regressed": verdict.regressed,
        "journeys": journeys,
    }))
    .into_response()
}
