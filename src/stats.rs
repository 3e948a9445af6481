//! The statistics every before/after comparison shares: `verify --baseline` (report::baseline) and the
//! monitor's deploy comparison (deploys). One implementation, so a deploy judged in CI and on the monitor
//! is judged the same way.
//!
//! Latency: the Mann-Whitney U test (two-sided, normal approximation with tie correction and continuity
//! correction), computed exactly from two HDR histograms — values in one bucket are ties. A latency change
//! is a **regression** only when it is significant AND large: p50 or p90 rose by at least
//! [`MIN_RELATIVE`] and at least [`MIN_ABSOLUTE`]. Availability: a drop of at least
//! [`MIN_AVAILABILITY_DROP`] that a pooled two-proportion z-test finds significant. Where the two sides ran
//! at the same moments (canary beside stable), latency significance is taken tick by tick instead
//! ([`blocked_sign_test`]), with the same minimum effect.
//!
//! Repeated looks: the monitor tests again each time a run arrives, and a fixed level per look would add
//! up over the looks. [`Looks`] spends the significance level over the decision window with the
//! Lan–DeMets Pocock-type spending function α·ln(1 + (e − 1)·t) (t: the elapsed share of the window), and
//! each look tests at the level spent since the previous look; by the union bound the chance of any false
//! alarm over the whole window stays below α whatever the number and timing of the looks. Pocock-type
//! rather than O'Brien–Fleming-type because a deploy regression should be caught early in the window,
//! where O'Brien–Fleming spends almost nothing (docs/verify.md, "Deploys on the monitor").

use std::time::Duration;

use hdrhistogram::Histogram;

/// Significance level of both tests (per comparison; spent over the looks on the monitor).
pub const ALPHA: f64 = 0.01;
/// Minimum relative rise of p50 or p90 for a latency regression (+20 %).
pub const MIN_RELATIVE: f64 = 0.20;
/// Minimum absolute rise of p50 or p90 for a latency regression.
pub const MIN_ABSOLUTE: Duration = Duration::from_millis(5);
/// Minimum availability drop for an availability regression (one percentage point).
pub const MIN_AVAILABILITY_DROP: f64 = 0.01;

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
/// `None` when either side is empty. Both histograms must share one bucket layout.
pub fn mann_whitney(x: &Histogram<u64>, y: &Histogram<u64>) -> Option<MannWhitney> {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    if n1 == 0.0 || n2 == 0.0 {
        return None;
    }
    let (u, ties) = u_and_ties(buckets(x), buckets(y));
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

/// U of `xs` against `ys` (pairs with x > y, ties counting ½) and the tie term Σ(t³ − t), from two
/// ascending runs of (value, count): one merge pairs equal values (ties).
fn u_and_ties(xs: impl Iterator<Item = (u64, f64)>, ys: impl Iterator<Item = (u64, f64)>) -> (f64, f64) {
    let (mut xs, mut ys) = (xs.peekable(), ys.peekable());
    let (mut u, mut y_below, mut ties) = (0.0, 0.0, 0.0);
    loop {
        let (a, b) = match (xs.peek(), ys.peek()) {
            (None, None) => break,
            (Some(&(vx, cx)), Some(&(vy, cy))) if vx == vy => {
                xs.next();
                ys.next();
                (cx, cy)
            }
            (Some(&(vx, cx)), Some(&(vy, _))) if vx < vy => {
                xs.next();
                (cx, 0.0)
            }
            (Some(&(_, cx)), None) => {
                xs.next();
                (cx, 0.0)
            }
            (_, Some(&(_, cy))) => {
                ys.next();
                (0.0, cy)
            }
        };
        u += a * y_below + 0.5 * a * b;
        y_below += b;
        let t = a + b;
        ties += t * t * t - t;
    }
    (u, ties)
}

/// The latencies (µs) of both sides that met the same moment: one tick of a journey that runs the baseline
/// and the other target together (`x` is the side tested for being slower, as in [`mann_whitney`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    pub x: Vec<u64>,
    pub y: Vec<u64>,
}

/// The paired sign test of `x` against `y` over blocks: within each block that has both sides, `x` is
/// slower when its Mann-Whitney U exceeds half the pairs, faster when below; under "no difference" each
/// block is a coin flip, and the p-value is the exact two-sided binomial tail of the blocks `x` was slower
/// in (blocks with no winner are left out, as a sign test does). `u` counts the blocks `x` was slower in
/// (½ for a draw) and `effect` is that share of the blocks. `None` when no block has both sides.
///
/// Why blocks, and why one vote each: the runs of one tick share its moment, so they are not independent
/// samples. A busy second slows all of them, and on a loaded machine whichever side starts first in the
/// tick gets the CPU first. A whole-window test counts that one moment twenty times and calls it
/// significant; even a within-tick rank test with a variance that assumes exchangeable runs does, when
/// the order within the tick favours one side. One vote per tick uses the ticks' own spread: a moment
/// that slows both sides cancels out, and an order effect that alternates with the starting side
/// alternates the votes.
pub fn blocked_sign_test(blocks: &[Block]) -> Option<MannWhitney> {
    let (mut slower, mut faster, mut draws) = (0u64, 0u64, 0u64);
    for block in blocks.iter().filter(|b| !b.x.is_empty() && !b.y.is_empty()) {
        let (u, _) = u_and_ties(runs(&block.x).into_iter(), runs(&block.y).into_iter());
        let half = block.x.len() as f64 * block.y.len() as f64 / 2.0;
        match u.total_cmp(&half) {
            std::cmp::Ordering::Greater => slower += 1,
            std::cmp::Ordering::Less => faster += 1,
            std::cmp::Ordering::Equal => draws += 1,
        }
    }
    let blocks = slower + faster + draws;
    if blocks == 0 {
        return None;
    }
    let decided = slower + faster;
    let tail: f64 = (slower.max(faster)..=decided)
        .map(|k| (ln_choose(decided, k) - decided as f64 * std::f64::consts::LN_2).exp())
        .sum();
    let p_value = if decided == 0 { 1.0 } else { (2.0 * tail).min(1.0) };
    let u = slower as f64 + 0.5 * draws as f64;
    Some(MannWhitney { u, p_value, effect: u / blocks as f64 })
}

/// Ascending (value, count) runs of some values.
fn runs(values: &[u64]) -> Vec<(u64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u64, f64)> = Vec::with_capacity(sorted.len());
    for v in sorted {
        match out.last_mut() {
            Some((last, count)) if *last == v => *count += 1.0,
            _ => out.push((v, 1.0)),
        }
    }
    out
}

/// Non-empty buckets in ascending order: (highest value equivalent to the bucket, count).
fn buckets(h: &Histogram<u64>) -> impl Iterator<Item = (u64, f64)> + '_ {
    h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value() as f64))
}

/// Two-sided p-value of the pooled two-proportion z-test (successes / trials on each side).
pub fn two_proportion_p(s1: u64, n1: u64, s2: u64, n2: u64) -> f64 {
    let (s1, n1, s2, n2) = (s1 as f64, n1 as f64, s2 as f64, n2 as f64);
    let pooled = (s1 + s2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 || !se.is_finite() {
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

/// A quantile that rose by the minimum effect: `label` (`p50`, `p90`) went from `before` to `after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rise {
    pub label: &'static str,
    /// Seconds.
    pub before: f64,
    pub after: f64,
}

impl Rise {
    /// The relative rise in percent (infinite from zero).
    pub fn percent(&self) -> f64 {
        if self.before > 0.0 {
            (self.after / self.before - 1.0) * 100.0
        } else {
            f64::INFINITY
        }
    }
}

/// The latency comparison of `after` with `before`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyVerdict {
    pub test: MannWhitney,
    /// p50 and p90 rises that reach the minimum effect (empty: none does).
    pub rises: Vec<Rise>,
    /// p < `alpha` and `after` tends to be slower.
    pub significant: bool,
}

impl LatencyVerdict {
    /// Significant and large enough to matter.
    pub fn regression(&self) -> bool {
        self.significant && !self.rises.is_empty()
    }
}

/// p50 and p90 in seconds: what the minimum effect is judged on.
pub fn median_and_p90(h: &Histogram<u64>) -> [f64; 2] {
    if h.is_empty() {
        return [0.0; 2];
    }
    [0.5, 0.9].map(|q| h.value_at_quantile(q) as f64 / 1e6)
}

/// Compares latency histograms (µs) at significance level `alpha`; `None` when either side is empty.
pub fn latency(before: &Histogram<u64>, after: &Histogram<u64>, alpha: f64) -> Option<LatencyVerdict> {
    Some(latency_verdict(mann_whitney(after, before)?, before, after, alpha))
}

/// Compares latency as [`latency`] does, with the significance taken over blocks
/// ([`blocked_sign_test`], `x` the `after` side) and the minimum effect on the whole histograms. `None`
/// when no block has both sides.
pub fn latency_in_blocks(
    before: &Histogram<u64>,
    after: &Histogram<u64>,
    blocks: &[Block],
    alpha: f64,
) -> Option<LatencyVerdict> {
    Some(latency_verdict(blocked_sign_test(blocks)?, before, after, alpha))
}

fn latency_verdict(test: MannWhitney, before: &Histogram<u64>, after: &Histogram<u64>, alpha: f64) -> LatencyVerdict {
    let (b, a) = (median_and_p90(before), median_and_p90(after));
    let rises = [("p50", b[0], a[0]), ("p90", b[1], a[1])]
        .into_iter()
        .filter(|(_, b, a)| a - b >= MIN_ABSOLUTE.as_secs_f64() && *a >= b * (1.0 + MIN_RELATIVE))
        .map(|(label, before, after)| Rise { label, before, after })
        .collect();
    LatencyVerdict { test, rises, significant: test.p_value < alpha && test.effect > 0.5 }
}

/// Passed and completed runs on one side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub passed: u64,
    pub runs: u64,
}

impl Tally {
    pub fn ratio(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.passed as f64 / self.runs as f64)
    }
}

/// The availability comparison of `after` with `before`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvailabilityVerdict {
    pub before: f64,
    pub after: f64,
    pub p_value: f64,
    /// A drop of at least [`MIN_AVAILABILITY_DROP`] with p < `alpha`.
    pub regression: bool,
}

/// Compares availability at significance level `alpha`; `None` when either side has no runs.
///
/// The p-value is the larger of the pooled z-test's and Fisher's exact test's (two-sided, as twice the
/// one-sided tail). With thousands of failures both agree; with the few failures a healthy site has, the
/// z-test's normal approximation calls one failure in the first runs after a deploy "significant", and the
/// exact test does not.
pub fn availability(before: Tally, after: Tally, alpha: f64) -> Option<AvailabilityVerdict> {
    let (b, a) = (before.ratio()?, after.ratio()?);
    let z = two_proportion_p(before.passed, before.runs, after.passed, after.runs);
    let p_value = z.max(fisher_p(before, after));
    Some(AvailabilityVerdict {
        before: b,
        after: a,
        p_value,
        regression: b - a >= MIN_AVAILABILITY_DROP && p_value < alpha,
    })
}

/// Fisher's exact test, two-sided as twice the one-sided tail toward the observed side (capped at 1): the
/// chance, given both sides' totals, that `after` holds at least as many of the failures as it does
/// (or as few, when it holds fewer than its share).
pub fn fisher_p(before: Tally, after: Tally) -> f64 {
    let total = before.runs + after.runs;
    let failures = (before.runs - before.passed) + (after.runs - after.passed);
    let observed = after.runs - after.passed;
    if total == 0 || failures == 0 || failures == total {
        return 1.0;
    }
    let (lo, hi) = (failures.saturating_sub(before.runs), failures.min(after.runs));
    // ln P(X = x) for X hypergeometric: x of `failures` fall among `after.runs` of `total` draws.
    let ln_p =
        |x: u64| ln_choose(failures, x) + ln_choose(total - failures, after.runs - x) - ln_choose(total, after.runs);
    let expected = failures as f64 * after.runs as f64 / total as f64;
    let range: Box<dyn Iterator<Item = u64>> =
        if observed as f64 >= expected { Box::new(observed..=hi) } else { Box::new(lo..=observed) };
    let tail: f64 = range.map(|x| ln_p(x).exp()).sum();
    (2.0 * tail).min(1.0)
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// ln Γ(x) for x > 0, by the Lanczos approximation (g = 7, nine terms; relative error below 1e-13).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let series: f64 = G[1..].iter().enumerate().fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// The Lan–DeMets Pocock-type spending function: the share of `alpha` spent once a fraction `t` (0–1) of
/// the decision window has passed. Spends α·ln(e)·… = α at t = 1, about a sixth of it by t = 0.1.
pub fn pocock_spent(alpha: f64, t: f64) -> f64 {
    alpha * (1.0 + (std::f64::consts::E - 1.0) * t.clamp(0.0, 1.0)).ln()
}

/// The looks taken at one comparison so far: how much of the level is spent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Looks {
    /// The level of the whole sequence of looks.
    alpha: f64,
    /// Spent by the looks already taken; the next look may use what the spending function allows beyond it.
    spent: f64,
}

impl Looks {
    pub fn new(alpha: f64) -> Looks {
        Looks { alpha, spent: 0.0 }
    }

    /// A look once a fraction `t` of the window has passed: the level this look tests at (zero when time
    /// has not moved since the last look: there is nothing left to spend).
    pub fn look(&mut self, t: f64) -> f64 {
        let total = pocock_spent(self.alpha, t);
        let level = (total - self.spent).max(0.0);
        self.spent = self.spent.max(total);
        level
    }

    /// Spent so far.
    pub fn spent(&self) -> f64 {
        self.spent
    }
}

#[cfg(test)]
mod tests;
