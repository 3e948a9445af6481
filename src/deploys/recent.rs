//! The runs of the last `deploys.before` per journey: what a new marker's "before" side is built from.
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

/// Per journey, its recent runs, oldest first.
#[derive(Debug, Default)]
pub struct Recent {
    runs: BTreeMap<String, VecDeque<Sample>>,
}

impl Recent {
    pub fn record(&mut self, journey: &str, sample: Sample, keep: Duration) {
        // Looked up before inserting: `entry` would allocate the name on every run.
        let runs = match self.runs.get_mut(journey) {
            Some(runs) => runs,
            None => self.runs.entry(journey.to_string()).or_default(),
        };
        let horizon = sample.at.checked_sub(keep);
        runs.push_back(sample);
        while runs.len() > MAX_RUNS || runs.front().is_some_and(|s| horizon.is_some_and(|h| s.at < h)) {
            runs.pop_front();
        }
    }

    /// Runs of `journey` that started in `[from, to)`.
    pub fn between(&self, journey: &str, from: SystemTime, to: SystemTime) -> impl Iterator<Item = &Sample> {
        self.runs.get(journey).into_iter().flatten().filter(move |s| s.at >= from && s.at < to)
    }

    /// Forgets journeys no longer loaded.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.runs.retain(|name, _| keep(name));
    }
}
