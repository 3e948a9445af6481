//! Comparing a run with a baseline report, journey by journey and step by step, with the statistics in
//! [`crate::stats`] (Mann-Whitney U on the HDR histograms for latency, a two-proportion z-test for
//! availability, both at p < [`ALPHA`] and with a minimum effect, so noise does not fail deploys); see
//! docs/verify.md. The monitor's deploy comparison uses the same functions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::report::{Hist, Report};
use crate::stats::{self, Tally};
use crate::units::format_latency;

pub use crate::stats::ALPHA;

/// The comparison of a run with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// When the baseline ran (RFC 3339).
    pub baseline_started_at: String,
    pub deltas: Vec<Delta>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.deltas.iter().filter(|d| d.regression).count()
    }
}

/// One journey (step `None`) or step, before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    pub journey: String,
    pub step: Option<String>,
    pub runs_before: u64,
    pub runs_after: u64,
    pub availability_before: Option<f64>,
    pub availability_after: Option<f64>,
    /// Seconds: [p50, p90, p99, max] before and after.
    pub latency_before: [f64; 4],
    pub latency_after: [f64; 4],
    /// Mann-Whitney U two-sided p-value; `None` when either side has no data.
    pub latency_p_value: Option<f64>,
    /// P(after > before) + ½ P(tie): 0.5 is no shift, 1 is every run slower.
    pub latency_effect: Option<f64>,
    /// Two-proportion z-test p-value for availability.
    pub availability_p_value: Option<f64>,
    pub regression: bool,
    /// Why it is (or is not quite) a regression, for people.
    pub notes: Vec<String>,
}

/// Compares `after` with `before` for every journey and step present in both.
pub fn compare(before: &Report, after: &Report) -> Comparison {
    let mut deltas = Vec::new();
    for (name, a) in &after.journeys {
        let Some(b) = before.journeys.get(name) else { continue };
        deltas.push(delta(name, None, (b.runs, b.failed, &b.duration), (a.runs, a.failed, &a.duration)));
        for sa in &a.steps {
            if let Some(sb) = b.steps.iter().find(|s| s.name == sa.name) {
                deltas.push(delta(
                    name,
                    Some(&sa.name),
                    (sb.runs, sb.failed, &sb.response),
                    (sa.runs, sa.failed, &sa.response),
                ));
            }
        }
    }
    Comparison { baseline_started_at: before.started_at.clone(), deltas }
}

fn quantiles(h: &Hist) -> [f64; 4] {
    [h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.max()].map(|d| d.as_secs_f64())
}

fn delta(journey: &str, step: Option<&str>, before: (u64, u64, &Hist), after: (u64, u64, &Hist)) -> Delta {
    let tally = |(runs, failed, _): (u64, u64, &Hist)| Tally { passed: runs - failed, runs };
    let mut d = Delta {
        journey: journey.to_string(),
        step: step.map(str::to_string),
        runs_before: before.0,
        runs_after: after.0,
        availability_before: tally(before).ratio(),
        availability_after: tally(after).ratio(),
        latency_before: quantiles(before.2),
        latency_after: quantiles(after.2),
        latency_p_value: None,
        latency_effect: None,
        availability_p_value: None,
        regression: false,
        notes: Vec::new(),
    };
    if let Some(v) = stats::latency(&before.2 .0, &after.2 .0, ALPHA) {
        d.latency_p_value = Some(v.test.p_value);
        d.latency_effect = Some(v.test.effect);
        let large: Vec<String> = v
            .rises
            .iter()
            .map(|r| {
                format!(
                    "{} {} → {} (+{:.0}%)",
                    r.label,
                    format_latency(Duration::from_secs_f64(r.before)),
                    format_latency(Duration::from_secs_f64(r.after)),
                    r.percent()
                )
            })
            .collect();
        let p = v.test.p_value;
        if v.regression() {
            d.regression = true;
            d.notes.push(format!("latency regression: {}; Mann-Whitney p = {p:.2e}", large.join(", ")));
        } else if !large.is_empty() {
            d.notes.push(format!("slower ({}) but not significant (p = {p:.3})", large.join(", ")));
        } else if v.significant {
            d.notes.push(format!(
                "significantly slower (p = {p:.2e}) but below the minimum effect (+20% and +5ms on p50 or p90)"
            ));
        }
    }
    if let Some(v) = stats::availability(tally(before), tally(after), ALPHA) {
        d.availability_p_value = Some(v.p_value);
        if v.regression {
            d.regression = true;
            d.notes.push(format!(
                "availability regression: {:.2}% → {:.2}%; z-test p = {:.2e}",
                v.before * 100.0,
                v.after * 100.0,
                v.p_value
            ));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_ms: &[u64]) -> Hist {
        let mut h = Hist::default();
        values_ms.iter().for_each(|&v| h.record(Duration::from_millis(v)));
        h
    }

    #[test]
    fn a_regression_needs_significance_and_a_minimum_effect() {
        let before: Vec<u64> = (0..200).map(|i| 10 + i % 5).collect();
        // Significant but only +1 ms: not a regression.
        let small: Vec<u64> = (0..200).map(|i| 11 + i % 5).collect();
        let d = delta("j", None, (200, 0, &hist(&before)), (200, 0, &hist(&small)));
        assert!(!d.regression && d.latency_p_value.unwrap() < ALPHA, "{d:?}");
        let big: Vec<u64> = (0..200).map(|i| 60 + i % 5).collect();
        let d = delta("j", None, (200, 0, &hist(&before)), (200, 0, &hist(&big)));
        assert!(d.regression, "{d:?}");
        // Large but on 2 samples each: not significant.
        let d = delta("j", None, (2, 0, &hist(&[10, 11])), (2, 0, &hist(&[60, 61])));
        assert!(!d.regression, "{d:?}");
    }

    #[test]
    fn availability_drops_are_regressions_when_significant() {
        let h = hist(&[10; 100]);
        let d = delta("j", None, (100, 0, &h), (100, 30, &h));
        assert!(d.regression && d.notes[0].starts_with("availability regression"), "{d:?}");
        let d = delta("j", None, (100, 0, &h), (100, 1, &h));
        assert!(!d.regression, "{d:?}");
    }
}
