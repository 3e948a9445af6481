//! A quick local load test of the engine, for tuning the hot path and choosing an allocator (the benchmark
//! harness in `bench/` is the reference; this is the inner loop).
//!
//! ```text
//! cargo run --release --example load -- http://127.0.0.1:8080/static/hello users=50 seconds=10
//! cargo run --release --example load -- http://127.0.0.1:8080/static/hello rate=2000 max_users=200
//! ```
//!
//! Prints iterations/s, this process's CPU time per iteration (user + system, from /proc/self/stat, so it
//! includes the aggregator), response-time p50/p99 and peak RSS. Pin it to a core (`taskset -c 0`) and the
//! target to the other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use journeyd::config::{self, LoadOptions};
use journeyd::http::Clients;
use journeyd::metrics::{Metrics, MetricsSink, StatsTable};
use journeyd::model::{LoadModel, Suite};
use journeyd::pipeline::{self, Event};
use journeyd::runner::load::{drive, LoadSpec, Stop};
use journeyd::runner::Plan;
use journeyd::shard::Shard;

fn main() {
    let mut url = None;
    let (mut users, mut rate, mut max_users, mut seconds, mut threads) = (50u32, 0.0f64, 1000u32, 10u64, 1usize);
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            Some(("users", v)) => users = v.parse().expect("users=N"),
            Some(("rate", v)) => rate = v.parse().expect("rate=R (per second)"),
            Some(("max_users", v)) => max_users = v.parse().expect("max_users=N"),
            Some(("seconds", v)) => seconds = v.parse().expect("seconds=N"),
            Some(("threads", v)) => threads = v.parse().expect("threads=N"),
            _ => url = Some(arg),
        }
    }
    let url = url.expect("usage: load URL [users=N | rate=R max_users=N] [seconds=N] [threads=N]");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap();
    runtime.block_on(run(url, users, rate, max_users, seconds));
}

async fn run(url: String, users: u32, rate: f64, max_users: u32, seconds: u64) {
    let yaml = "name: get\ntimeout: 30s\nsteps:\n  - name: get\n    get: \"{{ env.URL }}\"\n";
    let mut opts = LoadOptions { strict_env: true, ..LoadOptions::default() };
    opts.env.insert("URL".into(), url);
    let loaded = config::load_str(std::path::Path::new("load.yml"), yaml, &opts).expect("journey loads");
    let journey = Arc::clone(&loaded.suite.journeys[0]);
    let model =
        if rate > 0.0 { LoadModel::Open { rate_per_sec: rate, max_users } } else { LoadModel::Closed { users } };

    let (metrics, stats) = (Metrics::new(), StatsTable::new());
    let (tx, rx) = pipeline::channel();
    let aggregator = tokio::spawn(pipeline::run(rx, vec![Box::new(MetricsSink::new(metrics, stats.clone()))]));
    tx.send(Event::Suite(Suite { journeys: vec![Arc::clone(&journey)] })).await.unwrap();
    let plan = Arc::new(Plan::new(journey, &Clients::new().unwrap()));
    let spec = LoadSpec { model, stop: Stop::After(Duration::from_secs(seconds)), shard: Shard::ALL };

    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let driven = drive(plan, spec, tx, CancellationToken::new()).await;
    aggregator.await.unwrap();
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());

    let js = stats.get("get").unwrap();
    let failed = js.failures;
    println!(
        "iterations {} ({} failed, {} dropped) in {wall:.1}s: {:.0}/s, cpu {:.1} µs/iteration, p50 {:?} p99 {:?}, peak rss {} KiB",
        driven.started,
        failed,
        driven.dropped,
        driven.started as f64 / wall,
        cpu * 1e6 / driven.started.max(1) as f64,
        js.duration.quantile(0.5),
        js.duration.quantile(0.99),
        peak_rss_kib(),
    );
}

/// User + system CPU seconds of this process (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
