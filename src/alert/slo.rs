//! Availability counts in time buckets, for SLO burn rates and the error budget.
//!
//! Memory is bounded whatever the run rate: one bucket per minute for the last 6 hours (the longest
//! burn-rate window) and one per hour for the SLO window (at most 90 days: 2,160 buckets).

use std::collections::VecDeque;
use std::time::Duration;

use crate::model::Slo;

/// The burn-rate windows, as exported in `journey_slo_burn_rate{window}`.
pub const WINDOWS: [(&str, u64); 4] = [("5m", 5), ("30m", 30), ("1h", 60), ("6h", 360)];
/// Fast burn (page): 2% of a 30-day budget in an hour.
pub const FAST_BURN: f64 = 14.4;
/// Slow burn (ticket): 5% of a 30-day budget in six hours.
pub const SLOW_BURN: f64 = 6.0;

const MINUTE_BUCKETS: usize = 360;
/// Runs the long window needs before a burn-rate alert may fire: right after start, one failed run out
/// of two is a 50% error ratio, which says little. (Request-based SLOs have thousands of events per
/// window; a synthetic journey has a few per minute.)
pub const MIN_RUNS: u64 = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Minute or hour number since the engine started.
    index: u64,
    good: u64,
    bad: u64,
}

/// Good and bad runs over time for one journey.
#[derive(Debug, Clone)]
pub struct SloCounts {
    pub slo: Slo,
    minutes: VecDeque<Bucket>,
    hours: VecDeque<Bucket>,
    /// Hour buckets kept: the SLO window rounded up.
    max_hours: usize,
}

/// What the SLO says right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SloStatus {
    /// Burn rate per window of [`WINDOWS`].
    pub burn: [f64; 4],
    /// 1 = untouched, 0 = spent, below 0 = overspent.
    pub budget_remaining: f64,
    /// Runs in each window of [`WINDOWS`].
    pub runs: [u64; 4],
}

impl SloStatus {
    pub fn fast_burn(&self) -> bool {
        self.runs[2] >= MIN_RUNS && self.burn[2] > FAST_BURN && self.burn[0] > FAST_BURN
    }

    pub fn slow_burn(&self) -> bool {
        self.runs[3] >= MIN_RUNS && self.burn[3] > SLOW_BURN && self.burn[1] > SLOW_BURN
    }
}

fn push(buckets: &mut VecDeque<Bucket>, index: u64, good: bool, max: usize) {
    match buckets.back_mut() {
        Some(b) if b.index == index => {}
        _ => buckets.push_back(Bucket { index, ..Bucket::default() }),
    }
    let b = buckets.back_mut().expect("just pushed");
    if good {
        b.good += 1;
    } else {
        b.bad += 1;
    }
    while buckets.len() > max {
        buckets.pop_front();
    }
}

fn sum(buckets: &VecDeque<Bucket>, now: u64, span: u64) -> (u64, u64) {
    buckets.iter().rev().take_while(|b| b.index + span > now).fold((0, 0), |(g, b), x| (g + x.good, b + x.bad))
}

impl SloCounts {
    pub fn new(slo: Slo) -> SloCounts {
        let max_hours = slo.window.as_secs().div_ceil(3600).max(1) as usize;
        SloCounts { slo, minutes: VecDeque::new(), hours: VecDeque::new(), max_hours }
    }

    /// Records one run at `elapsed` since the engine started.
    pub fn record(&mut self, elapsed: Duration, good: bool) {
        let minute = elapsed.as_secs() / 60;
        push(&mut self.minutes, minute, good, MINUTE_BUCKETS);
        push(&mut self.hours, minute / 60, good, self.max_hours);
    }

    fn ratio(&self, good: u64, bad: u64) -> f64 {
        if good + bad == 0 {
            0.0
        } else {
            bad as f64 / (good + bad) as f64 / (1.0 - self.slo.objective)
        }
    }

    pub fn status(&self, elapsed: Duration) -> SloStatus {
        let minute = elapsed.as_secs() / 60;
        let mut burn = [0.0; 4];
        let mut runs = [0; 4];
        for (i, (_, minutes)) in WINDOWS.iter().enumerate() {
            let (g, b) = sum(&self.minutes, minute, *minutes);
            burn[i] = self.ratio(g, b);
            runs[i] = g + b;
        }
        let (g, b) = sum(&self.hours, minute / 60, self.max_hours as u64);
        SloStatus { burn, budget_remaining: 1.0 - self.ratio(g, b), runs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> SloCounts {
        SloCounts::new(Slo { objective: 0.999, window: Duration::from_secs(30 * 86_400) })
    }

    #[test]
    fn burn_rate_is_error_ratio_over_budget_per_window() {
        let mut c = counts();
        // An hour of good runs every 30s, then 5 minutes of failures.
        for s in (0..3600).step_by(30) {
            c.record(Duration::from_secs(s), true);
        }
        for s in (3600..3900).step_by(30) {
            c.record(Duration::from_secs(s), false);
        }
        let st = c.status(Duration::from_secs(3899));
        // 5m: all 10 bad → 1.0 / 0.001 = 1000.
        assert!((st.burn[0] - 1000.0).abs() < 1e-6, "{st:?}");
        // 1h: the window covers minutes 5..=64: 110 good, 10 bad.
        assert!((st.burn[2] - 10.0 / 120.0 / 0.001).abs() < 1e-6, "{st:?}");
        assert!(st.fast_burn() && st.slow_burn());
        assert!(st.budget_remaining < 0.0);
        // Later, after an hour of good runs, the 5m window is clean: no page even though 1h still burns.
        for s in (3900..7500).step_by(30) {
            c.record(Duration::from_secs(s), true);
        }
        let st = c.status(Duration::from_secs(7499));
        assert_eq!(st.burn[0], 0.0);
        assert!(!st.fast_burn());
    }

    #[test]
    fn memory_is_bounded() {
        let mut c = SloCounts::new(Slo { objective: 0.99, window: Duration::from_secs(2 * 3600) });
        for s in 0..(10 * 3600) {
            c.record(Duration::from_secs(s), s % 2 == 0);
        }
        assert_eq!(c.minutes.len(), MINUTE_BUCKETS);
        assert_eq!(c.hours.len(), 2);
        let left = c.status(Duration::from_secs(10 * 3600 - 1)).budget_remaining;
        assert!((left - (1.0 - 0.5 / 0.01)).abs() < 1e-9, "{left}");
    }

    #[test]
    fn a_few_runs_after_start_do_not_page() {
        let mut c = counts();
        for s in 0..(MIN_RUNS - 1) {
            c.record(Duration::from_secs(s * 30), false);
        }
        let st = c.status(Duration::from_secs(MIN_RUNS * 30));
        assert!(st.burn[0] > FAST_BURN && !st.fast_burn());
        c.record(Duration::from_secs(MIN_RUNS * 30), false);
        assert!(c.status(Duration::from_secs(MIN_RUNS * 30)).fast_burn());
    }

    #[test]
    fn no_runs_burn_nothing() {
        let st = counts().status(Duration::from_secs(100));
        assert_eq!(st.burn, [0.0; 4]);
        assert!(!st.fast_burn() && !st.slow_burn());
        assert_eq!(st.budget_remaining, 1.0);
    }
}
