//! Fault matrix, transport rows: dead targets, servers that hang, drip, reset, truncate or do not speak
//! HTTP, redirect loops. Each row asserts the outcome, the reason, and evidence where a response arrived.
//! Measured times are printed (`--nocapture`) for docs/reliability.md; only lower bounds are asserted.

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

fn one_step(name: &str, url: &str, extra: &str) -> Arc<journeyd::model::Journey> {
    let yaml = format!(
        "name: {name}\nevery: 30s\ntimeout: 20s\nsteps:\n  - name: only\n    get: \"{{{{ env.U }}}}\"\n{extra}"
    );
    journey(&yaml, &[("U", url)])
}

#[tokio::test]
async fn refused_unresolvable_and_bad_urls_fail_with_connect_or_dns() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cases = [
        (format!("http://127.0.0.1:{port}/"), Reason::Connect),
        ("http://no-such-host.journeyd.invalid/".to_string(), Reason::Dns),
        // Renders to something that is not a URL at run time (the loader cannot know env values are bad).
        ("http://exa mple.com:99999/".to_string(), Reason::Connect),
        ("not a url at all".to_string(), Reason::Connect),
    ];
    for (url, reason) in cases {
        let j = one_step("dead", &url, "");
        let started = Instant::now();
        let o = run_once(&j).await;
        let f = o.failure().unwrap_or_else(|| panic!("{url} should fail"));
        assert_eq!(f.reason, reason, "{url}: {}", describe(&o));
        assert!(f.status.is_none(), "no response arrived, so no status: {}", describe(&o));
        assert!(!f.message.is_empty());
        println!("matrix: {url:?} -> {} in {:?}: {}", f.reason, started.elapsed(), f.message);
    }
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_fails_with_timeout_at_the_configured_deadline() {
    let server = hostile::spawn(hostile::hang).await;
    // The step deadline.
    let j = one_step("hang", &server.url(), "    timeout: 500ms\n");
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Timeout, "{}", describe(&o));
    assert!(f.message.contains("step timeout 500ms"), "{}", f.message);
    assert!(f.request.as_deref().is_some_and(|r| r.starts_with("GET http://127.0.0.1:")), "{f:?}");
    assert!(o.steps[0].response_time >= Duration::from_millis(500), "fired early: {:?}", o.steps[0].response_time);
    println!("matrix: hang, step timeout 500ms -> timeout after {:?}", o.steps[0].response_time);

    // The journey deadline, when the step sets none.
    let yaml = "name: hang\nevery: 2s\ntimeout: 700ms\nsteps:\n  - name: only\n    get: \"{{ env.U }}\"\n";
    let j = journey(yaml, &[("U", &server.url())]);
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Timeout, "{}", describe(&o));
    assert!(f.message.contains("journey timeout 700ms"), "{}", f.message);
    assert!(o.duration >= Duration::from_millis(700), "fired early: {:?}", o.duration);
    println!("matrix: hang, journey timeout 700ms -> timeout after {:?}", o.duration);
    assert!(server.accepted() >= 2);
}

#[tokio::test]
async fn a_hanging_journey_does_not_disturb_another_journeys_schedule() {
    let hang = hostile::spawn(hostile::hang).await;
    let ok = hostile::spawn(hostile::respond(200, "text/plain", "fine".into())).await;
    // A name whose schedule phase is early, so the stuck run starts soon (phases are a hash of the name).
    let stuck = (0..1000)
        .map(|i| format!("stuck-{i}"))
        .find(|n| phase_offset(n, Duration::from_secs(30)) < Duration::from_millis(300))
        .unwrap();
    let mut both = suite_from(
        &format!("name: {stuck}\nevery: 30s\ntimeout: 20s\nsteps:\n  - name: only\n    get: \"{{{{ env.H }}}}\"\n"),
        &[("H", &hang.url())],
    );
    let healthy = suite_from(
        "name: healthy\nevery: 100ms\ntimeout: 100ms\nsteps:\n  - name: only\n    get: \"{{ env.O }}\"\n",
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
        "matrix: healthy journey ran {during_hang} times on schedule beside a hanging one; missed ticks: {missed}"
    );
    monitor.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn a_body_dripped_one_byte_a_second_hits_the_total_deadline_not_a_per_read_timeout() {
    let server = hostile::spawn(hostile::drip(100, Duration::from_secs(1))).await;
    // Each read succeeds within 1 s, far inside the 2.5 s timeout: only a total deadline can fire.
    let j = one_step("drip", &server.url(), "    timeout: 2500ms\n");
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Timeout, "{}", describe(&o));
    assert!(o.steps[0].response_time >= Duration::from_millis(2500));
    println!("matrix: drip 1 B/s, step timeout 2.5s -> timeout after {:?}", o.steps[0].response_time);
}

#[tokio::test]
async fn resets_truncation_and_non_http_fail_with_connect_or_body_and_evidence() {
    let mid = hostile::spawn(hostile::reset_mid_body).await;
    let early = hostile::spawn(hostile::reset_before_response).await;
    let trunc = hostile::spawn(hostile::truncated_chunked).await;
    let junk = hostile::spawn(hostile::invalid_http).await;
    // (server, reason, excerpt expected in the evidence)
    let cases = [
        (mid.url(), Reason::Body, Some("partial-body-before-reset")),
        (early.url(), Reason::Connect, None),
        (trunc.url(), Reason::Body, Some("truncated-chunk-data")),
        (junk.url(), Reason::Connect, None),
    ];
    for (url, reason, excerpt) in cases {
        let j = one_step("broken", &url, "    timeout: 5s\n");
        let o = run_once(&j).await;
        let f = o.failure().unwrap_or_else(|| panic!("{url} must fail"));
        assert_eq!(f.reason, reason, "{}", describe(&o));
        assert!(f.request.is_some(), "request line is evidence: {f:?}");
        if let Some(want) = excerpt {
            assert_eq!(f.status, Some(200), "the status line arrived: {}", describe(&o));
            let got = f.excerpt.as_deref().unwrap_or("");
            assert!(got.contains(want), "excerpt {got:?} lacks {want:?}");
        }
        println!("matrix: {reason} after {:?}: {}", o.duration, f.message);
    }
}

#[tokio::test]
async fn redirect_loops_and_long_chains_fail_with_reason_redirect_in_bounded_time() {
    // /loop → /loop forever; /n → /n+1 forever.
    let server = hostile::spawn(|mut sock, head: String| async move {
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
        let j = one_step("redirects", &format!("{}{path}", server.url()), "");
        let started = Instant::now();
        let o = run_once(&j).await;
        let f = o.failure().expect("must fail");
        assert_eq!(f.reason, Reason::Redirect, "{}", describe(&o));
        assert!(f.message.contains(word), "{}", f.message);
        assert_eq!(f.status, Some(302));
        println!("matrix: redirect {path} -> {} in {:?}: {}", f.reason, started.elapsed(), f.message);
    }
}
