//! The load engine: drives a journey with a closed, open or staged load model until a stop condition.
//!
//! - **Closed** (`users: N`): N virtual users loop back to back; an iteration's intended start is the moment
//!   the previous one ended (think time lives in the steps).
//! - **Open** (`rate: R`, `max_users: M`): arrival `i` is due at `i / R` after the start, whatever the site
//!   does; latency counts from that intended time. At most `M` iterations are in flight, on a pool of at most
//!   `M` reused virtual users (leases are taken once per user, not per arrival). **Drop rule:** an arrival
//!   whose users are all busy waits for one to come back until the end of its slot — its intended time plus
//!   one arrival interval (`1 / R` at that moment) — and is counted as dropped (`Event::Dropped`) if none has.
//!   A generator that is merely late (timer granularity, a CPU stall) never drops: a due arrival that finds a
//!   free user starts at once, with its latency still counted from its intended time.
//! - **Stages**: each stage ramps **linearly** (as k6's ramping executors do) from the previous target of the
//!   same kind (or from 0 for the first stage, and where the kind switches between `rate` and `users`) to its
//!   own target over its `for:`, then the run stops. Rate stages cap in-flight iterations at
//!   `peak rate × journey timeout` (1..=10,000): an iteration cannot outlive its timeout, so that many users are
//!   enough to start every arrival on time.
//!
//! Shards split the work with no coordination: a closed shard runs the virtual users it owns
//! (`owns_index(user id)`), an open shard takes the arrivals it owns (`owns_index(i)`) on the shared grid, so
//! the shards together produce exactly the total rate, and `Stop::Iterations(n)` gives each shard its share of
//! n (open: arrivals `0..n`, started or dropped).
//!
//! The scheduler is generic over [`Runner`] (what an iteration is), so its timing is tested under paused
//! time with a fake runner; [`drive`] plugs in the real step pipeline.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::model::{ConnectionPolicy, LoadModel};
use crate::pipeline::Event;
use crate::runner::iteration::{run_iteration, VirtualUser};
use crate::runner::plan::Plan;
pub use crate::runner::profile::{segments, ArrivalGrid, Ramp, Segment, UserCurve};
use crate::shard::Shard;

/// When a drive stops starting iterations (in-flight ones then finish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    After(Duration),
    /// This shard's share of n iterations in total.
    Iterations(u64),
    /// Whichever comes first.
    Either(Duration, u64),
}

impl Stop {
    fn after(self) -> Option<Duration> {
        match self {
            Stop::After(d) | Stop::Either(d, _) => Some(d),
            Stop::Iterations(_) => None,
        }
    }

    fn iterations(self) -> Option<u64> {
        match self {
            Stop::Iterations(n) | Stop::Either(_, n) => Some(n),
            Stop::After(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    pub model: LoadModel,
    pub stop: Stop,
    pub shard: Shard,
}

/// What one shard's drive did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriveStats {
    /// Iterations started (each ends in exactly one outcome).
    pub started: u64,
    /// Open-model arrivals that found every virtual user busy for their whole slot.
    pub dropped: u64,
}

/// Drives `plan` with `spec` until it stops or `cancel` fires (in-flight iterations then end Cancelled),
/// sending `Event::Outcome` / `Event::Dropped` to `events`. Never aggregates.
pub async fn drive(
    plan: Arc<Plan>,
    spec: LoadSpec,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> DriveStats {
    let timeout = plan.journey.timeout;
    let policy = ConnectionPolicy::for_load(plan.journey.defaults.connections);
    let runner = Arc::new(JourneyRunner { plan, policy, events, warned: AtomicBool::new(false) });
    schedule(runner, &spec, timeout, cancel).await
}

/// What the scheduler starts. [`drive`] runs the journey's step pipeline; tests plug in a fake.
pub trait Runner: Send + Sync + 'static {
    /// A virtual user: its data rows and state, reused across iterations.
    type User: Send + 'static;

    /// Makes virtual user number `id`; `None` when it cannot be made now (no free data row): the scheduler
    /// treats that as "every user busy".
    fn user(&self, id: u64) -> Option<Self::User>;

    /// Runs one iteration due at `intended` and reports its outcome; gives the user back for reuse.
    fn run(
        self: Arc<Self>,
        user: Self::User,
        intended: Instant,
        cancel: CancellationToken,
    ) -> impl Future<Output = Self::User> + Send + 'static;

    /// Reports `count` dropped arrivals.
    fn dropped(&self, count: u64) -> impl Future<Output = ()> + Send;
}

struct JourneyRunner {
    plan: Arc<Plan>,
    /// `connections:` in load: `reuse` unless the journey says `fresh`.
    policy: ConnectionPolicy,
    events: mpsc::Sender<Event>,
    /// "No free data row" is logged once per drive, not once per arrival.
    warned: AtomicBool,
}

impl Runner for JourneyRunner {
    // Boxed: a user (its connections, buffers, redactor and rows) is hundreds of bytes, and the open model
    // moves it in and out of a task on every arrival (idle list, task, join output); a box is 8 bytes to move.
    type User = Box<VirtualUser>;

    fn user(&self, id: u64) -> Option<Box<VirtualUser>> {
        match VirtualUser::new(&self.plan, id) {
            Ok(vu) => Some(Box::new(vu)),
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(journey = %self.plan.journey.name, "cannot start another virtual user: {e}");
                }
                None
            }
        }
    }

    async fn run(
        self: Arc<Self>,
        mut vu: Box<VirtualUser>,
        intended: Instant,
        cancel: CancellationToken,
    ) -> Box<VirtualUser> {
        // A user keeps its connections across iterations (like a browser or a k6 VU) unless the journey
        // asks for cold ones.
        if self.policy == ConnectionPolicy::Fresh {
            vu.close_connections();
        }
        let outcome = run_iteration(&self.plan, &mut vu, intended.into_std(), &cancel).await;
        let _ = self.events.send(Event::Outcome(outcome)).await;
        vu
    }

    async fn dropped(&self, count: u64) {
        let _ = self.events.send(Event::Dropped { journey: Arc::clone(&self.plan.name), count }).await;
    }
}

/// Runs every segment of `spec.model` in order with `runner`, until the stop condition or `cancel`.
pub async fn schedule<R: Runner>(
    runner: Arc<R>,
    spec: &LoadSpec,
    timeout: Duration,
    cancel: CancellationToken,
) -> DriveStats {
    let start = Instant::now();
    let deadline = spec.stop.after().map(|d| start + d);
    let mut stats = DriveStats::default();
    // Open arrivals are numbered across segments so shards and `Stop::Iterations` see one grid.
    let mut next_arrival = 0u64;
    // Closed iterations left for this shard.
    let budget = spec.stop.iterations().map(|n| Arc::new(AtomicU64::new(spec.shard.share_of(n))));
    let mut seg_start = start;
    for seg in segments(&spec.model, timeout) {
        let seg_end = seg.duration().map(|d| seg_start + d);
        let end = match (seg_end, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if cancel.is_cancelled() || end.is_some_and(|e| e <= seg_start) {
            break;
        }
        let ctx = SegmentCtx { start: seg_start, end, shard: spec.shard, cancel: cancel.clone() };
        let done = match &seg {
            Segment::Arrivals { ramps, max_users } => {
                let limit = spec.stop.iterations();
                let s = open(&runner, &ctx, &ArrivalGrid::new(ramps), *max_users, &mut next_arrival, limit).await;
                stats.started += s.started;
                stats.dropped += s.dropped;
                limit.is_some_and(|n| next_arrival >= n)
            }
            Segment::Users { ramps } => {
                stats.started += closed(&runner, &ctx, &UserCurve::new(ramps), budget.clone()).await;
                budget.as_ref().is_some_and(|b| b.load(Ordering::Relaxed) == 0)
            }
        };
        match seg_end {
            Some(e) if !done => seg_start = e,
            _ => break,
        }
    }
    stats
}

struct SegmentCtx {
    start: Instant,
    /// Segment end or the stop deadline, whichever is first.
    end: Option<Instant>,
    shard: Shard,
    cancel: CancellationToken,
}

/// Starts a future that resolves at `end` (or never).
async fn until(end: Option<Instant>) {
    match end {
        Some(e) => tokio::time::sleep_until(e).await,
        None => std::future::pending().await,
    }
}

/// The open model's virtual users: a pool that grows up to `cap` and reuses finished users.
struct UserPool<U> {
    // Each pooled user carries its own child of `cancel`: iterations wait on their user's token, so no
    // waiter list or mutex is shared by all users on the hot path (a token's `cancelled()` registers there).
    running: JoinSet<(U, CancellationToken)>,
    idle: Vec<(U, CancellationToken)>,
    /// Users in existence (idle + running).
    users: u64,
    /// Ids are numbered per shard so leases stay distinct.
    next_id: u64,
    cap: u64,
}

impl<U: Send + 'static> UserPool<U> {
    fn new(cap: u64) -> Self {
        UserPool { running: JoinSet::new(), idle: Vec::new(), users: 0, next_id: 0, cap }
    }

    /// Moves users whose iteration finished back to the idle list.
    fn reap_finished(&mut self) {
        while let Some(done) = self.running.try_join_next() {
            reap(done, &mut self.idle, &mut self.users);
        }
    }

    /// An idle user, or a new one while under the cap.
    fn take<R: Runner<User = U>>(
        &mut self,
        runner: &Arc<R>,
        cancel: &CancellationToken,
    ) -> Option<(U, CancellationToken)> {
        if let Some(u) = self.idle.pop() {
            return Some(u);
        }
        if self.users >= self.cap {
            return None;
        }
        let user = runner.user(self.next_id).map(|u| (u, cancel.child_token()));
        if user.is_some() {
            self.next_id += 1;
            self.users += 1;
        }
        user
    }

    /// Every user is busy: waits for one to finish until `slot_end` (the end of this arrival's slot).
    async fn wait_for_user<R: Runner<User = U>>(
        &mut self,
        runner: &Arc<R>,
        cancel: &CancellationToken,
        slot_end: Instant,
    ) -> Option<(U, CancellationToken)> {
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return None,
                done = self.running.join_next(), if !self.running.is_empty() => {
                    if let Some(done) = done {
                        reap(done, &mut self.idle, &mut self.users);
                    }
                    if let Some(user) = self.take(runner, cancel) {
                        return Some(user);
                    }
                }
                _ = tokio::time::sleep_until(slot_end) => return None,
            }
        }
    }

    fn start<R: Runner<User = U>>(&mut self, runner: &Arc<R>, (u, token): (U, CancellationToken), intended: Instant) {
        // Boxed: an iteration's future holds its whole step pipeline (kilobytes), and spawning moves the task's
        // future several times; a task per arrival would copy all of it each time, a box pointer is all it moves.
        let iteration = Box::pin(Arc::clone(runner).run(u, intended, token.clone()));
        self.running.spawn(async move { (iteration.await, token) });
    }

    async fn finish(mut self) {
        while self.running.join_next().await.is_some() {}
    }
}

/// The open model for one segment. `next` is the global index of the segment's first arrival.
async fn open<R: Runner>(
    runner: &Arc<R>,
    ctx: &SegmentCtx,
    grid: &ArrivalGrid,
    max_users: u32,
    next: &mut u64,
    limit: Option<u64>,
) -> DriveStats {
    let mut pool = UserPool::new(ctx.shard.share_of(u64::from(max_users)).max(1));
    let mut stats = DriveStats::default();
    let mut pending_drops = 0u64;
    let mut last_flush = Instant::now();
    let first = *next;
    let mut i = first;
    loop {
        if limit.is_some_and(|n| i >= n) {
            break;
        }
        let Some(offset) = grid.offset(i - first) else { break };
        let intended = ctx.start + offset;
        if ctx.end.is_some_and(|e| intended >= e) {
            break;
        }
        let index = i;
        i += 1;
        if !ctx.shard.owns_index(index) {
            continue;
        }
        if intended > Instant::now() {
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => break,
                _ = tokio::time::sleep_until(intended) => {}
            }
        }
        pool.reap_finished();
        let mut user = pool.take(runner, &ctx.cancel);
        if user.is_none() && !pool.running.is_empty() {
            let rate = grid.rate_at(offset);
            let slot = if rate > 0.0 { Duration::from_secs_f64(1.0 / rate) } else { Duration::ZERO };
            user = pool.wait_for_user(runner, &ctx.cancel, intended + slot).await;
            if ctx.cancel.is_cancelled() {
                break;
            }
        }
        match user {
            Some(user) => {
                stats.started += 1;
                pool.start(runner, user, intended);
            }
            None => {
                stats.dropped += 1;
                pending_drops += 1;
            }
        }
        // Drops are reported in batches (at most one event a second), so a stuck site does not flood the
        // pipeline with one event per arrival.
        if pending_drops > 0 && last_flush.elapsed() >= Duration::from_secs(1) {
            runner.dropped(pending_drops).await;
            pending_drops = 0;
            last_flush = Instant::now();
        }
    }
    *next = i;
    if pending_drops > 0 {
        runner.dropped(pending_drops).await;
    }
    pool.finish().await;
    stats
}

fn reap<U>(done: Result<U, tokio::task::JoinError>, idle: &mut Vec<U>, users: &mut u64) {
    match done {
        Ok(u) => idle.push(u),
        Err(e) => {
            // A panicked iteration loses its user; a new one is made on demand.
            tracing::error!("an iteration task failed: {e}");
            *users -= 1;
        }
    }
}

/// The closed model for one segment: one task per owned user id, looping while the curve wants it.
/// Returns the number of iterations started.
async fn closed<R: Runner>(
    runner: &Arc<R>,
    ctx: &SegmentCtx,
    curve: &UserCurve,
    budget: Option<Arc<AtomicU64>>,
) -> u64 {
    // Stops new iterations at the segment's end, the deadline, an exhausted budget or cancellation.
    let stop = ctx.cancel.child_token();
    let (wanted_tx, wanted) = watch::channel(curve.users_at(Duration::ZERO).unwrap_or(0));
    let mut tasks: JoinSet<u64> = JoinSet::new();
    let mut spawned = 0u64;
    loop {
        let want = u64::from(*wanted_tx.borrow());
        while spawned < want {
            let id = spawned;
            spawned += 1;
            if !ctx.shard.owns_index(id) {
                continue;
            }
            let user = UserLoop {
                runner: Arc::clone(runner),
                id,
                wanted: wanted.clone(),
                stop_all: stop.clone(),
                stop: stop.child_token(),
                cancel: ctx.cancel.child_token(),
                budget: budget.clone(),
            };
            tasks.spawn(user.run());
        }
        let offset = Instant::now().saturating_duration_since(ctx.start);
        let next = curve.next_change(offset).map(|o| ctx.start + o);
        // This shard owns none of the users the curve wants, and the curve will not change: nothing can run,
        // so waiting for the deadline (or forever, with an iteration budget and no deadline) would only hang.
        if tasks.is_empty() && next.is_none() {
            break;
        }
        let wake = match (next, ctx.end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = until(wake) => {}
        }
        if ctx.end.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        let offset = Instant::now().saturating_duration_since(ctx.start);
        match curve.users_at(offset) {
            Some(n) => {
                wanted_tx.send_replace(n);
            }
            None => break,
        }
    }
    stop.cancel();
    let mut started = 0;
    while let Some(n) = tasks.join_next().await {
        started += n.unwrap_or(0);
    }
    started
}

struct UserLoop<R: Runner> {
    runner: Arc<R>,
    id: u64,
    /// How many users the curve wants now: users with an id at or above it park.
    wanted: watch::Receiver<u32>,
    /// The segment's stop, cancelled by the user that finds the iteration budget spent.
    stop_all: CancellationToken,
    /// This user's own child of `stop_all`, checked before every iteration: checking a token locks its
    /// mutex, and a token shared by every user would be a lock shared by every user on the hot path.
    stop: CancellationToken,
    /// This user's own child of the drive's token (see `open`: no waiter list shared by all users).
    cancel: CancellationToken,
    budget: Option<Arc<AtomicU64>>,
}

impl<R: Runner> UserLoop<R> {
    /// Loops until stopped; returns the number of iterations it started.
    async fn run(mut self) -> u64 {
        let mut started = 0;
        let mut user: Option<R::User> = None;
        let mut want = *self.wanted.borrow_and_update();
        loop {
            // `has_changed` reads the channel's version (an atomic); the value is read only on a change.
            if self.wanted.has_changed().unwrap_or(false) {
                want = *self.wanted.borrow_and_update();
            }
            if u64::from(want) <= self.id {
                // Parked: give the data rows back until the curve wants this user again.
                user = None;
                let id = self.id;
                tokio::select! {
                    biased;
                    _ = self.stop.cancelled() => return started,
                    r = self.wanted.wait_for(|&n| u64::from(n) > id) => match r {
                        Ok(n) => want = *n,
                        Err(_) => return started,
                    },
                }
            }
            if self.stop.is_cancelled() {
                return started;
            }
            if let Some(budget) = &self.budget {
                if budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_err() {
                    self.stop_all.cancel();
                    return started;
                }
            }
            let u = match user.take() {
                Some(u) => u,
                None => match self.runner.user(self.id) {
                    Some(u) => u,
                    None => return started,
                },
            };
            started += 1;
            // Closed loop: this iteration is due now, when the previous one ended.
            let intended = Instant::now();
            user = Some(Arc::clone(&self.runner).run(u, intended, self.cancel.clone()).await);
        }
    }
}
