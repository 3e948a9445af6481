//! Cardinality: 10,000 distinct ids in URLs and response bodies (and in failure evidence) produce a constant
//! number of series on /metrics. Ids must never become label values. The one family whose labels come from
//! the server, the certificate a step presented, keeps one label set per step however often it rotates.

mod certs;
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::{journey, serve};
use journeyd::http::Clients;
use journeyd::metrics::{Metrics, MetricsSink, StatsTable};
use journeyd::model::Suite;
use journeyd::pipeline::Sink;
use journeyd::runner::{run_iteration, Plan, VirtualUser};
use tokio_util::sync::CancellationToken;

const ITERATIONS: usize = 10_000;
const USERS: usize = 16;

/// `/new` hands out a fresh id; `/items/{id}` answers with it, and fails every 7th id with the id in the body.
fn id_app() -> Router {
    let next = Arc::new(AtomicU64::new(0));
    Router::new()
        .route(
            "/new",
            get(move || {
                let n = next.fetch_add(1, Ordering::Relaxed);
                async move { axum::Json(serde_json::json!({ "id": format!("ord-{n:08}-{:x}", n * 2_654_435_761) })) }
            }),
        )
        .route(
            "/items/{id}",
            get(|Path(id): Path<String>| async move {
                let n: u64 = id[4..12].parse().unwrap_or(0);
                let status = if n % 7 == 0 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
                (status, format!("{{\"item\":\"{id}\",\"detail\":\"item {id} is here\"}}"))
            }),
        )
}

/// Series exported: sample lines, not comments.
fn series(metrics: &Metrics) -> Vec<String> {
    metrics.encode().lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(str::to_string).collect()
}

fn label_part(line: &str) -> &str {
    line.rsplit_once(' ').map_or(line, |(series, _)| series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_distinct_ids_produce_a_constant_number_of_series() {
    let url = serve(id_app()).await;
    let j = journey(
        "name: ids\nevery: 60s\ntarget: \"{{ env.U }}\"\nsteps:\n  - name: new\n    get: /new\n    capture: { id: json.id }\n  \
         - name: item\n    get: /items/{{ id }}\n    expect: [ status == 200, 'json.item == \"{{ id }}\"' ]\n",
        &[("U", &url)],
    );
    let plan = Arc::new(Plan::new(Arc::clone(&j), &Clients::new().unwrap()));
    let metrics = Metrics::new();
    let mut sink = MetricsSink::new(metrics.clone(), StatsTable::new());
    sink.suite_changed(&Suite { journeys: vec![Arc::clone(&j)] });

    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    for u in 0..USERS {
        let plan = Arc::clone(&plan);
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut vu = VirtualUser::new(&plan, u as u64).unwrap();
            for _ in 0..ITERATIONS / USERS {
                let o = run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await;
                if tx.send(o).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let (mut done, mut failed) = (0, 0);
    let mut early: Option<Vec<String>> = None;
    while let Some(o) = rx.recv().await {
        failed += usize::from(o.failure().is_some());
        sink.outcome(&j, &o);
        done += 1;
        if done == 500 {
            early = Some(series(&metrics));
        }
    }
    assert_eq!(done, ITERATIONS);
    assert!(failed > ITERATIONS / 10, "every 7th id fails: {failed} failures");
    let early = early.unwrap();
    let late = series(&metrics);
    let early_keys: Vec<&str> = early.iter().map(|l| label_part(l)).collect();
    let late_keys: Vec<&str> = late.iter().map(|l| label_part(l)).collect();
    assert_eq!(early_keys, late_keys, "the set of series changed between 500 and {ITERATIONS} iterations");
    assert!(late.iter().all(|l| !l.contains("ord-")), "an id leaked into a label");
    println!("matrix: {ITERATIONS} distinct ids ({failed} failed) -> {} series, same as after 500", late.len());
}

/// `family{…}` sample lines of one metric family (the name followed by `{`).
fn samples_of<'a>(series: &'a [String], family: &str) -> Vec<&'a str> {
    let prefix = format!("{family}{{");
    series.iter().filter(|l| l.starts_with(&prefix)).map(String::as_str).collect()
}

#[test]
fn rotating_certificates_keep_one_series_per_step() {
    use certs::{cert, run, Seen, DAY};
    let yaml = "name: shop\ntarget: https://shop.example\nsteps:\n  - name: login\n    get: /login\n  \
                - name: pay\n    get: /pay\n";
    let j = common::journey(yaml, &[]);
    let metrics = Metrics::new();
    let mut sink = MetricsSink::new(metrics.clone(), StatsTable::new());
    sink.suite_changed(&Suite { journeys: vec![Arc::clone(&j)] });
    let now = 1_800_000_000;
    assert!(samples_of(&series(&metrics), "journey_ssl_last_chain_info").is_empty(), "no certificate seen yet");

    // login rotates on every run (a new leaf, serial and subject), its version flips every 1,000 runs, and a
    // hostile server's 100 KB subject (quotes, a backslash and a newline first) shows up once; pay presents one
    // certificate on new connections only.
    let hostile = {
        let mut c = (*cert(7, now + 30 * DAY)).clone();
        c.subject = format!("CN=\"quoted\\, inc\"\n{}", "x".repeat(100_000));
        Arc::new(c)
    };
    let mut counts = Vec::new();
    for i in 0..ITERATIONS as u64 {
        let mut login = (*cert(i, now + 90 * DAY + i as i64)).clone();
        login.version = if (i / 1000) % 2 == 0 { "TLS 1.3" } else { "TLS 1.2" };
        let login = if i == 5000 { Arc::clone(&hostile) } else { Arc::new(login) };
        let pay = if i % 10 == 0 { Seen::Tls(cert(1_000_000, now + 20 * DAY)) } else { Seen::Reused };
        sink.outcome(&j, &run("shop", now, &[Seen::Tls(login), pay]));
        if i == 500 || i == 5000 || i + 1 == ITERATIONS as u64 {
            let s = series(&metrics);
            let n: Vec<usize> =
                ["journey_ssl_earliest_cert_expiry", "journey_tls_version_info", "journey_ssl_last_chain_info"]
                    .iter()
                    .map(|f| samples_of(&s, f).len())
                    .collect();
            counts.push((s.len(), n));
        }
        if i == 5000 {
            let s = series(&metrics);
            assert!(s.iter().any(|l| l.contains("subject=\"CN=\\\"quoted\\\\, inc\\\"\\nxxx")), "escaped: {s:?}");
            assert!(s.iter().all(|l| l.len() < 2 * 1024), "no label value grows with what the server sends");
            if let Some(problems) = certs::promtool_check_metrics(&metrics.encode()) {
                assert!(problems.is_empty(), "promtool check metrics on the hostile subject:\n{problems}");
            }
        }
    }
    for (total, n) in &counts {
        assert_eq!(n, &[2, 2, 2], "one series per step and family, whatever rotated");
        assert_eq!(*total, counts[0].0, "the number of series stays the same: {counts:?}");
    }
    let s = series(&metrics);
    let chain = samples_of(&s, "journey_ssl_last_chain_info");
    let last = ITERATIONS as u64 - 1;
    let login = cert(last, 0);
    assert!(
        chain.iter().any(|l| l.contains(&format!("fingerprint_sha256=\"{}\"", login.fingerprint_sha256))
            && l.contains("step=\"login\"")
            && l.contains(&format!("serialnumber=\"{}\"", login.serial))
            && l.contains("subject=\"CN=shop-9999.example\"")),
        "the last certificate is the one shown: {chain:?}"
    );
    assert!(s.iter().all(|l| l.len() < 2 * 1024), "no label value grows with what the server sends");
    assert!(
        samples_of(&s, "journey_tls_version_info").iter().any(|l| l.contains("step=\"login\",version=\"TLS 1.2\"")),
        "the current version only: {s:?}"
    );
    assert_eq!(
        samples_of(&s, "journey_ssl_earliest_cert_expiry").iter().find(|l| l.contains("step=\"pay\"")).copied(),
        Some(&*format!("journey_ssl_earliest_cert_expiry{{journey=\"shop\",step=\"pay\"}} {}", now + 20 * DAY))
    );
    if let Some(problems) = certs::promtool_check_metrics(&metrics.encode()) {
        assert!(problems.is_empty(), "promtool check metrics:\n{problems}");
    }

    // pay now answers over plain http on a new connection: its certificate series go; login's stay.
    sink.outcome(&j, &run("shop", now, &[Seen::Reused, Seen::Plain]));
    let s = series(&metrics);
    assert_eq!(samples_of(&s, "journey_ssl_last_chain_info").len(), 1);
    assert!(s
        .iter()
        .filter(|l| l.starts_with("journey_ssl") || l.starts_with("journey_tls_version"))
        .all(|l| !l.contains("step=\"pay\"")));
    // A reload drops login: a removed step loses its series like the others; so does a removed journey.
    let fewer = common::journey(&yaml.replace("  - name: login\n    get: /login\n", ""), &[]);
    sink.suite_changed(&Suite { journeys: vec![fewer] });
    assert!(samples_of(&series(&metrics), "journey_ssl_last_chain_info").is_empty());
    let j2 = common::journey(yaml, &[]);
    sink.suite_changed(&Suite { journeys: vec![Arc::clone(&j2)] });
    sink.outcome(&j2, &run("shop", now, &[Seen::Tls(cert(1, now)), Seen::Tls(cert(2, now))]));
    assert_eq!(samples_of(&series(&metrics), "journey_ssl_last_chain_info").len(), 2);
    sink.suite_changed(&Suite { journeys: vec![] });
    let s = series(&metrics);
    assert!(s.iter().all(|l| !l.starts_with("journey_ssl") && !l.starts_with("journey_tls_version")), "{s:?}");
}
