//! The metrics sink: one place where an outcome becomes Prometheus samples, HDR records and (for failures)
//! a log line, so the log and the counters cannot drift apart.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use crate::metrics::{Metrics, StatsTable};
use crate::model::{Journey, Suite};
use crate::outcome::{Failure, Reason, RunOutcome, RunStatus};
use crate::pipeline::Sink;

pub struct MetricsSink {
    metrics: Metrics,
    stats: StatsTable,
    /// Step names of each journey as last exported, so a reload can remove the series of removed journeys
    /// and steps (Prometheus would otherwise keep showing them forever).
    exported: HashMap<String, Vec<String>>,
}

impl MetricsSink {
    pub fn new(metrics: Metrics, stats: StatsTable) -> MetricsSink {
        MetricsSink { metrics, stats, exported: HashMap::new() }
    }

    fn forget(&self, journey: &str, steps: &[String]) {
        let m = &self.metrics;
        for outcome in ["success", "failure", "cancelled"] {
            let _ = m.runs.remove_label_values(&[journey, outcome]);
        }
        let _ = m.success.remove_label_values(&[journey]);
        let _ = m.duration.remove_label_values(&[journey]);
        let _ = m.last_run.remove_label_values(&[journey]);
        let _ = m.missed.remove_label_values(&[journey]);
        let _ = m.dropped.remove_label_values(&[journey]);
        let _ = m.start_delay.remove_label_values(&[journey]);
        let _ = m.tls_skip_verify.remove_label_values(&[journey]);
        for step in steps {
            self.forget_step(journey, step);
        }
    }

    fn forget_step(&self, journey: &str, step: &str) {
        let m = &self.metrics;
        let _ = m.step_duration.remove_label_values(&[journey, step]);
        let _ = m.step_success.remove_label_values(&[journey, step]);
        let _ = m.step_status.remove_label_values(&[journey, step]);
        for reason in Reason::ALL {
            let _ = m.step_failures.remove_label_values(&[journey, step, reason.as_str()]);
        }
    }
}

/// Logs a failed step and counts it: the one place both happen.
fn record_failure(metrics: &Metrics, journey: &Journey, f: &Failure, soft: bool) {
    let step = journey.steps.get(f.step).map_or(f.step_name.as_str(), |s| s.name.as_str());
    if !soft {
        metrics.step_failures.with_label_values(&[journey.name.as_str(), step, f.reason.as_str()]).inc();
    }
    tracing::warn!(
        journey = %journey.name,
        step = %step,
        reason = %f.reason,
        soft,
        check = f.check.as_deref().unwrap_or(""),
        actual = f.actual.as_deref().unwrap_or(""),
        status = f.status.unwrap_or(0),
        request = f.request.as_deref().unwrap_or(""),
        excerpt = f.excerpt.as_deref().unwrap_or(""),
        "step failed: {}",
        f.message
    );
}

impl Sink for MetricsSink {
    fn suite_changed(&mut self, suite: &Suite) {
        let m = &self.metrics;
        let mut now: HashMap<String, Vec<String>> = HashMap::new();
        for j in &suite.journeys {
            let steps: Vec<String> = j.steps.iter().map(|s| s.name.clone()).collect();
            for outcome in ["success", "failure", "cancelled"] {
                m.runs.with_label_values(&[j.name.as_str(), outcome]);
            }
            m.missed.with_label_values(&[j.name.as_str()]);
            m.tls_skip_verify.with_label_values(&[j.name.as_str()]).set(i64::from(j.defaults.tls_skip_verify));
            if let Some(old) = self.exported.get(&j.name) {
                for gone in old.iter().filter(|s| !steps.contains(s)) {
                    self.forget_step(&j.name, gone);
                }
            }
            now.insert(j.name.clone(), steps);
        }
        for (name, steps) in &self.exported {
            if !now.contains_key(name) {
                self.forget(name, steps);
            }
        }
        self.exported = now;
        m.journeys.set(suite.journeys.len() as i64);
        self.stats.set_journeys(&suite.journeys);
    }

    fn outcome(&mut self, journey: &Journey, o: &RunOutcome) {
        let m = &self.metrics;
        let name = journey.name.as_str();
        let outcome = match &o.status {
            RunStatus::Passed => "success",
            RunStatus::Failed(_) => "failure",
            RunStatus::Cancelled => "cancelled",
        };
        m.runs.with_label_values(&[name, outcome]).inc();
        self.stats.record(o);
        for f in &o.soft_failures {
            record_failure(m, journey, f, true);
        }
        if let RunStatus::Cancelled = o.status {
            // Cancelled by shutdown or reload: not evidence about the site.
            return;
        }
        m.success.with_label_values(&[name]).set(i64::from(o.passed()));
        m.duration.with_label_values(&[name]).observe(o.duration.as_secs_f64());
        m.start_delay.with_label_values(&[name]).observe(o.start_delay.as_secs_f64());
        let wall = o.wall_start.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        m.last_run.with_label_values(&[name]).set(wall.as_secs_f64());
        for so in &o.steps {
            let Some(step) = journey.steps.get(so.index) else { continue };
            let labels = [name, step.name.as_str()];
            m.step_duration.with_label_values(&labels).observe(so.response_time.as_secs_f64());
            m.step_success.with_label_values(&labels).set(i64::from(so.passed));
            m.step_status.with_label_values(&labels).set(i64::from(so.status.unwrap_or(0)));
        }
        if let RunStatus::Failed(f) = &o.status {
            record_failure(m, journey, f, false);
        }
    }

    fn missed(&mut self, journey: &Journey) {
        self.metrics.missed.with_label_values(&[journey.name.as_str()]).inc();
        self.stats.missed(&journey.name);
        tracing::warn!(journey = %journey.name, "previous run still in flight at the next tick: run skipped (counted in journey_schedule_missed_total)");
    }

    fn dropped(&mut self, journey: &Journey, count: u64) {
        self.metrics.dropped.with_label_values(&[journey.name.as_str()]).inc_by(count);
        self.stats.dropped(&journey.name, count);
    }

    fn late(&mut self, journey: &Journey, by: Duration) {
        tracing::debug!(journey = %journey.name, late_ms = by.as_millis() as u64, "run started late");
    }
}
