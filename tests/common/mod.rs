//! Shared test helpers: an echo app on port 0, journey loading from text, running one iteration, finding
//! Chromium for browser tests (or skipping them).
#![allow(dead_code)]

pub mod chromium;
// Not every test binary looks for Chromium.
#[allow(unused_imports)]
pub use chromium::chromium;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path as AxPath, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio_util::sync::CancellationToken;

use journeyd::config::{self, LoadOptions};
use journeyd::http::Clients;
use journeyd::model::{Journey, Suite};
use journeyd::outcome::RunOutcome;
use journeyd::runner::{run_iteration, Plan, VirtualUser};

/// Serves `app` on 127.0.0.1:0 in the background; returns the base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// An app that answers every request with a JSON description of it, plus a few fixed routes.
pub fn echo_app() -> Router {
    Router::new()
        .route("/status/{code}", get(|AxPath(code): AxPath<u16>| async move {
            (StatusCode::from_u16(code).unwrap(), format!("status {code}"))
        }))
        .route("/html", get(|| async {
            ([("content-type", "text/html")], r#"<html><form><input type="hidden" name="csrf" value="tok-123abc"></form><span data-price="42.50">€42.50</span></html>"#)
        }))
        .route("/set-cookie", get(|| async {
            ([("set-cookie", "flavour=oat; Path=/"), ("x-trace", "abc")], "cookie set")
        }))
        .route("/redirect-to/{n}", get(|AxPath(n): AxPath<u32>| async move {
            if n == 0 {
                (StatusCode::OK, [("location", "")], "landed".to_string()).into_response()
            } else {
                (StatusCode::FOUND, [("location", format!("/redirect-to/{}", n - 1))], String::new()).into_response()
            }
        }))
        .fallback(any(echo))
}

async fn echo(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let headers: HashMap<String, String> = headers_map(&parts.headers);
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    axum::Json(json).into_response()
}

fn headers_map(h: &HeaderMap) -> HashMap<String, String> {
    h.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect()
}

/// Loads one journey from YAML text with the given env overlay (strict).
pub fn journey(yaml: &str, env: &[(&str, &str)]) -> Arc<Journey> {
    let suite = suite_from(yaml, env);
    Arc::clone(&suite.journeys[0])
}

pub fn suite_from(yaml: &str, env: &[(&str, &str)]) -> Suite {
    let mut opts = LoadOptions { strict_env: true, ..LoadOptions::default() };
    for (k, v) in env {
        opts.env.insert(k.to_string(), v.to_string());
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("journeys").join("inline-test.yml");
    match config::load_str(&path, yaml, &opts) {
        Ok(l) => l.suite,
        Err(d) => {
            panic!("journey does not load:\n{}", d.0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
        }
    }
}

/// Loads the bundled journeys against a shop URL.
pub fn bundled(shop_url: &str) -> Suite {
    let mut opts = LoadOptions { strict_env: true, ..LoadOptions::default() };
    opts.env.insert("SHOP_URL".into(), shop_url.into());
    opts.env.insert("SHOP_PASSWORD".into(), journeyd::shop::DEMO_PASSWORD.into());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("journeys");
    match config::load(&[dir], &opts) {
        Ok(l) => l.suite,
        Err(d) => panic!(
            "bundled journeys do not load:\n{}",
            d.0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
        ),
    }
}

/// Runs one iteration of `journey` now.
pub async fn run_once(journey: &Arc<Journey>) -> RunOutcome {
    let clients = Clients::new().unwrap();
    let plan = Plan::new(Arc::clone(journey), &clients);
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await
}

/// Describes an outcome for assertion messages.
pub fn describe(o: &RunOutcome) -> String {
    match o.failure() {
        Some(f) => format!("{f} | request={:?} status={:?} excerpt={:?}", f.request, f.status, f.excerpt),
        None => format!("{:?}", o.status),
    }
}

pub mod tls;
