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

use crate::model::{LoadModel, StageTarget};
use crate::pipeline::Event;
use crate::runner::iteration::{run_iteration, VirtualUser};
use crate::runner::plan::Plan;
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
    let runner = Arc::new(JourneyRunner { plan, events, warned: AtomicBool::new(false) });
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
    events: mpsc::Sender<Event>,
    /// "No free data row" is logged once per drive, not once per arrival.
    warned: AtomicBool,
}

impl Runner for JourneyRunner {
    type User = VirtualUser;

    fn user(&self, id: u64) -> Option<VirtualUser> {
        match VirtualUser::new(&self.plan, id) {
            Ok(vu) => Some(vu),
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(journey = %self.plan.journey.name, "cannot start another virtual user: {e}");
                }
                None
            }
        }
    }

    async fn run(self: Arc<Self>, mut vu: VirtualUser, intended: Instant, cancel: CancellationToken) -> VirtualUser {
        let outcome = run_iteration(&self.plan, &mut vu, intended.into_std(), &cancel).await;
        let _ = self.events.send(Event::Outcome(outcome)).await;
        vu
    }

    async fn dropped(&self, count: u64) {
        let _ = self.events.send(Event::Dropped { journey: Arc::clone(&self.plan.name), count }).await;
    }
}

/// One linear piece of a load profile: from `from` to `to` (per second, or users) over `duration`
/// (`None`: forever at `from`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ramp {
    pub from: f64,
    pub to: f64,
    pub duration: Option<Duration>,
}

/// A run of same-kind stages: arrivals (open) or a user count (closed).
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Arrivals { ramps: Vec<Ramp>, max_users: u32 },
    Users { ramps: Vec<Ramp> },
}

impl Segment {
    /// How long the segment lasts (`None`: until the stop condition).
    pub fn duration(&self) -> Option<Duration> {
        let ramps = match self {
            Segment::Arrivals { ramps, .. } | Segment::Users { ramps } => ramps,
        };
        ramps.iter().map(|r| r.duration).sum()
    }
}

/// Most in-flight iterations a rate stage may need; more is a misconfiguration, not a load test.
const STAGES_MAX_USERS_CAP: u32 = 10_000;

/// Splits a load model into segments, each run by one scheduler. `timeout` is the journey's (it sizes the
/// user pool of rate stages).
pub fn segments(model: &LoadModel, timeout: Duration) -> Vec<Segment> {
    match model {
        LoadModel::Closed { users } => {
            vec![Segment::Users {
                ramps: vec![Ramp { from: f64::from(*users), to: f64::from(*users), duration: None }],
            }]
        }
        LoadModel::Open { rate_per_sec, max_users } => vec![Segment::Arrivals {
            ramps: vec![Ramp { from: *rate_per_sec, to: *rate_per_sec, duration: None }],
            max_users: *max_users,
        }],
        LoadModel::Stages(stages) => {
            let mut out: Vec<Segment> = Vec::new();
            let mut prev: Option<StageTarget> = None;
            for stage in stages {
                let (is_rate, to) = match stage.target {
                    StageTarget::Rate(r) => (true, r),
                    StageTarget::Users(u) => (false, f64::from(u)),
                };
                let from = match prev {
                    Some(StageTarget::Rate(r)) if is_rate => r,
                    Some(StageTarget::Users(u)) if !is_rate => f64::from(u),
                    _ => 0.0,
                };
                let ramp = Ramp { from, to, duration: Some(stage.duration) };
                match (out.last_mut(), is_rate) {
                    (Some(Segment::Arrivals { ramps, .. }), true) | (Some(Segment::Users { ramps }), false) => {
                        ramps.push(ramp)
                    }
                    (_, true) => out.push(Segment::Arrivals { ramps: vec![ramp], max_users: 0 }),
                    (_, false) => out.push(Segment::Users { ramps: vec![ramp] }),
                }
                prev = Some(stage.target);
            }
            for seg in &mut out {
                if let Segment::Arrivals { ramps, max_users } = seg {
                    let peak = ramps.iter().map(|r| r.from.max(r.to)).fold(0.0, f64::max);
                    *max_users = ((peak * timeout.as_secs_f64()).ceil() as u32).clamp(1, STAGES_MAX_USERS_CAP);
                }
            }
            out
        }
    }
}

/// The intended times of arrivals under a (piecewise linear) rate profile.
#[derive(Debug, Clone)]
pub struct ArrivalGrid {
    ramps: Vec<Ramp>,
    /// Arrivals before each ramp, and the offset at which it starts.
    starts: Vec<(f64, Duration)>,
}

impl ArrivalGrid {
    pub fn new(ramps: &[Ramp]) -> ArrivalGrid {
        let mut starts = Vec::with_capacity(ramps.len());
        let (mut count, mut at) = (0.0, Duration::ZERO);
        for r in ramps {
            starts.push((count, at));
            if let Some(d) = r.duration {
                count += (r.from + r.to) / 2.0 * d.as_secs_f64();
                at += d;
            }
        }
        ArrivalGrid { ramps: ramps.to_vec(), starts }
    }

    /// Offset from the start of arrival `i` (0-based): the moment the integral of the rate reaches `i`, so a
    /// constant rate R gives `i / R`. `None` past the end of the profile.
    pub fn offset(&self, i: u64) -> Option<Duration> {
        let k = i as f64;
        for (r, &(before, at)) in self.ramps.iter().zip(&self.starts) {
            let k = k - before;
            let t = match r.duration {
                None if r.from > 0.0 => k / r.from,
                None => return None,
                Some(d) => {
                    let secs = d.as_secs_f64();
                    if k >= (r.from + r.to) / 2.0 * secs {
                        continue;
                    }
                    // Solve from·t + (to − from)·t²/(2·secs) = k in the numerically stable form.
                    let a = (r.to - r.from) / (2.0 * secs);
                    let disc = (r.from * r.from + 4.0 * a * k).max(0.0);
                    let denom = r.from + disc.sqrt();
                    if k <= 0.0 {
                        0.0
                    } else if denom <= 0.0 {
                        continue;
                    } else {
                        (2.0 * k / denom).min(secs)
                    }
                }
            };
            return Some(at + Duration::from_secs_f64(t.max(0.0)));
        }
        None
    }

    /// The rate (per second) at `offset`, for the length of an arrival's slot.
    pub fn rate_at(&self, offset: Duration) -> f64 {
        for (r, &(_, at)) in self.ramps.iter().zip(&self.starts) {
            match r.duration {
                None => return r.from,
                Some(d) if offset < at + d => {
                    return r.from + (r.to - r.from) * (offset - at).as_secs_f64() / d.as_secs_f64();
                }
                Some(_) => {}
            }
        }
        self.ramps.last().map_or(0.0, |r| r.to)
    }
}

/// The target user count of a (piecewise linear) users profile.
#[derive(Debug, Clone)]
pub struct UserCurve {
    ramps: Vec<Ramp>,
}

/// Float slack so that a change computed for time t is seen at time t.
const EPS: f64 = 1e-9;

impl UserCurve {
    pub fn new(ramps: &[Ramp]) -> UserCurve {
        UserCurve { ramps: ramps.to_vec() }
    }

    /// Users wanted at `offset`: the line rounded toward the stage's start (down when ramping up, up when
    /// ramping down), so a user joins when the line reaches it and leaves when the line falls below it.
    /// `None` past the end.
    pub fn users_at(&self, offset: Duration) -> Option<u32> {
        let mut at = Duration::ZERO;
        for r in &self.ramps {
            let Some(d) = r.duration else { return Some(r.from.round() as u32) };
            if offset < at + d {
                let u = r.from + (r.to - r.from) * (offset - at).as_secs_f64() / d.as_secs_f64();
                let n = if r.to >= r.from { (u + EPS).floor() } else { (u - EPS).ceil() };
                return Some(n.max(0.0) as u32);
            }
            at += d;
        }
        None
    }

    /// The next offset after `offset` at which `users_at` may change (a user joins or leaves, or a stage
    /// ends). `None`: never.
    pub fn next_change(&self, offset: Duration) -> Option<Duration> {
        let mut at = Duration::ZERO;
        for r in &self.ramps {
            let d = r.duration?;
            if offset < at + d {
                let delta = r.to - r.from;
                if delta.abs() < EPS {
                    return Some(at + d);
                }
                let secs = d.as_secs_f64();
                let u = r.from + delta * (offset - at).as_secs_f64() / secs;
                let next = if delta > 0.0 { (u + EPS).floor() + 1.0 } else { (u - EPS).ceil() - 1.0 };
                let t = at + Duration::from_secs_f64(((next - r.from) / delta * secs).clamp(0.0, secs));
                return Some(t.max(offset + Duration::from_micros(1)).min(at + d));
            }
            at += d;
        }
        None
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

/// The open model for one segment. `next` is the global index of the segment's first arrival.
async fn open<R: Runner>(
    runner: &Arc<R>,
    ctx: &SegmentCtx,
    grid: &ArrivalGrid,
    max_users: u32,
    next: &mut u64,
    limit: Option<u64>,
) -> DriveStats {
    let cap = ctx.shard.share_of(u64::from(max_users)).max(1);
    let mut stats = DriveStats::default();
    // Each pooled user carries its own child of `cancel`: iterations wait on their user's token, so no
    // waiter list or mutex is shared by all users on the hot path (a token's `cancelled()` registers there).
    let mut running: JoinSet<(R::User, CancellationToken)> = JoinSet::new();
    let mut idle: Vec<(R::User, CancellationToken)> = Vec::new();
    // Users in existence (idle + running); ids are numbered per shard so leases stay distinct.
    let mut users = 0u64;
    let mut user_ids = 0u64;
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
        while let Some(done) = running.try_join_next() {
            reap(done, &mut idle, &mut users);
        }
        let mut user = idle.pop();
        if user.is_none() && users < cap {
            user = runner.user(user_ids).map(|u| (u, ctx.cancel.child_token()));
            if user.is_some() {
                user_ids += 1;
                users += 1;
            }
        }
        if user.is_none() && !running.is_empty() {
            // Every user is busy: wait for one until the end of this arrival's slot.
            let rate = grid.rate_at(offset);
            let slot = if rate > 0.0 { Duration::from_secs_f64(1.0 / rate) } else { Duration::ZERO };
            let slot_end = intended + slot;
            loop {
                tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => break,
                    done = running.join_next(), if !running.is_empty() => {
                        if let Some(done) = done {
                            reap(done, &mut idle, &mut users);
                        }
                        user = idle.pop();
                        if user.is_none() && users < cap {
                            user = runner.user(user_ids).map(|u| (u, ctx.cancel.child_token()));
                            if user.is_some() {
                                user_ids += 1;
                                users += 1;
                            }
                        }
                        if user.is_some() {
                            break;
                        }
                    }
                    _ = tokio::time::sleep_until(slot_end) => break,
                }
            }
            if ctx.cancel.is_cancelled() {
                break;
            }
        }
        match user {
            Some((u, token)) => {
                stats.started += 1;
                let iteration = Arc::clone(runner).run(u, intended, token.clone());
                running.spawn(async move { (iteration.await, token) });
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
    while running.join_next().await.is_some() {}
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
