//! Canary beside stable: a journey with `targets:` runs every target on each tick, and each non-baseline
//! target is compared continuously with the baseline (`compare`, with [`crate::stats`]) over the last
//! `canary.window`.
//!
//! Files: this one (the shared state, the pipeline sink, the gauge, the alert), `compare` (one journey's
//! comparison and its views), `api` (`GET /api/v1/canary`), `metrics` (availability and latency per
//! target: `journey_target_runs_total`, `journey_target_duration_seconds`).
//!
//! The verdicts go out four ways: `journey_canary_regression{journey,step,target}`,
//! `JourneyCanaryRegression` through the alert engine, `GET /api/v1/canary`, and [`Verdicts::verdict`] for
//! the progressive-delivery gates in the daemon.
//!
//! Only this sink sees the runs of non-baseline targets (`Sink::every_target`): a journey's histograms,
//! alerts (JourneyDown…) and status are its baseline's, so a failing canary is the canary's problem and
//! shows as a canary regression, never as the journey being down.

pub mod api;
pub mod compare;
mod metrics;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus::{IntGaugeVec, Opts, Registry};
use serde::Serialize;

use crate::alert::AlertHandle;
use crate::deploys::recent::Sample;
use crate::model::{Journey, Suite};
use crate::outcome::RunOutcome;
use crate::pipeline::Sink;
use crate::status::{TargetRow, TargetSource};
use compare::{Comparison, JourneyView};
use metrics::TargetMetrics;

/// A regression one target shows against the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Regression {
    pub journey: String,
    /// `None`: the journey as a whole.
    pub step: Option<String>,
    pub target: String,
    /// In words: `checkout.view-price on canary: availability 95.0% vs 100.0% on stable, p < 0.001`.
    pub evidence: String,
}

/// The canary verdict over some journeys: what a gate decides on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CanaryVerdict {
    /// The regressions standing now (empty: none).
    pub regressed: Vec<Regression>,
    /// Every journey asked about has `targets:` and enough runs on each target in its window to be
    /// compared. `false` with nothing regressed means "not yet known", never "passed".
    pub judged: bool,
}

/// The canary comparisons, shared by the pipeline sink, the HTTP route and the gates. Cheap to clone.
#[derive(Clone)]
pub struct Verdicts {
    /// Per journey with `targets:`.
    inner: Arc<Mutex<BTreeMap<String, Comparison>>>,
    regression: IntGaugeVec,
    /// Every target's runs and latency as series with a `target` label (the journey's own are the
    /// baseline's only).
    per_target: Arc<Mutex<TargetMetrics>>,
    /// Where `JourneyCanaryRegression` is raised and resolved.
    alerts: Option<AlertHandle>,
}

impl Verdicts {
    pub fn new(registry: &Registry, alerts: Option<AlertHandle>) -> Result<Verdicts, prometheus::Error> {
        let regression = IntGaugeVec::new(
            Opts::new(
                "journey_canary_regression",
                "1 when the target is slower or less available than the journey's baseline target over the \
                 canary window (step=\"\": the whole journey); 0 otherwise.",
            ),
            &["journey", "step", "target"],
        )?;
        registry.register(Box::new(regression.clone()))?;
        let per_target = Arc::new(Mutex::new(TargetMetrics::new(registry)?));
        Ok(Verdicts { inner: Arc::new(Mutex::new(BTreeMap::new())), regression, per_target, alerts })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Comparison>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verdict over `journeys` (empty: every journey with `targets:`).
    pub fn verdict(&self, journeys: &[String]) -> CanaryVerdict {
        let all = self.lock();
        let mut judged = !(journeys.is_empty() && all.is_empty());
        let mut regressed = Vec::new();
        let names: Vec<&String> = if journeys.is_empty() { all.keys().collect() } else { journeys.iter().collect() };
        for name in names {
            let Some(c) = all.get(name) else {
                judged = false;
                continue;
            };
            judged &= c.judged_now();
            regressed.extend(c.findings().into_iter().map(|f| Regression {
                journey: name.clone(),
                step: f.step,
                target: f.target,
                evidence: f.evidence,
            }));
        }
        CanaryVerdict { regressed, judged }
    }

    /// Every journey with `targets:`: its targets' figures and comparisons over the window.
    pub fn views(&self) -> Vec<JourneyView> {
        self.lock().values().map(Comparison::view).collect()
    }

    /// The pipeline sink that feeds the comparisons.
    pub fn sink(&self) -> CanarySink {
        CanarySink { verdicts: self.clone() }
    }

    fn per_target(&self) -> MutexGuard<'_, TargetMetrics> {
        self.per_target.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn suite_changed(&self, suite: &Suite) {
        self.per_target().suite_changed(suite);
        let mut all = self.lock();
        let mut next = BTreeMap::new();
        for j in &suite.journeys {
            let Some(targets) = &j.targets else { continue };
            let steps: Vec<Arc<str>> = j.steps.iter().map(|s| Arc::from(s.name.as_str())).collect();
            let names: Vec<String> = targets.named.iter().map(|(n, _)| n.clone()).collect();
            let kept = all.remove(&j.name).filter(|c| c.same_shape(&steps, &names, targets.window));
            let c = kept.unwrap_or_else(|| Comparison::new(&j.name, &steps, &names, targets.window));
            next.insert(j.name.clone(), c);
        }
        // Comparisons left over are of journeys gone or changed: their series and alerts go with them.
        for (name, old) in std::mem::take(&mut *all) {
            for (target, step, _) in old.verdicts() {
                let _ = self.regression.remove_label_values(&[name.as_str(), step.unwrap_or(""), target]);
            }
            if let Some(alerts) = &self.alerts {
                alerts.canary_regression(&name, None);
            }
        }
        for c in next.values() {
            self.export(c);
        }
        *all = next;
    }

    fn record(&self, journey: &Journey, o: &RunOutcome) {
        let Some(target) = o.target.as_deref() else { return };
        // Counted before the comparison records it: the counters are never behind `/api/v1/canary`.
        self.per_target().record(&journey.name, target, o);
        let mut all = self.lock();
        let Some(c) = all.get_mut(&journey.name) else { return };
        let Some(sample) = Sample::of(&c.steps, o) else { return };
        let before = c.findings();
        if c.record(target, sample) && c.findings() != before {
            self.export(c);
        }
    }

    /// The gauges and the alert of one journey from its comparison.
    fn export(&self, c: &Comparison) {
        for (target, step, regressed) in c.verdicts() {
            self.regression
                .with_label_values(&[c.journey.as_str(), step.unwrap_or(""), target])
                .set(i64::from(regressed));
        }
        let Some(alerts) = &self.alerts else { return };
        let findings = c.findings();
        let annotations = findings.first().map(|first| {
            let lines: Vec<&str> = findings.iter().map(|f| f.evidence.as_str()).collect();
            let mut ann = BTreeMap::new();
            let summary = format!("journey {} regressed on target {}: {}", c.journey, first.target, first.evidence);
            ann.insert("summary".to_string(), summary);
            ann.insert("description".to_string(), lines.join("\n"));
            ann.insert("evidence".to_string(), lines.join("\n"));
            ann.insert("target".to_string(), first.target.clone());
            // The first regressed step (the journey's own series only when no step regressed).
            if let Some(step) = findings.iter().find_map(|f| f.step.clone()) {
                ann.insert("step".to_string(), step);
            }
            ann
        });
        alerts.canary_regression(&c.journey, annotations);
    }
}

impl TargetSource for Verdicts {
    /// Each target of each journey with `targets:`, baseline first, for the status page.
    fn targets(&self) -> Vec<TargetRow> {
        let views = self.views();
        let rows = views.iter().flat_map(|j| {
            j.targets.iter().map(move |t| TargetRow {
                journey: j.journey.clone(),
                target: t.target.clone(),
                baseline: t.target == j.baseline,
                runs: t.figures.runs,
                availability: t.figures.availability,
                p50: Duration::from_secs_f64(t.figures.p50),
                p90: Duration::from_secs_f64(t.figures.p90),
                evidence: t.series.iter().flatten().filter_map(|s| s.evidence.clone()).collect(),
            })
        });
        rows.collect()
    }
}

/// Feeds the runs of every target of journeys with `targets:` to their comparisons.
pub struct CanarySink {
    verdicts: Verdicts,
}

impl Sink for CanarySink {
    fn every_target(&self) -> bool {
        true
    }

    fn suite_changed(&mut self, suite: &Suite) {
        self.verdicts.suite_changed(suite);
    }

    fn outcome(&mut self, journey: &Journey, outcome: &RunOutcome) {
        self.verdicts.record(journey, outcome);
    }
}
