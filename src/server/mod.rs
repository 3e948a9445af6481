//! The daemon's HTTP endpoints: `/metrics`, `/-/healthy`, `/-/ready`, `POST /-/reload`.
//!
//! Other modules add routes (the status page and `/api/v1/*`, alerts) by merging their routers into
//! [`router`]'s; [`writes::guard`] then gates every write route, and `webconfig` wraps the whole app (basic
//! auth, TLS), so every route is covered. [`listen::serve`] runs the port itself (connection cap, timeouts).

pub mod listen;
pub mod writes;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

pub use listen::{ConnectionMetrics, ServeOptions};
pub use writes::WriteAccess;

/// Why a reload was refused, as the server shows it: the daemon's typed error, erased so the server
/// depends on nothing of the daemon's (the daemon imports the server, never the other way round).
pub type ReloadFailure = Box<dyn std::error::Error + Send + Sync>;

/// A reload request from `POST /-/reload`: the reply says whether the new configuration was applied, or why
/// not.
pub type ReloadRequest = oneshot::Sender<Result<(), ReloadFailure>>;

#[derive(Clone)]
pub struct ServerState {
    pub metrics: Metrics,
    /// Ready once the first configuration is applied; false again while shutting down.
    pub ready: Arc<AtomicBool>,
    /// Where `POST /-/reload` sends requests (None: reload not supported by this command).
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
}

impl ServerState {
    pub fn new(metrics: Metrics) -> ServerState {
        ServerState { metrics, ready: Arc::new(AtomicBool::new(false)), reload: None }
    }
}

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "journeyd is healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .with_state(state)
}

async fn metrics(State(state): State<ServerState>) -> Response {
    let body = state.metrics.encode();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn ready(State(state): State<ServerState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "journeyd is ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "journeyd is not ready\n").into_response()
    }
}

async fn reload(State(state): State<ServerState>) -> Response {
    let Some(tx) = state.reload else {
        return (StatusCode::NOT_FOUND, "reload is not available in this mode\n").into_response();
    };
    let (reply, rx) = oneshot::channel();
    if tx.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match rx.await {
        Ok(Ok(())) => (StatusCode::OK, "configuration reloaded\n").into_response(),
        Ok(Err(e)) => {
            (StatusCode::BAD_REQUEST, format!("reload failed; the previous configuration keeps running:\n{e}\n"))
                .into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}
