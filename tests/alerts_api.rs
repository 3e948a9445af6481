//! `/api/v1/maintenance` and `/api/v1/alerts` over real HTTP on 127.0.0.1:0, behind the daemon's write gate
//! (`server::writes`): admin API flag, JSON only, same site only, bounded windows and bodies.

mod alerts;

use std::sync::Arc;

use alerts::*;
use journeyd::alert::{AlertHandle, Clock, Health};
use journeyd::pipeline::Sink;
use journeyd::server::writes;
use journeyd::server::WriteAccess;
use journeyd::settings::Settings;
use serde_json::{json, Value};

const ADMIN: WriteAccess = WriteAccess { lifecycle: false, admin: true };

async fn start() -> (String, AlertHandle, prometheus::Registry, journeyd::alert::AlertSink, journeyd::model::Suite) {
    start_with(ADMIN).await
}

async fn start_with(
    access: WriteAccess,
) -> (String, AlertHandle, prometheus::Registry, journeyd::alert::AlertSink, journeyd::model::Suite) {
    let suite = suite(&[
        ("login.yml", &journey_yaml("login", "alerts: { failure_threshold: 1 }")),
        ("account.yml", &journey_yaml("account", "depends_on: [login]\nalerts: { failure_threshold: 1 }")),
    ]);
    let registry = prometheus::Registry::new();
    let handle =
        AlertHandle::start(Arc::new(Settings::default()), &registry, "http://journeyd.test/", Clock::system()).unwrap();
    let mut sink = handle.sink();
    sink.suite_changed(&suite);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = writes::guard(handle.router(), access);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, handle, registry, sink, suite)
}

#[tokio::test]
async fn maintenance_windows_open_list_and_close_over_http() {
    let (url, handle, registry, _sink, _suite) = start().await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/api/v1/maintenance"))
        .json(&json!({ "journey": "login", "duration": "30m", "reason": "deploy" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let w: Value = r.json().await.unwrap();
    assert_eq!(
        (w["journey"].as_str(), w["reason"].as_str(), w["recurring"].as_bool()),
        (Some("login"), Some("deploy"), Some(false))
    );
    assert_eq!(metric(&registry, r#"journey_maintenance{journey="login"}"#), Some(1.0));
    assert_eq!(handle.state("login"), Some(Health::Maintenance));
    let list: Value = http.get(format!("{url}/api/v1/maintenance")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["windows"].as_array().unwrap().len(), 1);
    let id = w["id"].as_u64().unwrap();
    let r = http.delete(format!("{url}/api/v1/maintenance/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(metric(&registry, r#"journey_maintenance{journey="login"}"#), Some(0.0));
    let r = http.delete(format!("{url}/api/v1/maintenance/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn bad_maintenance_requests_say_what_to_send() {
    let (url, ..) = start().await;
    let http = reqwest::Client::new();
    let post = |body: Value| http.post(format!("{url}/api/v1/maintenance")).json(&body).send();
    let r = post(json!({ "journey": "logn", "duration": "30m" })).await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("no journey is named `logn`"));
    let r = post(json!({ "journey": "*", "duration": "30" })).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("has no unit"));
    let r = post(json!({ "journey": "*", "duration": "30d" })).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("between 1s and 24h"));
    let r = post(json!({ "journeys": "*" })).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    let e = e["error"].as_str().unwrap();
    assert!(e.contains("unknown field `journeys`") && e.contains(r#"send {"journey""#), "{e}");
}

#[tokio::test]
async fn the_alerts_api_shows_states_suppression_and_firing_alerts() {
    let (url, handle, _registry, mut sink, suite) = start().await;
    for name in ["account", "login"] {
        sink.outcome(&get(&suite, name), &fail(name));
    }
    let v: Value = reqwest::get(format!("{url}/api/v1/alerts")).await.unwrap().json().await.unwrap();
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{v}");
    assert_eq!(alerts[0]["labels"]["journey"], "login");
    let v: Value = reqwest::get(format!("{url}/api/v1/alerts?journey=account")).await.unwrap().json().await.unwrap();
    assert_eq!(v["journeys"][0]["state"], "down");
    assert_eq!(v["journeys"][0]["suppressed_by"], "login");
    assert_eq!(v["alerts"], json!([]));
    use journeyd::status::StateSource;
    let s = handle.state("login").unwrap();
    assert_eq!(s, Health::Down);
    let view = StateSource::state(&handle, "account").unwrap();
    assert_eq!(view.state, journeyd::status::JourneyState::Down);
    assert!(view.reason.unwrap().contains("depends on login"));
}

#[tokio::test]
async fn the_admin_api_is_off_unless_enabled_and_reads_stay_on() {
    let (url, ..) = start_with(WriteAccess::default()).await;
    let http = reqwest::Client::new();
    let window = json!({ "journey": "*", "duration": "7d", "reason": "outsider" });
    let r = http.post(format!("{url}/api/v1/maintenance")).json(&window).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("--enable-admin-api"), "{e}");
    let r = http.delete(format!("{url}/api/v1/maintenance/1")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    for read in ["/api/v1/maintenance", "/api/v1/alerts"] {
        assert_eq!(http.get(format!("{url}{read}")).send().await.unwrap().status(), 200, "{read}");
    }
}

#[tokio::test]
async fn maintenance_windows_are_capped_in_length_reason_body_and_number() {
    let (url, ..) = start().await;
    let http = reqwest::Client::new();
    let post = |body: Value| http.post(format!("{url}/api/v1/maintenance")).json(&body).send();
    let error = |v: Value| v["error"].as_str().unwrap_or_default().to_string();

    let r = post(json!({ "journey": "*", "duration": "25h" })).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(error(r.json().await.unwrap()).contains("weekly window"));
    let r = post(json!({ "journey": "*", "duration": "1h", "reason": "x".repeat(1025) })).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(error(r.json().await.unwrap()).contains("at most 1024"));
    // Past the body limit the request is refused before any of it is parsed.
    let r = post(json!({ "journey": "*", "duration": "1h", "reason": "x".repeat(100 * 1024) })).await.unwrap();
    assert_eq!(r.status(), 413);
    assert!(error(r.json().await.unwrap()).contains("length limit exceeded"));

    for i in 0..journeyd::alert::maintenance::MAX_OPEN_WINDOWS {
        let r = post(json!({ "journey": "login", "duration": "1h", "reason": "y".repeat(1024) })).await.unwrap();
        assert_eq!(r.status(), 201, "window {i}");
    }
    let r = post(json!({ "journey": "login", "duration": "1h" })).await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(error(r.json().await.unwrap()).contains("DELETE /api/v1/maintenance/{id}"));
    let list: Value = http.get(format!("{url}/api/v1/maintenance")).send().await.unwrap().json().await.unwrap();
    let first = list["windows"][0]["id"].as_u64().unwrap();
    assert_eq!(http.delete(format!("{url}/api/v1/maintenance/{first}")).send().await.unwrap().status(), 204);
    let r = post(json!({ "journey": "login", "duration": "1h" })).await.unwrap();
    assert_eq!(r.status(), 201, "ending one makes room for another");
}

#[tokio::test]
async fn writes_take_json_from_the_same_site_only() {
    let (url, ..) = start().await;
    let http = reqwest::Client::new();
    let endpoint = format!("{url}/api/v1/maintenance");
    let window = json!({ "journey": "*", "duration": "1h" }).to_string();
    // What an HTML form on another site can send without a CORS preflight.
    let form = http
        .post(&endpoint)
        .header("content-type", "text/plain")
        .header("origin", "http://evil.example")
        .body(window.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403, "a foreign Origin is refused");
    let r = http.post(&endpoint).header("content-type", "text/plain").body(window.clone()).send().await.unwrap();
    assert_eq!(r.status(), 415, "JSON only, even from a script");
    let r = http
        .post(&endpoint)
        .header("content-type", "application/json")
        .header("sec-fetch-site", "cross-site")
        .body(window.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the browser says cross-site");
    let own = http
        .post(&endpoint)
        .header("content-type", "application/json")
        .header("origin", url.as_str())
        .body(window)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 201, "journeyd's own origin is allowed");
}
