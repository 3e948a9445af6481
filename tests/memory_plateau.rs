//! Memory plateau: everything the daemon keeps per journey is bounded by time or count, never by uptime.
//!
//! A sidecar runs for weeks, and a 10-minute soak cannot tell bounded growth (the status history filling its
//! 24 hours, SLO buckets filling their window, histograms widening to the slowest latency seen) from a leak.
//! This test replays 16 days of outcomes, one run per journey per minute, into the three sinks that keep
//! state — metrics (HDR histograms, sliding windows), the status history, the alert engine (streaks, SLO
//! buckets, latency windows) — and counts live heap bytes with a counting allocator: once every bound has been
//! reached (8 days: past the 7-day SLO window, the 24-hour availability history, the 3-hour plot, the latency
//! windows, the 100 kept failures, the histograms' clamp), another 8 days must not add memory. It also prints
//! the bytes per journey at the plateau, the figure docs/operations.md states.
//!
//! One test in this binary, so no other test's allocations are counted.

mod alerts;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use alerts::{get, parse_settings, suite};
use journeyd::alert::{AlertMetrics, Clock, Engine};
use journeyd::metrics::{Metrics, MetricsSink, StatsTable};
use journeyd::model::Suite;
use journeyd::outcome::{Failure, Phases, Reason, RunOutcome, RunStatus, StepOutcome};
use journeyd::pipeline::Sink;
use journeyd::status::{StatusBoard, StatusSink};

/// Live heap bytes: allocations minus frees, over the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const JOURNEYS: usize = 4;
const STEPS: usize = 3;
const DAY_MINUTES: u64 = 24 * 60;

fn journey_files() -> Vec<(String, String)> {
    (0..JOURNEYS)
        .map(|i| {
            let name = format!("j{i}");
            let text = format!(
                "name: {name}\ntarget: http://127.0.0.1:9\nevery: 60s\n\
                 alerts:\n  latency:\n    - {{ step: s1, quantile: p99, budget: 800ms, window: 6h }}\n    \
                 - {{ quantile: p90, budget: 2s, window: 30m }}\n\
                 slo: {{ availability: 99.9%, window: 7d }}\n\
                 steps:\n  - name: s0\n    get: /a\n  - name: s1\n    get: /b\n  - name: s2\n    get: /c\n"
            );
            (format!("{name}.yml"), text)
        })
        .collect()
}

/// A deterministic spread of latencies: mostly tens of milliseconds, some seconds, and now and then past the
/// one-hour clamp, so every histogram reaches its widest shape early.
fn latency(minute: u64, journey: usize, step: usize) -> Duration {
    let x = minute.wrapping_mul(2_654_435_761).wrapping_add((journey * 31 + step * 7) as u64) % 10_007;
    match x {
        0..=9 => Duration::from_secs(7200),
        10..=200 => Duration::from_millis(1_000 + x * 40),
        _ => Duration::from_micros(5_000 + x * 37),
    }
}

/// One run of journey `j` that ends at `minute`: every 9th fails at a step with evidence whose text varies.
fn outcome(name: &str, j: usize, minute: u64, base: std::time::Instant, wall: SystemTime) -> RunOutcome {
    let at = Duration::from_secs(minute * 60);
    let fails_at = ((minute + j as u64) % 9 == 0).then_some((minute % STEPS as u64) as usize);
    let mut steps = Vec::new();
    let mut total = Duration::ZERO;
    for s in 0..STEPS {
        let d = latency(minute, j, s);
        total += d;
        let passed = fails_at != Some(s);
        steps.push(StepOutcome {
            index: s,
            status: Some(if passed { 200 } else { 503 }),
            response_time: d,
            service_time: d,
            phases: Phases { waiting: d, ..Phases::default() },
            passed,
            ..StepOutcome::default()
        });
        if !passed {
            break;
        }
    }
    let status = match fails_at {
        Some(s) => {
            let mut f = Failure::new(
                s,
                &format!("s{s}"),
                Reason::Status,
                format!("expected status == 200, got 503 at {minute}"),
            );
            f.status = Some(503);
            f.request = Some(format!("GET http://127.0.0.1:9/order/{minute}"));
            f.excerpt = Some(format!("upstream {} unavailable", minute * 7919));
            RunStatus::Failed(Box::new(f))
        }
        None => RunStatus::Passed,
    };
    // The run completes at `minute` (outcomes arrive in the order runs end, as they do in the daemon), so a
    // slow one started earlier.
    let started = at.saturating_sub(total);
    RunOutcome {
        journey: name.into(),
        intended_start: base + started,
        start_delay: Duration::ZERO,
        wall_start: wall + started,
        duration: total,
        service_time: total,
        status,
        steps,
        soft_failures: vec![],
        trace_id: 0,
        user: 0,
        target: None,
    }
}

struct Daemon {
    suite: Suite,
    metrics: MetricsSink,
    status: StatusSink,
    engine: Engine,
    base: std::time::Instant,
    tokio_base: tokio::time::Instant,
    wall: SystemTime,
}

impl Daemon {
    fn replay(&mut self, minutes: std::ops::Range<u64>) {
        for minute in minutes {
            for j in 0..JOURNEYS {
                let name = format!("j{j}");
                let journey = get(&self.suite, &name);
                let o = outcome(&name, j, minute, self.base, self.wall);
                self.metrics.outcome(&journey, &o);
                self.status.outcome(&journey, &o);
                drop(self.engine.outcome(&journey, &o, self.tokio_base + Duration::from_secs(minute * 60)));
            }
        }
    }
}

#[test]
fn memory_per_journey_plateaus_once_every_bound_is_reached() {
    let files = journey_files();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let suite = suite(&files);
    let before = live();
    let registry = prometheus::Registry::new();
    let alert_metrics = AlertMetrics::register(&registry).unwrap();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let mut d = Daemon {
        metrics: MetricsSink::new(Metrics::new(), StatsTable::new()),
        status: StatusSink::new(StatusBoard::new()),
        engine: Engine::new(Arc::new(parse_settings("")), "http://127.0.0.1:9898/", Clock::at(wall), alert_metrics),
        suite,
        base: std::time::Instant::now(),
        tokio_base: tokio::time::Instant::now(),
        wall,
    };
    d.metrics.suite_changed(&d.suite);
    d.status.suite_changed(&d.suite);
    drop(d.engine.suite_changed(&d.suite, d.tokio_base));
    let empty = live();

    // Day 1 to 9 (day 0 leaves room for runs that started hours before they ended): every bound is reached (the longest is the 7-day SLO window).
    d.replay(DAY_MINUTES..9 * DAY_MINUTES);
    let plateau = live();
    // Day 9 to 17: the same again must not add memory. A few hundred bytes of slack: the failure log's texts
    // differ in length from minute to minute.
    d.replay(9 * DAY_MINUTES..17 * DAY_MINUTES);
    let later = live();
    let per_journey = (plateau - empty) / JOURNEYS as isize;
    println!(
        "sinks: {} B empty for {JOURNEYS} journeys; {} B at the plateau ({per_journey} B per {STEPS}-step journey \
         with an SLO and two latency rules); {} B eight days later",
        empty - before,
        plateau - before,
        later - before
    );
    assert!(
        later - plateau <= 1024,
        "memory kept growing after every bound was reached: {plateau} B at day 8, {later} B at day 16"
    );
    // And the plateau is what the docs state (docs/operations.md, "Memory"): about 280 KB for a journey of this
    // shape with every histogram at its widest (a latency past the one-hour clamp seen).
    assert!(per_journey < 320 * 1024, "{per_journey} B per journey at the plateau");
    // Keep the sinks alive until measured.
    drop(d);
}
