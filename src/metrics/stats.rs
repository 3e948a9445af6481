//! HDR histograms and counters per journey and per step, owned by the metrics sink and read (rarely) by the
//! terminal summary, the status page and reports.
//!
//! One histogram per (journey, step, measure), never one per virtual user (see `Latency` for the size of
//! one), so memory grows with the journeys, not with the users.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::model::Journey;
use crate::outcome::{Failure, RunOutcome, RunStatus};

/// Highest latency recorded (µs): one hour. Longer values are clamped (and still counted).
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency histogram in microseconds: HDR at 2 significant figures (values within 1%), `u32` counts, sized
/// to the largest value seen. About 7 KB for latencies under a second, so a monitor of 1,000 four-step
/// journeys keeps its ~10,000 histograms in ~70 MB; at 3 figures over 1 µs–1 h each would take 188 KB
/// (1.9 GB). The sliding windows (`window.rs`) keep 3 figures: they are few and short-lived.
#[derive(Debug, Clone)]
pub struct Latency(pub Histogram<u32>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new(2).expect("static precision"))
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
        // `record` grows the histogram to the value (bounded by the clamp); `saturating_record` would not.
        if self.0.record(us).is_err() {
            self.0.saturating_record(us);
        }
    }

    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.0.value_at_quantile(q))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.0.max())
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }
}

/// Per-step numbers.
#[derive(Debug, Clone, Default)]
pub struct StepStats {
    pub name: String,
    pub runs: u64,
    pub failures: u64,
    pub response: Latency,
    pub service: Latency,
    pub last_status: Option<u16>,
}

/// Per-journey numbers.
#[derive(Debug, Clone, Default)]
pub struct JourneyStats {
    pub runs: u64,
    pub failures: u64,
    pub cancelled: u64,
    pub missed: u64,
    pub dropped: u64,
    pub duration: Latency,
    pub service: Latency,
    pub steps: Vec<StepStats>,
    pub last_passed: Option<bool>,
    pub last_failure: Option<Failure>,
    /// Failures by reason, for summaries.
    pub reasons: BTreeMap<&'static str, u64>,
}

/// A compact view for terminals.
#[derive(Debug, Clone)]
pub struct JourneySummary {
    pub name: String,
    pub runs: u64,
    pub failures: u64,
    pub last_passed: Option<bool>,
    pub p50: Duration,
    pub p99: Duration,
    pub last_failure: Option<Failure>,
}

/// All journeys' stats, shared between the sink (writer) and readers.
#[derive(Debug, Clone, Default)]
pub struct StatsTable {
    inner: Arc<Mutex<BTreeMap<String, JourneyStats>>>,
}

impl StatsTable {
    pub fn new() -> StatsTable {
        StatsTable::default()
    }

    /// Keeps stats of journeys still present (unchanged or not), adds new ones, drops removed ones.
    pub fn set_journeys(&self, journeys: &[Arc<Journey>]) {
        let mut map = self.lock();
        map.retain(|name, _| journeys.iter().any(|j| &j.name == name));
        for j in journeys {
            let entry = map.entry(j.name.clone()).or_default();
            let names: Vec<&str> = j.steps.iter().map(|s| s.name.as_str()).collect();
            if entry.steps.iter().map(|s| s.name.as_str()).ne(names.iter().copied()) {
                entry.steps = names.iter().map(|n| StepStats { name: n.to_string(), ..StepStats::default() }).collect();
            }
        }
    }

    pub fn record(&self, outcome: &RunOutcome) {
        let mut map = self.lock();
        let Some(js) = map.get_mut(outcome.journey.as_ref()) else { return };
        match &outcome.status {
            RunStatus::Cancelled => {
                js.cancelled += 1;
                return;
            }
            RunStatus::Passed => js.last_passed = Some(true),
            RunStatus::Failed(f) => {
                js.failures += 1;
                js.last_passed = Some(false);
                *js.reasons.entry(f.reason.as_str()).or_default() += 1;
                js.last_failure = Some((**f).clone());
            }
        }
        js.runs += 1;
        js.duration.record(outcome.duration);
        js.service.record(outcome.service_time);
        for so in &outcome.steps {
            if let Some(ss) = js.steps.get_mut(so.index) {
                ss.runs += 1;
                if !so.passed {
                    ss.failures += 1;
                }
                ss.response.record(so.response_time);
                ss.service.record(so.service_time);
                ss.last_status = so.status;
            }
        }
    }

    pub fn missed(&self, journey: &str) {
        if let Some(js) = self.lock().get_mut(journey) {
            js.missed += 1;
        }
    }

    pub fn dropped(&self, journey: &str, count: u64) {
        if let Some(js) = self.lock().get_mut(journey) {
            js.dropped += count;
        }
    }

    /// A copy of one journey's stats.
    pub fn get(&self, journey: &str) -> Option<JourneyStats> {
        self.lock().get(journey).cloned()
    }

    /// A copy of everything (reports).
    pub fn snapshot(&self) -> BTreeMap<String, JourneyStats> {
        self.lock().clone()
    }

    pub fn summaries(&self) -> Vec<JourneySummary> {
        self.lock()
            .iter()
            .map(|(name, js)| JourneySummary {
                name: name.clone(),
                runs: js.runs,
                failures: js.failures,
                last_passed: js.last_passed,
                p50: js.duration.quantile(0.5),
                p99: js.duration.quantile(0.99),
                last_failure: js.last_failure.clone(),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, JourneyStats>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_histogram_stays_small_and_within_one_percent() {
        let mut l = Latency::default();
        for ms in 1..=1000u64 {
            l.record(Duration::from_millis(ms));
        }
        let bytes = l.0.distinct_values() * std::mem::size_of::<u32>();
        assert!(bytes <= 8 * 1024, "{bytes} bytes for latencies up to 1 s");
        let p99 = l.quantile(0.99).as_secs_f64();
        assert!((p99 - 0.990).abs() <= 0.0099, "p99 {p99} within 1% of 990 ms");
        l.record(Duration::from_secs(7200));
        assert_eq!(l.max(), Duration::from_micros(l.0.highest_equivalent(MAX_MICROS)), "clamped at one hour");
        assert_eq!(l.count(), 1001);
    }
}
