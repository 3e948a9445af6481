//! Cardinality: 10,000 distinct ids in URLs and response bodies (and in failure evidence) produce a constant
//! number of series on /metrics. Ids must never become label values.

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
