//! Thresholds judged against a report: each parsed threshold (the language is the leaf `crate::threshold`)
//! evaluated on every journey and step it covers, plus the implicit availability gate. `cert_expiry` counts
//! from the end of the run to the earliest-expiring certificate the journey (or step) presented.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::CmpOp;
use crate::report::{EarliestCert, FailureCount, Hist, JourneyReport, Report, StepReport};
use crate::threshold::{Limit, Metric, Threshold, VitalStat};
use crate::units::format_latency;

/// The result of one threshold on one journey or step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// The threshold with its scope made explicit (`checkout.login: p99 < 300ms`).
    pub threshold: String,
    pub journey: String,
    pub step: Option<String>,
    pub passed: bool,
    /// What was measured, for people (`412ms`, `99.20%`, `3`), or why nothing was.
    pub actual: String,
    /// What was measured, in base units (seconds, ratio, count); `None` with no data.
    pub value: Option<f64>,
    /// The default availability gate, added because no availability threshold covered the journey.
    pub implicit: bool,
}

/// Evaluates `thresholds` against every journey they cover, plus the implicit `availability >= 100%` of
/// each journey no journey-level availability threshold covers.
pub fn evaluate(report: &Report, thresholds: &[Threshold]) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (name, jr) in &report.journeys {
        let covered = thresholds.iter().any(|t| {
            t.metric == Metric::Availability && t.step.is_none() && t.journey.as_ref().map_or(true, |j| j == name)
        });
        let mut implicit = None;
        if !covered {
            implicit = Some(Threshold {
                text: format!("{name}: availability >= 100%"),
                expr: "availability >= 100%".into(),
                journey: Some(name.clone()),
                step: None,
                metric: Metric::Availability,
                op: CmpOp::Ge,
                limit: Limit::Ratio(1.0),
                implicit: true,
            });
        }
        for t in thresholds.iter().chain(implicit.iter()) {
            if t.journey.as_ref().is_some_and(|j| j != name) {
                continue;
            }
            let shown = match &t.step {
                Some(s) => format!("{name}.{s}: {}", t.expr),
                None => format!("{name}: {}", t.expr),
            };
            let measured = match &t.step {
                None => measure(&t.metric, &Scope::journey(jr), report.end_unix()),
                Some(s) => match jr.steps.iter().find(|st| &st.name == s) {
                    Some(st) => measure(&t.metric, &Scope::step(st), report.end_unix()),
                    None => Err(format!("journey has no step `{s}`")),
                },
            };
            let (passed, actual, value) = match measured {
                Ok((value, actual)) => (compare(value, t.op, limit_value(&t.limit)), actual, Some(value)),
                Err(why) => (false, why, None),
            };
            out.push(Verdict {
                threshold: shown,
                journey: name.clone(),
                step: t.step.clone(),
                passed,
                actual,
                value,
                implicit: t.implicit,
            });
        }
    }
    // Thresholds naming a journey absent from the report fail: a gate must not pass on nothing.
    for t in thresholds {
        if let Some(j) = &t.journey {
            if !report.journeys.contains_key(j) {
                out.push(Verdict {
                    threshold: t.to_string(),
                    journey: j.clone(),
                    step: t.step.clone(),
                    passed: false,
                    actual: "journey not in the report".into(),
                    value: None,
                    implicit: false,
                });
            }
        }
    }
    out
}

fn limit_value(l: &Limit) -> f64 {
    match l {
        Limit::Ratio(r) => *r,
        Limit::Duration(d) => d.as_secs_f64(),
        Limit::Count(n) => *n as f64,
    }
}

fn compare(v: f64, op: CmpOp, limit: f64) -> bool {
    match op {
        CmpOp::Lt => v < limit,
        CmpOp::Le => v <= limit,
        CmpOp::Gt => v > limit,
        CmpOp::Ge => v >= limit,
        CmpOp::Eq => v == limit,
        CmpOp::Ne => v != limit,
    }
}

/// What a threshold is measured on: a journey or one of its steps.
struct Scope<'a> {
    runs: u64,
    failed: u64,
    /// Whole-iteration response time, or the step's.
    hist: &'a Hist,
    failures: &'a BTreeMap<String, FailureCount>,
    cert: Option<&'a EarliestCert>,
    /// For a journey: the step that presented `cert`.
    cert_step: Option<&'a str>,
    /// Browser steps' page timings: the step's, or every step's of the journey.
    vitals: Vec<&'a BTreeMap<String, Hist>>,
}

impl Scope<'_> {
    fn journey(jr: &JourneyReport) -> Scope<'_> {
        let cert = jr.earliest_cert.as_ref();
        let cert_step = jr.steps.iter().find(|s| cert.is_some() && s.earliest_cert.as_ref() == cert);
        Scope {
            runs: jr.runs,
            failed: jr.failed,
            hist: &jr.duration,
            failures: &jr.failures,
            cert,
            cert_step: cert_step.map(|s| s.name.as_str()),
            vitals: jr.steps.iter().map(|s| &s.vitals).collect(),
        }
    }

    fn step(st: &StepReport) -> Scope<'_> {
        Scope {
            runs: st.runs,
            failed: st.failed,
            hist: &st.response,
            failures: &st.failures,
            cert: st.earliest_cert.as_ref(),
            cert_step: None,
            vitals: vec![&st.vitals],
        }
    }
}

/// Seconds from `end` (Unix seconds, the end of the run) until the scope's earliest certificate expires, and
/// what people read: `2027-01-05T12:00:00Z, 19 days left when the run ended: CN=shop.example (step "login")`.
fn time_left(s: &Scope<'_>, end: f64) -> Result<(f64, String), String> {
    let Some(c) = s.cert else {
        return Err("no TLS certificate seen: no new https connection was made (plain http, or only reused \
                    connections)"
            .into());
    };
    let end = end.floor() as i64;
    let step = s.cert_step.map_or(String::new(), |st| format!(" (step {st:?})"));
    let text = format!(
        "{}, {} when the run ended: {}{step}",
        c.expires_at,
        crate::units::time_left(c.expires_unix, end),
        c.subject
    );
    Ok(((c.expires_unix - end) as f64, text))
}

fn measure(m: &Metric, s: &Scope<'_>, end: f64) -> Result<(f64, String), String> {
    let latency = |d: Duration| Ok((d.as_secs_f64(), format_latency(d)));
    let (runs, failed, hist, failures) = (s.runs, s.failed, s.hist, s.failures);
    match m {
        Metric::CertExpiry => time_left(s, end),
        Metric::Vital(name, stat) => {
            let mut all = Hist::default();
            s.vitals.iter().filter_map(|v| v.get(*name)).for_each(|h| all.add(h));
            if all.is_empty() {
                return Err(format!("no {name} measured: only browser steps that load a page have one"));
            }
            match stat {
                VitalStat::Quantile(q) => latency(all.quantile(*q)),
                VitalStat::Max => latency(all.max()),
                VitalStat::Mean => latency(all.mean()),
            }
        }
        Metric::Runs => Ok((runs as f64, runs.to_string())),
        Metric::Failures(None) => Ok((failed as f64, failed.to_string())),
        Metric::Failures(Some(r)) => {
            let n = failures.get(r.as_str()).map_or(0, |f| f.count);
            Ok((n as f64, n.to_string()))
        }
        _ if runs == 0 || hist.is_empty() => Err("no completed runs".into()),
        Metric::Availability => {
            let a = (runs - failed) as f64 / runs as f64;
            Ok((a, format!("{:.2}% ({} of {runs} failed)", a * 100.0, failed)))
        }
        Metric::Quantile(q) => latency(hist.quantile(*q)),
        Metric::Max => latency(hist.max()),
        Metric::Mean => latency(hist.mean()),
    }
}
