//! Truthful measurement against real servers on 127.0.0.1:0: a site that stalls shows in the open model's
//! response-time quantiles (and is hidden by a closed loop), a stalled generator shows in response time but
//! not in service time, phases add up to the service time, and the exported Prometheus histograms agree with
//! the aggregator's HDR histograms.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::any;
use axum::Router;
use tokio_util::sync::CancellationToken;

use journeyd::http::Clients;
use journeyd::metrics::{Metrics, MetricsSink, StatsTable, LATENCY_BUCKETS};
use journeyd::model::{Journey, LoadModel, Suite};
use journeyd::outcome::{Phases, RunOutcome, RunStatus, StepOutcome};
use journeyd::pipeline::{self, Event};
use journeyd::runner::load::{self, LoadSpec, Stop};
use journeyd::runner::{run_iteration, Plan, VirtualUser};
use journeyd::shard::Shard;

/// A site that holds every response arriving in the first `stall` of each `period` until the stall ends
/// (a GC pause, a lock convoy): an arrival at offset x < stall waits stall − x.
fn stalling_app(stall: Duration, period: Duration) -> Router {
    let t0 = tokio::time::Instant::now();
    Router::new().fallback(any(move || async move {
        let offset = Duration::from_nanos((t0.elapsed().as_nanos() % period.as_nanos()) as u64);
        if offset < stall {
            tokio::time::sleep(stall - offset).await;
        }
        "ok"
    }))
}

fn ping(url: &str) -> Arc<Journey> {
    common::journey(
        "name: ping\ntarget: \"{{ env.T }}\"\ntimeout: 10s\nsteps:\n  - name: home\n    get: /ping\n",
        &[("T", url)],
    )
}

/// Drives `journey` with `model` for `stop` and returns what the metrics sink aggregated.
async fn measure(journey: &Arc<Journey>, model: LoadModel, stop: Stop) -> (StatsTable, Metrics) {
    let (metrics, stats) = (Metrics::new(), StatsTable::new());
    let (tx, rx) = pipeline::channel();
    let sink = MetricsSink::new(metrics.clone(), stats.clone());
    let aggregator = tokio::spawn(pipeline::run(rx, vec![Box::new(sink)]));
    tx.send(Event::Suite(Suite { journeys: vec![Arc::clone(journey)] })).await.unwrap();
    let plan = Arc::new(Plan::new(Arc::clone(journey), &Clients::new().unwrap()));
    let spec = LoadSpec { model, stop, shard: Shard::ALL };
    load::drive(plan, spec, tx, CancellationToken::new()).await;
    aggregator.await.unwrap();
    (stats, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_site_shows_in_open_model_quantiles_and_a_closed_loop_hides_it() {
    // 400 ms of every second held: 40% of arrivals wait 0–400 ms, so the truth is p90 ≈ 300 ms, p99 ≈ 390 ms.
    let stall = Duration::from_millis(400);
    let url = common::serve(stalling_app(stall, Duration::from_secs(1))).await;
    let j = ping(&url);

    let open = LoadModel::Open { rate_per_sec: 100.0, max_users: 100 };
    let (stats, _) = measure(&j, open, Stop::After(Duration::from_secs(2))).await;
    let js = stats.get("ping").unwrap();
    assert_eq!(js.dropped, 0, "enough users for every arrival");
    assert!(js.runs >= 190, "{} runs", js.runs);
    let (p90, p99) = (js.duration.quantile(0.9), js.duration.quantile(0.99));
    assert!(p90 > stall * 3 / 8, "open-model p90 {p90:?} should be near 300 ms");
    assert!(p99 > stall / 2, "open-model p99 {p99:?} should be near 390 ms");

    // The same site, measured the way closed-loop tools do: each user waits for its response before the
    // next request, so a stall holds one request per user and p90 looks healthy.
    let (stats, _) = measure(&j, LoadModel::Closed { users: 2 }, Stop::After(Duration::from_secs(2))).await;
    let closed_p90 = stats.get("ping").unwrap().duration.quantile(0.9);
    assert!(closed_p90 < stall / 4, "closed-loop p90 {closed_p90:?}: coordinated omission hides the stall");
}

#[test]
fn a_stalled_generator_counts_its_delay_in_response_time_but_not_in_service_time() {
    // The site runs on its own runtime and thread: only the generator stalls.
    let site = tokio::runtime::Runtime::new().unwrap();
    let url = site.block_on(async { common::serve(common::echo_app()).await });
    let generator = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (stats, _) = generator.block_on(async {
        let j = ping(&url);
        // Blocks the generator's only thread for 300 ms, 500 ms in: the stall under test (a CPU-starved
        // or paused process), which paused time cannot stand in for.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            std::thread::sleep(Duration::from_millis(300));
        });
        let open = LoadModel::Open { rate_per_sec: 100.0, max_users: 100 };
        measure(&j, open, Stop::Iterations(150)).await
    });
    let js = stats.get("ping").unwrap();
    assert_eq!(js.runs, 150);
    // ~30 of 150 arrivals were due during the stall and started 0–300 ms late.
    let response_p99 = js.duration.quantile(0.99);
    let service_p99 = js.service.quantile(0.99);
    assert!(response_p99 > Duration::from_millis(150), "response p99 {response_p99:?} must include the stall");
    assert!(service_p99 < Duration::from_millis(100), "service p99 {service_p99:?} is the site's time only");
    assert!(js.steps[0].response.quantile(0.99) >= response_p99 / 2);
}

#[tokio::test]
async fn phases_add_up_to_the_service_time_and_pooled_connections_have_no_connect() {
    let url = common::serve(common::echo_app()).await;
    let j = common::journey(
        "name: two\ntarget: \"{{ env.T }}\"\nsteps:\n  - name: a\n    get: /a\n  - name: b\n    post: /b\n    json: { x: 1 }\n",
        &[("T", &url)],
    );
    let plan = Plan::new(Arc::clone(&j), &Clients::new().unwrap());
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    let cancel = CancellationToken::new();
    let first = run_iteration(&plan, &mut vu, Instant::now(), &cancel).await;
    let second = run_iteration(&plan, &mut vu, Instant::now(), &cancel).await;
    assert!(first.passed() && second.passed(), "{} / {}", common::describe(&first), common::describe(&second));
    let fresh = &first.steps[0].phases;
    assert!(!fresh.reused && fresh.connect > Duration::ZERO, "the first request opens a connection: {fresh:?}");
    for so in first.steps.iter().skip(1).chain(&second.steps) {
        let p = &so.phases;
        assert!(p.reused, "step {} reuses the pooled connection: {p:?}", so.index);
        assert_eq!((p.dns, p.connect, p.tls), (Duration::ZERO, Duration::ZERO, Duration::ZERO));
    }
    for so in first.steps.iter().chain(&second.steps) {
        let p = &so.phases;
        let sum = p.dns + p.connect + p.tls + p.waiting + p.transfer;
        let gap = so.service_time.saturating_sub(sum);
        // What is left is building the request and the client's bookkeeping, not network time.
        assert!(gap < Duration::from_millis(2) || gap < so.service_time / 10, "{p:?} vs {:?}", so.service_time);
        assert!(sum <= so.service_time, "phases cannot exceed the service time: {p:?} vs {:?}", so.service_time);
    }
}

/// A synthetic outcome with the given step response times (ms) and a fixed phase split.
fn outcome(j: &Journey, step_ms: &[u64], reused: bool) -> RunOutcome {
    let ms = Duration::from_millis;
    let steps: Vec<StepOutcome> = step_ms
        .iter()
        .enumerate()
        .map(|(index, &t)| StepOutcome {
            index,
            status: Some(200),
            response_time: ms(t),
            service_time: ms(t),
            phases: Phases {
                connect: if reused { Duration::ZERO } else { Duration::from_micros(700) },
                waiting: ms(t) / 2,
                transfer: ms(t) / 4,
                reused,
                ..Phases::default()
            },
            passed: true,
            ..StepOutcome::default()
        })
        .collect();
    let total = ms(step_ms.iter().sum());
    RunOutcome {
        journey: Arc::from(j.name.as_str()),
        intended_start: Instant::now(),
        start_delay: Duration::ZERO,
        wall_start: std::time::SystemTime::now(),
        duration: total,
        service_time: total,
        status: RunStatus::Passed,
        steps,
        soft_failures: Vec::new(),
        trace_id: 0,
        user: 0,
        target: None,
    }
}

/// The value of one sample line (`name{labels} value`) of the text exposition.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn exported_histograms_match_the_hdr_counts_and_pass_promtool() {
    let j = common::journey(
        "name: shop\ntarget: http://127.0.0.1:9\nsteps:\n  - name: home\n    get: /\n  - name: buy\n    get: /buy\n",
        &[],
    );
    let metrics = Metrics::new();
    let stats = StatsTable::new();
    let (tx, rx) = pipeline::channel();
    let aggregator = tokio::spawn(pipeline::run(rx, vec![Box::new(MetricsSink::new(metrics.clone(), stats.clone()))]));
    tx.send(Event::Suite(Suite { journeys: vec![Arc::clone(&j)] })).await.unwrap();
    // Values well inside buckets (HDR keeps 3 significant figures; a bucket bound is never in doubt).
    let home = [3u64, 7, 7, 18, 40, 40, 40, 70, 180, 300, 700, 1800, 4000, 7000, 20_000];
    for (i, &h) in home.iter().enumerate() {
        tx.send(Event::Outcome(outcome(&j, &[h, 12], i % 3 != 0))).await.unwrap();
    }
    drop(tx);
    aggregator.await.unwrap();
    let text = metrics.encode();

    let js = stats.get("shop").unwrap();
    let hdr = js.steps[0].response.histogram();
    for &le in LATENCY_BUCKETS {
        let below = hdr
            .iter_recorded()
            .filter(|v| v.value_iterated_to() as f64 <= le * 1e6)
            .map(|v| u64::from(v.count_at_value()))
            .sum::<u64>();
        let prefix = format!("journey_step_duration_seconds_bucket{{journey=\"shop\",step=\"home\",le=\"{le}\"}}");
        assert_eq!(sample(&text, &prefix), Some(below as f64), "bucket le={le}");
    }
    let count = sample(&text, "journey_step_duration_seconds_count{journey=\"shop\",step=\"home\"}");
    assert_eq!(count, Some(hdr.len() as f64));
    assert_eq!(sample(&text, "journey_step_service_seconds_count{journey=\"shop\",step=\"home\"}"), Some(15.0));
    assert_eq!(sample(&text, "journey_service_seconds_count{journey=\"shop\"}"), Some(15.0));
    // 5 of 15 iterations opened a connection; the phase histograms saw every request.
    let requests = |c: &str| {
        sample(&text, &format!("journey_step_requests_total{{connection=\"{c}\",journey=\"shop\",step=\"home\"}}"))
    };
    assert_eq!((requests("new"), requests("reused")), (Some(5.0), Some(10.0)));
    let connect_fast = sample(
        &text,
        "journey_step_phase_seconds_bucket{journey=\"shop\",phase=\"connect\",step=\"home\",le=\"0.0005\"}",
    );
    assert_eq!(connect_fast, Some(10.0), "reused connections observe a zero connect; new ones 700 µs");
    // The window gauges: exact HDR quantiles of the same samples.
    let p50 = sample(&text, "journey_step_latency_window_seconds{journey=\"shop\",step=\"home\",quantile=\"0.5\"}");
    assert_eq!(p50, Some(0.07), "the 8th of 15 sorted samples");
    assert!(text.contains("journey_latency_window_seconds{journey=\"shop\",quantile=\"0.99\"}"));
    assert_eq!(sample(&text, "journey_step_latency_window_seconds_count{journey=\"shop\",step=\"home\"}"), Some(15.0));

    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Err(e) => eprintln!("promtool not installed ({e}): lint skipped; apt-get install prometheus to run it"),
        Ok(mut child) => {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            let problems = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success() && problems.trim().is_empty(), "promtool check metrics:\n{problems}");
        }
    }
}

/// The sink resolves each journey's windows and stats once per suite: across reloads a kept journey keeps
/// counting, a removed one's series and stats vanish (its late outcomes go nowhere), and one added back
/// starts from nothing rather than writing into what was dropped.
#[tokio::test]
async fn reloads_keep_the_windows_and_stats_of_kept_journeys_and_drop_removed_ones() {
    let yaml = |name: &str| format!("name: {name}\ntarget: http://127.0.0.1:9\nsteps:\n  - name: home\n    get: /\n");
    let (shop, gone) = (common::journey(&yaml("shop"), &[]), common::journey(&yaml("gone"), &[]));
    let both = Suite { journeys: vec![Arc::clone(&shop), Arc::clone(&gone)] };
    let (metrics, stats) = (Metrics::new(), StatsTable::new());
    // Feeds events through a pipeline and hands the sinks back once it has recorded them all.
    let feed = |sinks: Vec<Box<dyn pipeline::Sink>>, events: Vec<Event>| async move {
        let (tx, rx) = pipeline::channel();
        let aggregator = tokio::spawn(pipeline::run(rx, sinks));
        for e in events {
            tx.send(e).await.unwrap();
        }
        drop(tx);
        aggregator.await.unwrap()
    };
    let run = |j: &Journey| Event::Outcome(outcome(j, &[5], false));
    let mut events = vec![Event::Suite(both.clone())];
    for _ in 0..3 {
        events.extend([run(&shop), run(&gone)]);
    }
    events.extend([Event::Suite(Suite { journeys: vec![Arc::clone(&shop)] }), run(&shop), run(&gone)]);
    let sinks = feed(vec![Box::new(MetricsSink::new(metrics.clone(), stats.clone()))], events).await;
    let text = metrics.encode();
    let window_count =
        |text: &str, j: &str| sample(text, &format!("journey_latency_window_seconds_count{{journey=\"{j}\"}}"));
    assert_eq!(window_count(&text, "shop"), Some(4.0));
    assert!(!text.contains("journey=\"gone\""), "no series of a removed journey:\n{text}");
    assert_eq!(stats.get("shop").map(|s| s.runs), Some(4));
    assert!(stats.get("gone").is_none());

    // Added back: it starts over, and its runs land where scrapes and reports read them.
    feed(sinks, vec![Event::Suite(both), run(&gone)]).await;
    let text = metrics.encode();
    assert_eq!(window_count(&text, "gone"), Some(1.0));
    assert_eq!(window_count(&text, "shop"), Some(4.0));
    assert_eq!(stats.get("gone").map(|s| (s.runs, s.steps[0].runs)), Some((1, 1)));
}
