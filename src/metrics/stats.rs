//! HDR histograms and counters per journey and per step, owned by the metrics sink and read (rarely) by the
//! terminal summary, the status page and reports.
//!
//! One histogram per (journey, step, measure), never one per virtual user (see `Latency` for the size of
//! one), so memory grows with the journeys, not with the users.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::metrics::lock;
use crate::model::Journey;
use crate::outcome::{Failure, RunOutcome, RunStatus};

/// Highest latency recorded (µs): one hour. Longer values are clamped (and still counted).
const MAX_MICROS: u64 = 3_600_000_000;

/// Samples a [`Latency`] keeps raw (4 bytes each) before it becomes an HDR histogram.
const SPARSE_MAX: usize = 128;

/// A latency histogram in microseconds: HDR at 2 significant figures (values within 1%), `u32` counts, sized
/// to the largest value seen. About 7 KB for latencies under a second, so a monitor of 1,000 four-step
/// journeys keeps its ~10,000 histograms in ~70 MB; at 3 figures over 1 µs–1 h each would take 188 KB
/// (1.9 GB). The sliding windows (`window.rs`) keep 3 figures: they are few and short-lived.
///
/// Until it holds [`SPARSE_MAX`] samples it keeps them raw and answers exactly what the HDR histogram would
/// (same rank, same bucket bound): a monitor's per-minute histograms hold a handful of samples and must not
/// pay for a whole HDR each.
#[derive(Debug, Clone)]
pub struct Latency(Repr);

#[derive(Debug, Clone)]
enum Repr {
    /// Microseconds (clamped to [`MAX_MICROS`], which fits in a `u32`), unsorted.
    Sparse(Vec<u32>),
    Dense(Box<Histogram<u32>>),
}

impl Default for Latency {
    fn default() -> Self {
        Latency(Repr::Sparse(Vec::new()))
    }
}

fn new_hdr() -> Histogram<u32> {
    Histogram::new(2).expect("static precision")
}

/// An empty histogram of the same precision, for its bucket arithmetic (`highest_equivalent`).
fn shape() -> &'static Histogram<u32> {
    static SHAPE: std::sync::OnceLock<Histogram<u32>> = std::sync::OnceLock::new();
    SHAPE.get_or_init(new_hdr)
}

fn record_hdr(h: &mut Histogram<u32>, us: u64) {
    // `record` grows the histogram to the value (bounded by the clamp); `saturating_record` would not.
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
        match &mut self.0 {
            Repr::Sparse(v) if v.len() < SPARSE_MAX => v.push(us as u32),
            Repr::Sparse(v) => {
                let mut h = new_hdr();
                for &x in v.iter() {
                    record_hdr(&mut h, u64::from(x));
                }
                record_hdr(&mut h, us);
                self.0 = Repr::Dense(Box::new(h));
            }
            Repr::Dense(h) => record_hdr(h, us),
        }
    }

    /// HDR's `value_at_quantile`: the bucket bound of the sample at rank ⌈q·n⌉ (at least 1); 0 when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        let us = match &self.0 {
            Repr::Dense(h) => h.value_at_quantile(q),
            Repr::Sparse(v) if v.is_empty() => 0,
            Repr::Sparse(v) => {
                let q = q.min(1.0);
                let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
                let mut sorted = v.clone();
                let (_, &mut value, _) = sorted.select_nth_unstable(rank - 1);
                let value = u64::from(value);
                if q == 0.0 {
                    shape().lowest_equivalent(value)
                } else {
                    shape().highest_equivalent(value)
                }
            }
        };
        Duration::from_micros(us)
    }

    pub fn max(&self) -> Duration {
        let us = match &self.0 {
            Repr::Dense(h) => h.max(),
            Repr::Sparse(v) => v.iter().max().map_or(0, |&m| shape().highest_equivalent(u64::from(m))),
        };
        Duration::from_micros(us)
    }

    pub fn count(&self) -> u64 {
        match &self.0 {
            Repr::Dense(h) => h.len(),
            Repr::Sparse(v) => v.len() as u64,
        }
    }

    /// The samples as an HDR histogram (built on demand while they are kept raw).
    pub fn histogram(&self) -> std::borrow::Cow<'_, Histogram<u32>> {
        match &self.0 {
            Repr::Dense(h) => std::borrow::Cow::Borrowed(h),
            Repr::Sparse(v) => {
                let mut h = new_hdr();
                for &x in v {
                    record_hdr(&mut h, u64::from(x));
                }
                std::borrow::Cow::Owned(h)
            }
        }
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

/// One journey's stats behind their own lock, so the sink records a run through the handle it resolved
/// when the suite changed instead of looking the journey up by name under the table's lock.
type Row = Arc<Mutex<JourneyStats>>;

/// All journeys' stats, shared between the sink (writer) and readers.
#[derive(Debug, Clone, Default)]
pub struct StatsTable {
    inner: Arc<Mutex<BTreeMap<String, Row>>>,
}

/// The stats of one journey, as the metrics sink holds them.
#[derive(Debug, Clone)]
pub struct JourneyRow(Row);

impl StatsTable {
    pub fn new() -> StatsTable {
        StatsTable::default()
    }

    /// Keeps stats of journeys still present (unchanged or not), adds new ones, drops removed ones.
    pub fn set_journeys(&self, journeys: &[Arc<Journey>]) {
        let mut map = self.lock();
        map.retain(|name, _| journeys.iter().any(|j| &j.name == name));
        for j in journeys {
            let mut entry = lock(map.entry(j.name.clone()).or_default());
            let names: Vec<&str> = j.steps.iter().map(|s| s.name.as_str()).collect();
            if entry.steps.iter().map(|s| s.name.as_str()).ne(names.iter().copied()) {
                entry.steps = names.iter().map(|n| StepStats { name: n.to_string(), ..StepStats::default() }).collect();
            }
        }
    }

    /// The row of a loaded journey, for recording its runs (resolved again after every suite change).
    pub fn row(&self, journey: &str) -> Option<JourneyRow> {
        self.lock().get(journey).map(|r| JourneyRow(Arc::clone(r)))
    }

    pub fn missed(&self, journey: &str) {
        if let Some(js) = self.lock().get(journey) {
            lock(js).missed += 1;
        }
    }

    pub fn dropped(&self, journey: &str, count: u64) {
        if let Some(js) = self.lock().get(journey) {
            lock(js).dropped += count;
        }
    }

    /// A copy of one journey's stats.
    pub fn get(&self, journey: &str) -> Option<JourneyStats> {
        self.lock().get(journey).map(|js| lock(js).clone())
    }

    /// Runs `f` on one journey's stats under the lock, without copying them.
    pub fn with<R>(&self, journey: &str, f: impl FnOnce(&JourneyStats) -> R) -> Option<R> {
        self.lock().get(journey).map(|js| f(&lock(js)))
    }

    /// The journeys' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// A copy of everything (reports).
    pub fn snapshot(&self) -> BTreeMap<String, JourneyStats> {
        self.lock().iter().map(|(name, js)| (name.clone(), lock(js).clone())).collect()
    }

    pub fn summaries(&self) -> Vec<JourneySummary> {
        self.lock()
            .iter()
            .map(|(name, js)| {
                let js = lock(js);
                JourneySummary {
                    name: name.clone(),
                    runs: js.runs,
                    failures: js.failures,
                    last_passed: js.last_passed,
                    p50: js.duration.quantile(0.5),
                    p99: js.duration.quantile(0.99),
                    last_failure: js.last_failure.clone(),
                }
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Row>> {
        lock(&self.inner)
    }
}

impl JourneyRow {
    pub fn record(&self, outcome: &RunOutcome) {
        let mut js = lock(&self.0);
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
        let bytes = l.histogram().distinct_values() * std::mem::size_of::<u32>();
        assert!(bytes <= 8 * 1024, "{bytes} bytes for latencies up to 1 s");
        let p99 = l.quantile(0.99).as_secs_f64();
        assert!((p99 - 0.990).abs() <= 0.0099, "p99 {p99} within 1% of 990 ms");
        l.record(Duration::from_secs(7200));
        assert_eq!(l.max(), Duration::from_micros(l.histogram().highest_equivalent(MAX_MICROS)), "clamped at one hour");
        assert_eq!(l.count(), 1001);
    }

    /// Raw samples answer exactly what the HDR histogram answers, before and after the switch.
    #[test]
    fn sparse_and_dense_latencies_give_the_same_quantiles() {
        let quantiles = [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0, 1.5];
        let mut l = Latency::default();
        let mut hdr = new_hdr();
        assert_eq!((l.quantile(0.5), l.max(), l.count()), (Duration::ZERO, Duration::ZERO, 0));
        // A spread with repeats, outliers and values sharing HDR buckets; 7,200 s is clamped to one hour.
        let samples = (1..=300u64).map(|i| Duration::from_micros((i * 7919) % 250_000 + 1 + (i % 3) * 10_000_000));
        for (n, d) in samples.chain([Duration::from_secs(7200), Duration::ZERO]).enumerate() {
            l.record(d);
            record_hdr(&mut hdr, u64::try_from(d.as_micros()).unwrap().clamp(1, MAX_MICROS));
            let sparse = matches!(l.0, Repr::Sparse(_));
            assert_eq!(sparse, n < SPARSE_MAX, "raw up to {SPARSE_MAX} samples, then HDR");
            for q in quantiles {
                assert_eq!(
                    l.quantile(q),
                    Duration::from_micros(hdr.value_at_quantile(q)),
                    "q={q} after {} samples",
                    n + 1
                );
            }
            assert_eq!(l.max(), Duration::from_micros(hdr.max()));
            assert_eq!(l.count(), hdr.len());
            assert_eq!(*l.histogram(), hdr);
        }
    }
}
