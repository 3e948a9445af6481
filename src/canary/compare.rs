//! One journey's canary comparison: each non-baseline target against the baseline, for the journey and
//! each step, latency and availability, over the runs of the last `canary.window` — with the statistics
//! `verify --baseline` and the deploy comparison use ([`crate::stats`]). The targets' runs are paired by
//! tick, so latency is tested tick by tick ([`stats::blocked_sign_test`]): a moment that slowed every run
//! of a tick is not a difference between the targets.
//!
//! Repeated looks: the comparison never ends, so the significance level is spent per period of one window
//! with the same [`Looks`] rule as a deploy's decision window, and starts over each period. By the union
//! bound the chance that equal targets raise a false regression stays below [`ALPHA`] per window, however
//! many runs arrive. Looks are at most [`LOOKS_PER_WINDOW`] per window: a look per run would spend the level
//! in crumbs too small for any finding when many users run each tick.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::deploys::judge::{p_text, Side};
use crate::deploys::recent::{Recent, Sample};
use crate::model::Targets;
use crate::stats::{self, median_and_p90, Block, Looks, ALPHA};
use crate::units::format_latency;

/// Most looks per window, evenly spaced in time.
pub const LOOKS_PER_WINDOW: f64 = 20.0;
/// Runs each target needs in the window before it is compared (and before a verdict counts as judged).
pub const MIN_RUNS: u64 = 20;
/// Ticks each target's runs must come from (why: [`Targets::MIN_TICKS`]).
pub const MIN_TICKS: usize = Targets::MIN_TICKS;

/// One series (the journey, or a step) of one non-baseline target.
#[derive(Debug, Clone)]
struct Judge {
    step: Option<Arc<str>>,
    latency: Looks,
    availability: Looks,
    /// The regression in words, and until when it stands: a finding holds for a window after the last look
    /// that found it, so the alert does not flap between looks.
    finding: Option<(String, SystemTime)>,
    latency_p: Option<f64>,
    availability_p: Option<f64>,
}

impl Judge {
    fn new(step: Option<Arc<str>>) -> Judge {
        Judge {
            step,
            latency: Looks::new(ALPHA),
            availability: Looks::new(ALPHA),
            finding: None,
            latency_p: None,
            availability_p: None,
        }
    }
}

/// Who is compared with whom, in words: `checkout.view-price on canary` and `on stable`.
struct Names<'a> {
    series: String,
    target: &'a str,
    baseline: &'a str,
}

impl Judge {
    /// One look at fraction `t` of the period: `base` and `other` are this series' sides over the window,
    /// `blocks` its latencies per tick (`x`: the other target).
    fn look(
        &mut self,
        t: f64,
        (base, other, blocks): (&Side, &Side, &[Block]),
        names: &Names,
        now: SystemTime,
        window: Duration,
    ) {
        let Names { series, target, baseline } = names;
        let mut found = None;
        let level = self.latency.look(t);
        if let Some(v) = stats::latency_in_blocks(&base.latency.0, &other.latency.0, blocks, level) {
            self.latency_p = Some(v.test.p_value);
            if v.regression() {
                let worst = v.rises.iter().max_by(|a, b| a.percent().total_cmp(&b.percent())).expect("a rise");
                let ms = |s: f64| format_latency(Duration::from_secs_f64(s));
                found = Some(format!(
                    "{series} on {target}: {} {} vs {} on {baseline} (+{:.0}%), {}",
                    worst.label,
                    ms(worst.after),
                    ms(worst.before),
                    worst.percent(),
                    p_text(v.test.p_value)
                ));
            }
        }
        let level = self.availability.look(t);
        if let Some(v) = stats::availability(base.tally, other.tally, level) {
            self.availability_p = Some(v.p_value);
            if v.regression {
                found = Some(format!(
                    "{series} on {target}: availability {:.1}% vs {:.1}% on {baseline}, {}",
                    v.after * 100.0,
                    v.before * 100.0,
                    p_text(v.p_value)
                ));
            }
        }
        match (found, &mut self.finding) {
            // Still regressed: the words stay (receivers are not re-notified), the hold is renewed.
            (Some(_), Some((_, until))) => *until = now + window,
            (Some(text), none) => *none = Some((text, now + window)),
            (None, Some((_, until))) if *until <= now => self.finding = None,
            (None, _) => {}
        }
    }
}

/// One journey's targets and their comparison.
#[derive(Debug)]
pub struct Comparison {
    pub journey: String,
    /// The journey's step names, in order (series 1.. are these steps).
    pub steps: Vec<Arc<str>>,
    pub baseline: String,
    /// Per non-baseline target, in written order: series 0 is the journey, then one per step.
    others: Vec<(String, Vec<Judge>)>,
    pub window: Duration,
    /// Per target: its runs of the last window.
    runs: Recent,
    /// The start of the period the level is being spent over (`None` before the first look).
    period: Option<SystemTime>,
    /// The fraction of the period at the last look.
    last_look: f64,
    /// The latest run's end: the comparison's own clock (what the window and the views are relative to).
    latest: SystemTime,
}

/// A regression one series of one target shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `None`: the journey as a whole.
    pub step: Option<String>,
    pub target: String,
    pub evidence: String,
}

impl Comparison {
    /// `targets`: the baseline first.
    pub fn new(journey: &str, steps: &[Arc<str>], targets: &[String], window: Duration) -> Comparison {
        let series = || std::iter::once(None).chain(steps.iter().cloned().map(Some)).map(Judge::new).collect();
        Comparison {
            journey: journey.to_string(),
            steps: steps.to_vec(),
            baseline: targets[0].clone(),
            others: targets[1..].iter().map(|t| (t.clone(), series())).collect(),
            window,
            runs: Recent::default(),
            period: None,
            last_look: f64::NEG_INFINITY,
            latest: SystemTime::UNIX_EPOCH,
        }
    }

    /// Same targets, steps and window: a reload keeps the comparison.
    pub fn same_shape(&self, steps: &[Arc<str>], targets: &[String], window: Duration) -> bool {
        self.steps == steps
            && self.window == window
            && targets.first() == Some(&self.baseline)
            && self.others.iter().map(|(t, _)| t).eq(targets[1..].iter())
    }

    /// A run against `target`; looks when the next look is due. True when a verdict may have changed.
    pub fn record(&mut self, target: &str, sample: Sample) -> bool {
        let now = sample.at + sample.duration;
        if target != self.baseline && !self.others.iter().any(|(t, _)| t == target) {
            return false;
        }
        self.runs.record(target, sample, self.window);
        self.latest = self.latest.max(now);
        let window = self.window.as_secs_f64().max(f64::MIN_POSITIVE);
        let period = *self.period.get_or_insert(now);
        let mut t = now.duration_since(period).unwrap_or_default().as_secs_f64() / window;
        if t >= 1.0 {
            // A new period: the level is spent again from nothing.
            let periods = t.floor();
            self.period = Some(period + self.window.mul_f64(periods));
            t -= periods;
            self.last_look = f64::NEG_INFINITY;
            for (_, judges) in &mut self.others {
                for j in judges.iter_mut() {
                    (j.latency, j.availability) = (Looks::new(ALPHA), Looks::new(ALPHA));
                }
            }
        }
        if t - self.last_look < 1.0 / LOOKS_PER_WINDOW || !self.judged(now) {
            return false;
        }
        self.last_look = t;
        let base = self.sides(&self.baseline, now);
        let mut others = std::mem::take(&mut self.others);
        for (target, judges) in &mut others {
            let other = self.sides(target, now);
            let blocks = self.blocks(target, now);
            for (i, j) in judges.iter_mut().enumerate() {
                let series = match &j.step {
                    Some(s) => format!("{}.{s}", self.journey),
                    None => self.journey.clone(),
                };
                let names = Names { series, target, baseline: &self.baseline };
                j.look(t, (&base[i], &other[i], &blocks[i]), &names, now, self.window);
            }
        }
        self.others = others;
        true
    }

    /// Every target has at least [`MIN_RUNS`] runs in the window ending at the latest run.
    pub fn judged_now(&self) -> bool {
        self.judged(self.latest)
    }

    /// Every target has at least [`MIN_RUNS`] runs in the window ending at `now`.
    pub fn judged(&self, now: SystemTime) -> bool {
        std::iter::once(&self.baseline).chain(self.others.iter().map(|(t, _)| t)).all(|t| {
            let mut ticks: Vec<Instant> = self.runs_of(t, now).map(|s| s.tick).collect();
            let runs = ticks.len() as u64;
            ticks.sort_unstable();
            ticks.dedup();
            runs >= MIN_RUNS && ticks.len() >= MIN_TICKS
        })
    }

    fn runs_of<'a>(&'a self, target: &str, now: SystemTime) -> impl Iterator<Item = &'a Sample> {
        let from = now.checked_sub(self.window).unwrap_or(SystemTime::UNIX_EPOCH);
        self.runs.between(target, from, now + Duration::from_secs(1))
    }

    /// A target's sides over the window ending at `now`: the journey's, then each step's.
    fn sides(&self, target: &str, now: SystemTime) -> Vec<Side> {
        let mut sides = vec![Side::default(); self.steps.len() + 1];
        for s in self.runs_of(target, now) {
            sides[0].add(s.duration, s.passed);
            for (name, latency, passed) in &s.steps {
                if let Some(i) = self.steps.iter().position(|n| n == name) {
                    sides[i + 1].add(*latency, *passed);
                }
            }
        }
        sides
    }

    /// Per series (the journey, then each step), `target`'s latencies (µs) against the baseline's, one
    /// block per tick in the window: the latency test compares the targets within each tick, so a moment
    /// that slowed both (a busy machine, a cold cache) is not taken for a difference between them.
    fn blocks(&self, target: &str, now: SystemTime) -> Vec<Vec<Block>> {
        let series = self.steps.len() + 1;
        let mut ticks: BTreeMap<Instant, Vec<Block>> = BTreeMap::new();
        for (is_target, name) in [(true, target), (false, self.baseline.as_str())] {
            for s in self.runs_of(name, now) {
                let blocks = ticks.entry(s.tick).or_insert_with(|| vec![Block::default(); series]);
                let steps = s.steps.iter().filter_map(|(step, latency, _)| {
                    self.steps.iter().position(|n| n == step).map(|i| (i + 1, *latency))
                });
                for (i, latency) in std::iter::once((0, s.duration)).chain(steps) {
                    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                    let side = if is_target { &mut blocks[i].x } else { &mut blocks[i].y };
                    side.push(micros);
                }
            }
        }
        let mut out = vec![Vec::with_capacity(ticks.len()); series];
        for blocks in ticks.into_values() {
            for (i, b) in blocks.into_iter().enumerate() {
                out[i].push(b);
            }
        }
        out
    }

    /// The regressions standing now, per target and series.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for (target, judges) in &self.others {
            for j in judges {
                if let Some((evidence, _)) = &j.finding {
                    let step = j.step.as_deref().map(str::to_string);
                    out.push(Finding { step, target: target.clone(), evidence: evidence.clone() });
                }
            }
        }
        out
    }

    /// Per non-baseline target and series (`None`: the journey): regressed or not.
    pub fn verdicts(&self) -> impl Iterator<Item = (&str, Option<&str>, bool)> {
        self.others
            .iter()
            .flat_map(|(t, judges)| judges.iter().map(move |j| (t.as_str(), j.step.as_deref(), j.finding.is_some())))
    }

    /// What `/api/v1/canary` shows of this journey.
    pub fn view(&self) -> JourneyView {
        let now = self.latest;
        let mut targets = vec![self.target_view(&self.baseline, None, now)];
        targets.extend(self.others.iter().map(|(t, judges)| self.target_view(t, Some(judges), now)));
        JourneyView {
            journey: self.journey.clone(),
            baseline: self.baseline.clone(),
            window_seconds: self.window.as_secs_f64(),
            judged: self.judged(now),
            targets,
        }
    }

    fn target_view(&self, target: &str, judges: Option<&Vec<Judge>>, now: SystemTime) -> TargetView {
        let sides = self.sides(target, now);
        let [p50, p90] = median_and_p90(&sides[0].latency.0);
        let series = judges.map(|js| {
            js.iter()
                .map(|j| SeriesView {
                    step: j.step.as_deref().map(str::to_string),
                    regression: j.finding.is_some(),
                    evidence: j.finding.as_ref().map(|(e, _)| e.clone()),
                    latency_p_value: j.latency_p,
                    availability_p_value: j.availability_p,
                })
                .collect()
        });
        let steps = self
            .steps
            .iter()
            .zip(&sides[1..])
            .map(|(name, side)| {
                let [p50, p90] = median_and_p90(&side.latency.0);
                (name.to_string(), Figures { runs: side.tally.runs, availability: side.tally.ratio(), p50, p90 })
            })
            .collect();
        TargetView {
            target: target.to_string(),
            figures: Figures { runs: sides[0].tally.runs, availability: sides[0].tally.ratio(), p50, p90 },
            steps,
            series,
        }
    }
}

/// One journey as `/api/v1/canary` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JourneyView {
    pub journey: String,
    pub baseline: String,
    pub window_seconds: f64,
    /// Every target has enough runs in the window to be compared.
    pub judged: bool,
    /// The baseline first.
    pub targets: Vec<TargetView>,
}

/// Runs, availability and latency over the window.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub runs: u64,
    /// 0–1; `null` without runs.
    pub availability: Option<f64>,
    #[serde(rename = "p50_seconds")]
    pub p50: f64,
    #[serde(rename = "p90_seconds")]
    pub p90: f64,
}

/// One target of a journey over the window.
#[derive(Debug, Clone, Serialize)]
pub struct TargetView {
    pub target: String,
    /// The journey as a whole.
    #[serde(flatten)]
    pub figures: Figures,
    /// Per step, by name.
    pub steps: BTreeMap<String, Figures>,
    /// The comparison with the baseline (`null` for the baseline itself).
    pub series: Option<Vec<SeriesView>>,
}

/// One series' comparison with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesView {
    /// `null` for the journey as a whole.
    pub step: Option<String>,
    pub regression: bool,
    pub evidence: Option<String>,
    /// The latest look's p-values.
    pub latency_p_value: Option<f64>,
    pub availability_p_value: Option<f64>,
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
