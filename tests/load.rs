//! The load engine's scheduling under paused time (a fake runner records when each iteration was due and when
//! it started), the monitor's late-run rule, and one real drive against an in-process server.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use journeyd::http::Clients;
use journeyd::model::{LoadModel, Stage, StageTarget};
use journeyd::pipeline::{self, Event};
use journeyd::runner::load::{self, ArrivalGrid, LoadSpec, Ramp, Runner, Stop, UserCurve};
use journeyd::runner::monitor::{tick, LATE_AFTER};
use journeyd::runner::Plan;
use journeyd::shard::Shard;

/// One iteration as the fake runner saw it.
#[derive(Debug, Clone, Copy)]
struct Start {
    user: u64,
    /// Offsets from the test's start.
    intended: Duration,
    actual: Duration,
}

/// A runner whose iterations just take `service(i)` of (paused) time.
struct Fake {
    t0: Instant,
    service: Box<dyn Fn(u64) -> Duration + Send + Sync>,
    starts: Mutex<Vec<Start>>,
    busy: AtomicU64,
    max_busy: AtomicU64,
    dropped: AtomicU64,
    cancelled: AtomicU64,
}

impl Fake {
    fn new(service: impl Fn(u64) -> Duration + Send + Sync + 'static) -> Arc<Fake> {
        Arc::new(Fake {
            t0: Instant::now(),
            service: Box::new(service),
            starts: Mutex::new(Vec::new()),
            busy: AtomicU64::new(0),
            max_busy: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
        })
    }

    fn starts(&self) -> Vec<Start> {
        let mut s = self.starts.lock().unwrap().clone();
        s.sort_by_key(|s| (s.intended, s.user));
        s
    }
}

impl Runner for Fake {
    type User = u64;

    fn user(&self, id: u64) -> Option<u64> {
        Some(id)
    }

    async fn run(self: Arc<Self>, user: u64, intended: Instant, cancel: CancellationToken) -> u64 {
        let n = {
            let mut starts = self.starts.lock().unwrap();
            starts.push(Start { user, intended: intended - self.t0, actual: self.t0.elapsed() });
            starts.len() as u64 - 1
        };
        let busy = self.busy.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_busy.fetch_max(busy, Ordering::SeqCst);
        tokio::select! {
            _ = cancel.cancelled() => { self.cancelled.fetch_add(1, Ordering::SeqCst); }
            _ = tokio::time::sleep((self.service)(n)) => {}
        }
        self.busy.fetch_sub(1, Ordering::SeqCst);
        user
    }

    async fn dropped(&self, count: u64) {
        self.dropped.fetch_add(count, Ordering::SeqCst);
    }
}

fn spec(model: LoadModel, stop: Stop) -> LoadSpec {
    LoadSpec { model, stop, shard: Shard::ALL }
}

const TIMEOUT: Duration = Duration::from_secs(10);

async fn run(fake: &Arc<Fake>, spec: &LoadSpec) -> load::DriveStats {
    load::schedule(Arc::clone(fake), spec, TIMEOUT, CancellationToken::new()).await
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Tokio's timer wheel has millisecond resolution: an arrival lands within 1 ms of its intended time.
fn close(a: Duration, b: Duration) -> bool {
    (if a > b { a - b } else { b - a }) <= ms(1)
}

#[tokio::test(start_paused = true)]
async fn open_arrivals_land_on_the_grid_whatever_the_service_time() {
    // Service times far above the inter-arrival time: a closed loop would slow down, the open model must not.
    let fake = Fake::new(|i| if i % 3 == 0 { ms(900) } else { ms(20) });
    let s = spec(LoadModel::Open { rate_per_sec: 20.0, max_users: 100 }, Stop::After(Duration::from_secs(2)));
    let stats = run(&fake, &s).await;
    let starts = fake.starts();
    assert_eq!(stats.started, 40);
    assert_eq!(stats.dropped, 0);
    assert_eq!(starts.len(), 40);
    for (i, s) in starts.iter().enumerate() {
        assert_eq!(s.intended, ms(50 * i as u64), "arrival {i}");
        assert!(close(s.actual, s.intended), "arrival {i} started at {:?}, due {:?}", s.actual, s.intended);
    }
    assert!(fake.max_busy.load(Ordering::SeqCst) >= 6, "slow iterations overlap (6 of 900 ms in flight)");
}

#[tokio::test(start_paused = true)]
async fn max_users_caps_in_flight_iterations_and_counts_drops() {
    let fake = Fake::new(|_| Duration::from_secs(1));
    let s = spec(LoadModel::Open { rate_per_sec: 10.0, max_users: 2 }, Stop::After(Duration::from_secs(2)));
    let stats = run(&fake, &s).await;
    assert_eq!(fake.max_busy.load(Ordering::SeqCst), 2);
    assert_eq!(stats.started + stats.dropped, 20, "every arrival is started or counted: {stats:?}");
    assert_eq!(stats.started, 4, "two users, each busy 1 s: starts at 0, 0.1, 1.0 and 1.1 s");
    assert_eq!(fake.dropped.load(Ordering::SeqCst), stats.dropped, "every drop is reported");
    let users: std::collections::HashSet<u64> = fake.starts().iter().map(|s| s.user).collect();
    assert_eq!(users.len(), 2, "users are pooled and reused, not made per arrival");
}

#[tokio::test(start_paused = true)]
async fn a_busy_user_that_frees_within_the_slot_starts_the_arrival_late_not_dropped() {
    // One user, 10/s, 150 ms iterations: arrival 1 (due 100 ms) waits for the user until 150 ms.
    let fake = Fake::new(|_| ms(150));
    let s = spec(LoadModel::Open { rate_per_sec: 10.0, max_users: 1 }, Stop::Iterations(2));
    let stats = run(&fake, &s).await;
    assert_eq!(stats, load::DriveStats { started: 2, dropped: 0 });
    let starts = fake.starts();
    assert_eq!(starts[1].intended, ms(100));
    assert!(close(starts[1].actual, ms(150)), "{:?}", starts[1]);
}

#[tokio::test(start_paused = true)]
async fn rate_stages_ramp_linearly_as_written() {
    // 0 → 10/s over 10 s (50 arrivals: the integral), then 10/s held for 2 s (20 more).
    let stages = vec![
        Stage { target: StageTarget::Rate(10.0), duration: Duration::from_secs(10) },
        Stage { target: StageTarget::Rate(10.0), duration: Duration::from_secs(2) },
    ];
    let fake = Fake::new(|_| ms(10));
    let stats = run(&fake, &spec(LoadModel::Stages(stages), Stop::After(Duration::from_secs(60)))).await;
    assert_eq!(stats.started, 70, "{stats:?}");
    let starts = fake.starts();
    // During the ramp rate(t) = t, so the k-th arrival is due when t²/2 = k.
    for (k, s) in starts.iter().take(50).enumerate() {
        let due = Duration::from_secs_f64((2.0 * k as f64).sqrt());
        assert!(close(s.intended, due), "arrival {k} due {:?}, scheduled {:?}", due, s.intended);
        assert!(close(s.actual, s.intended));
    }
    for (k, s) in starts.iter().skip(50).enumerate() {
        assert!(close(s.intended, Duration::from_secs(10) + ms(100 * k as u64)), "{k}: {s:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn user_stages_add_and_remove_users_as_the_line_crosses_them() {
    // 0 → 4 users over 4 s, 4 for 2 s, 4 → 0 over 4 s. User j joins at j+1 s and leaves at 10−j s.
    let stages = vec![
        Stage { target: StageTarget::Users(4), duration: Duration::from_secs(4) },
        Stage { target: StageTarget::Users(4), duration: Duration::from_secs(2) },
        Stage { target: StageTarget::Users(0), duration: Duration::from_secs(4) },
    ];
    let fake = Fake::new(|_| ms(100));
    let stats = run(&fake, &spec(LoadModel::Stages(stages), Stop::After(Duration::from_secs(60)))).await;
    let starts = fake.starts();
    assert_eq!(stats.started as usize, starts.len());
    for j in 0..4u64 {
        let mine: Vec<&Start> = starts.iter().filter(|s| s.user == j).collect();
        let first = mine.first().unwrap().actual;
        let last = mine.last().unwrap().actual;
        assert!(close(first, Duration::from_secs(j + 1)), "user {j} joined at {first:?}");
        let leaves = Duration::from_secs(10 - j);
        assert!(
            last < leaves && last + ms(101) >= leaves,
            "user {j}: last iteration at {last:?}, leaves at {leaves:?}"
        );
        // Closed loop: each iteration is due when the previous one ended.
        assert!(mine.windows(2).all(|w| close(w[1].intended, w[0].actual + ms(100))));
    }
    assert_eq!(fake.max_busy.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn closed_users_run_exactly_the_iteration_budget() {
    let fake = Fake::new(|i| ms(10 + i % 7));
    let stats = run(&fake, &spec(LoadModel::Closed { users: 3 }, Stop::Iterations(25))).await;
    assert_eq!(stats.started, 25);
    assert_eq!(fake.starts().len(), 25);
    assert_eq!(fake.max_busy.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn shards_together_produce_exactly_the_total_rate_and_budget() {
    let mut all = Vec::new();
    let mut started = 0;
    for index in 0..3 {
        let fake = Fake::new(|_| ms(5));
        let s = LoadSpec {
            model: LoadModel::Open { rate_per_sec: 30.0, max_users: 30 },
            stop: Stop::Either(Duration::from_secs(1), 20),
            shard: Shard { index, count: 3 },
        };
        started += run(&fake, &s).await.started;
        all.extend(fake.starts().into_iter().map(|s| s.intended));
    }
    all.sort();
    // 20 iterations in total (the budget bites before the 30 arrivals of the first second).
    assert_eq!(started, 20);
    let expected: Vec<Duration> = (0..20).map(|i| Duration::from_secs_f64(i as f64 / 30.0)).collect();
    assert!(all.iter().zip(&expected).all(|(a, b)| close(*a, *b)), "{all:?}");

    let mut closed = 0;
    for index in 0..3 {
        let fake = Fake::new(|_| ms(5));
        let s = LoadSpec {
            model: LoadModel::Closed { users: 4 },
            stop: Stop::Iterations(10),
            shard: Shard { index, count: 3 },
        };
        closed += run(&fake, &s).await.started;
    }
    assert_eq!(closed, 10);
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_arrivals_and_cancels_in_flight_iterations() {
    let fake = Fake::new(|_| Duration::from_secs(30));
    let cancel = CancellationToken::new();
    let s = spec(LoadModel::Open { rate_per_sec: 10.0, max_users: 100 }, Stop::After(Duration::from_secs(60)));
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(950)).await;
        c.cancel();
    });
    let stats = load::schedule(Arc::clone(&fake), &s, TIMEOUT, cancel).await;
    assert_eq!(stats.started, 10);
    assert_eq!(fake.cancelled.load(Ordering::SeqCst), 10, "in-flight iterations were cancelled, not awaited");
}

#[test]
fn arrival_grid_and_user_curve_are_the_integral_and_the_line() {
    let grid = ArrivalGrid::new(&[Ramp { from: 4.0, to: 4.0, duration: None }]);
    assert_eq!(grid.offset(0), Some(Duration::ZERO));
    assert_eq!(grid.offset(6), Some(ms(1500)));
    // Ramp down 10 → 0 over 2 s: 10 arrivals, the last ones further apart.
    let down = ArrivalGrid::new(&[Ramp { from: 10.0, to: 0.0, duration: Some(Duration::from_secs(2)) }]);
    let times: Vec<Duration> = (0..20).map_while(|i| down.offset(i)).collect();
    assert_eq!(times.len(), 10);
    assert!(times.windows(3).all(|w| w[2] - w[1] > w[1] - w[0]));
    let curve = UserCurve::new(&[Ramp { from: 2.0, to: 0.0, duration: Some(Duration::from_secs(2)) }]);
    assert_eq!(curve.users_at(Duration::ZERO), Some(2));
    assert_eq!(curve.users_at(ms(999)), Some(2));
    assert_eq!(curve.users_at(ms(1000)), Some(1));
    assert_eq!(curve.users_at(Duration::from_secs(2)), None);
}

#[test]
fn late_monitor_runs_are_reported_and_the_grid_skips_ahead() {
    let t0 = Instant::now();
    let every = Duration::from_secs(10);
    let on_time = tick(t0, t0 + ms(5), every);
    assert_eq!(on_time, journeyd::runner::monitor::Tick { next: t0 + every, late: None });
    let late = tick(t0, t0 + ms(2500), every);
    assert_eq!(late.late, Some(ms(2500)));
    assert!(LATE_AFTER < ms(2500));
    // A 25 s stall: no burst of catch-up runs; the next tick is the next grid point after now.
    let stalled = tick(t0, t0 + Duration::from_secs(25), every);
    assert_eq!(stalled.next, t0 + Duration::from_secs(30));
    assert_eq!(stalled.late, Some(Duration::from_secs(25)));
}

#[tokio::test]
async fn drive_runs_the_real_pipeline_and_sends_one_outcome_per_iteration() {
    let url = common::serve(common::echo_app()).await;
    let j = common::journey(
        "name: ping\ntarget: \"{{ env.T }}\"\nsteps:\n  - name: home\n    get: /hello\n",
        &[("T", &url)],
    );
    let plan = Arc::new(Plan::new(Arc::clone(&j), &Clients::new().unwrap()));
    let (tx, mut rx) = pipeline::channel();
    let spec = LoadSpec {
        model: LoadModel::Open { rate_per_sec: 200.0, max_users: 10 },
        stop: Stop::Iterations(12),
        shard: Shard::ALL,
    };
    let stats = load::drive(plan, spec, tx, CancellationToken::new()).await;
    let mut outcomes = 0;
    let mut dropped = 0;
    while let Some(e) = rx.recv().await {
        match e {
            Event::Outcome(o) => {
                assert!(o.passed(), "{}", common::describe(&o));
                outcomes += 1;
            }
            Event::Dropped { count, .. } => dropped += count,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(outcomes, stats.started);
    assert_eq!(dropped, stats.dropped);
    assert_eq!(stats.started + stats.dropped, 12);
}

#[tokio::test(start_paused = true)]
async fn a_closed_shard_that_owns_no_users_ends_instead_of_waiting_forever() {
    let fake = Fake::new(|_| ms(5));
    let s = LoadSpec {
        model: LoadModel::Closed { users: 1 },
        stop: Stop::Iterations(4),
        shard: Shard { index: 1, count: 2 },
    };
    // Paused time: if `drive` waited forever, the guard's timer would fire (time auto-advances when idle).
    let stats = tokio::time::timeout(Duration::from_secs(3600), run(&fake, &s)).await;
    let stats = stats.expect("a shard with no users must end, not hang");
    assert_eq!(stats.started, 0);
    assert!(fake.starts().is_empty());
}
