//! The gate routes, merged into the daemon's router.
//!
//! - `POST /api/v1/gates/flagger/{hook}`: Flagger's webhook payload (`name`, `namespace`, `phase`,
//!   `checksum`, `metadata`, all strings). `pre-rollout` runs the selected journeys once against
//!   `metadata.target`; `confirm-rollout`, `rollout` and `confirm-promotion` judge them from the monitor's
//!   runs (`confirm-promotion` also waits for a canary comparison to have judged). Flagger proceeds on 200 (it treats any status above 202 as a failed check and shows the body), so a
//!   verdict to halt is 412 with the reason, a payload to fix is 400 with what to send.
//! - `GET /api/v1/gates/verdict?journeys=…&tags=…`: the same judgement for Argo Rollouts' `web` provider,
//!   always 200 when judged (`successCondition: result.passed == true`), since Argo counts a non-2xx answer as
//!   an error of the measurement, not a failed one.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::answers::Answer;
use super::prerollout::{canary_target, RunError};
use super::verdict::GateVerdict;
use super::{Gates, Selection};
use crate::server::writes;

/// The Flagger hooks served, in the order a canary analysis calls them.
pub const FLAGGER_HOOKS: [&str; 4] = ["pre-rollout", "confirm-rollout", "rollout", "confirm-promotion"];

/// The `gate` label of the Argo Rollouts `web` analysis' answers.
const ARGO: &str = "argo-verdict";

/// The metadata keys a webhook may set (Flagger's metadata is a map of strings).
const METADATA_KEYS: [&str; 3] = ["journeys", "tags", "target"];

const PAYLOAD_HINT: &str = r#"send Flagger's webhook payload: {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "…", "metadata": {"journeys": "checkout,login", "tags": "…", "target": "http://podinfo-canary.test:9898"}} (metadata.target is needed by pre-rollout only)"#;

/// Flagger's `CanaryWebhookPayload`. Fields Flagger may add later are ignored; metadata keys are not,
/// so a misspelt `journey` halts with a 400 instead of silently judging every journey.
#[derive(Debug, Deserialize)]
pub struct FlaggerPayload {
    pub name: String,
    pub namespace: String,
    pub phase: String,
    #[serde(default)]
    pub checksum: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictQuery {
    journeys: Option<String>,
    tags: Option<String>,
}

pub fn router(gates: Gates) -> Router {
    Router::new()
        .route("/api/v1/gates/flagger/{hook}", post(flagger))
        .route("/api/v1/gates/verdict", get(verdict))
        .with_state(gates)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "passed": false, "error": message.to_string() }))).into_response()
}

/// 200 to proceed, 412 (Precondition Failed) to halt.
fn answer(v: GateVerdict) -> Response {
    let status = if v.passed { StatusCode::OK } else { StatusCode::PRECONDITION_FAILED };
    (status, Json(v)).into_response()
}

/// Flagger's webhook, answered and counted in `journeyd_gate_requests_total` by the status it got.
async fn flagger(
    State(gates): State<Gates>,
    Path(hook): Path<String>,
    body: Result<Json<FlaggerPayload>, JsonRejection>,
) -> Response {
    let response = flagger_answer(&gates, &hook, body).await;
    let answer = match response.status() {
        StatusCode::OK => Answer::Proceed,
        StatusCode::PRECONDITION_FAILED => Answer::Halt,
        _ => Answer::Error,
    };
    gates.answers.count(&format!("flagger-{hook}"), answer);
    response
}

async fn flagger_answer(gates: &Gates, hook: &str, body: Result<Json<FlaggerPayload>, JsonRejection>) -> Response {
    if !FLAGGER_HOOKS.contains(&hook) {
        let known = FLAGGER_HOOKS.map(|h| format!("/api/v1/gates/flagger/{h}")).join(", ");
        return error(StatusCode::NOT_FOUND, format!("no gate for Flagger hook {hook:?}; the gates are: {known}"));
    }
    let Json(payload) = match body {
        Ok(b) => b,
        Err(e) => return writes::bad_json(&e, PAYLOAD_HINT),
    };
    if let Some(key) = payload.metadata.keys().find(|k| !METADATA_KEYS.contains(&k.as_str())) {
        let message = format!("unknown metadata key {key:?}: the keys are journeys, tags and target; {PAYLOAD_HINT}");
        return error(StatusCode::BAD_REQUEST, message);
    }
    let meta = |k: &str| payload.metadata.get(k).map(String::as_str);
    let selection = Selection::from_lists(meta("journeys"), meta("tags"));
    let journeys = match gates.select(&selection) {
        Ok(j) => j,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let verdict = if hook == "pre-rollout" {
        let Some(target) = meta("target") else {
            return error(StatusCode::BAD_REQUEST, format!("pre-rollout needs metadata.target; {PAYLOAD_HINT}"));
        };
        let target = match canary_target(target) {
            Ok(t) => t,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        };
        // Flagger gave up (its webhook timeout) when the connection goes: the runs stop with it.
        let cancel = CancellationToken::new();
        let _stop = cancel.clone().drop_guard();
        match gates.run_once(journeys, &target, &cancel).await {
            Ok(v) => GateVerdict::of(v),
            Err(e @ RunError::Busy(_)) => return error(StatusCode::CONFLICT, e),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    } else {
        let now = SystemTime::now();
        let decided = hook == "confirm-promotion";
        GateVerdict::of(journeys.iter().map(|j| gates.judge(j, now, decided)).collect())
    };
    tracing::info!(
        hook = %hook,
        canary = %payload.name,
        namespace = %payload.namespace,
        phase = %payload.phase,
        passed = verdict.passed,
        message = %verdict.message,
        "flagger gate answered"
    );
    answer(verdict)
}

async fn verdict(State(gates): State<Gates>, query: Result<Query<VerdictQuery>, QueryRejection>) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => {
            let message = format!("{}; ask /api/v1/gates/verdict?journeys=checkout,login&tags=critical", e.body_text());
            gates.answers.count(ARGO, Answer::Error);
            return error(StatusCode::BAD_REQUEST, message);
        }
    };
    let selection = Selection::from_lists(q.journeys.as_deref(), q.tags.as_deref());
    match gates.select(&selection) {
        Ok(journeys) => {
            let now = SystemTime::now();
            let verdict = GateVerdict::of(journeys.iter().map(|j| gates.judge(j, now, false)).collect());
            gates.answers.count(ARGO, Answer::of(verdict.passed));
            Json(verdict).into_response()
        }
        Err(e) => {
            gates.answers.count(ARGO, Answer::Error);
            error(StatusCode::BAD_REQUEST, e)
        }
    }
}
