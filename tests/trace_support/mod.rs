//! What the trace tests share: an OTLP/HTTP collector and a site on port 0, the journeys and settings they
//! run, and readers of the decoded spans.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, post};
use axum::Router;
use journeyd::daemon::Options;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use super::daemon_support::{eventually, get_text, metric, tempdir, InProcess};

/// How the test collector answers.
#[derive(Clone, Copy, PartialEq)]
pub enum Collector {
    Accepts,
    /// Takes the request and never answers.
    Hangs,
    Fails,
}

/// What the collector received: every request, decoded, with its headers.
#[derive(Clone, Default)]
pub struct Received(pub Arc<Mutex<Vec<(HeaderMap, ExportTraceServiceRequest)>>>);

impl Received {
    pub fn spans(&self) -> Vec<Span> {
        let got = self.0.lock().unwrap();
        got.iter()
            .flat_map(|(_, r)| {
                r.resource_spans.iter().flat_map(|rs| rs.scope_spans.iter().flat_map(|s| s.spans.clone()))
            })
            .collect()
    }

    pub fn requests(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn resource(&self) -> Vec<KeyValue> {
        let got = self.0.lock().unwrap();
        got[0].1.resource_spans[0].resource.clone().unwrap().attributes
    }
}

pub async fn collector(mode: Collector) -> (Received, String) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(move |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                assert_eq!(headers["content-type"], "application/x-protobuf");
                let request = ExportTraceServiceRequest::decode(body).expect("a valid OTLP protobuf message");
                r.0.lock().unwrap().push((headers, request));
                match mode {
                    Collector::Accepts => StatusCode::OK,
                    Collector::Fails => StatusCode::INTERNAL_SERVER_ERROR,
                    Collector::Hangs => std::future::pending().await,
                }
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (received, url)
}

/// `traceparent` and `tracestate` by request path, as the site saw them.
pub type Seen = Arc<Mutex<HashMap<String, (String, String)>>>;

/// The site: `/fail` answers 503, `/slow` answers 200 after 30 ms, everything else 200 at once; every request's trace headers are kept.
pub async fn site() -> (Seen, String) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .fallback(any(|State(seen): State<Seen>, uri: axum::http::Uri, headers: HeaderMap| async move {
            let h = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            seen.lock().unwrap().insert(uri.path().to_string(), (h("traceparent"), h("tracestate")));
            if uri.path() == "/slow" {
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            }
            if uri.path() == "/fail" {
                (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance")
            } else {
                (StatusCode::OK, "ok")
            }
        }))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (seen, url)
}

pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Journeys and a settings file in a fresh directory; the daemon's options for them.
pub fn setup(name: &str, journeys: &[(&str, String)], settings: &str) -> Options {
    let dir = tempdir(name);
    let journeys_dir = dir.join("journeys");
    std::fs::create_dir_all(&journeys_dir).unwrap();
    for (file, text) in journeys {
        std::fs::write(journeys_dir.join(file), text).unwrap();
    }
    let settings_path = dir.join("settings.yml");
    std::fs::write(&settings_path, settings).unwrap();
    let mut options = Options::new(vec![journeys_dir]);
    options.settings = Some(settings_path);
    options
}

pub fn journey(name: &str, target: &str, every: &str, steps: &str) -> String {
    format!("name: {name}\ntarget: {target}\nevery: {every}\ntimeout: {every}\nalerts: {{ failure_threshold: 1 }}\nvars: {{ item: \"42\" }}\nsteps:\n{steps}")
}

pub const TWO_STEPS: &str = "  - name: home\n    get: /home\n    expect: [ status == 200 ]\n  - name: item\n    get: \"/items/{{ vars.item }}\"\n    expect: [ status == 200 ]\n";

pub async fn metrics(daemon: &InProcess) -> String {
    get_text(&reqwest::Client::new(), &daemon.url("/metrics")).await
}

/// The daemon's metrics once `series` is at least `at_least`. A run's export is counted when the collector's
/// answer is back, a moment after the collector holds the spans a test waited for.
pub async fn metrics_once(daemon: &InProcess, series: &str, at_least: f64) -> String {
    eventually(&format!("{series} >= {at_least}"), || async move {
        let m = metrics(daemon).await;
        metric(&m, series).is_some_and(|v| v >= at_least).then_some(m)
    })
    .await
}

/// Runs a 300 ms journey with `traces` as the settings' section (its `queue_capacity` must be 2) until
/// `runs` runs completed and `enough` holds for the metrics; checks at every look that the queue never held
/// more than its capacity and at the end that no tick was skipped: the run's deadline is half the interval,
/// so a run always ends before the next tick, and a skipped tick could only mean the export held one up.
/// Returns the metrics of that last look.
pub async fn ticking(traces: &str, runs: f64, name: &str, enough: impl Fn(&str) -> bool) -> String {
    let (_, target) = site().await;
    let tick = "  - name: tick\n    get: /tick\n    expect: [ status == 200 ]\n";
    let tick = journey("tick", &target, "300ms", tick).replace("timeout: 300ms", "timeout: 150ms");
    let daemon = InProcess::start(setup(name, &[("tick.yml", tick)], traces)).await;
    let m = eventually("runs go on while the collector misbehaves", || {
        let (daemon, enough) = (&daemon, &enough);
        async move {
            let m = metrics(daemon).await;
            let queued = metric(&m, "journeyd_traces_queued").unwrap();
            assert!(queued <= 2.0, "the queue holds at most its capacity: {queued}");
            // Every run counts, passed or failed: on a loaded machine a run may time out, and still it ran.
            let run = |o: &str| metric(&m, &format!("journey_runs_total{{journey=\"tick\",outcome=\"{o}\"}}"));
            let done = run("success").unwrap_or(0.0) + run("failure").unwrap_or(0.0);
            (done >= runs && enough(&m)).then_some(m)
        }
    })
    .await;
    assert_eq!(metric(&m, "journey_schedule_missed_total{journey=\"tick\"}"), Some(0.0), "no tick was skipped: {m}");
    assert_eq!(metric(&m, "journeyd_traces_exported_total"), Some(0.0));
    daemon.stop().await;
    m
}

/// `journeyd verify ARGS` with `env` added, as a child process; the failing `pay` journey is in `dir`.
pub async fn verify(args: Vec<std::ffi::OsString>, env: Vec<(&'static str, String)>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_journeyd"))
            .args(["verify", "--no-progress"])
            .args(args)
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// A journey file `pay.yml` in a fresh directory whose only step fails (503); returns the directory.
pub fn failing_journey(name: &str, target: &str) -> std::path::PathBuf {
    let dir = tempdir(name);
    let failing = "  - name: pay\n    get: /fail\n    expect: [ status == 200 ]\n";
    std::fs::write(dir.join("pay.yml"), journey("pay", target, "1m", failing)).unwrap();
    dir
}
