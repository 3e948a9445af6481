//! Availability and latency per target of the journeys with `targets:`, as Prometheus series with a
//! `target` label: `journey_target_runs_total{journey,target,outcome}` and
//! `journey_target_duration_seconds{journey,target}`, every target including the baseline.
//!
//! New families rather than a `target` label on the journey's own series: those stay the baseline's
//! (adding a label to them would break every query already written against them). What they add is the
//! rate a Flagger `MetricTemplate` or an Argo `AnalysisTemplate` can compare, canary against stable, with
//! the same outcome values and buckets as `journey_runs_total` and `journey_duration_seconds`.
//!
//! Cardinality: per journey with `targets:`, 2–4 targets (the loader's bound) × (3 outcomes + one histogram
//! of 16 series). No per-step families: the per-step verdict is already `journey_canary_regression{step}`,
//! and a query cannot do better than the paired test behind it.

use std::collections::BTreeMap;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use crate::metrics::{outcome_index, LATENCY_BUCKETS, OUTCOMES};
use crate::model::Suite;
use crate::outcome::{RunOutcome, RunStatus};

/// One (journey, target) pair's series, resolved once per suite: a run looks them up by `&str`, with no
/// allocation or label hashing.
struct Handles {
    runs: [IntCounter; 3],
    duration: Histogram,
}

/// The per-target families and which (journey, target) pairs have series now.
pub struct TargetMetrics {
    runs: IntCounterVec,
    duration: HistogramVec,
    /// Per journey and target, the series exported for the suite loaded last, so a reload removes the
    /// series of a journey removed, renamed or without `targets:` now, and of a target no longer written.
    exported: BTreeMap<String, BTreeMap<String, Handles>>,
}

impl TargetMetrics {
    pub fn new(registry: &Registry) -> Result<TargetMetrics, prometheus::Error> {
        let runs = IntCounterVec::new(
            Opts::new(
                "journey_target_runs_total",
                "Iterations of a journey with targets: against each target, by outcome (success, failure, \
                 cancelled), the baseline included.",
            ),
            &["journey", "target", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "journey_target_duration_seconds",
                "Response time of a journey with targets: against each target, from the intended start to the \
                 end of the last step that ran (as journey_duration_seconds), the baseline included.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["journey", "target"],
        )?;
        registry.register(Box::new(runs.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(TargetMetrics { runs, duration, exported: BTreeMap::new() })
    }

    /// Creates the counters of every target of `suite` at zero (a rate needs its first sample) and removes
    /// the series of pairs gone since the last suite.
    pub fn suite_changed(&mut self, suite: &Suite) {
        let mut now: BTreeMap<String, BTreeMap<String, Handles>> = BTreeMap::new();
        for j in &suite.journeys {
            for (target, _) in j.targets.iter().flat_map(|t| &t.named) {
                let labels = [j.name.as_str(), target.as_str()];
                let handles = Handles {
                    runs: OUTCOMES.map(|o| self.runs.with_label_values(&[labels[0], labels[1], o])),
                    duration: self.duration.with_label_values(&labels),
                };
                now.entry(j.name.clone()).or_default().insert(target.clone(), handles);
            }
        }
        for (journey, targets) in &self.exported {
            for target in targets.keys().filter(|t| !now.get(journey).is_some_and(|n| n.contains_key(*t))) {
                for outcome in OUTCOMES {
                    let _ = self.runs.remove_label_values(&[journey, target, outcome]);
                }
                let _ = self.duration.remove_label_values(&[journey, target]);
            }
        }
        self.exported = now;
    }

    /// One run of `journey` against `target`. A cancelled run (shutdown, reload) is counted but not timed,
    /// as the journey's own series do.
    pub fn record(&self, journey: &str, target: &str, o: &RunOutcome) {
        let Some(h) = self.exported.get(journey).and_then(|t| t.get(target)) else { return };
        h.runs[outcome_index(&o.status)].inc();
        if !matches!(o.status, RunStatus::Cancelled) {
            h.duration.observe(o.duration.as_secs_f64());
        }
    }
}
