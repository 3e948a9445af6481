//! Helpers shared by the alert tests: journeys from YAML text, outcomes, metric values, and a receiver on
//! 127.0.0.1:0 that fails on purpose.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::AtomicU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use journeyd::alert::{AlertHandle, AlertSink, Clock};
use journeyd::config::{self, LoadOptions};
use journeyd::model::{Journey, Suite};
use journeyd::outcome::{Failure, Reason, RunOutcome, RunStatus, StepOutcome};
use journeyd::pipeline::Sink;
use journeyd::settings::Settings;

/// Sunday 2026-11-29 00:00 UTC: the wall clock the alert tests start from.
pub const SUNDAY: u64 = 1_796_000_000 - 86_400 - 3200;

pub fn parse_settings(text: &str) -> Settings {
    Settings::parse(std::path::Path::new("s.yml"), text).unwrap()
}

/// Running alerting (engine, receivers, tick), fed through its pipeline sink, on a clock set to [`SUNDAY`].
pub struct HandleRig {
    pub handle: AlertHandle,
    pub sink: AlertSink,
    pub suite: Suite,
    pub registry: prometheus::Registry,
}

impl HandleRig {
    /// `journeys`: one-step journeys that go down after one failure and up after one pass.
    pub fn new(settings: &str, journeys: &[&str]) -> HandleRig {
        let rules = "alerts: { failure_threshold: 1, success_threshold: 1 }";
        let files: Vec<(String, String)> =
            journeys.iter().map(|n| (format!("{n}.yml"), journey_yaml(n, rules))).collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let suite = suite(&files);
        let registry = prometheus::Registry::new();
        let clock = Clock::at(std::time::UNIX_EPOCH + Duration::from_secs(SUNDAY));
        let settings = Arc::new(parse_settings(settings));
        let handle = AlertHandle::start(settings, &registry, "http://journeyd.test/", clock).unwrap();
        let mut sink = handle.sink();
        sink.suite_changed(&suite);
        HandleRig { handle, sink, suite, registry }
    }

    pub fn feed(&mut self, o: RunOutcome) {
        let j = get(&self.suite, &o.journey);
        self.sink.outcome(&j, &o);
    }

    pub fn dropped(&self, receiver: &str) -> f64 {
        metric(&self.registry, &format!(r#"journeyd_notifications_dropped_total{{receiver="{receiver}"}}"#)).unwrap()
    }
}

/// Loads journeys from `(file name, yaml)` pairs written to a fresh directory.
pub fn suite(files: &[(&str, &str)]) -> Suite {
    let dir: PathBuf = std::env::temp_dir().join(format!("journeyd-alerts-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let loaded = config::load(std::slice::from_ref(&dir), &LoadOptions::default()).unwrap_or_else(|d| panic!("{d}"));
    let _ = std::fs::remove_dir_all(&dir);
    loaded.suite
}

/// A one-step journey; `extra` is appended at the top level (alerts:, slo:, depends_on:).
pub fn journey_yaml(name: &str, extra: &str) -> String {
    format!("name: {name}\ntarget: http://127.0.0.1:9\nevery: 30s\n{extra}\nsteps:\n  - name: home\n    get: /\n")
}

pub fn get(suite: &Suite, name: &str) -> Arc<Journey> {
    Arc::clone(suite.get(name).unwrap())
}

fn outcome(journey: &str, status: RunStatus, step_ms: u64) -> RunOutcome {
    let passed = matches!(status, RunStatus::Passed);
    RunOutcome {
        journey: journey.into(),
        intended_start: std::time::Instant::now(),
        start_delay: Duration::ZERO,
        wall_start: SystemTime::now(),
        duration: Duration::from_millis(step_ms),
        service_time: Duration::from_millis(step_ms),
        status,
        steps: vec![StepOutcome {
            index: 0,
            status: Some(if passed { 200 } else { 503 }),
            response_time: Duration::from_millis(step_ms),
            passed,
            ..Default::default()
        }],
        soft_failures: vec![],
        trace_id: 0,
        user: 0,
        target: None,
    }
}

pub fn pass(journey: &str) -> RunOutcome {
    outcome(journey, RunStatus::Passed, 20)
}

pub fn slow(journey: &str, ms: u64) -> RunOutcome {
    outcome(journey, RunStatus::Passed, ms)
}

pub fn soft(journey: &str) -> RunOutcome {
    let mut o = pass(journey);
    o.soft_failures.push(Failure::new(0, "home", Reason::Check, "json.banner exists failed"));
    o
}

pub fn fail(journey: &str) -> RunOutcome {
    let mut f = Failure::new(0, "home", Reason::Status, "expected status 200, got 503");
    f.status = Some(503);
    f.check = Some("status == 200".into());
    f.actual = Some("503".into());
    f.request = Some("GET http://127.0.0.1:9/".into());
    f.excerpt = Some("upstream unavailable".into());
    outcome(journey, RunStatus::Failed(Box::new(f)), 20)
}

pub fn cancelled(journey: &str) -> RunOutcome {
    outcome(journey, RunStatus::Cancelled, 20)
}

/// The value of one sample in the registry's text exposition (`name{labels}` exactly as printed).
pub fn metric(registry: &prometheus::Registry, series: &str) -> Option<f64> {
    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).map(|v| v.parse().unwrap()))
}

/// A receiver that answers the scripted statuses first, then `default`, and reports every request.
#[derive(Clone)]
pub struct Receiver {
    pub script: Arc<Mutex<VecDeque<u16>>>,
    pub default: Arc<AtomicU16>,
    pub hits: mpsc::UnboundedSender<Hit>,
}

#[derive(Debug)]
pub struct Hit {
    pub path: String,
    pub status: u16,
    pub body: Value,
    pub at: Instant,
}

pub async fn receive(State(r): State<Receiver>, uri: axum::http::Uri, Json(body): Json<Value>) -> StatusCode {
    let status =
        r.script.lock().unwrap().pop_front().unwrap_or_else(|| r.default.load(std::sync::atomic::Ordering::SeqCst));
    let _ = r.hits.send(Hit { path: uri.path().to_string(), status, body, at: Instant::now() });
    StatusCode::from_u16(status).unwrap()
}

pub async fn receiver(script: &[u16], default: u16) -> (String, Receiver, mpsc::UnboundedReceiver<Hit>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let r = Receiver {
        script: Arc::new(Mutex::new(script.iter().copied().collect())),
        default: Arc::new(AtomicU16::new(default)),
        hits: tx,
    };
    let app = Router::new().route("/{*path}", post(receive)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r, rx)
}

/// Lets the delivery task finish what it does after the receiver answered (count, ack): yields until
/// `done` holds. Paused time does not move while tasks are runnable.
pub async fn settle(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the delivery task did not settle");
}
