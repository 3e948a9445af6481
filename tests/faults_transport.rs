//! Fault matrix, transport rows: dead targets, servers that hang, drip, reset, truncate or do not speak
//! HTTP, redirect loops. Each row asserts the outcome, the reason, and evidence where a response arrived.
//! Measured times are printed (`--nocapture`) for docs/reliability.md; only lower bounds are asserted.
//!
//! Every row runs twice on the own client: over plain http and, in its `…_over_https` test, over https
//! (the hostile server in TLS mode, trusted through `tls_ca`), with the same expectation unless the row
//! says why https differs.

mod common;
mod hostile;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{describe, journey, run_once, suite_from};
use journeyd::http::Clients;
use journeyd::outcome::Reason;
use journeyd::pipeline::Event;
use journeyd::runner::monitor::phase_offset;
use journeyd::runner::Monitor;

/// A journey of one GET to `url`; `defaults` is a whole `defaults:` line (see `Hostile::defaults`) or empty.
fn one_step(name: &str, url: &str, defaults: &str, extra: &str) -> Arc<journeyd::model::Journey> {
    let yaml = format!(
        "name: {name}\nevery: 30s\ntimeout: 20s\n{defaults}steps:\n  - name: only\n    get: \"{{{{ env.U }}}}\"\n{extra}"
    );
    journey(&yaml, &[("U", url)])
}

fn scheme(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}

/// "http" or "https", for `matrix:` lines.
fn over(tls: bool) -> &'static str {
    scheme(tls)
}

#[tokio::test]
async fn refused_unresolvable_and_bad_urls_fail_with_connect_or_dns() {
    refused_unresolvable_and_bad_urls(false).await;
}

#[tokio::test]
async fn refused_unresolvable_and_bad_urls_fail_with_connect_or_dns_over_https() {
    refused_unresolvable_and_bad_urls(true).await;
}

async fn refused_unresolvable_and_bad_urls(tls: bool) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = scheme(tls);
    let cases = [
        (format!("{s}://127.0.0.1:{port}/"), Reason::Connect),
        (format!("{s}://no-such-host.journeyd.invalid/"), Reason::Dns),
        // Renders to something that is not a URL at run time (the loader cannot know env values are bad).
        (format!("{s}://exa mple.com:99999/"), Reason::Connect),
        ("not a url at all".to_string(), Reason::Connect),
    ];
    for (url, reason) in cases {
        let j = one_step("dead", &url, "", "");
        let started = Instant::now();
        let o = run_once(&j).await;
        let f = o.failure().unwrap_or_else(|| panic!("{url} should fail"));
        assert_eq!(f.reason, reason, "{url}: {}", describe(&o));
        assert!(f.status.is_none(), "no response arrived, so no status: {}", describe(&o));
        assert!(!f.message.is_empty());
        println!("matrix: {} {url:?} -> {} in {:?}: {}", over(tls), f.reason, started.elapsed(), f.message);
    }
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_fails_with_timeout_at_the_configured_deadline() {
    never_answers(false).await;
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_fails_with_timeout_at_the_configured_deadline_over_https() {
    never_answers(true).await;
}

async fn never_answers(tls: bool) {
    let server = hostile::spawn_on(tls, hostile::hang).await;
    let defaults = server.defaults("");
    // The step deadline.
    let j = one_step("hang", &server.url(), &defaults, "    timeout: 500ms\n");
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Timeout, "{}", describe(&o));
    assert!(f.message.contains("step timeout 500ms"), "{}", f.message);
    let line = format!("GET {}", server.url());
    assert!(f.request.as_deref().is_some_and(|r| r.starts_with(&line)), "{f:?}");
    assert!(o.steps[0].response_time >= Duration::from_millis(500), "fired early: {:?}", o.steps[0].response_time);
    println!("matrix: {} hang, step timeout 500ms -> timeout after {:?}", over(tls), o.steps[0].response_time);

    // The journey deadline, when the step sets none.
    let yaml = format!(
        "name: hang\nevery: 2s\ntimeout: 700ms\n{defaults}steps:\n  - name: only\n    get: \"{{{{ env.U }}}}\"\n"
    );
    let j = journey(&yaml, &[("U", &server.url())]);
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Timeout, "{}", describe(&o));
    assert!(f.message.contains("journey timeout 700ms"), "{}", f.message);
    assert!(o.duration >= Duration::from_millis(700), "fired early: {:?}", o.duration);
    println!("matrix: {} hang, journey timeout 700ms -> timeout after {:?}", over(tls), o.duration);
    assert!(server.accepted() >= 2);
}

#[tokio::test]
async fn a_hanging_journey_does_not_disturb_another_journeys_schedule() {
    hanging_beside_healthy(false).await;
}

#[tokio::test]
async fn a_hanging_journey_does_not_disturb_another_journeys_schedule_over_https() {
    hanging_beside_healthy(true).await;
}

async fn hanging_beside_healthy(tls: bool) {
    let hang = hostile::spawn_on(tls, hostile::hang).await;
    let ok = hostile::spawn_on(tls, hostile::respond(200, "text/plain", "fine".into())).await;
    // A name whose schedule phase is early, so the stuck run starts soon (phases are a hash of the name).
    let stuck = (0..1000)
        .map(|i| format!("stuck-{i}"))
        .find(|n| phase_offset(n, Duration::from_secs(30)) < Duration::from_millis(300))
        .unwrap();
    let defaults = hang.defaults("");
    let mut both = suite_from(
        &format!(
            "name: {stuck}\nevery: 30s\ntimeout: 20s\n{defaults}steps:\n  - name: only\n    get: \"{{{{ env.H }}}}\"\n"
        ),
        &[("H", &hang.url())],
    );
    // Over https every run of the healthy journey opens a new connection and shakes hands (monitor runs
    // start cold), within the same 100 ms.
    let healthy = suite_from(
        &format!(
            "name: healthy\nevery: 100ms\ntimeout: 100ms\n{defaults}steps:\n  - name: only\n    get: \"{{{{ env.O }}}}\"\n"
        ),
        &[("O", &ok.url())],
    );
    both.journeys.extend(healthy.journeys);
    both.journeys.sort_by(|a, b| a.name.cmp(&b.name));

    let (tx, mut rx) = journeyd::pipeline::channel();
    let mut monitor = Monitor::new(Clients::new().unwrap(), tx);
    monitor.apply(both).await;
    // Count healthy runs that completed while the stuck journey's request was hanging (it hangs for 20 s).
    let (mut during_hang, mut stuck_done, mut missed) = (0, 0, 0);
    while during_hang < 15 {
        match rx.recv().await.expect("monitor alive") {
            Event::Outcome(o) if &*o.journey == "healthy" => {
                assert!(o.passed(), "{}", describe(&o));
                if hang.accepted() >= 1 {
                    during_hang += 1;
                }
            }
            Event::Outcome(_) => stuck_done += 1,
            Event::Missed { .. } => missed += 1,
            _ => {}
        }
    }
    assert_eq!(stuck_done, 0, "the stuck journey cannot have finished: its request hangs for 20 s");
    println!(
        "matrix: {} healthy journey ran {during_hang} times on schedule beside a hanging one; missed ticks: {missed}",
        over(tls)
    );
    monitor.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_body_dripped_one_byte_a_second_hits_the_total_deadline_not_a_per_read_timeout() {
    dripped(false).await;
}

#[tokio::test]
async fn a_body_dripped_one_byte_a_second_hits_the_total_deadline_not_a_per_read_timeout_over_https() {
    dripped(true).await;
}

async fn dripped(tls: bool) {
    let server = hostile::spawn_on(tls, hostile::drip(100, Duration::from_secs(1))).await;
    // Each read succeeds within 1 s, far inside the 2.5 s timeout: only a total deadline can fire.
    let j = one_step("drip", &server.url(), &server.defaults(""), "    timeout: 2500ms\n");
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Timeout, "{}", describe(&o));
    assert!(o.steps[0].response_time >= Duration::from_millis(2500));
    println!("matrix: {} drip 1 B/s, step timeout 2.5s -> timeout after {:?}", over(tls), o.steps[0].response_time);
}

#[tokio::test]
async fn resets_truncation_and_non_http_fail_with_connect_or_body_and_evidence() {
    broken_responses(false).await;
}

/// Over https a reset is a TCP reset without TLS close_notify, and what the client reads of it is the
/// same: `connect` before a response, `body` mid-body. A close (FIN) without close_notify is the same close
/// as on http, and the message says "without TLS close_notify". The one row that differs is a body
/// delimited by the close (no content-length, not chunked): over http the close ends it and the step
/// passes; over https a close without close_notify cannot be told from a cut, so it fails `body`
/// (RFC 9112 §9.8: such a response "is complete only if a valid closure alert has been received").
#[tokio::test]
async fn resets_truncation_and_non_http_fail_with_connect_or_body_and_evidence_over_https() {
    broken_responses(true).await;
}

async fn broken_responses(tls: bool) {
    let mid = hostile::spawn_on(tls, hostile::reset_mid_body).await;
    let early = hostile::spawn_on(tls, hostile::reset_before_response).await;
    let trunc = hostile::spawn_on(tls, hostile::truncated_chunked).await;
    let junk = hostile::spawn_on(tls, hostile::invalid_http).await;
    let hung_up = hostile::spawn_on(tls, hostile::close_before_response).await;
    let cut = hostile::spawn_on(tls, hostile::cut_short).await;
    let closed = hostile::spawn_on(tls, hostile::close_delimited).await;
    // Closes are FIN; over https without close_notify, which the message adds and nothing else changes.
    let without = if tls { " without TLS close_notify" } else { "" };
    let said_before = format!("closed{without} before a response arrived");
    let said_cut = format!("connection closed after 14 of 1000 bytes{without}");
    // (what, server, reason (None: passes), excerpt expected in the evidence, words in the message)
    let cases = [
        ("reset mid-body", &mid, Some(Reason::Body), Some("partial-body-before-reset"), "reset"),
        ("reset before response", &early, Some(Reason::Connect), None, "before a response arrived"),
        ("closed before response", &hung_up, Some(Reason::Connect), None, said_before.as_str()),
        ("content-length body cut short", &cut, Some(Reason::Body), Some("body-cut-short"), said_cut.as_str()),
        ("truncated chunked", &trunc, Some(Reason::Body), Some("truncated-chunk-data"), "middle of the body"),
        ("invalid HTTP", &junk, Some(Reason::Connect), None, "invalid HTTP"),
        (
            "body delimited by the close",
            &closed,
            tls.then_some(Reason::Body),
            Some("body-delimited-by-close"),
            "without TLS close_notify, and the body had neither content-length nor chunked framing",
        ),
    ];
    for (what, server, reason, excerpt, said) in cases {
        let j = one_step("broken", &server.url(), &server.defaults(""), "    timeout: 5s\n");
        let o = run_once(&j).await;
        let Some(reason) = reason else {
            assert!(o.passed(), "{what}: {}", describe(&o));
            println!("matrix: {} {what} -> passed in {:?}", over(tls), o.duration);
            continue;
        };
        let f = o.failure().unwrap_or_else(|| panic!("{what} must fail"));
        assert_eq!(f.reason, reason, "{what}: {}", describe(&o));
        assert!(f.request.is_some(), "{what}: request line is evidence: {f:?}");
        assert!(f.message.contains(said), "{what}: {:?} lacks {said:?}", f.message);
        if let Some(want) = excerpt {
            assert_eq!(f.status, Some(200), "{what}: the status line arrived: {}", describe(&o));
            let got = f.excerpt.as_deref().unwrap_or("");
            assert!(got.contains(want), "{what}: excerpt {got:?} lacks {want:?}");
        }
        println!("matrix: {} {what} -> {reason} after {:?}: {}", over(tls), o.duration, f.message);
    }
}

/// Rows only https has: the TLS handshake meets a server that does not complete it. One that answers the
/// ClientHello with something that is not TLS (an SSH banner) fails the handshake, `tls`; one that never
/// answers holds the handshake until the step's deadline, `timeout`. One that resets or closes the
/// connection mid-handshake fails `connect`, as a reset before a response does: TLS refused nothing, the
/// connection went away (`tls` is kept for what TLS itself refuses: certificates, protocol, alerts).
#[tokio::test]
async fn a_handshake_that_does_not_complete_fails_with_tls_connect_or_timeout() {
    let banner = hostile::spawn_not_tls(hostile::invalid_http).await;
    let silent = hostile::spawn_not_tls(hostile::hang).await;
    let reset = hostile::spawn_not_tls(hostile::reset_before_response).await;
    let closed = hostile::spawn_not_tls(hostile::hang_up).await;
    let cases = [
        ("not TLS", &banner, Reason::Tls),
        ("handshake never answered", &silent, Reason::Timeout),
        ("reset during the handshake", &reset, Reason::Connect),
        ("closed during the handshake", &closed, Reason::Connect),
    ];
    for (what, server, reason) in cases {
        let j = one_step("not-tls", &server.url(), &server.defaults(""), "    timeout: 500ms\n");
        let o = run_once(&j).await;
        let f = o.failure().unwrap_or_else(|| panic!("{what} must fail"));
        assert_eq!(f.reason, reason, "{what}: {}", describe(&o));
        assert!(f.status.is_none(), "{what}: no HTTP response: {}", describe(&o));
        assert!(f.request.is_some(), "{what}: request line is evidence: {f:?}");
        if reason == Reason::Timeout {
            assert!(
                o.steps[0].response_time >= Duration::from_millis(500),
                "fired early: {:?}",
                o.steps[0].response_time
            );
        }
        println!("matrix: https {what} -> {reason} after {:?}: {}", o.duration, f.message);
    }
}

#[tokio::test]
async fn redirect_loops_and_long_chains_fail_with_reason_redirect_in_bounded_time() {
    redirect_loops(false).await;
}

#[tokio::test]
async fn redirect_loops_and_long_chains_fail_with_reason_redirect_in_bounded_time_over_https() {
    redirect_loops(true).await;
}

async fn redirect_loops(tls: bool) {
    // /loop → /loop forever; /n → /n+1 forever.
    let server = hostile::spawn_on(tls, |mut sock, head: String| async move {
        use tokio::io::AsyncWriteExt;
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let next = if path == "/loop" {
            "/loop".to_string()
        } else {
            let n: u64 = path.trim_start_matches('/').parse().unwrap_or(0);
            format!("/{}", n + 1)
        };
        let text = format!("HTTP/1.1 302 Found\r\nlocation: {next}\r\ncontent-length: 0\r\n\r\n");
        let _ = sock.write_all(text.as_bytes()).await;
    })
    .await;
    for (path, word) in [("/loop", "loop"), ("/0", "more than 10 redirects")] {
        let j = one_step("redirects", &format!("{}{path}", server.url()), &server.defaults(""), "");
        let started = Instant::now();
        let o = run_once(&j).await;
        let f = o.failure().expect("must fail");
        assert_eq!(f.reason, Reason::Redirect, "{}", describe(&o));
        assert!(f.message.contains(word), "{}", f.message);
        assert_eq!(f.status, Some(302));
        println!("matrix: {} redirect {path} -> {} in {:?}: {}", over(tls), f.reason, started.elapsed(), f.message);
    }
}
