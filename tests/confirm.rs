//! `alerts.confirm: N`: a failed monitor run is retried at once, up to N times, and only its last attempt
//! counts. A real server in-process fails a given number of requests, then answers 200.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::{describe, serve, suite_from};
use journeyd::http::Clients;
use journeyd::metrics::{Metrics, MetricsSink, StatsTable};
use journeyd::outcome::{Reason, RunOutcome};
use journeyd::pipeline::{Event, Sink};
use journeyd::runner::Monitor;

/// A server whose first `failing` requests get 503, the rest 200; returns its URL and request counter.
async fn flaky(failing: u64) -> (String, Arc<AtomicU64>) {
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    let app = Router::new().route(
        "/",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < failing {
                    (StatusCode::SERVICE_UNAVAILABLE, "blip")
                } else {
                    (StatusCode::OK, "fine")
                }
            }
        }),
    );
    (serve(app).await, seen)
}

/// Runs the monitor until the first outcome; returns it, the retried failures before it, and `/metrics`.
async fn first_run(url: &str, confirm: u32) -> (RunOutcome, Vec<(u32, Reason)>, String) {
    let yaml = format!(
        "name: flaky\nevery: 1s\ntimeout: 1s\nalerts: {{ confirm: {confirm} }}\nsteps:\n  - name: home\n    \
         get: \"{{{{ env.U }}}}/\"\n    expect: [ status == 200 ]\n"
    );
    let suite = suite_from(&yaml, &[("U", url)]);
    let journey = Arc::clone(&suite.journeys[0]);
    let metrics = Metrics::new();
    let mut sink = MetricsSink::new(metrics.clone(), StatsTable::new());
    sink.suite_changed(&suite);
    let (tx, mut rx) = journeyd::pipeline::channel();
    let mut monitor = Monitor::new(Clients::new().unwrap(), tx);
    monitor.apply(suite).await;
    let mut retried = Vec::new();
    let outcome = loop {
        match rx.recv().await.expect("monitor alive") {
            Event::Retried { attempt, failure, .. } => {
                sink.retried(&journey, attempt, &failure);
                retried.push((attempt, failure.reason));
            }
            Event::Outcome(o) => {
                sink.outcome(&journey, &o);
                break o;
            }
            _ => {}
        }
    };
    monitor.shutdown(Duration::ZERO).await;
    (outcome, retried, metrics.encode())
}

#[tokio::test]
async fn a_blip_is_retried_away_and_counted_but_not_a_failed_run() {
    let (url, seen) = flaky(1).await;
    let (outcome, retried, text) = first_run(&url, 2).await;
    assert!(outcome.passed(), "the retry passed: {}", describe(&outcome));
    assert_eq!(retried, [(1, Reason::Status)]);
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one failed attempt, one passing retry");
    assert!(text.contains("journey_run_retries_total{journey=\"flaky\",reason=\"status\"} 1"), "{text}");
    assert!(text.contains("journey_runs_total{journey=\"flaky\",outcome=\"failure\"} 0"), "{text}");
    assert!(text.contains("journey_runs_total{journey=\"flaky\",outcome=\"success\"} 1"), "{text}");
}

#[tokio::test]
async fn a_real_outage_is_confirmed_by_every_retry_and_says_so() {
    let (url, seen) = flaky(u64::MAX).await;
    let (outcome, retried, text) = first_run(&url, 2).await;
    let f = outcome.failure().unwrap_or_else(|| panic!("must fail: {}", describe(&outcome)));
    assert_eq!(f.reason, Reason::Status);
    assert!(f.message.ends_with("(confirmed: 3 attempts in a row failed)"), "{}", f.message);
    assert_eq!(retried, [(1, Reason::Status), (2, Reason::Status)]);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert!(text.contains("journey_run_retries_total{journey=\"flaky\",reason=\"status\"} 2"), "{text}");
    assert!(text.contains("journey_runs_total{journey=\"flaky\",outcome=\"failure\"} 1"), "{text}");
}

#[tokio::test]
async fn without_confirm_a_failed_run_is_not_retried() {
    let (url, seen) = flaky(1).await;
    let (outcome, retried, _) = first_run(&url, 0).await;
    assert!(!outcome.passed());
    assert!(retried.is_empty());
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}
