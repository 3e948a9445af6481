//! Fault matrix, body rows: bodies too large to hold (100 MB, endless chunked, a gzip bomb) fail with reason
//! `body` after reading at most the cap; garbage where JSON was expected fails the check or capture with the
//! actual excerpt as evidence.
//!
//! Every row runs over plain http and, in its `…_over_https` test, over https (the hostile server in TLS
//! mode, trusted through `tls_ca`), on the own client, with the same expectation.

mod common;
mod hostile;

use std::time::Instant;

use common::{describe, journey, run_once};
use hostile::Hostile;
use journeyd::outcome::Reason;

/// A journey of one GET to `server`, trusting its CA over https, with `extra` defaults.
fn to(server: &Hostile, name: &str, extra: &str, step: &str) -> std::sync::Arc<journeyd::model::Journey> {
    let yaml = format!(
        "name: {name}\nevery: 30s\ntimeout: 20s\n{}steps:\n  - name: only\n    get: \"{{{{ env.U }}}}\"\n{step}",
        server.defaults(extra)
    );
    journey(&yaml, &[("U", &server.url())])
}

fn over(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}

#[tokio::test]
async fn oversized_endless_and_bomb_bodies_fail_with_reason_body_at_the_cap() {
    oversized(false).await;
}

#[tokio::test]
async fn oversized_endless_and_bomb_bodies_fail_with_reason_body_at_the_cap_over_https() {
    oversized(true).await;
}

async fn oversized(tls: bool) {
    let big = hostile::spawn_on(tls, hostile::huge(100_000_000)).await;
    let endless = hostile::spawn_on(tls, hostile::endless_chunked).await;
    let bomb = hostile::spawn_on(tls, hostile::gzip_bomb).await;
    // Built before timing starts: compressing 64 MiB is the test's cost, not journeyd's.
    hostile::gzip_bomb_bytes();
    for (what, server) in [("100 MB body", &big), ("endless chunked", &endless), ("gzip bomb", &bomb)] {
        let j = to(server, "big", "max_body: 1MiB", "");
        let started = Instant::now();
        let o = run_once(&j).await;
        let f = o.failure().unwrap_or_else(|| panic!("{what} must fail"));
        assert_eq!(f.reason, Reason::Body, "{what}: {}", describe(&o));
        assert!(f.message.contains("1MiB cap"), "{what}: {}", f.message);
        assert_eq!(f.status, Some(200), "{what}: the status line arrived");
        assert!(f.excerpt.as_deref().is_some_and(|e| !e.is_empty()), "{what}: excerpt is evidence");
        println!("matrix: {} {what} -> {} in {:?}: {}", over(tls), f.reason, started.elapsed(), f.message);
    }
}

#[tokio::test]
async fn the_default_cap_applies_when_max_body_is_not_set() {
    default_cap(false).await;
}

#[tokio::test]
async fn the_default_cap_applies_when_max_body_is_not_set_over_https() {
    default_cap(true).await;
}

async fn default_cap(tls: bool) {
    let big = hostile::spawn_on(tls, hostile::huge(100_000_000)).await;
    let yaml = format!("name: big\n{}steps:\n  - name: only\n    get: \"{{{{ env.U }}}}\"\n", big.defaults(""));
    let j = journey(&yaml, &[("U", &big.url())]);
    let started = Instant::now();
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Body, "{}", describe(&o));
    assert!(f.message.contains("10MiB cap"), "{}", f.message);
    println!(
        "matrix: {} 100 MB body, no max_body -> {} in {:?}: {}",
        over(tls),
        f.reason,
        started.elapsed(),
        f.message
    );
}

#[tokio::test]
async fn garbage_where_json_was_expected_fails_the_check_with_the_actual_excerpt() {
    garbage_json(false).await;
}

#[tokio::test]
async fn garbage_where_json_was_expected_fails_the_check_with_the_actual_excerpt_over_https() {
    garbage_json(true).await;
}

async fn garbage_json(tls: bool) {
    let html = "<html><body><h1>Internal error</h1>upstream is down</body></html>".to_string();
    let server = hostile::spawn_on(tls, hostile::respond(200, "application/json", html)).await;
    let j = to(&server, "garbage", "", "    expect: [ status == 200, json.ok == true ]\n");
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Check, "{}", describe(&o));
    assert_eq!(f.check.as_deref(), Some("json.ok == true"));
    assert_eq!(f.status, Some(200));
    assert!(f.excerpt.as_deref().unwrap_or("").contains("Internal error"), "{}", describe(&o));
    assert!(f.actual.is_some(), "the check says what it saw: {}", describe(&o));
    println!("matrix: {} garbage JSON -> {}: {} (actual {:?})", over(tls), f.reason, f.message, f.actual);
}

#[tokio::test]
async fn an_html_error_page_served_with_200_fails_the_capture_with_the_actual_excerpt() {
    html_200(false).await;
}

#[tokio::test]
async fn an_html_error_page_served_with_200_fails_the_capture_with_the_actual_excerpt_over_https() {
    html_200(true).await;
}

async fn html_200(tls: bool) {
    let html = "<!doctype html><title>Oops</title><p>Something went wrong, request id 1234</p>".to_string();
    let server = hostile::spawn_on(tls, hostile::respond(200, "text/html", html)).await;
    let yaml = format!(
        "name: html200\n{}steps:\n  - name: login\n    get: \"{{{{ env.U }}}}\"\n    capture: {{ token: json.token }}\n  \
         - name: next\n    get: \"{{{{ env.U }}}}/{{{{ token }}}}\"\n",
        server.defaults("")
    );
    let j = journey(&yaml, &[("U", &server.url())]);
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Capture, "{}", describe(&o));
    assert_eq!(f.step_name, "login");
    assert!(f.message.contains("token"), "{}", f.message);
    assert!(f.excerpt.as_deref().unwrap_or("").contains("Something went wrong"), "{}", describe(&o));
    assert_eq!(o.steps.len(), 1, "the next step must not run with an empty capture");
    println!("matrix: {} HTML 200 -> {}: {}", over(tls), f.reason, f.message);
}
