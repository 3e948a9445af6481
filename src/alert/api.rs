//! `/api/v1/maintenance` (ad hoc windows: POST, GET, DELETE) and `/api/v1/alerts` (journey states and
//! firing alerts), merged into the daemon's router. The writes are served only with `--enable-admin-api`,
//! JSON only and same-site only: `server::writes` gates them for the whole daemon.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{AlertHandle, WindowError};
use crate::location::Location;
use crate::units::parse_duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// A journey name, or `*` for all.
    pub journey: String,
    /// `30m`, `2h`.
    pub duration: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize)]
pub struct AlertsQuery {
    pub journey: Option<String>,
}

/// What the handlers share: the engine, and the location the list replies name.
#[derive(Clone)]
struct Api {
    handle: AlertHandle,
    /// `--location`: a top-level `location` in `GET /api/v1/alerts` and `GET /api/v1/maintenance`; absent
    /// without it, so those replies are unchanged.
    location: Option<String>,
}

pub fn router(handle: AlertHandle, location: Option<&Location>) -> Router {
    Router::new()
        .route("/api/v1/maintenance", get(list).post(create))
        .route("/api/v1/maintenance/{id}", delete(remove))
        .route("/api/v1/alerts", get(alerts))
        .with_state(Api { handle, location: location.map(ToString::to_string) })
}

/// A JSON object reply, with a `location` field added when this replica has one.
fn located(location: &Option<String>, body: serde_json::Value) -> Response {
    let mut out = serde_json::Map::new();
    if let Some(l) = location {
        out.insert("location".into(), l.clone().into());
    }
    if let serde_json::Value::Object(fields) = body {
        out.extend(fields);
    }
    Json(serde_json::Value::Object(out)).into_response()
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn create(
    State(Api { handle: h, .. }): State<Api>,
    body: Result<Json<MaintenanceRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            let hint = r#"send {"journey": "checkout" | "*", "duration": "30m", "reason": "..."}"#;
            return crate::server::writes::bad_json(&e, hint);
        }
    };
    let duration = match parse_duration(&req.duration) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match h.add_maintenance(&req.journey, duration, &req.reason) {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e) => {
            let status = match e {
                WindowError::UnknownJourney(_) => StatusCode::NOT_FOUND,
                WindowError::TooMany => StatusCode::CONFLICT,
                WindowError::Duration | WindowError::ReasonTooLong(_) => StatusCode::UNPROCESSABLE_ENTITY,
            };
            error(status, e.to_string())
        }
    }
}

async fn list(State(api): State<Api>) -> Response {
    located(&api.location, json!({ "windows": api.handle.maintenance_windows() }))
}

async fn remove(State(Api { handle: h, .. }): State<Api>, Path(id): Path<u64>) -> Response {
    if h.end_maintenance(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            format!("no open maintenance window has id {id} (GET /api/v1/maintenance lists them)"),
        )
    }
}

async fn alerts(State(api): State<Api>, Query(q): Query<AlertsQuery>) -> Response {
    let (mut journeys, mut alerts) = api.handle.snapshot();
    if let Some(j) = &q.journey {
        journeys.retain(|v| &v.journey == j);
        alerts.retain(|a| a["labels"]["journey"] == j.as_str());
    }
    located(&api.location, json!({ "journeys": journeys, "alerts": alerts }))
}
