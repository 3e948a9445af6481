//! `/api/v1/maintenance` and `/api/v1/alerts` over real HTTP on 127.0.0.1:0.

mod alerts;

use std::sync::Arc;

use alerts::*;
use journeyd::alert::{AlertHandle, Clock};
use journeyd::pipeline::Sink;
use journeyd::settings::Settings;
use serde_json::{json, Value};

async fn start() -> (String, AlertHandle, prometheus::Registry, journeyd::alert::AlertSink, journeyd::model::Suite) {
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
    let app = handle.router();
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
    assert_eq!(handle.state("login"), Some("maintenance"));
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
    assert_eq!(r.status(), 400);
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
    assert_eq!(s, "down");
    let view = StateSource::state(&handle, "account").unwrap();
    assert_eq!(view.state, journeyd::status::JourneyState::Down);
    assert!(view.reason.unwrap().contains("depends on login"));
}
