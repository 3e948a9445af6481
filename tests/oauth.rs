//! `oauth:` token sources against a token endpoint and an API in-process on port 0: one fetch shared by
//! many users and iterations, the token sent as Bearer, both client authentication methods as the server
//! receives them, refetch after expiry, one refetch and retry on a 401, reason `auth` with evidence when
//! the endpoint answers a login page — and the token never in evidence.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use common::{describe, journey, serve};
use journeyd::http::Clients;
use journeyd::metrics::{Metrics, MetricsSink, StatsTable};
use journeyd::model::Journey;
use journeyd::model::Suite;
use journeyd::outcome::{Reason, RunOutcome, TokenFetch};
use journeyd::pipeline::Sink;
use journeyd::runner::{run_iteration, Plan, VirtualUser};
use tokio_util::sync::CancellationToken;

const CLIENT_SECRET: &str = "s3cret-client-Value";

#[derive(Default)]
struct Seen {
    hits: AtomicUsize,
    /// Each token request's Authorization header and form body.
    requests: Mutex<Vec<(Option<String>, String)>>,
}

fn token_of(n: usize) -> String {
    format!("tok-{n}-canary-7f3a9c1e5b")
}

fn bearer(headers: &HeaderMap) -> String {
    headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

fn app(seen: Arc<Seen>) -> Router {
    Router::new()
        .route(
            "/token",
            post(
                |State(seen): State<Arc<Seen>>,
                 Query(q): Query<Vec<(String, String)>>,
                 headers: HeaderMap,
                 body: String| async move {
                    let n = seen.hits.fetch_add(1, Ordering::SeqCst) + 1;
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
                    seen.requests.lock().unwrap().push((auth, body));
                    let expires: u64 = q.iter().find(|(k, _)| k == "expires").map_or(3600, |(_, v)| v.parse().unwrap());
                    axum::Json(
                        serde_json::json!({"access_token": token_of(n), "token_type": "Bearer", "expires_in": expires}),
                    )
                },
            ),
        )
        .route(
            "/slow-token",
            post(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                "{}"
            }),
        )
        .route("/login-page", post(|| async { Html("<html><body>Please sign in to continue</body></html>") }))
        // 200 to the newest token only.
        .route(
            "/api/orders",
            get(|State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                let newest = token_of(seen.hits.load(Ordering::SeqCst));
                if bearer(&headers) == format!("Bearer {newest}") {
                    StatusCode::OK.into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        )
        // Refuses every token, and says which one it got.
        .route(
            "/api/never",
            get(|headers: HeaderMap| async move {
                let body = format!("denied: {}", bearer(&headers));
                Response::builder().status(401).body(axum::body::Body::from(body)).unwrap()
            }),
        )
        .with_state(seen)
}

fn yaml(token_url: &str, auth: &str, path: &str) -> String {
    format!(
        r#"
name: api
target: "{{{{ env.T }}}}"
secrets:
  client_secret: {{ env: CS }}
oauth:
  api:
    token_url: "{token_url}"
    client_id: "journeyd monitor"
    client_secret: "{{{{ secrets.client_secret }}}}"
    scope: "orders:read"
    audience: https://api.example
    auth: {auth}
steps:
  - name: orders
    get: {path}
    headers: {{ Authorization: "Bearer {{{{ oauth.api }}}}" }}
    timeout: 2s
    expect: [status == 200]
"#
    )
}

async fn setup(token_url: &str, auth: &str, path: &str) -> (Arc<Seen>, Arc<Journey>) {
    let seen = Arc::new(Seen::default());
    let base = serve(app(Arc::clone(&seen))).await;
    let j = journey(&yaml(token_url, auth, path), &[("T", &base), ("CS", CLIENT_SECRET)]);
    (seen, j)
}

async fn run(plan: &Plan, vu: &mut VirtualUser) -> RunOutcome {
    run_iteration(plan, vu, Instant::now(), &CancellationToken::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_serves_every_user_and_iteration() {
    let (seen, j) = setup("/token", "header", "/api/orders").await;
    let plan = Arc::new(Plan::new(j, &Clients::new().unwrap()));
    let mut users = Vec::new();
    for id in 0..8 {
        let plan = Arc::clone(&plan);
        users.push(tokio::spawn(async move {
            let mut vu = VirtualUser::new(&plan, id).unwrap();
            for _ in 0..5 {
                let o = run(&plan, &mut vu).await;
                assert!(o.failure().is_none(), "{}", describe(&o));
            }
        }));
    }
    for u in users {
        u.await.unwrap();
    }
    assert_eq!(seen.hits.load(Ordering::SeqCst), 1, "8 users × 5 iterations share one token");

    // HTTP Basic of the form-encoded id and secret (RFC 6749 §2.3.1); the form has no credentials.
    let (auth, body) = seen.requests.lock().unwrap()[0].clone();
    let basic =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("journeyd+monitor:{CLIENT_SECRET}"));
    assert_eq!(auth.as_deref(), Some(format!("Basic {basic}").as_str()));
    assert_eq!(body, "grant_type=client_credentials&scope=orders%3Aread&audience=https%3A%2F%2Fapi.example");
}

#[tokio::test]
async fn body_client_auth_sends_the_credentials_in_the_form() {
    let (seen, j) = setup("/token", "body", "/api/orders").await;
    let o = common::run_once(&j).await;
    assert!(o.failure().is_none(), "{}", describe(&o));
    let (auth, body) = seen.requests.lock().unwrap()[0].clone();
    assert_eq!(auth, None);
    assert!(body.ends_with(&format!("&client_id=journeyd+monitor&client_secret={CLIENT_SECRET}")), "{body}");
}

#[tokio::test]
async fn a_token_is_fetched_again_once_it_expires() {
    // One second is less than the 30 s margin: the token is stale as soon as it arrives.
    let (seen, j) = setup("/token?expires=1", "header", "/api/orders").await;
    let plan = Plan::new(j, &Clients::new().unwrap());
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    for _ in 0..3 {
        let o = run(&plan, &mut vu).await;
        assert!(o.failure().is_none(), "{}", describe(&o));
    }
    assert_eq!(seen.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_401_fetches_a_new_token_and_retries_once() {
    let (seen, j) = setup("/token", "header", "/api/orders").await;
    let plan = Plan::new(j, &Clients::new().unwrap());
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    assert!(run(&plan, &mut vu).await.failure().is_none());
    // Another client takes a token: the API accepts only the newest, so the cached one gets a 401.
    seen.hits.fetch_add(1, Ordering::SeqCst);
    let o = run(&plan, &mut vu).await;
    assert!(o.failure().is_none(), "{}", describe(&o));
    assert_eq!(seen.hits.load(Ordering::SeqCst), 3, "one refetch");
    assert_eq!(o.steps[0].token_fetches, [TokenFetch { source: 0, ok: true }], "the refetch is counted");
    let o = run(&plan, &mut vu).await;
    assert!(o.steps[0].token_fetches.is_empty(), "cached: no request");
}

#[tokio::test]
async fn token_fetches_are_counted_by_source_and_result() {
    let (_, ok) = setup("/token", "header", "/api/orders").await;
    let (_, bad) = setup("/login-page", "header", "/api/orders").await;
    let bad = Arc::new(Journey { name: "api-bad".into(), ..(*bad).clone() });
    let suite = Suite { journeys: vec![Arc::clone(&ok), Arc::clone(&bad)] };
    let metrics = Metrics::new();
    let mut sink = MetricsSink::new(metrics.clone(), StatsTable::new());
    sink.suite_changed(&suite);
    for j in [&ok, &ok, &bad] {
        sink.outcome(j, &common::run_once(j).await);
    }
    let text = metrics.encode();
    // Each run_once has its own plan, so its own cache: one fetch per run.
    let line = |journey: &str, result: &str, n: u32| {
        format!("journey_oauth_token_fetches_total{{journey=\"{journey}\",result=\"{result}\",source=\"api\"}} {n}")
    };
    assert!(text.contains(&line("api", "success", 2)), "{text}");
    assert!(text.contains(&line("api-bad", "failure", 1)), "{text}");
}

#[tokio::test]
async fn a_second_401_fails_the_step_with_status_and_no_token_in_evidence() {
    let (seen, j) = setup("/token", "header", "/api/never").await;
    let o = common::run_once(&j).await;
    let f = o.failure().expect("the API refuses every token");
    assert_eq!(f.reason, Reason::Status, "{}", describe(&o));
    assert_eq!(f.status, Some(401));
    assert!(f.message.contains("fetched again"), "{}", f.message);
    assert_eq!(seen.hits.load(Ordering::SeqCst), 2, "one fetch, one refetch, no more");
    let evidence = format!("{} {}", describe(&o), serde_json::to_string(f).unwrap());
    assert!(!evidence.contains("canary"), "a token leaked: {evidence}");
    assert!(!evidence.contains(CLIENT_SECRET), "{evidence}");
    assert!(f.excerpt.as_deref().unwrap_or("").starts_with("denied: Bearer "), "{evidence}");
}

#[tokio::test]
async fn a_login_page_from_the_token_endpoint_fails_with_auth() {
    let (_, j) = setup("/login-page", "header", "/api/orders").await;
    let o = common::run_once(&j).await;
    let f = o.failure().expect("no token");
    assert_eq!(f.reason, Reason::Auth, "{}", describe(&o));
    assert_eq!(f.step_name, "orders");
    assert!(f.message.contains("not JSON"), "{}", f.message);
    assert_eq!(f.status, Some(200));
    assert!(f.request.as_deref().unwrap().starts_with("POST http://127.0.0.1:"), "{:?}", f.request);
    assert!(f.excerpt.as_deref().unwrap().contains("Please sign in"), "{:?}", f.excerpt);
}

#[tokio::test]
async fn a_token_endpoint_slower_than_the_step_timeout_fails_with_auth() {
    let (_, j) = setup("/slow-token", "header", "/api/orders").await;
    let o = common::run_once(&j).await;
    let f = o.failure().expect("no token");
    assert_eq!(f.reason, Reason::Auth, "{}", describe(&o));
    assert!(f.message.contains("deadline"), "{}", f.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_waiting_for_another_users_fetch_gives_up_at_its_own_deadline() {
    let (_, j) = setup("/slow-token", "header", "/api/orders").await;
    let plan = Arc::new(Plan::new(j, &Clients::new().unwrap()));
    // The fetching user has the 2 s step timeout; the waiting one is near the end of its journey timeout.
    let fetcher = {
        let plan = Arc::clone(&plan);
        tokio::spawn(async move {
            let mut vu = VirtualUser::new(&plan, 0).unwrap();
            run(&plan, &mut vu).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut vu = VirtualUser::new(&plan, 1).unwrap();
    let started = Instant::now();
    let intended = started - (plan.journey.timeout - std::time::Duration::from_millis(300));
    let o = run_iteration(&plan, &mut vu, intended, &CancellationToken::new()).await;
    let waited = started.elapsed();
    assert_eq!(o.failure().map(|f| f.reason), Some(Reason::Auth), "{}", describe(&o));
    assert!(o.steps[0].token_fetches.is_empty(), "it made no request: {:?}", o.steps[0].token_fetches);
    assert!(waited < std::time::Duration::from_millis(1500), "waited {waited:?} for the other user's fetch");
    let o = fetcher.await.unwrap();
    assert_eq!(o.failure().map(|f| f.reason), Some(Reason::Auth), "{}", describe(&o));
    assert_eq!(o.steps[0].token_fetches, [TokenFetch { source: 0, ok: false }]);
}
