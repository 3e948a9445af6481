//! Progressive-delivery gates end to end: a live daemon (in-process, 127.0.0.1:0) monitoring the demo shop
//! as "stable", a second demo shop as the canary, and the requests Flagger and Argo Rollouts send replayed
//! byte for byte as their sources and documentation describe them:
//!
//! - Flagger (`pkg/controller/webhook.go`, `callWebhook`): `POST <url>` with `Content-Type:
//!   application/json`, Go's `User-Agent: Go-http-client/1.1`, and the `CanaryWebhookPayload` body
//!   `{"name", "namespace", "phase", "checksum", "metadata"}`; a status above 202 halts the canary. Basic auth
//!   comes from the webhook URL's userinfo, which Go's client turns into an `Authorization: Basic` header.
//! - Argo Rollouts (`metricproviders/webmetric`): `GET <url>` with the template's `headers`, the JSON answer
//!   read at `jsonPath` and judged by `successCondition: result.passed == true`.
//!
//! Nothing here is timed: each wait is for a condition, bounded only so a broken daemon cannot hang the suite.

mod certs;
mod daemon_support;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use daemon_support::{eventually, options, sample, tempdir, InProcess};
use journeyd::server::WriteAccess;
use journeyd::shop::{self, Fault, ShopOptions};
use serde_json::{json, Value};
use tokio::sync::Notify;

const JOURNEY: &str = concat!(
    r#"name: price
target: "{{ env.TARGET }}"
tags: [shop]
every: 1s
timeout: 1s
"#,
    daemon_support::price_steps!()
);

/// A daemon monitoring `target` with the admin API on or off and an optional `--web-config` text.
async fn daemon(name: &str, target: &str, admin: bool, web: Option<String>) -> InProcess {
    daemon_with(name, JOURNEY, target, admin, web).await
}

async fn daemon_with(name: &str, journey: &str, target: &str, admin: bool, web: Option<String>) -> InProcess {
    daemon_env(name, journey, &[("TARGET", target)], admin, web).await
}

async fn daemon_env(name: &str, journey: &str, env: &[(&str, &str)], admin: bool, web: Option<String>) -> InProcess {
    let dir = tempdir(name);
    let journeys = dir.join("journeys");
    std::fs::create_dir_all(&journeys).unwrap();
    std::fs::write(journeys.join("price.yml"), journey).unwrap();
    let mut opts = options(&journeys, "");
    for (k, v) in env {
        opts.load.env.insert(k.to_string(), v.to_string());
    }
    if let Some(web) = web {
        std::fs::write(dir.join("web.yml"), web).unwrap();
        opts.web_config = Some(dir.join("web.yml"));
    }
    opts.access = WriteAccess { lifecycle: false, admin };
    InProcess::start(opts).await
}

/// Flagger's webhook payload for the canary `podinfo` in `test`, with `metadata`.
fn payload(metadata: Value) -> Value {
    json!({
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "6d9c8f7b5d",
        "metadata": metadata,
    })
}

/// Flagger's request: POST, JSON, Go's user agent; `auth` as Go sends the URL's userinfo.
async fn flagger(d: &InProcess, hook: &str, body: &Value, auth: Option<(&str, &str)>) -> (u16, Value) {
    let req = reqwest::Client::new()
        .post(d.url(&format!("/api/v1/gates/flagger/{hook}")))
        .header("content-type", "application/json")
        .header("user-agent", "Go-http-client/1.1")
        .header("accept-encoding", "gzip")
        .body(body.to_string());
    send(req, auth).await
}

/// Argo Rollouts' web provider: GET with the template's headers.
async fn argo(d: &InProcess, query: &str, auth: Option<(&str, &str)>) -> (u16, Value) {
    let req = reqwest::Client::new()
        .get(d.url(&format!("/api/v1/gates/verdict{query}")))
        .header("content-type", "application/json")
        .header("user-agent", "Go-http-client/1.1");
    send(req, auth).await
}

/// Sends with basic auth when given; the status and the JSON body (a string when not JSON).
async fn send(mut req: reqwest::RequestBuilder, auth: Option<(&str, &str)>) -> (u16, Value) {
    if let Some((user, password)) = auth {
        req = req.basic_auth(user, Some(password));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn first_runs(d: &InProcess) {
    eventually("a passing verdict from the first runs", || async {
        let (status, v) = argo(d, "?journeys=price", None).await;
        (status == 200 && v["passed"] == true).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_rollout_runs_the_journeys_against_the_canary_and_names_the_failing_step() {
    let stable = shop::spawn(ShopOptions::default()).await.unwrap();
    let canary = shop::spawn(ShopOptions::default()).await.unwrap();
    let d = daemon("gates-pre", &stable.url(), true, None).await;
    eventually("the suite is loaded", || async { (argo(&d, "", None).await.0 == 200).then_some(()) }).await;

    let meta = json!({ "journeys": "price", "target": canary.url() });
    let (status, v) = flagger(&d, "pre-rollout", &payload(meta.clone()), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["passed"], true, "{v}");
    let run = &v["journeys"][0];
    assert_eq!(run["journey"], "price");
    assert_eq!(run["compared_by"], format!("pre-rollout run against {}", canary.url()), "{v}");

    canary.faults.set("product", Fault::status(503)).unwrap();
    let (status, v) = flagger(&d, "pre-rollout", &payload(meta), None).await;
    assert_eq!(status, 412, "a status above 202 halts the canary: {v}");
    assert_eq!(v["passed"], false);
    assert_eq!(v["journeys"][0]["step"], "view-price", "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("view-price") && message.contains("503"), "{message}");

    // The stable shop was never touched by the fault: the monitor still sees it pass.
    first_runs(&d).await;
    d.stop().await;
    stable.stop().await.unwrap();
    canary.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_confirm_promotion_and_argo_judge_the_monitor_and_halt_on_a_down_journey() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let d = daemon("gates-judge", &shop.url(), true, None).await;
    first_runs(&d).await;

    let by_tag = payload(json!({ "tags": "shop" }));
    for hook in ["confirm-rollout", "rollout", "confirm-promotion"] {
        let (status, v) = flagger(&d, hook, &by_tag, None).await;
        assert_eq!(status, 200, "{hook}: {v}");
        assert_eq!(v["journeys"][0]["state"], "up", "{v}");
    }

    // A deploy marker: the verdict names the comparison that covers the journey.
    let r = reqwest::Client::new()
        .post(d.url("/api/v1/deploys"))
        .json(&json!({ "version": "v2", "journeys": ["price"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, v) = argo(&d, "?journeys=price", None).await;
    assert_eq!(v["journeys"][0]["compared_by"], "deploy v2", "{v}");

    shop.faults.set("product", Fault::status(500)).unwrap();
    let v = eventually("the journey down and the verdict failed", || async {
        let (status, v) = argo(&d, "?journeys=price", None).await;
        assert_eq!(status, 200, "Argo reads a failed verdict from a 200: {v}");
        (v["passed"] == false).then_some(v)
    })
    .await;
    assert_eq!(v["journeys"][0]["state"], "down", "{v}");
    let (status, v) = flagger(&d, "confirm-promotion", &payload(json!({ "journeys": "price" })), None).await;
    assert_eq!(status, 412, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("journey is down") && message.contains("view-price"), "{message}");

    shop.faults.set("product", Fault::default()).unwrap();
    eventually("the journey up again", || async {
        (flagger(&d, "rollout", &payload(json!({})), None).await.0 == 200).then_some(())
    })
    .await;
    d.stop().await;
    shop.stop().await.unwrap();
}

#[tokio::test]
async fn bad_payloads_and_queries_get_400_with_what_to_send() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let d = daemon("gates-bad", &shop.url(), true, None).await;
    eventually("the suite is loaded", || async { (argo(&d, "", None).await.0 == 200).then_some(()) }).await;

    let (status, v) = flagger(&d, "rollout", &json!({ "name": "podinfo" }), None).await;
    assert_eq!(status, 400, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("namespace") && e.contains(r#"send Flagger's webhook payload: {"name""#), "{e}");

    let (status, v) = flagger(&d, "rollout", &payload(json!({ "journey": "price" })), None).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains(r#"unknown metadata key "journey""#), "{v}");

    let (status, v) = flagger(&d, "rollout", &payload(json!({ "journeys": "pricee" })), None).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains(r#"no journey named "pricee"; running: price"#), "{v}");

    let (status, v) = flagger(&d, "pre-rollout", &payload(json!({ "journeys": "price" })), None).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("pre-rollout needs metadata.target"), "{v}");
    let (status, v) = flagger(&d, "pre-rollout", &payload(json!({ "target": "canary:9898" })), None).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("not an http(s) URL"), "{v}");
    let (status, v) = flagger(&d, "pre-rollout", &payload(json!({ "target": "http://u:hunter2@canary" })), None).await;
    assert_eq!(status, 400);
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("carries credentials") && !e.contains("hunter2"), "{v}");

    let (status, v) = flagger(&d, "post-rollout", &payload(json!({})), None).await;
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().contains("/api/v1/gates/flagger/confirm-promotion"), "{v}");

    let (status, v) = argo(&d, "?journey=price", None).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("?journeys=checkout,login"), "{v}");
    let (status, v) = argo(&d, "?tags=nothing-has-this", None).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("no running journey carries the tags"), "{v}");
    d.stop().await;
    shop.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_need_the_admin_api_and_the_web_config_credentials() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let closed = daemon("gates-closed", &shop.url(), false, None).await;
    let (status, v) = flagger(&closed, "rollout", &payload(json!({})), None).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("--enable-admin-api"), "{v}");
    closed.stop().await;

    // Cost 4 keeps the test fast; real files use 10 or more.
    let hash = bcrypt::hash("gate pass", 4).unwrap();
    let d = daemon("gates-auth", &shop.url(), true, Some(format!("basic_auth_users:\n  flagger: {hash}\n"))).await;
    let creds = Some(("flagger", "gate pass"));
    eventually("a passing verdict", || async {
        let (status, v) = argo(&d, "?journeys=price", creds).await;
        (status == 200 && v["passed"] == true).then_some(())
    })
    .await;
    assert_eq!(flagger(&d, "rollout", &payload(json!({})), None).await.0, 401);
    assert_eq!(flagger(&d, "rollout", &payload(json!({})), Some(("flagger", "guess"))).await.0, 401);
    assert_eq!(argo(&d, "?journeys=price", None).await.0, 401);
    let (status, v) = flagger(&d, "rollout", &payload(json!({})), creds).await;
    assert_eq!(status, 200, "{v}");
    d.stop().await;
    shop.stop().await.unwrap();
}

/// A canary that holds every request until released, and says when one arrived.
#[derive(Clone)]
struct Held {
    arrived: Arc<Notify>,
    release: Arc<Notify>,
}

async fn held(State(h): State<Held>) -> &'static str {
    h.arrived.notify_one();
    h.release.notified().await;
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pre_rollout_run_per_journey_at_a_time() {
    let stable = shop::spawn(ShopOptions::default()).await.unwrap();
    let h = Held { arrived: Arc::new(Notify::new()), release: Arc::new(Notify::new()) };
    let app = Router::new().fallback(get(held)).with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let canary = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    // A timeout far above what holding and releasing takes, so only the test decides when a run ends.
    let journey = JOURNEY.replace("every: 1s\ntimeout: 1s", "every: 60s\ntimeout: 60s");
    let d = Arc::new(daemon_with("gates-busy", &journey, &stable.url(), true, None).await);
    eventually("the suite is loaded", || async { (argo(&d, "", None).await.0 == 200).then_some(()) }).await;

    let body = payload(json!({ "journeys": "price", "target": canary }));
    let first = {
        let (d, body) = (Arc::clone(&d), body.clone());
        tokio::spawn(async move { flagger(&d, "pre-rollout", &body, None).await })
    };
    h.arrived.notified().await;
    let (status, v) = flagger(&d, "pre-rollout", &body, None).await;
    assert_eq!(status, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains(r#"pre-rollout run of journey "price" is already in flight"#));
    h.release.notify_one();
    h.arrived.notified().await;
    h.release.notify_one();
    let (status, v) = first.await.unwrap();
    assert_eq!(status, 200, "both steps answered: {v}");
    let (status, v) = {
        let (d, body) = (Arc::clone(&d), body.clone());
        let again = tokio::spawn(async move { flagger(&d, "pre-rollout", &body, None).await });
        for _ in 0..2 {
            h.arrived.notified().await;
            h.release.notify_one();
        }
        again.await.unwrap()
    };
    assert_eq!(status, 200, "the journey is free again once the first run answered: {v}");
    Arc::try_unwrap(d).ok().unwrap().stop().await;
    stable.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_beside_stable_decides_the_verdict_and_names_the_failing_step() {
    let stable = shop::spawn(ShopOptions::default()).await.unwrap();
    let canary = shop::spawn(ShopOptions::default()).await.unwrap();
    canary.faults.set("product", Fault::status(500)).unwrap();
    let journey = JOURNEY.replace(
        "target: \"{{ env.TARGET }}\"",
        "targets:\n  stable: \"{{ env.TARGET }}\"\n  canary: \"{{ env.CANARY }}\"",
    );
    let env = [("TARGET", stable.url()), ("CANARY", canary.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = daemon_env("gates-canary", &journey, &env, true, None).await;

    // Runs every 1s need 20 ticks before each target has the 20 runs a canary judgement needs: until then a
    // promotion waits, while a rollout step only halts on what was found.
    let (status, v) = flagger(&d, "confirm-promotion", &payload(json!({ "journeys": "price" })), None).await;
    assert_eq!(status, 412, "{v}");
    assert!(v["message"].as_str().unwrap().contains("canary not judged yet"), "{v}");

    let v = eventually("the canary comparison's verdict", || async {
        let (status, v) = argo(&d, "?journeys=price", None).await;
        assert_eq!(status, 200, "{v}");
        (v["journeys"][0]["comparison"] == "regression").then_some(v)
    })
    .await;
    let journey = &v["journeys"][0];
    assert_eq!(v["passed"], false, "{v}");
    assert_eq!(journey["compared_by"], "canary", "{v}");
    assert_eq!(journey["step"], "view-price", "{v}");
    assert_eq!(journey["state"], "up", "the journey's state is its stable target's: {v}");

    let (status, v) = flagger(&d, "rollout", &payload(json!({ "journeys": "price" })), None).await;
    assert_eq!(status, 412, "{v}");
    assert!(v["message"].as_str().unwrap().contains("view-price"), "{v}");
    d.stop().await;
    stable.stop().await.unwrap();
    canary.stop().await.unwrap();
}

/// `journeyd_gate_requests_total{gate,answer}` now.
async fn answers(d: &InProcess, gate: &str, answer: &str) -> f64 {
    let text = d.text("/metrics").await;
    sample(&text, "journeyd_gate_requests_total", &[("gate", gate), ("answer", answer)])
        .unwrap_or_else(|| panic!("no series for {gate} {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_gates_answered_is_counted_by_gate_and_answer() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let canary = shop::spawn(ShopOptions::default()).await.unwrap();
    let d = daemon("gates-count", &shop.url(), true, None).await;
    // Before any request every series is there at zero, so an `increase` sees the first answer.
    let text = d.text("/metrics").await;
    let gates = ["flagger-pre-rollout", "flagger-confirm-rollout", "flagger-rollout", "flagger-confirm-promotion"];
    for gate in gates.into_iter().chain(["argo-verdict"]) {
        for answer in ["proceed", "halt", "error"] {
            let labels = [("gate", gate), ("answer", answer)];
            assert_eq!(sample(&text, "journeyd_gate_requests_total", &labels), Some(0.0), "{gate} {answer}");
        }
    }
    if let Some(problems) = certs::promtool_check_metrics(&text) {
        assert!(problems.is_empty(), "promtool check metrics:\n{problems}");
    }
    first_runs(&d).await;
    let argo_proceed = answers(&d, "argo-verdict", "proceed").await;
    assert!(argo_proceed >= 1.0);

    assert_eq!(flagger(&d, "rollout", &payload(json!({ "journeys": "price" })), None).await.0, 200);
    assert_eq!(flagger(&d, "rollout", &payload(json!({ "journey": "price" })), None).await.0, 400);
    assert_eq!(flagger(&d, "post-rollout", &payload(json!({})), None).await.0, 404);
    let meta = json!({ "journeys": "price", "target": canary.url() });
    assert_eq!(flagger(&d, "pre-rollout", &payload(meta), None).await.0, 200);
    assert_eq!(argo(&d, "?tags=nothing-has-this", None).await.0, 400);
    assert_eq!(argo(&d, "?journeys=price", None).await.0, 200);
    assert_eq!(answers(&d, "flagger-rollout", "proceed").await, 1.0);
    assert_eq!(answers(&d, "flagger-rollout", "error").await, 1.0);
    assert_eq!(answers(&d, "flagger-pre-rollout", "proceed").await, 1.0);
    assert_eq!(answers(&d, "argo-verdict", "error").await, 1.0);
    assert_eq!(answers(&d, "argo-verdict", "proceed").await, argo_proceed + 1.0);
    assert!(!d.text("/metrics").await.contains("post-rollout"), "a hook not served is not a label value");

    shop.faults.set("product", Fault::status(500)).unwrap();
    eventually("the journey down", || async {
        (argo(&d, "?journeys=price", None).await.1["passed"] == false).then_some(())
    })
    .await;
    assert!(answers(&d, "argo-verdict", "halt").await >= 1.0);
    assert_eq!(flagger(&d, "confirm-promotion", &payload(json!({ "journeys": "price" })), None).await.0, 412);
    assert_eq!(answers(&d, "flagger-confirm-promotion", "halt").await, 1.0);
    assert_eq!(answers(&d, "flagger-confirm-promotion", "proceed").await, 0.0);
    d.stop().await;
    shop.stop().await.unwrap();
    canary.stop().await.unwrap();
}
