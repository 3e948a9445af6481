//! `--location`: refused unless label-safe (exit 2 on `run`, `verify` and `demo`), the `location` label on
//! the alerts journeyd sends (a real webhook receiver on port 0, through the settings' external labels, at
//! start and after a reload), `journeyd_location_info`, a top-level `location` in every `/api/v1/*` list
//! and the status page header; nothing of it without the flag.

mod daemon_support;

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use daemon_support::{eventually, get_text, metric, options, tempdir, write_atomic, InProcess};
use journeyd::daemon::{Daemon, Options, StartError};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_journeyd"))
}

#[test]
fn a_location_that_is_not_label_safe_is_a_usage_error_on_run_verify_and_demo() {
    let dir = tempdir("location-flag");
    for (cmd, value) in [("run", "EU"), ("verify", "eu west"), ("demo", "-eu"), ("run", "mixed"), ("verify", "")] {
        let out = bin().arg(cmd).arg(format!("--location={value}")).arg(&dir).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd} --location {value:?}: {err}");
        assert!(err.contains("--location <NAME>"), "names the flag: {err}");
        let why = if value == "mixed" {
            "`mixed` is reserved"
        } else if value.is_empty() {
            "cannot be empty"
        } else {
            "[a-z0-9][a-z0-9_-]{0,62}"
        };
        assert!(err.contains(why), "{cmd} --location {value:?} says why: {err}");
    }
    // The environment variable goes through the same check.
    let out = bin().args(["run", "--listen", "127.0.0.1:0"]).arg(&dir).env("JOURNEYD_LOCATION", "Ünïcode").output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a location name"));
}

/// Webhook bodies as received.
type Bodies = Arc<Mutex<Vec<Value>>>;

async fn webhook() -> (Bodies, String) {
    let got: Bodies = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(got): State<Bodies>, Json(body): Json<Value>| async move {
                got.lock().unwrap().push(body);
                StatusCode::OK
            }),
        )
        .with_state(Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (got, url)
}

/// A journey that fails every run (nothing listens on port 9) and pages after one failure.
const BROKEN: &str = "name: shop\ntarget: http://127.0.0.1:9\nevery: 1s\ntimeout: 1s\n\
                      alerts: { failure_threshold: 1, success_threshold: 1 }\n\
                      steps:\n  - name: home\n    get: /\n";

fn journeys(name: &str) -> std::path::PathBuf {
    let dir = tempdir(name);
    let journeys = dir.join("journeys");
    std::fs::create_dir_all(&journeys).unwrap();
    write_atomic(&journeys.join("shop.yml"), BROKEN);
    dir
}

/// The labels of the `status` notifications for JourneyDown the webhook got, in order.
async fn pages(got: &Bodies, n: usize) -> Vec<Value> {
    eventually(&format!("{n} JourneyDown notifications at the webhook"), || async {
        let bodies = got.lock().unwrap().clone();
        let pages: Vec<Value> = bodies
            .into_iter()
            .filter(|b| b["alert"]["labels"]["alertname"] == "JourneyDown")
            .map(|b| serde_json::json!({ "status": b["status"], "labels": b["alert"]["labels"] }))
            .collect();
        (pages.len() >= n).then_some(pages)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeyds_own_alerts_carry_the_location_label_next_to_the_external_labels() {
    let (got, hook) = webhook().await;
    let dir = journeys("location-alerts");
    let settings = dir.join("settings.yml");
    let receivers = format!("receivers:\n  webhook:\n    - {{ name: w, url: '{hook}' }}\n");
    write_atomic(&settings, &format!("external_labels: {{ cluster: c1 }}\n{receivers}"));
    let d = InProcess::start(Options {
        settings: Some(settings.clone()),
        location: Some("eu-west".parse().unwrap()),
        ..options(&dir.join("journeys"), "unused")
    })
    .await;
    let page = &pages(&got, 1).await[0];
    assert_eq!(page["status"], "firing");
    let labels = &page["labels"];
    assert_eq!(labels["location"], "eu-west", "{labels}");
    assert_eq!(labels["cluster"], "c1", "the settings' own external labels stay: {labels}");
    assert_eq!(labels["journey"], "shop");

    // A reload keeps the label (the settings file is re-read and the location added again): no resolve
    // and re-fire under other labels, so the webhook hears nothing new.
    write_atomic(&settings, &format!("external_labels: {{ cluster: c1, location: eu-west }}\n{receivers}"));
    d.reloader.reload().await.unwrap();
    // ...but a file naming another location is refused, and the running settings stay.
    write_atomic(&settings, &format!("external_labels: {{ location: us }}\n{receivers}"));
    let e = d.reloader.reload().await.unwrap_err().to_string();
    assert!(e.contains("external_labels.location is \"us\" but --location is \"eu-west\""), "{e}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let all = pages(&got, 1).await;
    assert_eq!(all.len(), 1, "one page, never re-sent under other labels: {all:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_file_naming_another_location_stops_the_start() {
    let dir = journeys("location-conflict");
    let settings = dir.join("settings.yml");
    write_atomic(&settings, "external_labels: { location: us }\n");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = Options {
        settings: Some(settings),
        location: Some("eu".parse().unwrap()),
        ..options(&dir.join("journeys"), "unused")
    };
    match Daemon::start(listener, opts).await {
        Err(e @ StartError::Location(_)) => assert_eq!(
            e.to_string(),
            "--settings: external_labels.location is \"us\" but --location is \"eu\": remove `location` from \
             external_labels (--location sets it) or make them equal"
        ),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started despite the conflict"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_the_status_page_and_metrics_name_the_location() {
    let dir = journeys("location-api");
    let d =
        InProcess::start(Options { location: Some("us".parse().unwrap()), ..options(&dir.join("journeys"), "unused") })
            .await;
    let http = reqwest::Client::new();
    let json = |path: &'static str| {
        let (http, url) = (http.clone(), d.url(path));
        async move { serde_json::from_str::<Value>(&get_text(&http, &url).await).unwrap() }
    };
    let reply = json("/api/v1/journeys").await;
    assert_eq!(reply["location"], "us", "{reply}");
    assert_eq!(reply["shard"], "0/1", "the other fields stay");
    for path in ["/api/v1/failures", "/api/v1/alerts", "/api/v1/maintenance"] {
        assert_eq!(json(path).await["location"], "us", "{path}");
    }
    assert_eq!(json("/api/v1/alerts").await["journeys"][0]["journey"], "shop");
    let page = get_text(&http, &d.url("/")).await;
    assert!(page.contains("<h1>journeyd status from us</h1>"), "{page}");
    let metrics = get_text(&http, &d.url("/metrics")).await;
    assert_eq!(metric(&metrics, r#"journeyd_location_info{location="us"}"#), Some(1.0));
    // The journey_* series are left to the scrape config: no location label on them.
    let runs = eventually("a run", || async {
        let m = get_text(&http, &d.url("/metrics")).await;
        m.lines().find(|l| l.starts_with("journey_runs_total{")).map(str::to_string)
    })
    .await;
    assert!(!runs.contains("location"), "{runs}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_location_nothing_changes() {
    let dir = journeys("location-none");
    let d = InProcess::start(options(&dir.join("journeys"), "unused")).await;
    let http = reqwest::Client::new();
    for path in ["/api/v1/journeys", "/api/v1/failures", "/api/v1/alerts", "/api/v1/maintenance", "/metrics", "/"] {
        let text = get_text(&http, &d.url(path)).await;
        assert!(!text.contains("location"), "{path}: {text}");
    }
    d.stop().await;
}

/// `journeyd ARGS` off the runtime, so the in-process shop keeps serving; (exit code, stdout + stderr).
async fn journeyd(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let out = bin().args(&args).env("NO_COLOR", "1").env("JOURNEYD_LOG", "warn").output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_writes_its_location_and_report_merge_of_two_locations_says_mixed() {
    let shop = journeyd::shop::spawn(journeyd::shop::ShopOptions::default()).await.unwrap();
    let dir = tempdir("location-verify");
    let journeys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("journeys");
    let path = |name: &str| dir.join(name).display().to_string();
    for loc in ["eu", "us"] {
        let mut args: Vec<String> =
            ["verify", "--journey", "price-view", "--iterations", "2", "--no-progress"].map(String::from).into();
        args.extend([journeys.display().to_string(), "--target".into(), shop.url(), "--env".into()]);
        args.push(format!("SHOP_PASSWORD={}", journeyd::shop::DEMO_PASSWORD));
        args.extend(["--location".into(), loc.into(), "--report".into(), path(&format!("{loc}.json"))]);
        let (code, out) = journeyd(args).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(&format!(" from {loc}")), "the summary says where it ran: {out}");
        let r = journeyd::report::Report::read(std::path::Path::new(&path(&format!("{loc}.json")))).unwrap();
        assert_eq!(r.location.as_deref(), Some(loc));
    }
    let args = ["report", "merge"].map(String::from).into_iter().chain([path("eu.json"), path("us.json")]);
    let args: Vec<String> = args.chain(["-o".into(), path("all.json"), "--markdown".into(), path("all.md")]).collect();
    let (code, out) = journeyd(args).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" from eu, us"), "{out}");
    let merged = journeyd::report::Report::read(std::path::Path::new(&path("all.json"))).unwrap();
    assert_eq!((merged.location.as_deref(), merged.locations.clone()), (Some("mixed"), vec!["eu".into(), "us".into()]));
    assert_eq!(merged.journeys["price-view"].runs, 4);
    let md = std::fs::read_to_string(path("all.md")).unwrap();
    assert!(md.contains(" from `eu`, `us`, started "), "{md}");
}
