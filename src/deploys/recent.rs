//! The runs of the last `deploys.before` per journey: what a new marker's "before" side is built from
//! (and a canary's sliding window per target).
//! Kept as plain samples (not histograms) because the window slides and a marker can come at any moment.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::outcome::{RunOutcome, RunStatus};

/// Most runs kept per journey, whatever the window: a journey every second for 24 hours would be 86,400;
/// this keeps memory bounded (about 40 bytes per step per run) and still gives the tests thousands of
/// samples.
pub const MAX_RUNS: usize = 10_000;

/// One completed run, reduced to what the comparison reads.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: SystemTime,
    /// The tick the run belongs to: its intended start, which every user of one scheduled run shares with
    /// every target of it (a retry after a failure starts a tick of its own).
    pub tick: Instant,
    pub passed: bool,
    pub duration: Duration,
    /// Per step that ran: its name (shared with the suite's journey), response time and whether it passed.
    pub steps: Vec<(Arc<str>, Duration, bool)>,
}

impl Sample {
    /// `None` for a cancelled run: neither a pass nor a failure, never compared.
    pub fn of(step_names: &[Arc<str>], o: &RunOutcome) -> Option<Sample> {
        if matches!(o.status, RunStatus::Cancelled) {
            return None;
        }
        let steps = o
            .steps
            .iter()
            .filter_map(|s| step_names.get(s.index).map(|n| (Arc::clone(n), s.response_time, s.passed)))
            .collect();
        Some(Sample { at: o.wall_start, tick: o.intended_start, passed: o.passed(), duration: o.duration, steps })
    }
}

/// One journey's (or target's) recent runs, oldest first.
#[derive(Debug, Default)]
pub struct Runs(VecDeque<Sample>);

impl Runs {
    /// Adds a run and lets go of those older than `keep` before it (and beyond [`MAX_RUNS`]).
    pub fn record(&mut self, sample: Sample, keep: Duration) {
        let horizon = sample.at.checked_sub(keep);
        self.0.push_back(sample);
        while self.0.len() > MAX_RUNS || self.0.front().is_some_and(|s| horizon.is_some_and(|h| s.at < h)) {
            self.0.pop_front();
        }
    }

    /// Runs that started in `[from, to)`.
    pub fn between(&self, from: SystemTime, to: SystemTime) -> impl Iterator<Item = &Sample> {
        self.0.iter().filter(move |s| s.at >= from && s.at < to)
    }
}

/// Per name (a canary's targets), its recent runs.
#[derive(Debug, Default)]
pub struct Recent {
    runs: BTreeMap<String, Runs>,
}

impl Recent {
    pub fn record(&mut self, name: &str, sample: Sample, keep: Duration) {
        // Looked up before inserting: `entry` would allocate the name on every run.
        let runs = match self.runs.get_mut(name) {
            Some(runs) => runs,
            None => self.runs.entry(name.to_string()).or_default(),
        };
        runs.record(sample, keep);
    }

    /// Runs of `name` that started in `[from, to)`.
    pub fn between(&self, name: &str, from: SystemTime, to: SystemTime) -> impl Iterator<Item = &Sample> {
        self.runs.get(name).into_iter().flat_map(move |r| r.between(from, to))
    }
}
