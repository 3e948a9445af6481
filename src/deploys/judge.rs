//! One journey's comparison after one marker: the journey and each of its steps, latency and
//! availability, the "before" side frozen at the marker and the "after" side growing as runs arrive.
//! Every run is a look; each look tests at the level [`Looks`] spends for it (src/stats.rs says why), and
//! the first look that finds a regression decides: the verdict stays a regression for this marker.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::recent::Sample;
use crate::report::Hist;
use crate::stats::{self, Looks, Tally, ALPHA};
use crate::units::format_latency;

/// One side of one series: latencies and pass/fail counts (also one target's side of a canary comparison).
#[derive(Debug, Clone, Default)]
pub(crate) struct Side {
    pub latency: Hist,
    pub tally: Tally,
}

impl Side {
    pub fn add(&mut self, latency: Duration, passed: bool) {
        self.latency.record(latency);
        self.tally.runs += 1;
        self.tally.passed += u64::from(passed);
    }
}

/// The journey as a whole (`step: None`) or one step.
#[derive(Debug, Clone)]
struct Series {
    step: Option<Arc<str>>,
    before: Side,
    after: Side,
    latency_looks: Looks,
    availability_looks: Looks,
    /// The first regression found, in words (the alert's evidence); `None`: none so far.
    finding: Option<String>,
    latency_p: Option<f64>,
    availability_p: Option<f64>,
}

impl Series {
    fn new(step: Option<Arc<str>>) -> Series {
        Series {
            step,
            before: Side::default(),
            after: Side::default(),
            latency_looks: Looks::new(ALPHA),
            availability_looks: Looks::new(ALPHA),
            finding: None,
            latency_p: None,
            availability_p: None,
        }
    }

    /// One look at fraction `t` of the decision window; records the first regression.
    fn look(&mut self, journey: &str, t: f64, since: &str) {
        let name = match &self.step {
            Some(s) => format!("{journey}.{s}"),
            None => journey.to_string(),
        };
        let latency_level = self.latency_looks.look(t);
        if let Some(v) = stats::latency(&self.before.latency.0, &self.after.latency.0, latency_level) {
            self.latency_p = Some(v.test.p_value);
            if v.regression() && self.finding.is_none() {
                let worst = v.rises.iter().max_by(|a, b| a.percent().total_cmp(&b.percent())).expect("a rise");
                self.finding = Some(format!(
                    "{name} {} +{:.0}% ({} → {}), {}, {since}",
                    worst.label,
                    worst.percent(),
                    format_latency(Duration::from_secs_f64(worst.before)),
                    format_latency(Duration::from_secs_f64(worst.after)),
                    p_text(v.test.p_value)
                ));
            }
        }
        let availability_level = self.availability_looks.look(t);
        if let Some(v) = stats::availability(self.before.tally, self.after.tally, availability_level) {
            self.availability_p = Some(v.p_value);
            if v.regression && self.finding.is_none() {
                self.finding = Some(format!(
                    "{name} availability {:.1}% → {:.1}%, {}, {since}",
                    v.before * 100.0,
                    v.after * 100.0,
                    p_text(v.p_value)
                ));
            }
        }
    }
}

/// `p < 0.001` below a thousandth, else the value to three places.
pub(crate) fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// `HH:MM` UTC.
fn clock(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60)
}

/// Where a journey's comparison stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Inside the decision window, nothing found yet.
    Running,
    /// A look found a regression (final for this marker).
    Regression,
    /// The window ended without a regression.
    Passed,
    /// No runs in the window before the marker: nothing to compare with.
    NoBaseline,
    /// A later marker took over this journey before the window ended.
    Superseded,
}

/// One journey after one marker.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub journey: String,
    series: Vec<Series>,
    /// The marker's time and its decision window's end.
    from: SystemTime,
    until: SystemTime,
    /// `since deploy v1.4.2 at 12:03`, for the evidence.
    since: String,
    pub superseded: bool,
}

/// One series' verdict as `/api/v1/deploys` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesView {
    /// `null` for the journey as a whole.
    pub step: Option<String>,
    pub runs_before: u64,
    pub runs_after: u64,
    pub regression: bool,
    /// What the regression is, in the alert's words.
    pub evidence: Option<String>,
    /// The latest look's p-values.
    pub latency_p_value: Option<f64>,
    pub availability_p_value: Option<f64>,
}

impl Comparison {
    /// A comparison whose "before" side is `before` (runs in the window before the marker); series for the
    /// journey and for each of `steps`.
    pub fn new<'a>(
        journey: &str,
        steps: &[Arc<str>],
        before: impl Iterator<Item = &'a Sample>,
        version: &str,
        from: SystemTime,
        decision: Duration,
    ) -> Comparison {
        let mut series: Vec<Series> =
            std::iter::once(None).chain(steps.iter().cloned().map(Some)).map(Series::new).collect();
        for s in before {
            add(&mut series, s, false);
        }
        Comparison {
            journey: journey.to_string(),
            series,
            from,
            until: from + decision,
            since: format!("since deploy {version} at {}", clock(from)),
            superseded: false,
        }
    }

    /// A run of this journey: counted and looked at if it started inside the decision window.
    pub fn record(&mut self, sample: &Sample) -> bool {
        if self.superseded || sample.at < self.from || sample.at >= self.until || self.state() == State::NoBaseline {
            return false;
        }
        add(&mut self.series, sample, true);
        let window = self.until.duration_since(self.from).unwrap_or_default().as_secs_f64();
        let t = if window > 0.0 {
            (sample.at + sample.duration).duration_since(self.from).unwrap_or_default().as_secs_f64() / window
        } else {
            1.0
        };
        let ran: Vec<&Arc<str>> = sample.steps.iter().map(|(n, _, _)| n).collect();
        for s in &mut self.series {
            if s.step.as_ref().map_or(true, |n| ran.contains(&n)) {
                s.look(&self.journey, t, &self.since);
            }
        }
        true
    }

    pub fn state_at(&self, now: SystemTime) -> State {
        match self.state() {
            State::Running if self.superseded => State::Superseded,
            State::Running if now >= self.until => State::Passed,
            s => s,
        }
    }

    fn state(&self) -> State {
        if self.series.iter().any(|s| s.finding.is_some()) {
            State::Regression
        } else if self.series[0].before.tally.runs == 0 {
            State::NoBaseline
        } else {
            State::Running
        }
    }

    /// Per series: its step (`None`: the journey) and whether it regressed.
    pub fn verdicts(&self) -> impl Iterator<Item = (Option<&str>, bool)> {
        self.series.iter().map(|s| (s.step.as_deref(), s.finding.is_some()))
    }

    /// The regressions found, in words; the first is the alert's headline.
    pub fn findings(&self) -> Vec<&str> {
        self.series.iter().filter_map(|s| s.finding.as_deref()).collect()
    }

    /// The first regressed step (the journey's own series only when no step regressed).
    pub fn failing_step(&self) -> Option<&str> {
        self.series.iter().skip(1).find(|s| s.finding.is_some()).and_then(|s| s.step.as_deref())
    }

    pub fn views(&self) -> Vec<SeriesView> {
        self.series
            .iter()
            .map(|s| SeriesView {
                step: s.step.as_deref().map(str::to_string),
                runs_before: s.before.tally.runs,
                runs_after: s.after.tally.runs,
                regression: s.finding.is_some(),
                evidence: s.finding.clone(),
                latency_p_value: s.latency_p,
                availability_p_value: s.availability_p,
            })
            .collect()
    }
}

/// Adds a run to the journey series and to the series of each step that ran, on the after side or the
/// before side.
fn add(series: &mut [Series], sample: &Sample, after: bool) {
    fn side(s: &mut Series, after: bool) -> &mut Side {
        if after {
            &mut s.after
        } else {
            &mut s.before
        }
    }
    side(&mut series[0], after).add(sample.duration, sample.passed);
    for (name, latency, passed) in &sample.steps {
        if let Some(s) = series.iter_mut().skip(1).find(|s| s.step.as_ref() == Some(name)) {
            side(s, after).add(*latency, *passed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(at: SystemTime, ms: u64, passed: bool) -> Sample {
        let latency = Duration::from_millis(ms);
        Sample {
            at,
            tick: std::time::Instant::now(),
            passed,
            duration: latency,
            steps: vec![(Arc::from("view-price"), latency, passed)],
        }
    }

    #[test]
    fn runs_count_only_inside_the_window_and_a_regression_names_the_step() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_765_000_000 - 1_765_000_000 % 86_400 + 12 * 3600 + 3 * 60);
        let before: Vec<Sample> = (0..60).map(|i| run(t0 - Duration::from_secs(60 - i), 120 + i % 7, true)).collect();
        let steps = [Arc::from("view-price")];
        let mut c = Comparison::new("checkout", &steps, before.iter(), "v1.4.2", t0, Duration::from_secs(600));
        assert_eq!(c.state_at(t0), State::Running);
        assert!(!c.record(&run(t0 - Duration::from_secs(1), 500, true)), "before the marker");
        assert!(!c.record(&run(t0 + Duration::from_secs(600), 500, true)), "after the window");
        for i in 0..30 {
            assert!(c.record(&run(t0 + Duration::from_secs(5 * i), 170 + i % 7, true)));
        }
        assert_eq!(c.state_at(t0), State::Regression);
        assert_eq!(c.failing_step(), Some("view-price"));
        let f = c.findings();
        assert!(f[0].starts_with("checkout p") || f[0].starts_with("checkout.view-price p"), "{f:?}");
        assert!(f.iter().all(|l| l.ends_with("p < 0.001, since deploy v1.4.2 at 12:03")), "{f:?}");
    }

    #[test]
    fn without_runs_before_there_is_nothing_to_judge_and_a_later_marker_supersedes() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_765_000_000);
        let mut c = Comparison::new("checkout", &[], std::iter::empty(), "v1", t0, Duration::from_secs(60));
        assert!(!c.record(&run(t0, 10, true)));
        assert_eq!(c.state_at(t0 + Duration::from_secs(120)), State::NoBaseline);
        let before = [run(t0 - Duration::from_secs(1), 10, true)];
        let mut c = Comparison::new("checkout", &[], before.iter(), "v1", t0, Duration::from_secs(60));
        assert_eq!(c.state_at(t0 + Duration::from_secs(60)), State::Passed);
        c.superseded = true;
        assert_eq!(c.state_at(t0), State::Superseded);
        assert!(!c.record(&run(t0, 10, true)));
    }
}
