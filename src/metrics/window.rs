//! Sliding-window latency quantiles for people: the last five minutes as a ring of one-minute slots.
//!
//! Prometheus histograms (fixed buckets) are what alerts and `histogram_quantile` use; these answer "what is
//! p99 right now" exactly (HDR, 3 significant figures) without a query. They are exported as Prometheus
//! *summaries* (quantile samples plus `_sum` and `_count` over the same window): a `quantile` label is only
//! valid on a summary, and that is what `promtool check metrics` enforces. A slot keeps raw samples
//! until it holds [`SPARSE_MAX`] of them and only then becomes an HDR histogram: a monitor running a journey
//! every 10 s records 6 samples a minute and must not pay ~100 KB per slot per step for them, while a load
//! test at 1,000/s gets constant memory per slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use prometheus::core::{Collector, Desc};

use crate::metrics::lock;
use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType, Quantile, Summary};

/// Length of one slot.
pub const SLOT: Duration = Duration::from_secs(60);
/// Slots in the ring: the window is `SLOTS × SLOT` (5 minutes).
pub const SLOTS: usize = 5;
/// The quantiles exported, as label values.
pub const QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")];
/// Samples a slot keeps raw before it switches to an HDR histogram.
const SPARSE_MAX: usize = 64;
/// Highest value recorded exactly (µs): one hour; longer ones are clamped.
const MAX_MICROS: u64 = 3_600_000_000;

#[derive(Debug, Clone, Default)]
enum Slot {
    #[default]
    Empty,
    /// Microseconds, unsorted.
    Sparse(Vec<u64>),
    Dense(Box<Histogram<u64>>),
}

impl Slot {
    fn record(&mut self, us: u64) {
        match self {
            Slot::Empty => *self = Slot::Sparse(vec![us]),
            Slot::Sparse(v) if v.len() < SPARSE_MAX => v.push(us),
            Slot::Sparse(v) => {
                let mut h = new_hdr();
                for &x in v.iter() {
                    h.saturating_record(x);
                }
                h.saturating_record(us);
                *self = Slot::Dense(Box::new(h));
            }
            Slot::Dense(h) => h.saturating_record(us),
        }
    }
}

fn new_hdr() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static bounds")
}

/// One series' window.
#[derive(Debug, Clone)]
pub struct Window {
    slots: [Slot; SLOTS],
    /// Samples and their sum (µs) per slot, exact, for the summaries' `_count` and `_sum`.
    totals: [(u64, u64); SLOTS],
    /// Index (slot number since `origin`) of the newest slot.
    head: u64,
    /// Slot numbers count from here (the first record), so every window of a process agrees.
    origin: Instant,
}

impl Window {
    pub fn new(origin: Instant) -> Window {
        Window { slots: Default::default(), totals: [(0, 0); SLOTS], head: 0, origin }
    }

    fn slot_of(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.origin).as_nanos() / SLOT.as_nanos()) as u64
    }

    /// Moves the ring forward to `now`, emptying slots older than the window.
    fn advance(&mut self, now: Instant) {
        let slot = self.slot_of(now);
        if slot <= self.head {
            return;
        }
        let stale = (slot - self.head).min(SLOTS as u64);
        for k in 1..=stale {
            let i = ((self.head + k) % SLOTS as u64) as usize;
            self.slots[i] = Slot::Empty;
            self.totals[i] = (0, 0);
        }
        self.head = slot;
    }

    pub fn record(&mut self, d: Duration, now: Instant) {
        self.advance(now);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
        let i = (self.head % SLOTS as u64) as usize;
        self.slots[i].record(us);
        self.totals[i].0 += 1;
        self.totals[i].1 = self.totals[i].1.saturating_add(us);
    }

    /// Samples in the window ending at `now` and their sum.
    pub fn count_and_sum(&mut self, now: Instant) -> (u64, Duration) {
        self.advance(now);
        let (n, us) = self.totals.iter().fold((0, 0u64), |(n, s), &(c, u)| (n + c, s.saturating_add(u)));
        (n, Duration::from_micros(us))
    }

    /// The values at `quantiles` over the window ending at `now`; `None` when it holds no sample.
    pub fn quantiles<const N: usize>(&mut self, quantiles: [f64; N], now: Instant) -> Option<[Duration; N]> {
        self.advance(now);
        let dense: Vec<&Histogram<u64>> = self
            .slots
            .iter()
            .filter_map(|s| match s {
                Slot::Dense(h) => Some(h.as_ref()),
                _ => None,
            })
            .collect();
        let sparse = self.slots.iter().filter_map(|s| match s {
            Slot::Sparse(v) => Some(v),
            _ => None,
        });
        if dense.is_empty() {
            let mut all: Vec<u64> = sparse.flatten().copied().collect();
            if all.is_empty() {
                return None;
            }
            all.sort_unstable();
            // The smallest value with at least q of the samples at or below it (HDR's definition).
            return Some(quantiles.map(|q| {
                let rank = ((q * all.len() as f64).ceil() as usize).clamp(1, all.len());
                Duration::from_micros(all[rank - 1])
            }));
        }
        let mut merged = new_hdr();
        for h in dense {
            let _ = merged.add(h);
        }
        for v in sparse {
            for &x in v {
                merged.saturating_record(x);
            }
        }
        Some(quantiles.map(|q| Duration::from_micros(merged.value_at_quantile(q))))
    }
}

/// The windows of one journey: the whole journey, and each step by index.
#[derive(Debug, Default)]
struct JourneyWindows {
    /// `None` until the first run is recorded: a window's slots count from its first sample.
    total: Option<Window>,
    /// Step name and window, indexed like the journey's steps (a reload that renames steps resets them).
    steps: Vec<Option<(String, Window)>>,
}

impl JourneyWindows {
    fn record_step(&mut self, index: usize, name: &str, d: Duration, now: Instant) {
        if self.steps.len() <= index {
            self.steps.resize(index + 1, None);
        }
        let slot = &mut self.steps[index];
        if !matches!(slot, Some((n, _)) if n == name) {
            *slot = Some((name.to_string(), Window::new(now)));
        }
        if let Some((_, w)) = slot {
            w.record(d, now);
        }
    }
}

/// All windows, written by the metrics sink and read at scrape time by the collector. The outer lock is
/// taken by the pipeline task only when the suite changes, and by scrapes; a run is recorded under its
/// journey's own lock, through the [`JourneyWindow`] the sink resolved once.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    inner: Arc<Mutex<HashMap<String, Arc<Mutex<JourneyWindows>>>>>,
}

/// One journey's windows, held by the metrics sink so recording a run needs no lookup by name.
#[derive(Debug, Clone)]
pub struct JourneyWindow(Arc<Mutex<JourneyWindows>>);

impl JourneyWindow {
    /// Records one run: the journey's duration and each step's `(index, name, response time)`.
    pub fn record<'a>(&self, total: Duration, steps: impl Iterator<Item = (usize, &'a str, Duration)>, now: Instant) {
        let mut jw = lock(&self.0);
        jw.total.get_or_insert_with(|| Window::new(now)).record(total, now);
        for (index, name, d) in steps {
            jw.record_step(index, name, d, now);
        }
    }
}

impl Windows {
    /// The windows of `journey`, made empty when it has none yet (they stay until [`Windows::forget`]).
    pub fn journey(&self, journey: &str) -> JourneyWindow {
        let mut map = self.lock();
        let jw = match map.get(journey) {
            Some(jw) => Arc::clone(jw),
            None => Arc::clone(map.entry(journey.to_string()).or_default()),
        };
        JourneyWindow(jw)
    }

    /// Drops the windows of a journey (removed by a reload).
    pub fn forget(&self, journey: &str) {
        self.lock().remove(journey);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Mutex<JourneyWindows>>>> {
        lock(&self.inner)
    }
}

/// Exports `journey_step_latency_window_seconds` and `journey_latency_window_seconds` as summaries, computed at
/// scrape time so an idle journey's window empties (and its series disappear) as time passes.
pub struct WindowCollector {
    windows: Windows,
    descs: [Desc; 2],
}

const STEP_NAME: &str = "journey_step_latency_window_seconds";
const STEP_HELP: &str = "Step response time over the last 5 minutes: exact quantiles (HDR, 3 significant figures).";
const JOURNEY_NAME: &str = "journey_latency_window_seconds";
const JOURNEY_HELP: &str =
    "Journey response time over the last 5 minutes: exact quantiles (HDR, 3 significant figures).";

impl WindowCollector {
    pub fn new(windows: Windows) -> WindowCollector {
        let desc = |name: &str, help: &str, labels: &[&str]| {
            Desc::new(name.into(), help.into(), labels.iter().map(|l| l.to_string()).collect(), HashMap::new())
                .expect("static")
        };
        let descs = [desc(STEP_NAME, STEP_HELP, &["journey", "step"]), desc(JOURNEY_NAME, JOURNEY_HELP, &["journey"])];
        WindowCollector { windows, descs }
    }
}

fn family(name: &str, help: &str, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.into());
    f.set_help(help.into());
    f.set_field_type(MetricType::SUMMARY);
    f.set_metric(metrics);
    f
}

/// One summary sample set, or `None` when the window is empty.
fn summary(w: &mut Window, labels: &[(&str, &str)], now: Instant) -> Option<Metric> {
    let values = w.quantiles(QUANTILES.map(|(q, _)| q), now)?;
    let (count, sum) = w.count_and_sum(now);
    let mut s = Summary::default();
    s.set_sample_count(count);
    s.set_sample_sum(sum.as_secs_f64());
    s.set_quantile(
        QUANTILES
            .iter()
            .zip(values)
            .map(|((q, _), v)| {
                let mut quantile = Quantile::default();
                quantile.set_quantile(*q);
                quantile.set_value(v.as_secs_f64());
                quantile
            })
            .collect(),
    );
    let mut m = Metric::default();
    m.set_label(
        labels
            .iter()
            .map(|(k, v)| {
                let mut l = LabelPair::default();
                l.set_name(k.to_string());
                l.set_value(v.to_string());
                l
            })
            .collect(),
    );
    m.set_summary(s);
    Some(m)
}

impl Collector for WindowCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = Instant::now();
        let (mut steps, mut journeys) = (Vec::new(), Vec::new());
        let map = self.windows.lock();
        let mut names: Vec<(&String, &Arc<Mutex<JourneyWindows>>)> = map.iter().collect();
        names.sort_by_key(|(name, _)| *name);
        for (journey, jw) in names {
            let mut jw = lock(jw);
            let jw = &mut *jw;
            let Some(total) = &mut jw.total else { continue };
            journeys.extend(summary(total, &[("journey", journey)], now));
            for (step, w) in jw.steps.iter_mut().flatten() {
                steps.extend(summary(w, &[("journey", journey), ("step", step)], now));
            }
        }
        let mut out = Vec::new();
        if !steps.is_empty() {
            out.push(family(STEP_NAME, STEP_HELP, steps));
        }
        if !journeys.is_empty() {
            out.push(family(JOURNEY_NAME, JOURNEY_HELP, journeys));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_and_dense_slots_agree_and_old_slots_expire() {
        let t0 = Instant::now();
        let mut sparse = Window::new(t0);
        let mut dense = Window::new(t0);
        for i in 1..=50u64 {
            sparse.record(Duration::from_millis(i), t0);
        }
        for i in 1..=5000u64 {
            dense.record(Duration::from_micros(i * 10), t0);
        }
        let [p50, p99] = sparse.quantiles([0.5, 0.99], t0).unwrap();
        assert_eq!((p50, p99), (Duration::from_millis(25), Duration::from_millis(50)));
        let [p50, p99] = dense.quantiles([0.5, 0.99], t0).unwrap();
        assert!(p50.as_micros().abs_diff(25_000) < 50, "{p50:?}");
        assert!(p99.as_micros().abs_diff(49_500) < 100, "{p99:?}");
        // Four minutes later the samples are still in the window; six minutes later they are gone.
        assert!(dense.quantiles([0.5], t0 + Duration::from_secs(240)).is_some());
        assert!(dense.quantiles([0.5], t0 + Duration::from_secs(360)).is_none());
        sparse.record(Duration::from_secs(2), t0 + Duration::from_secs(361));
        assert_eq!(sparse.quantiles([0.5], t0 + Duration::from_secs(361)), Some([Duration::from_secs(2)]));
    }
}
