//! Comparing a run with a baseline report, journey by journey and step by step.
//!
//! Latency: the Mann-Whitney U test (two-sided, normal approximation with tie correction and continuity
//! correction), computed exactly from the two HDR histograms — values in one bucket are ties. A latency
//! change is a **regression** only when it is significant (p < [`ALPHA`]) AND large: p50 or p90 rose by at
//! least [`MIN_RELATIVE`] and at least [`MIN_ABSOLUTE`]. Availability: a drop of at least
//! [`MIN_AVAILABILITY_DROP`] that a two-proportion z-test finds significant (p < [`ALPHA`]).
//! Both conditions keep noise from failing deploys; see docs/verify.md.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::report::{Hist, Report};
use crate::units::format_latency;

/// Significance level of both tests.
pub const ALPHA: f64 = 0.01;
/// Minimum relative rise of p50 or p90 for a latency regression (+20 %).
pub const MIN_RELATIVE: f64 = 0.20;
/// Minimum absolute rise of p50 or p90 for a latency regression.
pub const MIN_ABSOLUTE: Duration = Duration::from_millis(5);
/// Minimum availability drop for an availability regression (one percentage point).
pub const MIN_AVAILABILITY_DROP: f64 = 0.01;

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
    let avail = |(runs, failed, _): (u64, u64, &Hist)| (runs > 0).then(|| (runs - failed) as f64 / runs as f64);
    let (lb, la) = (quantiles(before.2), quantiles(after.2));
    let mut d = Delta {
        journey: journey.to_string(),
        step: step.map(str::to_string),
        runs_before: before.0,
        runs_after: after.0,
        availability_before: avail(before),
        availability_after: avail(after),
        latency_before: lb,
        latency_after: la,
        latency_p_value: None,
        latency_effect: None,
        availability_p_value: None,
        regression: false,
        notes: Vec::new(),
    };
    if let Some(mw) = mann_whitney(after.2, before.2) {
        d.latency_p_value = Some(mw.p_value);
        d.latency_effect = Some(mw.effect);
        let big = |i: usize, label: &str| {
            let (b, a) = (lb[i], la[i]);
            (a - b >= MIN_ABSOLUTE.as_secs_f64() && a >= b * (1.0 + MIN_RELATIVE)).then(|| {
                format!(
                    "{label} {} → {} (+{:.0}%)",
                    format_latency(Duration::from_secs_f64(b)),
                    format_latency(Duration::from_secs_f64(a)),
                    if b > 0.0 { (a / b - 1.0) * 100.0 } else { f64::INFINITY }
                )
            })
        };
        let large: Vec<String> = [big(0, "p50"), big(1, "p90")].into_iter().flatten().collect();
        let significant = mw.p_value < ALPHA && mw.effect > 0.5;
        if significant && !large.is_empty() {
            d.regression = true;
            d.notes.push(format!("latency regression: {}; Mann-Whitney p = {:.2e}", large.join(", "), mw.p_value));
        } else if !large.is_empty() {
            d.notes.push(format!("slower ({}) but not significant (p = {:.3})", large.join(", "), mw.p_value));
        } else if significant {
            d.notes.push(format!(
                "significantly slower (p = {:.2e}) but below the minimum effect (+20% and +5ms on p50 or p90)",
                mw.p_value
            ));
        }
    }
    if let (Some(ab), Some(aa)) = (d.availability_before, d.availability_after) {
        let p = two_proportion_p(before.0 - before.1, before.0, after.0 - after.1, after.0);
        d.availability_p_value = Some(p);
        if ab - aa >= MIN_AVAILABILITY_DROP && p < ALPHA {
            d.regression = true;
            d.notes.push(format!(
                "availability regression: {:.2}% → {:.2}%; z-test p = {:.2e}",
                ab * 100.0,
                aa * 100.0,
                p
            ));
        }
    }
    d
}

/// A Mann-Whitney U result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample: the number of (x, y) pairs with x > y, ties counting ½.
    pub u: f64,
    pub p_value: f64,
    /// U / (n₁ n₂): P(X > Y) + ½ P(X = Y).
    pub effect: f64,
}

/// The Mann-Whitney U test of `x` against `y`, exact over histogram buckets (equal buckets are ties).
/// `None` when either side is empty.
pub fn mann_whitney(x: &Hist, y: &Hist) -> Option<MannWhitney> {
    let (n1, n2) = (x.count() as f64, y.count() as f64);
    if n1 == 0.0 || n2 == 0.0 {
        return None;
    }
    let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for (v, c) in x.buckets() {
        buckets.entry(v).or_default().0 += c as f64;
    }
    for (v, c) in y.buckets() {
        buckets.entry(v).or_default().1 += c as f64;
    }
    let (mut u, mut y_below, mut ties) = (0.0, 0.0, 0.0);
    for (a, b) in buckets.values() {
        u += a * y_below + 0.5 * a * b;
        y_below += b;
        let t = a + b;
        ties += t * t * t - t;
    }
    let n = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    let p_value = if var <= 0.0 {
        1.0
    } else {
        let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
        erfc(z / std::f64::consts::SQRT_2).min(1.0)
    };
    Some(MannWhitney { u, p_value, effect: u / (n1 * n2) })
}

/// Two-sided p-value of the pooled two-proportion z-test (successes / trials on each side).
fn two_proportion_p(s1: u64, n1: u64, s2: u64, n2: u64) -> f64 {
    let (s1, n1, s2, n2) = (s1 as f64, n1 as f64, s2 as f64, n2 as f64);
    let pooled = (s1 + s2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return 1.0;
    }
    let z = (s1 / n1 - s2 / n2).abs() / se;
    erfc(z / std::f64::consts::SQRT_2).min(1.0)
}

/// The complementary error function, by the Chebyshev fit in Numerical Recipes (fractional error below
/// 1.2e-7 everywhere), which is ample for a p-value compared with 0.01.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
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
    fn erfc_matches_known_values() {
        for (x, want) in
            [(0.0, 1.0), (0.5, 0.479_500_122), (1.0, 0.157_299_207), (2.0, 0.004_677_735), (-1.0, 1.842_700_793)]
        {
            assert!((erfc(x) - want).abs() < 1e-6, "erfc({x}) = {}", erfc(x));
        }
    }

    #[test]
    fn u_counts_pairs_with_ties_as_halves() {
        // x = {1, 2, 3}, y = {2, 4}: pairs x>y: (3,2) = 1; ties: (2,2) = ½ → U = 1.5.
        let mw = mann_whitney(&hist(&[1, 2, 3]), &hist(&[2, 4])).unwrap();
        assert_eq!(mw.u, 1.5);
        assert_eq!(mw.effect, 0.25);
    }

    #[test]
    fn a_clear_shift_is_significant_and_identical_samples_are_not() {
        let before: Vec<u64> = (0..40).map(|i| 10 + i % 5).collect();
        let after: Vec<u64> = (0..40).map(|i| 60 + i % 5).collect();
        let mw = mann_whitney(&hist(&after), &hist(&before)).unwrap();
        assert!(mw.p_value < 1e-9 && mw.effect == 1.0, "{mw:?}");
        let same = mann_whitney(&hist(&before), &hist(&before)).unwrap();
        assert!(same.p_value > 0.9 && same.effect == 0.5, "{same:?}");
        // Everything tied in one bucket: no variance, no evidence.
        assert_eq!(mann_whitney(&hist(&[5; 10]), &hist(&[5; 10])).unwrap().p_value, 1.0);
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
