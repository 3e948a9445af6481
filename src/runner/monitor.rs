//! The monitor: one scheduler task per journey, running it every `every` with `users` virtual users.
//!
//! Schedules are open-loop at low rate: each run has an intended start on a fixed grid, latency counts from
//! it, a run still in flight at the next tick is never stacked on (the tick is counted as missed), and after a
//! stall or clock jump the grid moves forward instead of firing a burst of catch-up runs. Journeys with the
//! same interval are spread over it by a hash of their name, so they do not all fire at the same instant.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::http::{Clients, UserConnections};
use crate::model::{ConnectionPolicy, Suite};
use crate::outcome::{RunOutcome, RunStatus};
use crate::pipeline::Event;
use crate::runner::iteration::{run_iteration, VirtualUser};
use crate::runner::plan::{per_target, Plan};

/// The first run of a journey happens within this long of the start (or its interval, if shorter), so a
/// freshly started monitor reports quickly; later runs keep the journey's own phase.
const MAX_FIRST_DELAY: Duration = Duration::from_secs(10);

struct Scheduled {
    fingerprint: u64,
    /// Stops scheduling new runs (shutdown, reload): in-flight runs may finish.
    stop: CancellationToken,
    /// Cancels in-flight runs (end of the grace period, or a changed journey whose old steps no longer
    /// match the new definition).
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Runs a suite on schedule; `apply` swaps in a new suite, keeping unchanged journeys' schedules.
pub struct Monitor {
    clients: Clients,
    events: mpsc::Sender<Event>,
    tasks: HashMap<String, Scheduled>,
    /// Parent of every journey's cancel token: shutdown cancels all in-flight runs with one call.
    cancel_all: CancellationToken,
}

impl Monitor {
    pub fn new(clients: Clients, events: mpsc::Sender<Event>) -> Monitor {
        Monitor { clients, events, tasks: HashMap::new(), cancel_all: CancellationToken::new() }
    }

    /// Number of journeys scheduled.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Starts, keeps, replaces and stops schedulers so that exactly the journeys in `suite` run, one
    /// scheduler each. Unchanged journeys (same fingerprint) keep their task, phase and in-flight run.
    pub async fn apply(&mut self, suite: Suite) {
        // Prepare everything first (preparing cannot fail: the suite was validated at load).
        let mut plans = Vec::new();
        for j in &suite.journeys {
            let unchanged = self.tasks.get(&j.name).is_some_and(|t| t.fingerprint == j.fingerprint);
            if !unchanged {
                plans.push(per_target(j, &self.clients).into_iter().map(Arc::new).collect::<Vec<_>>());
            }
        }
        // Sinks learn about the new suite before any outcome of a new journey can arrive.
        let _ = self.events.send(Event::Suite(suite.clone())).await;
        let keep: Vec<&str> = suite.journeys.iter().map(|j| j.name.as_str()).collect();
        let removed: Vec<String> = self.tasks.keys().filter(|n| !keep.contains(&n.as_str())).cloned().collect();
        for name in removed {
            if let Some(t) = self.tasks.remove(&name) {
                t.stop.cancel();
                t.cancel.cancel();
            }
        }
        for targets in plans {
            let plan = Arc::clone(&targets[0]);
            if let Some(old) = self.tasks.remove(&plan.journey.name) {
                old.stop.cancel();
                old.cancel.cancel();
            }
            let stop = CancellationToken::new();
            let cancel = self.cancel_all.child_token();
            let task = tokio::spawn(schedule(targets, self.events.clone(), stop.clone(), cancel.clone()));
            self.tasks.insert(
                plan.journey.name.clone(),
                Scheduled { fingerprint: plan.journey.fingerprint, stop, cancel, task },
            );
        }
    }

    /// Stops starting runs, lets in-flight runs finish for up to `grace`, then cancels the rest (they are
    /// recorded as cancelled, never as failures) and waits for every task to end.
    pub async fn shutdown(mut self, grace: Duration) {
        for t in self.tasks.values() {
            t.stop.cancel();
        }
        let mut handles: Vec<JoinHandle<()>> = self.tasks.drain().map(|(_, t)| t.task).collect();
        let all = futures_util::future::join_all(handles.iter_mut());
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::info!(grace_ms = grace.as_millis() as u64, "grace period over: cancelling in-flight runs");
            self.cancel_all.cancel();
            // A handle that finished during the grace period was already consumed by `join_all`: polling
            // it again panics ("JoinHandle polled after completion"), so only unfinished ones are awaited.
            for h in handles.into_iter().filter(|h| !h.is_finished()) {
                let _ = h.await;
            }
        }
    }
}

/// Where in its interval a journey runs: stable across restarts and replicas (so HA pairs probe at the
/// same moments and shards stay spread), different between journeys.
pub fn phase_offset(name: &str, every: Duration) -> Duration {
    let window = every.min(MAX_FIRST_DELAY);
    if window.is_zero() {
        return Duration::ZERO;
    }
    // FNV-1a: the same phase from every build and on every replica (std's hasher may change between
    // Rust releases).
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let nanos = (hash % window.as_nanos() as u64).max(1);
    Duration::from_nanos(nanos)
}

/// A run that starts more than this after its tick is reported late (`journey_schedule_late_total`): timer
/// jitter stays below it, a stalled machine or runtime does not.
pub const LATE_AFTER: Duration = Duration::from_millis(100);

/// What the scheduler does at a tick that was due at `intended` and is handled at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The next tick on the grid, always after `now`: after a stall longer than an interval the grid moves
    /// forward instead of firing a burst of catch-up runs.
    pub next: Instant,
    /// How late this run starts, when later than [`LATE_AFTER`].
    pub late: Option<Duration>,
}

pub fn tick(intended: Instant, now: Instant, every: Duration) -> Tick {
    let mut next = intended + every;
    if next <= now {
        let behind = now - next;
        let skip = behind.as_nanos() / every.as_nanos().max(1) + 1;
        next += every * u32::try_from(skip).unwrap_or(u32::MAX);
    }
    let late = now.saturating_duration_since(intended);
    Tick { next, late: (late > LATE_AFTER).then_some(late) }
}

/// One journey's schedule. `targets` holds one plan per target (one for most journeys): each tick runs every
/// target at the same intended start, so a canary and its baseline are compared on runs made side by side.
async fn schedule(
    targets: Vec<Arc<Plan>>,
    events: mpsc::Sender<Event>,
    stop: CancellationToken,
    cancel: CancellationToken,
) {
    let plan = Arc::clone(&targets[0]);
    let every = plan.journey.every;
    let mut next = Instant::now() + phase_offset(&plan.journey.name, every);
    let mut in_flight: Option<JoinHandle<()>> = None;
    let mut user_ids = 0u64;
    let mut ticks = 0usize;
    // `connections: reuse`: each user slot's connections, handed from one run to the next (runs never
    // overlap, so a slot is never used twice at once). Fresh (the default): nothing is kept.
    // One set per target: a canary never reuses the baseline's connections.
    let reuse = ConnectionPolicy::for_monitor(plan.journey.defaults.connections) == ConnectionPolicy::Reuse;
    let kept: Vec<Option<Kept>> = targets
        .iter()
        .map(|_| reuse.then(|| Arc::new(std::sync::Mutex::new((0..plan.journey.users).map(|_| None).collect()))))
        .collect();
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
        }
        let intended = next;
        let t = tick(intended, Instant::now(), every);
        next = t.next;
        if in_flight.as_ref().is_some_and(|h| !h.is_finished()) {
            let _ = events.send(Event::Missed { journey: Arc::clone(&plan.name) }).await;
            continue;
        }
        if let Some(by) = t.late {
            let _ = events.send(Event::Late { journey: Arc::clone(&plan.name), by }).await;
        }
        // Each tick starts with the next target: on a busy machine the user started first gets the CPU first,
        // and a fixed order would make one target look slower than an equal other.
        let first = ticks % targets.len();
        ticks += 1;
        let order: Vec<(Arc<Plan>, Option<Kept>)> = (0..targets.len())
            .map(|k| (k + first) % targets.len())
            .map(|i| (Arc::clone(&targets[i]), kept[i].clone()))
            .collect();
        let first_id = user_ids;
        user_ids += u64::from(plan.journey.users) * targets.len() as u64;
        let run = run_once(order, events.clone(), intended.into_std(), first_id, cancel.clone());
        in_flight = Some(tokio::spawn(run));
    }
    if let Some(h) = in_flight {
        let _ = h.await;
    }
}

/// Each user slot's connections between runs, for `connections: reuse`.
type Kept = Arc<std::sync::Mutex<Vec<Option<UserConnections>>>>;

/// One scheduled run: `users` virtual users per target walk the journey concurrently, on new connections
/// unless the journey keeps them (`kept`). With several targets their users are interleaved (user 0 of
/// each, then user 1 of each…), so every target meets the same moment and the same contention.
async fn run_once(
    targets: Vec<(Arc<Plan>, Option<Kept>)>,
    events: mpsc::Sender<Event>,
    intended: std::time::Instant,
    first_id: u64,
    cancel: CancellationToken,
) {
    let n = targets.len() as u64;
    let users = u64::from(targets[0].0.journey.users);
    let each = (0..users).flat_map(|i| targets.iter().enumerate().map(move |(t, target)| (i, t as u64, target)));
    let users = each.map(|(i, t, (plan, kept))| {
        let first_id = first_id + t;
        let i_id = i * n;
        let plan = Arc::clone(plan);
        let events = events.clone();
        let cancel = cancel.clone();
        let kept = kept.clone();
        async move {
            let mut vu = match VirtualUser::new(&plan, first_id + i_id) {
                Ok(vu) => vu,
                Err(e) => {
                    tracing::error!(journey = %plan.journey.name, "cannot start a virtual user: {e}");
                    return;
                }
            };
            let slot = usize::try_from(i).unwrap_or(usize::MAX);
            let lock = |k: &Kept| k.lock().unwrap_or_else(|e| e.into_inner()).get_mut(slot).and_then(Option::take);
            if let Some(connections) = kept.as_ref().and_then(lock) {
                vu.connections = connections;
            }
            let outcome = confirmed(&plan, &mut vu, intended, &cancel, &events).await;
            if let Some(k) = &kept {
                if let Some(s) = k.lock().unwrap_or_else(|e| e.into_inner()).get_mut(slot) {
                    *s = Some(std::mem::take(&mut vu.connections));
                }
            }
            let _ = events.send(Event::Outcome(outcome)).await;
        }
    });
    futures_util::future::join_all(users).await;
}

/// One run of a virtual user: the iteration, and while it fails, up to `alerts.confirm` immediate retries on
/// new connections. Only the last attempt is the run's outcome (its latency counts from its own start, so a
/// blip does not stretch the histograms); each retried failure goes to the sinks as `Retried`, and a failure
/// that survived its retries says so in its message.
async fn confirmed(
    plan: &Plan,
    vu: &mut VirtualUser,
    intended: std::time::Instant,
    cancel: &CancellationToken,
    events: &mpsc::Sender<Event>,
) -> RunOutcome {
    let mut outcome = run_iteration(plan, vu, intended, cancel).await;
    let mut attempt = 0;
    while attempt < plan.journey.alerts.confirm && !cancel.is_cancelled() {
        let RunStatus::Failed(failure) = outcome.status else { break };
        attempt += 1;
        let _ = events.send(Event::Retried { journey: Arc::clone(&plan.name), attempt, failure }).await;
        // A retry starts cold, whatever the policy: the failure may be the connection itself.
        vu.close_connections();
        outcome = run_iteration(plan, vu, std::time::Instant::now(), cancel).await;
    }
    if let (RunStatus::Failed(f), true) = (&mut outcome.status, attempt > 0) {
        f.message.push_str(&format!(" (confirmed: {} attempts in a row failed)", attempt + 1));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_offsets_are_stable_spread_and_bounded() {
        let every = Duration::from_secs(30);
        let a = phase_offset("checkout", every);
        assert_eq!(a, phase_offset("checkout", every));
        assert!(a <= MAX_FIRST_DELAY);
        let offsets: std::collections::HashSet<Duration> =
            (0..100).map(|i| phase_offset(&format!("j{i}"), every)).collect();
        assert!(offsets.len() > 90, "100 journeys should get (almost) 100 distinct phases");
        assert!(phase_offset("x", Duration::from_secs(2)) <= Duration::from_secs(2));
    }
}
