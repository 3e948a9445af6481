//! HTTPS on the own client, and one connection policy whatever the client: monitor runs start on fresh
//! connections (a full handshake each run, the certificate read each run), `connections: reuse` keeps a
//! user's connections across runs, load keeps them across iterations unless `connections: fresh`. Real TLS
//! servers in-process with a private CA made at test time; the server counts the handshakes it completed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::tls::{Ca, TlsServer};
use common::{describe, journey, suite_from};
use journeyd::http::Clients;
use journeyd::metrics::{Metrics, MetricsSink, StatsTable};
use journeyd::model::{Journey, LoadModel};
use journeyd::outcome::{Reason, RunOutcome};
use journeyd::pipeline::Event;
use journeyd::pipeline::Sink;
use journeyd::runner::load::{drive, LoadSpec, Stop};
use journeyd::runner::{Monitor, Plan};
use journeyd::shard::Shard;
use tokio_util::sync::CancellationToken;

/// A journey of one GET to the server, trusting the CA, with `extra` defaults.
fn yaml(name: &str, every: &str, ca: &std::path::Path, extra: &str) -> String {
    format!(
        "name: {name}\nevery: {every}\ntimeout: {every}\ndefaults: {{ tls_ca: \"{}\"{extra} }}\nsteps:\n  - name: home\n    \
         get: \"{{{{ env.U }}}}/\"\n    expect: [ status == 200 ]\n",
        ca.display()
    )
}

/// The clients: the own one, or reqwest (`JOURNEYD_HTTP_CLIENT=reqwest`).
fn clients(own: bool) -> Clients {
    let mut c = Clients::new().unwrap();
    c.own = own;
    c
}

/// Runs the monitor on `yamls` until `runs` outcomes of each journey arrived; returns them in order, with
/// `/metrics` after feeding them to the real metrics sink.
async fn monitor_runs(own: bool, yamls: &[String], url: &str, runs: usize) -> (Vec<RunOutcome>, String) {
    let mut suite = suite_from(&yamls[0], &[("U", url)]);
    for y in &yamls[1..] {
        suite.journeys.extend(suite_from(y, &[("U", url)]).journeys);
    }
    let journeys = suite.journeys.len();
    let metrics = Metrics::new();
    let mut sink = MetricsSink::new(metrics.clone(), StatsTable::new());
    sink.suite_changed(&suite);
    let (tx, mut rx) = journeyd::pipeline::channel();
    let mut monitor = Monitor::new(clients(own), tx);
    monitor.apply(suite.clone()).await;
    let mut outcomes = Vec::new();
    while outcomes.len() < runs * journeys {
        if let Event::Outcome(o) = rx.recv().await.expect("monitor alive") {
            let j = suite.journeys.iter().find(|j| *j.name == *o.journey).unwrap();
            sink.outcome(j, &o);
            outcomes.push(o);
        }
    }
    monitor.shutdown(Duration::ZERO).await;
    (outcomes, metrics.encode())
}

async fn monitor_runs_each_start_with_a_full_handshake(own: bool) {
    let ca = Ca::new("Test Private CA");
    let server = TlsServer::start(&ca.leaf("localhost", 2036, 7)).await;
    let file = ca.file(&format!("fresh-{own}"));
    let yamls: Vec<String> = (0..3).map(|i| yaml(&format!("monitor-{i}"), "1s", &file, "")).collect();
    let (outcomes, text) = monitor_runs(own, &yamls, &server.url(), 4).await;
    assert!(
        text.contains("journey_step_requests_total{connection=\"reused\",journey=\"monitor-0\",step=\"home\"} 0"),
        "{text}"
    );
    for o in &outcomes {
        assert!(o.passed(), "{}", describe(o));
        let step = &o.steps[0];
        assert!(!step.phases.reused, "a monitor run must not ride a pooled connection: {:?}", step.phases);
        if own {
            assert!(step.phases.tls > Duration::ZERO, "the handshake is timed: {:?}", step.phases);
            assert!(step.tls.is_some(), "the certificate is read on every run");
        }
    }
    // Every run of every journey shook hands itself: nothing shared between runs or journeys.
    assert!(
        server.handshakes() >= outcomes.len() as u64,
        "{} handshakes for {} runs",
        server.handshakes(),
        outcomes.len()
    );
}

#[tokio::test]
async fn monitor_runs_each_start_with_a_full_handshake_on_the_own_client() {
    monitor_runs_each_start_with_a_full_handshake(true).await;
}

#[tokio::test]
async fn monitor_runs_each_start_with_a_full_handshake_on_reqwest() {
    monitor_runs_each_start_with_a_full_handshake(false).await;
}

async fn reuse_keeps_a_users_connection_across_monitor_runs(own: bool) {
    let ca = Ca::new("Test Private CA");
    let server = TlsServer::start(&ca.leaf("localhost", 2036, 7)).await;
    let file = ca.file(&format!("reuse-{own}"));
    let yamls = vec![yaml("warm", "1s", &file, ", connections: reuse")];
    let (outcomes, text) = monitor_runs(own, &yamls, &server.url(), 4).await;
    for (connection, n) in [("new", 1), ("reused", 3)] {
        let series =
            format!("journey_step_requests_total{{connection=\"{connection}\",journey=\"warm\",step=\"home\"}} {n}");
        assert!(text.contains(&series), "the reuse is visible in metrics: {series}\n{text}");
    }
    let reused: Vec<bool> = outcomes.iter().map(|o| o.steps[0].phases.reused).collect();
    assert_eq!(reused, [false, true, true, true], "{}", describe(&outcomes[0]));
    assert_eq!(server.handshakes(), 1, "one connection, kept between runs");
    if own {
        assert!(outcomes[1].steps[0].tls.is_none() && outcomes[1].steps[0].phases.tls.is_zero());
    }
}

#[tokio::test]
async fn connections_reuse_keeps_a_users_connection_across_monitor_runs_on_the_own_client() {
    reuse_keeps_a_users_connection_across_monitor_runs(true).await;
}

#[tokio::test]
async fn connections_reuse_keeps_a_users_connection_across_monitor_runs_on_reqwest() {
    reuse_keeps_a_users_connection_across_monitor_runs(false).await;
}

/// Drives `j` with one closed-loop user for `n` iterations; returns the outcomes.
async fn load_iterations(own: bool, j: &Arc<Journey>, n: u64) -> Vec<RunOutcome> {
    let plan = Arc::new(Plan::new(Arc::clone(j), &clients(own)));
    let (tx, mut rx) = journeyd::pipeline::channel();
    let spec = LoadSpec { model: LoadModel::Closed { users: 1 }, stop: Stop::Iterations(n), shard: Shard::ALL };
    let driving = tokio::spawn(drive(plan, spec, tx, CancellationToken::new()));
    let mut outcomes = Vec::new();
    while let Some(e) = rx.recv().await {
        if let Event::Outcome(o) = e {
            outcomes.push(o);
        }
    }
    driving.await.unwrap();
    outcomes
}

async fn load_reuses_unless_fresh(own: bool) {
    let ca = Ca::new("Test Private CA");
    let server = TlsServer::start(&ca.leaf("localhost", 2036, 7)).await;
    let file = ca.file(&format!("load-{own}"));
    let warm = journey(&yaml("load-warm", "1s", &file, ""), &[("U", &server.url())]);
    let outcomes = load_iterations(own, &warm, 5).await;
    assert!(outcomes.iter().all(RunOutcome::passed), "{}", describe(&outcomes[0]));
    let reused = outcomes.iter().filter(|o| o.steps[0].phases.reused).count();
    assert_eq!((reused, server.handshakes()), (4, 1), "a virtual user keeps its connection across iterations");

    let cold = journey(&yaml("load-cold", "1s", &file, ", connections: fresh"), &[("U", &server.url())]);
    let outcomes = load_iterations(own, &cold, 5).await;
    assert!(outcomes.iter().all(|o| !o.steps[0].phases.reused), "connections: fresh starts every iteration cold");
    assert_eq!(server.handshakes(), 1 + 5);
}

#[tokio::test]
async fn load_keeps_a_users_connections_unless_the_journey_asks_for_fresh_ones_on_the_own_client() {
    load_reuses_unless_fresh(true).await;
}

#[tokio::test]
async fn load_keeps_a_users_connections_unless_the_journey_asks_for_fresh_ones_on_reqwest() {
    load_reuses_unless_fresh(false).await;
}

#[tokio::test]
async fn the_phases_of_a_fresh_https_request_add_up_to_its_service_time() {
    let ca = Ca::new("Test Private CA");
    let server = TlsServer::start(&ca.leaf("localhost", 2036, 7)).await;
    let j = journey(&yaml("phases", "1s", &ca.file("phases"), ""), &[("U", &server.url())]);
    for o in load_iterations(true, &j, 3).await {
        assert!(o.passed(), "{}", describe(&o));
        let s = &o.steps[0];
        let p = s.phases;
        let sum = p.dns + p.connect + p.tls + p.waiting + p.transfer;
        let gap = if sum > s.service_time { sum - s.service_time } else { s.service_time - sum };
        // The phases are cut from the same clock readings as the service time: only rounding can differ.
        assert!(gap < Duration::from_micros(50), "phases {p:?} sum to {sum:?}, service time {:?}", s.service_time);
        if !p.reused {
            assert!(p.connect > Duration::ZERO && p.tls > Duration::ZERO, "{p:?}");
        }
    }
}

/// The certificate the next passing run read.
async fn next_cert(rx: &mut tokio::sync::mpsc::Receiver<Event>) -> Arc<journeyd::outcome::CertSeen> {
    loop {
        if let Event::Outcome(o) = rx.recv().await.expect("monitor alive") {
            assert!(o.passed(), "{}", describe(&o));
            return o.steps[0].tls.clone().expect("the certificate is read on every run");
        }
    }
}

#[tokio::test]
async fn a_replaced_certificate_is_reported_on_the_next_monitor_run() {
    let ca = Ca::new("Test Private CA");
    let server = TlsServer::start(&ca.leaf("localhost", 2031, 0x1001)).await;
    let suite = suite_from(&yaml("rotating", "1s", &ca.file("swap"), ""), &[("U", &server.url())]);
    let (tx, mut rx) = journeyd::pipeline::channel();
    let mut monitor = Monitor::new(clients(true), tx);
    monitor.apply(suite).await;
    let before = next_cert(&mut rx).await;
    server.swap(&ca.leaf("localhost", 2033, 0x2002));
    // The run after the swap (or, if a tick raced the swap, the one after it) presents the new certificate.
    let mut after = next_cert(&mut rx).await;
    if after.fingerprint_sha256 == before.fingerprint_sha256 {
        after = next_cert(&mut rx).await;
    }
    monitor.shutdown(Duration::ZERO).await;
    assert_ne!(before.fingerprint_sha256, after.fingerprint_sha256, "a rotation changes the fingerprint");
    assert_eq!((before.serial.as_str(), after.serial.as_str()), ("1001", "2002"));
    // 2031-01-01 and 2033-01-01, 00:00:00 UTC.
    assert_eq!((before.leaf_expiry, after.leaf_expiry), (1_924_992_000, 1_988_150_400));
    assert_eq!(after.earliest_expiry, after.leaf_expiry, "a chain of one: the leaf is the earliest");
    assert_eq!(after.version, "TLS 1.3");
}

#[tokio::test]
async fn a_target_that_stops_accepting_fails_the_next_monitor_run_with_connect() {
    let ca = Ca::new("Test Private CA");
    let server = TlsServer::start(&ca.leaf("localhost", 2036, 7)).await;
    let file = ca.file("stop");
    let y = yaml("listener", "1s", &file, "");
    let suite = suite_from(&y, &[("U", &server.url())]);
    let (tx, mut rx) = journeyd::pipeline::channel();
    let mut monitor = Monitor::new(clients(true), tx);
    monitor.apply(suite).await;
    let mut first = None;
    while first.is_none() {
        if let Event::Outcome(o) = rx.recv().await.unwrap() {
            first = Some(o);
        }
    }
    assert!(first.unwrap().passed());
    // The listener goes; the connection of the first run would still answer if anyone reused it.
    server.stop_accepting();
    let next = loop {
        if let Event::Outcome(o) = rx.recv().await.unwrap() {
            break o;
        }
    };
    monitor.shutdown(Duration::ZERO).await;
    let f = next.failure().unwrap_or_else(|| panic!("a fresh run must see the dead listener: {}", describe(&next)));
    assert_eq!(f.reason, Reason::Connect, "{}", describe(&next));
}

#[tokio::test]
async fn certificate_metrics_come_from_the_monitors_own_handshakes() {
    let ca = Ca::new("Metrics Test CA");
    let server = TlsServer::start(&ca.leaf("localhost", 2031, 0xabc)).await;
    let (outcomes, text) = monitor_runs(true, &[yaml("certs", "1s", &ca.file("metrics"), "")], &server.url(), 2).await;
    assert!(outcomes.iter().all(RunOutcome::passed), "{}", describe(&outcomes[0]));
    // 2031-01-01T00:00:00Z, blackbox_exporter's probe_ssl_earliest_cert_expiry shape.
    let series = [
        "journey_ssl_earliest_cert_expiry{journey=\"certs\",step=\"home\"} 1924992000".to_string(),
        "journey_tls_version_info{journey=\"certs\",step=\"home\",version=\"TLS 1.3\"} 1".to_string(),
    ];
    for s in &series {
        assert!(text.contains(s.as_str()), "{s}\n{text}");
    }
    let chain = text.lines().find(|l| l.starts_with("journey_ssl_last_chain_info{")).expect("the chain info");
    assert!(chain.contains("serialnumber=\"0abc\"") && chain.contains("subject=\"CN=localhost\""), "{chain}");
    assert!(chain.contains("issuer=\"CN=Metrics Test CA\""), "{chain}");
}

/// An https server that answers each request with what it received: the length of its `x-pad` header and
/// of its body (read by `content-length`), on a kept-alive connection — so bytes sent twice would answer the
/// next request.
async fn serve_echo_sizes(leaf: &common::tls::Leaf) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    common::tls::serve_each(leaf.acceptor(), |mut tls| async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let head_end = loop {
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
            let field = |name: &str| {
                let value = head.lines().find_map(|l| l.strip_prefix(name));
                value.map(|v| v.trim().to_string()).unwrap_or_default()
            };
            let length: usize = field("content-length:").parse().unwrap_or(0);
            while got.len() < head_end + length {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let said = format!("pad {} body {length}", field("x-pad:").len());
            got.drain(..head_end + length);
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{said}", said.len());
            if tls.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn requests_of_every_size_arrive_once_and_whole_on_a_fresh_https_connection() {
    // The request head goes out with the handshake's last flight when it is small enough (with a small
    // body), and after the handshake otherwise: each size class must arrive exactly as sent, and only once
    // (the second step, on the same connection, would otherwise be answered for a repeated first request).
    let ca = Ca::new("Test Private CA");
    let leaf = ca.leaf("localhost", 2036, 9);
    let url = serve_echo_sizes(&leaf).await;
    let ca_file = ca.file("sizes");
    for (pad, body) in [(0, 0), (10, 1_000), (10, 20_000), (40_000, 0), (40_000, 30_000)] {
        let pad_header = match pad {
            0 => String::new(),
            n => format!("    headers: {{ x-pad: \"{}\" }}\n", "p".repeat(n)),
        };
        let yaml = format!(
            "name: sizes\ntimeout: 5s\ndefaults: {{ tls_ca: \"{}\" }}\nsteps:\n  - name: send\n    post: \"{{{{ env.U }}}}/\"\n\
             {pad_header}    body: \"{}\"\n    expect: [ status == 200, body == \"pad {pad} body {body}\" ]\n\
             \x20 - name: after\n    get: \"{{{{ env.U }}}}/\"\n    expect: [ body == \"pad 0 body 0\" ]\n",
            ca_file.display(),
            "b".repeat(body),
        );
        let o = common::run_once(&journey(&yaml, &[("U", &url)])).await;
        assert!(o.passed(), "pad {pad}, body {body}: {}", describe(&o));
        assert!(!o.steps[0].phases.reused && o.steps[0].phases.tls > Duration::ZERO, "{:?}", o.steps[0].phases);
        assert!(o.steps[1].phases.reused, "the second step keeps the connection: {:?}", o.steps[1].phases);
    }
}
