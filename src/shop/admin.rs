//! The admin API for faults (never faulted itself): list, set by merging fields, clear.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::faults::{UnknownRoute, ROUTES};
use super::routes::{error, AppState};
use super::spec::FaultPatch;

fn unknown(e: UnknownRoute) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": e.to_string(), "valid_routes": ROUTES }))).into_response()
}

fn listing(s: &AppState) -> Response {
    let hanging = *s.faults.hanging().borrow();
    Json(json!({ "faults": s.faults.snapshot(), "hanging": hanging })).into_response()
}

/// `GET /admin/faults`: `{"faults": {"checkout": {"status": 503}, …}}`.
pub(crate) async fn list(State(s): State<AppState>) -> Response {
    listing(&s)
}

/// `GET /admin/faults/{route}`: the route's own fault (`{}` when none).
pub(crate) async fn get(State(s): State<AppState>, Path(route): Path<String>) -> Response {
    match s.faults.get(&route) {
        Ok(f) => Json(f.unwrap_or_default()).into_response(),
        Err(e) => unknown(e),
    }
}

/// `PUT /admin/faults/{route}`: merges the body's fields into the route's fault; answers the result.
pub(crate) async fn put(State(s): State<AppState>, Path(route): Path<String>, body: Bytes) -> Response {
    let current = match s.faults.get(&route) {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => return unknown(e),
    };
    let patch: FaultPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            let hint = r#"send fields like {"status": 503}, {"latency": "300ms"}, {"error_rate": 0.5}, {"hang": true}, {"reset": true}, {"stall": "1s/5s"}, {"ui": "js-error"}"#;
            return error(StatusCode::BAD_REQUEST, format!("bad fault ({e}); {hint}"));
        }
    };
    let fault = match patch.apply(current) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let Err(e) = s.faults.set(&route, fault) {
        return unknown(e);
    }
    tracing::info!(route = %route, fault = %fault, "shop fault set");
    Json(fault).into_response()
}

/// `DELETE /admin/faults/{route}`: clears one route; answers what remains.
pub(crate) async fn clear(State(s): State<AppState>, Path(route): Path<String>) -> Response {
    if let Err(e) = s.faults.clear(&route) {
        return unknown(e);
    }
    tracing::info!(route = %route, "shop fault cleared");
    listing(&s)
}

/// `DELETE /admin/faults`: clears every route.
pub(crate) async fn clear_all(State(s): State<AppState>) -> Response {
    s.faults.clear_all();
    tracing::info!("shop faults cleared");
    listing(&s)
}
