//! Clock: a suspended machine or a jumped clock must not make the monitor fire a burst of catch-up runs.
//! Tokio's paused clock is jumped past many intervals at once (`advance`), and runs are counted.
//!
//! The journey fails before any I/O (its URL cannot be built), so every run completes without the paused
//! clock auto-advancing under a pending socket: the counts are exact, not timing-dependent.

mod common;

use std::time::Duration;

use common::suite_from;
use journeyd::http::Clients;
use journeyd::pipeline::Event;
use journeyd::runner::Monitor;
use tokio::sync::mpsc;

const EVERY: Duration = Duration::from_secs(1);

fn ticking_suite() -> journeyd::model::Suite {
    suite_from(
        "name: tick\nevery: 1s\ntimeout: 1s\nsteps:\n  - name: only\n    get: \"{{ env.U }}\"\n",
        &[("U", "not-a-url-so-no-io")],
    )
}

/// Outcomes and late-start events received so far, without waiting.
fn drain(rx: &mut mpsc::Receiver<Event>) -> (usize, usize) {
    let (mut outcomes, mut late) = (0, 0);
    while let Ok(e) = rx.try_recv() {
        match e {
            Event::Outcome(_) => outcomes += 1,
            Event::Late { .. } => late += 1,
            _ => {}
        }
    }
    (outcomes, late)
}

async fn next_outcome(rx: &mut mpsc::Receiver<Event>) {
    loop {
        if let Event::Outcome(o) = rx.recv().await.expect("monitor alive") {
            assert!(o.failure().is_some(), "the journey fails without I/O by design");
            return;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_clock_jump_of_thirty_intervals_causes_one_run_not_thirty() {
    let (tx, mut rx) = journeyd::pipeline::channel();
    let mut monitor = Monitor::new(Clients::new().unwrap(), tx);
    monitor.apply(ticking_suite()).await;
    // Steady state: a few runs on the grid.
    for _ in 0..3 {
        next_outcome(&mut rx).await;
    }
    drain(&mut rx);

    // The machine sleeps (or NTP steps the clock) for 30 intervals.
    tokio::time::advance(EVERY * 30).await;
    // Then half an interval of ordinary time passes: the overdue tick fires once.
    tokio::time::sleep(EVERY / 2).await;
    let (after_jump, late) = drain(&mut rx);
    assert_eq!(after_jump, 1, "one run for the overdue tick, no catch-up burst");
    assert_eq!(late, 1, "the overdue run is reported as late");

    // And the schedule continues at its normal cadence afterwards.
    tokio::time::sleep(EVERY * 5).await;
    let (steady, _) = drain(&mut rx);
    assert!((4..=6).contains(&steady), "cadence after the jump: {steady} runs in 5 intervals");
    monitor.shutdown(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn repeated_suspensions_never_accumulate_a_backlog() {
    let (tx, mut rx) = journeyd::pipeline::channel();
    let mut monitor = Monitor::new(Clients::new().unwrap(), tx);
    monitor.apply(ticking_suite()).await;
    next_outcome(&mut rx).await;
    drain(&mut rx);
    let mut runs = 0;
    // Ten suspensions of 7.5 intervals each, with a little ordinary time between them.
    for _ in 0..10 {
        tokio::time::advance(EVERY * 15 / 2).await;
        tokio::time::sleep(EVERY / 4).await;
        runs += drain(&mut rx).0;
    }
    // 75 intervals passed while suspended; each suspension is worth one run, plus at most one ordinary tick.
    assert!((10..=20).contains(&runs), "{runs} runs across 10 suspensions");
    monitor.shutdown(Duration::ZERO).await;
}
