//! The metrics sink: one place where an outcome becomes Prometheus samples, HDR records and (for failures)
//! a log line, so the log and the counters cannot drift apart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::metrics::certs::CertSeries;
use crate::metrics::handles::JourneyHandles;
use crate::metrics::{Metrics, StatsTable, PHASES};
use crate::model::{Journey, Suite};
use crate::outcome::{CertNews, Failure, Reason, RunOutcome, RunStatus};
use crate::pipeline::Sink;

pub struct MetricsSink {
    metrics: Metrics,
    stats: StatsTable,
    /// Step names of each journey as last exported, so a reload can remove the series of removed journeys
    /// and steps (Prometheus would otherwise keep showing them forever).
    exported: HashMap<String, Vec<String>>,
    /// Each journey's metric children, resolved once per suite instead of once per sample.
    handles: HashMap<String, JourneyHandles>,
    /// The TLS series each step last set (their labels come from the certificate, not the files).
    certs: CertSeries,
    /// `oauth` source names of each journey as last loaded, so a reload removes the series of removed ones.
    oauth: HashMap<String, Vec<String>>,
}

impl MetricsSink {
    pub fn new(metrics: Metrics, stats: StatsTable) -> MetricsSink {
        MetricsSink {
            metrics,
            stats,
            exported: HashMap::new(),
            handles: HashMap::new(),
            certs: CertSeries::default(),
            oauth: HashMap::new(),
        }
    }
}

/// Removes every series of a journey removed by a reload.
fn forget(m: &Metrics, certs: &mut CertSeries, journey: &str, steps: &[String]) {
    for outcome in super::OUTCOMES {
        let _ = m.runs.remove_label_values(&[journey, outcome]);
    }
    let _ = m.success.remove_label_values(&[journey]);
    let _ = m.duration.remove_label_values(&[journey]);
    let _ = m.last_run.remove_label_values(&[journey]);
    let _ = m.missed.remove_label_values(&[journey]);
    let _ = m.dropped.remove_label_values(&[journey]);
    let _ = m.start_delay.remove_label_values(&[journey]);
    let _ = m.tls_skip_verify.remove_label_values(&[journey]);
    let _ = m.service.remove_label_values(&[journey]);
    let _ = m.late.remove_label_values(&[journey]);
    for reason in Reason::ALL {
        let _ = m.retries.remove_label_values(&[journey, reason.as_str()]);
    }
    m.windows.forget(journey);
    for step in steps {
        forget_step(m, certs, journey, step);
    }
    certs.forget_journey(m, journey);
}

/// Removes every series of a step removed by a reload.
fn forget_step(m: &Metrics, certs: &mut CertSeries, journey: &str, step: &str) {
    let _ = m.step_duration.remove_label_values(&[journey, step]);
    let _ = m.step_success.remove_label_values(&[journey, step]);
    let _ = m.step_status.remove_label_values(&[journey, step]);
    let _ = m.step_service.remove_label_values(&[journey, step]);
    for phase in PHASES {
        let _ = m.step_phase.remove_label_values(&[journey, step, phase]);
    }
    for connection in ["new", "reused"] {
        let _ = m.step_requests.remove_label_values(&[journey, step, connection]);
    }
    for reason in Reason::ALL {
        let _ = m.step_failures.remove_label_values(&[journey, step, reason.as_str()]);
    }
    m.browser.forget(journey, step);
    certs.forget_step(m, journey, step);
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
        redirects = %crate::outcome::chain_text(&f.redirects),
        trace_id = f.trace_id.as_deref().unwrap_or(""),
        page = %f.page.join(" | "),
        screenshot = f.screenshot.as_deref().unwrap_or(""),
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
            for outcome in super::OUTCOMES {
                m.runs.with_label_values(&[j.name.as_str(), outcome]);
            }
            m.missed.with_label_values(&[j.name.as_str()]);
            m.late.with_label_values(&[j.name.as_str()]);
            m.tls_skip_verify.with_label_values(&[j.name.as_str()]).set(i64::from(j.defaults.tls_skip_verify));
            if j.browser.is_some() {
                for step in &steps {
                    m.browser.touch(&j.name, step);
                }
            }
            if let Some(old) = self.exported.get(&j.name) {
                for gone in old.iter().filter(|s| !steps.contains(s)) {
                    forget_step(m, &mut self.certs, &j.name, gone);
                }
            }
            now.insert(j.name.clone(), steps);
        }
        for (name, steps) in &self.exported {
            if !now.contains_key(name) {
                forget(m, &mut self.certs, name, steps);
            }
        }
        self.exported = now;
        let sources: HashMap<String, Vec<String>> =
            suite.journeys.iter().map(|j| (j.name.clone(), j.oauth.iter().map(|s| s.name.clone()).collect())).collect();
        for (journey, old) in &self.oauth {
            let kept = sources.get(journey);
            for source in old.iter().filter(|s| !kept.is_some_and(|k| k.contains(s))) {
                for result in ["success", "failure"] {
                    let _ = m.token_fetches.remove_label_values(&[journey, source, result]);
                }
            }
        }
        self.oauth = sources;
        // Series were created or removed above: resolve the children again.
        m.journeys.set(suite.journeys.len() as i64);
        self.stats.set_journeys(&suite.journeys);
        let stats = &self.stats;
        self.handles = suite.journeys.iter().map(|j| (j.name.clone(), JourneyHandles::new(m, stats, j))).collect();
    }

    fn outcome(&mut self, journey: &Journey, o: &RunOutcome) {
        let m = &self.metrics;
        let name = journey.name.as_str();
        let h = match self.handles.get_mut(name) {
            Some(h) => h,
            None => self.handles.entry(journey.name.clone()).or_insert(JourneyHandles::new(m, &self.stats, journey)),
        };
        h.runs[super::outcome_index(&o.status)].inc();
        for fetch in o.steps.iter().flat_map(|so| &so.token_fetches) {
            if let Some(source) = journey.oauth.get(fetch.source) {
                let result = if fetch.ok { "success" } else { "failure" };
                m.token_fetches.with_label_values(&[name, source.name.as_str(), result]).inc();
            }
        }
        if let Some(row) = &h.stats {
            row.record(o);
        }
        for f in &o.soft_failures {
            record_failure(m, journey, f, true);
        }
        if let RunStatus::Cancelled = o.status {
            // Cancelled by shutdown or reload: not evidence about the site.
            return;
        }
        h.success.set(i64::from(o.passed()));
        // The sliding windows file the run under the moment it completed, taken from the outcome rather than
        // the clock: the same instant to within the channel's latency, and a test can replay days of outcomes.
        let now = o.intended_start + o.duration;
        h.duration.observe(o.duration.as_secs_f64());
        h.service.observe(o.service_time.as_secs_f64());
        let steps = o
            .steps
            .iter()
            .filter_map(|so| journey.steps.get(so.index).map(|s| (so.index, s.name.as_str(), so.response_time)));
        h.window.record(o.duration, steps, now);
        h.start_delay.observe(o.start_delay.as_secs_f64());
        let wall = o.wall_start.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        h.last_run.set(wall.as_secs_f64());
        for so in &o.steps {
            let (Some(step), Some(sh)) = (journey.steps.get(so.index), h.steps.get_mut(so.index)) else { continue };
            sh.duration.observe(so.response_time.as_secs_f64());
            sh.service.observe(so.service_time.as_secs_f64());
            sh.success.set(i64::from(so.passed));
            let news = so.cert_news();
            // The handshake cache hands out the same certificate for the same chain: nothing to compare.
            let same = matches!(news, CertNews::Presented(c) if sh.cert.as_ref().is_some_and(|l| Arc::ptr_eq(l, c)));
            if !same {
                self.certs.record(m, name, &step.name, news);
                match news {
                    CertNews::Presented(c) => sh.cert = Some(Arc::clone(c)),
                    CertNews::Plain => sh.cert = None,
                    CertNews::Unchanged => {}
                }
            }
            sh.status.set(i64::from(so.status.unwrap_or(0)));
            if let Some(page) = &so.page {
                m.browser.record(name, &step.name, page);
            }
            if so.status.is_some() {
                // Phases are known only when a response arrived; a transport error has none to split.
                let p = &so.phases;
                for (hist, d) in sh.phases.iter().zip([p.dns, p.connect, p.tls, p.waiting, p.transfer]) {
                    hist.observe(d.as_secs_f64());
                }
                sh.requests[usize::from(p.reused)].inc();
            }
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

    fn retried(&mut self, journey: &Journey, attempt: u32, failure: &Failure) {
        let name = journey.name.as_str();
        self.metrics.retries.with_label_values(&[name, failure.reason.as_str()]).inc();
        let of = journey.alerts.confirm;
        tracing::info!(
            journey = %name,
            step = %failure.step_name,
            reason = %failure.reason,
            "run failed, retrying at once to confirm (retry {attempt} of {of}): {}",
            failure.message
        );
    }

    fn late(&mut self, journey: &Journey, by: Duration) {
        self.metrics.late.with_label_values(&[journey.name.as_str()]).inc();
        tracing::debug!(journey = %journey.name, late_ms = by.as_millis() as u64, "run started late");
    }
}
