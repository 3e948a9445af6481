//! Reload of the daemon (in-process, through the library entry) re-reads `--settings`: a bad file is rejected with `file:line:col` and the old
//! receivers keep being notified; a good one adds and removes webhook receivers (an added one hears what is
//! already firing) and moves firing alerts to new external labels.

mod daemon_support;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as AxPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use daemon_support::{eventually, get_text, logs, metric, options, tempdir, write_atomic, InProcess};
use journeyd::daemon::Options;
use journeyd::server::WriteAccess;
use serde_json::Value;

/// A site whose one page answers whatever status the test sets.
async fn switchable_target() -> (Arc<AtomicU16>, String) {
    let status = Arc::new(AtomicU16::new(500));
    let app =
        Router::new()
            .route(
                "/shop",
                get(|State(s): State<Arc<AtomicU16>>| async move {
                    StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
                }),
            )
            .with_state(Arc::clone(&status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (status, url)
}

/// Webhook receivers: `POST /{name}` is stored as `status cluster` (`-` without a cluster label).
type Hooks = Arc<Mutex<Vec<(String, String)>>>;

async fn webhooks() -> (Hooks, String) {
    let got: Hooks = Arc::default();
    let app = Router::new()
        .route(
            "/{name}",
            post(|State(got): State<Hooks>, AxPath(name): AxPath<String>, Json(body): Json<Value>| async move {
                let cluster = body["alert"]["labels"]["cluster"].as_str().unwrap_or("-");
                let line = format!("{} {cluster}", body["status"].as_str().unwrap());
                got.lock().unwrap().push((name, line));
                StatusCode::OK
            }),
        )
        .with_state(Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (got, url)
}

fn heard(hooks: &Hooks, receiver: &str) -> Vec<String> {
    hooks.lock().unwrap().iter().filter(|(n, _)| n == receiver).map(|(_, l)| l.clone()).collect()
}

async fn heard_at_least(hooks: &Hooks, receiver: &str, n: usize) -> Vec<String> {
    eventually(&format!("receiver {receiver} got {n} notifications"), || async {
        let got = heard(hooks, receiver);
        (got.len() >= n).then_some(got)
    })
    .await
}

const JOURNEY: &str = "name: shop\ntarget: \"{{ env.TARGET }}\"\nevery: 1s\ntimeout: 1s\n\
                       alerts: { failure_threshold: 1, success_threshold: 1 }\n\
                       steps:\n  - name: home\n    get: /shop\n    expect: [ status == 200 ]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rereads_the_settings_file_receivers_labels_and_all() {
    let (site, target) = switchable_target().await;
    let (hooks, hook_url) = webhooks().await;
    let dir = tempdir("reload-settings");
    let journeys = dir.join("journeys");
    std::fs::create_dir_all(&journeys).unwrap();
    write_atomic(&journeys.join("shop.yml"), JOURNEY);
    let settings = dir.join("settings.yml");
    let receiver = |name: &str| format!("    - {{ name: {name}, url: '{hook_url}/{name}' }}\n");
    let only_a = format!("receivers:\n  webhook:\n{}", receiver("a"));
    write_atomic(&settings, &only_a);
    let d = InProcess::start(Options {
        access: WriteAccess { lifecycle: true, admin: false },
        settings: Some(settings.clone()),
        ..options(&journeys, &target)
    })
    .await;
    let http = reqwest::Client::new();
    let reload = || async { http.post(d.url("/-/reload")).send().await.unwrap() };
    let reload_gauge = || async {
        metric(&get_text(&http, &d.url("/metrics")).await, "journeyd_config_last_reload_successful").unwrap()
    };
    assert_eq!(heard_at_least(&hooks, "a", 1).await, ["firing -"]);

    // A bad settings file: rejected where it is wrong, and the old receiver keeps hearing about changes.
    write_atomic(&settings, &format!("{only_a}defaults:\n  failure_threshold: 0\n"));
    let resp = reload().await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("settings.yml:5:22: `defaults.failure_threshold`: must be at least 1"), "{text}");
    assert!(text.contains("previous configuration keeps running"), "{text}");
    assert_eq!(reload_gauge().await, 0.0);
    let located = format!("{}:5:22", settings.display());
    assert!(logs().contains(&located), "the rejection is logged with its location");
    site.store(200, Ordering::SeqCst);
    assert_eq!(heard_at_least(&hooks, "a", 2).await, ["firing -", "resolved -"]);
    site.store(500, Ordering::SeqCst);
    assert_eq!(heard_at_least(&hooks, "a", 3).await, ["firing -", "resolved -", "firing -"]);

    // `b` added next to `a`: b hears at once of the alert already firing; a is not told again.
    write_atomic(&settings, &format!("receivers:\n  webhook:\n{}{}", receiver("a"), receiver("b")));
    let resp = reload().await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(reload_gauge().await, 1.0);
    assert_eq!(heard_at_least(&hooks, "b", 1).await, ["firing -"]);

    // The reload SIGHUP asks for: `a` removed and a cluster label added. b sees the alert it knows resolved and the same
    // outage firing under the new labels.
    write_atomic(&settings, &format!("external_labels: {{ cluster: eu2 }}\nreceivers:\n  webhook:\n{}", receiver("b")));
    d.reloader.reload().await.unwrap();
    let mut got = heard_at_least(&hooks, "b", 3).await;
    got[1..].sort();
    assert_eq!(got, ["firing -", "firing eu2", "resolved -"]);
    site.store(200, Ordering::SeqCst);
    assert_eq!(heard_at_least(&hooks, "b", 4).await[3], "resolved eu2");
    // a heard nothing after it was removed, and nothing twice before.
    assert_eq!(heard(&hooks, "a"), ["firing -", "resolved -", "firing -"]);
}
