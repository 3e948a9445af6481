//! What should fire for one journey (hysteresis, SLO burn, latency, certificate expiry), and the alert
//! receivers see.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::{evidence, Engine};
use crate::alert::notify::{Alert, AlertName};
use crate::alert::slo::WINDOWS;
use crate::settings::{Severities, TraceSettings};

/// Per alert that should fire: its annotations.
pub(super) type Wanted = BTreeMap<AlertName, BTreeMap<String, String>>;

/// The `severity` label of one alert.
fn severity_of(sev: &Severities, alert: AlertName) -> &str {
    match alert {
        AlertName::Down => &sev.down,
        AlertName::Degraded => &sev.degraded,
        AlertName::SloBurnFast => &sev.slo_fast,
        AlertName::SloBurnSlow => &sev.slo_slow,
        AlertName::Latency => &sev.latency,
        AlertName::CertExpiring => &sev.cert_expiring,
        AlertName::CertExpiringSoon => &sev.cert_expiring_soon,
        AlertName::DeployRegression => &sev.deploy_regression,
        AlertName::CanaryRegression => &sev.canary_regression,
    }
}

/// `trace_id`, and `trace_url` when the settings have a link template.
fn trace_annotations(traces: &TraceSettings, ann: &mut BTreeMap<String, String>, id: &str) {
    ann.insert("trace_id".into(), id.to_string());
    if let Some(link) = traces.link(id) {
        ann.insert("trace_url".into(), link);
    }
}

impl Engine {
    /// What should be firing for one journey, before maintenance and dependencies.
    pub(super) fn wanted(&mut self, i: usize, now: Instant) -> BTreeMap<AlertName, BTreeMap<String, String>> {
        let elapsed = now.saturating_duration_since(self.started);
        let mut out = BTreeMap::new();
        let t = &mut self.watched[i].tracker;
        let journey = Arc::clone(&t.journey);
        let name = journey.name.as_str();
        if t.down {
            let mut ann = BTreeMap::new();
            let threshold = t.failure_threshold();
            let mut summary = format!("journey {name} is down: {threshold} or more runs in a row failed");
            if let Some(f) = &t.last_failure {
                summary = format!("journey {name} is down: step {:?} fails ({})", f.step_name, f.reason);
                ann.insert("step".into(), f.step_name.clone());
                ann.insert("reason".into(), f.reason.as_str().to_string());
                ann.insert("description".into(), f.to_string());
                ann.insert("evidence".into(), evidence(f));
                if let Some(id) = &f.trace_id {
                    trace_annotations(&self.settings.traces, &mut ann, id);
                }
            }
            ann.insert("summary".into(), summary);
            out.insert(AlertName::Down, ann);
        } else if t.degraded {
            let why = t.last_degradation.clone().unwrap_or_default();
            let mut ann = BTreeMap::new();
            ann.insert("summary".into(), format!("journey {name} is degraded: it passes, but {why}"));
            ann.insert("description".into(), why);
            if let Some(id) = &t.last_degraded_trace {
                trace_annotations(&self.settings.traces, &mut ann, id);
            }
            out.insert(AlertName::Degraded, ann);
        }
        if let Some(st) = t.slo_status(elapsed) {
            let slo = t.slo.as_ref().map(|s| s.slo).expect("slo status implies slo");
            let m = &self.metrics;
            m.objective.with_label_values(&[name]).set(slo.objective);
            m.budget_remaining.with_label_values(&[name]).set(st.budget_remaining);
            for (i, (w, _)) in WINDOWS.iter().enumerate() {
                m.burn_rate.with_label_values(&[name, w]).set(st.burn[i]);
            }
            let pct = format!("{}%", (slo.objective * 100_000.0).round() / 1000.0);
            // Annotations stay the same while the alert fires (numbers move every run; they are in the
            // metrics), so receivers are not re-notified on every run.
            let window = crate::units::format_duration(slo.window);
            if st.fast_burn() {
                let mut ann = BTreeMap::new();
                ann.insert(
                    "summary".into(),
                    format!("journey {name} burns its {pct} error budget over 14.4× too fast (1h and 5m)"),
                );
                ann.insert(
                    "description".into(),
                    format!(
                        "at this rate 2% of the {window} error budget is gone every hour; see journey_slo_burn_rate"
                    ),
                );
                out.insert(AlertName::SloBurnFast, ann);
            }
            if st.slow_burn() {
                let mut ann = BTreeMap::new();
                ann.insert(
                    "summary".into(),
                    format!("journey {name} burns its {pct} error budget over 6× too fast (6h and 30m)"),
                );
                ann.insert(
                    "description".into(),
                    format!(
                        "at this rate 5% of the {window} error budget is gone every 6 hours; see journey_slo_burn_rate"
                    ),
                );
                out.insert(AlertName::SloBurnSlow, ann);
            }
        }
        let breaches = t.latency_breaches(now);
        if !breaches.is_empty() {
            let mut ann = BTreeMap::new();
            ann.insert("summary".into(), format!("journey {name} is slow: {}", breaches[0]));
            ann.insert("description".into(), breaches.join("\n"));
            out.insert(AlertName::Latency, ann);
        }
        let wall = self.clock.wall(now).duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        out.extend(t.cert_alerts(wall));
        if let Some(verdicts) = self.verdicts.get(name) {
            out.extend(verdicts.iter().map(|(alert, ann)| (*alert, ann.clone())));
        }
        out
    }

    /// The alert as receivers see it; its severity comes from the settings in force.
    pub(super) fn alert(&self, name: &str, alert: AlertName, annotations: BTreeMap<String, String>) -> Alert {
        let severity = severity_of(&self.settings.defaults.severity, alert).to_string();
        let mut labels = self.settings.external_labels.clone();
        labels.insert("alertname".into(), alert.as_str().into());
        labels.insert("journey".into(), name.into());
        labels.insert("severity".into(), severity);
        Alert {
            labels,
            annotations,
            starts_at: SystemTime::UNIX_EPOCH,
            ends_at: None,
            generator_url: format!("{}api/v1/alerts?journey={name}", self.base_url),
        }
    }
}
