//! `POST /api/v1/deploys` (a marker) and `GET /api/v1/deploys` (the kept markers and their verdicts),
//! merged into the daemon's router. The POST is a write: `server::writes` gates it with the rest of the
//! admin API (`--enable-admin-api`, JSON only, same site, body limit), and `--web-config` auth covers it.

use std::time::SystemTime;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::marker::MarkerRequest;
use super::Deploys;
use crate::server::writes;

pub fn router(deploys: Deploys) -> Router {
    Router::new().route("/api/v1/deploys", get(list).post(create)).with_state(deploys)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn create(State(deploys): State<Deploys>, body: Result<Json<MarkerRequest>, JsonRejection>) -> Response {
    let Json(request) = match body {
        Ok(b) => b,
        Err(e) => {
            let hint =
                r#"send {"version": "v1.4.2", "journeys": [...], "tags": [...], "by": "...", "description": "..."}"#;
            return writes::bad_json(&e, hint);
        }
    };
    match deploys.mark(request, SystemTime::now()) {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn list(State(deploys): State<Deploys>) -> Response {
    Json(json!({ "deploys": deploys.list(SystemTime::now()) })).into_response()
}
