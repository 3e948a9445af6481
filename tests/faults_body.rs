//! Fault matrix, body rows: bodies too large to hold (100 MB, endless chunked, a gzip bomb) fail with reason
//! `body` after reading at most the cap; garbage where JSON was expected fails the check or capture with the
//! actual excerpt as evidence.

mod common;
mod hostile;

use std::time::Instant;

use common::{describe, journey, run_once};
use journeyd::outcome::Reason;

fn capped(name: &str, url: &str, max_body: &str) -> std::sync::Arc<journeyd::model::Journey> {
    let yaml = format!(
        "name: {name}\nevery: 30s\ntimeout: 20s\ndefaults: {{ max_body: {max_body} }}\n\
         steps:\n  - name: only\n    get: \"{{{{ env.U }}}}\"\n"
    );
    journey(&yaml, &[("U", url)])
}

#[tokio::test]
async fn oversized_endless_and_bomb_bodies_fail_with_reason_body_at_the_cap() {
    let big = hostile::spawn(hostile::huge(100_000_000)).await;
    let endless = hostile::spawn(hostile::endless_chunked).await;
    let bomb = hostile::spawn(hostile::gzip_bomb).await;
    // Built before timing starts: compressing 64 MiB is the test's cost, not journeyd's.
    hostile::gzip_bomb_bytes();
    for (what, url) in [("100 MB body", big.url()), ("endless chunked", endless.url()), ("gzip bomb", bomb.url())] {
        let j = capped("big", &url, "1MiB");
        let started = Instant::now();
        let o = run_once(&j).await;
        let f = o.failure().unwrap_or_else(|| panic!("{what} must fail"));
        assert_eq!(f.reason, Reason::Body, "{what}: {}", describe(&o));
        assert!(f.message.contains("1MiB cap"), "{what}: {}", f.message);
        assert_eq!(f.status, Some(200), "{what}: the status line arrived");
        assert!(f.excerpt.as_deref().is_some_and(|e| !e.is_empty()), "{what}: excerpt is evidence");
        println!("matrix: {what} -> {} in {:?}: {}", f.reason, started.elapsed(), f.message);
    }
}

#[tokio::test]
async fn the_default_cap_applies_when_max_body_is_not_set() {
    let big = hostile::spawn(hostile::huge(100_000_000)).await;
    let j = journey("name: big\nsteps:\n  - name: only\n    get: \"{{ env.U }}\"\n", &[("U", &big.url())]);
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Body, "{}", describe(&o));
    assert!(f.message.contains("10MiB cap"), "{}", f.message);
}

#[tokio::test]
async fn garbage_where_json_was_expected_fails_the_check_with_the_actual_excerpt() {
    let html = "<html><body><h1>Internal error</h1>upstream is down</body></html>".to_string();
    let server = hostile::spawn(hostile::respond(200, "application/json", html)).await;
    let j = journey(
        "name: garbage\nsteps:\n  - name: only\n    get: \"{{ env.U }}\"\n    expect: [ status == 200, json.ok == true ]\n",
        &[("U", &server.url())],
    );
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Check, "{}", describe(&o));
    assert_eq!(f.check.as_deref(), Some("json.ok == true"));
    assert_eq!(f.status, Some(200));
    assert!(f.excerpt.as_deref().unwrap_or("").contains("Internal error"), "{}", describe(&o));
    assert!(f.actual.is_some(), "the check says what it saw: {}", describe(&o));
    println!("matrix: garbage JSON -> {}: {} (actual {:?})", f.reason, f.message, f.actual);
}

#[tokio::test]
async fn an_html_error_page_served_with_200_fails_the_capture_with_the_actual_excerpt() {
    let html = "<!doctype html><title>Oops</title><p>Something went wrong, request id 1234</p>".to_string();
    let server = hostile::spawn(hostile::respond(200, "text/html", html)).await;
    let j = journey(
        "name: html200\nsteps:\n  - name: login\n    get: \"{{ env.U }}\"\n    capture: { token: json.token }\n  \
         - name: next\n    get: \"{{ env.U }}/{{ token }}\"\n",
        &[("U", &server.url())],
    );
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Capture, "{}", describe(&o));
    assert_eq!(f.step_name, "login");
    assert!(f.message.contains("token"), "{}", f.message);
    assert!(f.excerpt.as_deref().unwrap_or("").contains("Something went wrong"), "{}", describe(&o));
    assert_eq!(o.steps.len(), 1, "the next step must not run with an empty capture");
    println!("matrix: HTML 200 -> {}: {}", f.reason, f.message);
}
