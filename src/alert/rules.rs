//! One journey's alert state machine: down/up with hysteresis, degraded, latency windows and SLO counts.
//!
//! Plain data updated by outcomes; the engine turns it into alerts. No I/O, no clocks of its own: callers
//! pass the time, so tests drive it with paused time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::certs::{self, CertThresholds, CertWatch};
use super::notify::AlertName;
use super::slo::{SloCounts, SloStatus};
use crate::model::{Journey, LatencyRule};
use crate::outcome::{trace_id_hex, Failure, RunOutcome, RunStatus};
use crate::settings::AlertDefaults;
use crate::units::format_duration;

/// A journey's state as people see it: the `state` label of `journey_state` and the `state` of
/// `GET /api/v1/alerts`. A tracker knows `Unknown`, `Up`, `Degraded` and `Down`; the engine puts
/// `Maintenance` over them while a window holds the journey's alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No run has finished yet.
    Unknown,
    Up,
    Degraded,
    Down,
    /// In a maintenance window (never returned by [`Tracker::health`]).
    Maintenance,
}

impl Health {
    /// Every state, in the order the `journey_state` series are written.
    pub const ALL: [Health; 5] = [Health::Up, Health::Degraded, Health::Down, Health::Maintenance, Health::Unknown];

    /// The label value and JSON string: a closed set dashboards and alert rules match on.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Maintenance => "maintenance",
            Health::Unknown => "unknown",
        }
    }
}

/// Most samples one latency window keeps (a fast journey in a long window): the oldest go first.
const MAX_SAMPLES: usize = 4096;

#[derive(Debug, Clone)]
struct LatencyWindow {
    rule: LatencyRule,
    /// Step index, or `None` for the whole journey.
    step: Option<usize>,
    samples: VecDeque<(Instant, Duration)>,
}

impl LatencyWindow {
    fn sample(&self, o: &RunOutcome) -> Option<Duration> {
        o.latency_sample(self.step)
    }

    fn what(&self, journey: &Journey) -> String {
        match self.step {
            Some(i) => format!("step {:?}", journey.steps.get(i).map_or("?", |s| s.name.as_str())),
            None => "the journey".to_string(),
        }
    }

    fn quantile(&mut self, now: Instant) -> Option<Duration> {
        while self.samples.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) > self.rule.window) {
            self.samples.pop_front();
        }
        if self.samples.is_empty() {
            return None;
        }
        let mut v: Vec<Duration> = self.samples.iter().map(|(_, d)| *d).collect();
        v.sort_unstable();
        let rank = (self.rule.quantile * v.len() as f64).ceil() as usize;
        Some(v[rank.clamp(1, v.len()) - 1])
    }
}

/// The state of one journey.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// The journey as last loaded (step names for messages, `depends_on`, its rules).
    pub journey: Arc<Journey>,
    /// The journey's own threshold, else the settings default: resolved once, not on every outcome.
    failure_threshold: u32,
    success_threshold: u32,
    /// Consecutive failed runs (reset by any pass).
    fail_streak: u32,
    /// Consecutive passed runs, degraded or not (reset by any failure).
    pass_streak: u32,
    /// Consecutive degraded runs.
    degraded_streak: u32,
    /// Consecutive clean runs (passed, not degraded).
    clean_streak: u32,
    /// A run finished since (re)load: `unknown` until then.
    seen: bool,
    /// JourneyDown's condition (after hysteresis).
    pub down: bool,
    /// JourneyDegraded's condition (after hysteresis).
    pub degraded: bool,
    /// Evidence for JourneyDown: the latest failure.
    pub last_failure: Option<Failure>,
    /// Why the latest degraded run was degraded.
    pub last_degradation: Option<String>,
    /// The latest degraded run's trace id (hex): JourneyDegraded links it. Degraded runs are always
    /// exported, and the site's own spans share the id either way.
    pub last_degraded_trace: Option<String>,
    pub slo: Option<SloCounts>,
    latency: Vec<LatencyWindow>,
    /// The certificate each step presents, and when its expiry alerts fire (journey, else settings).
    certs: CertWatch,
    cert_thresholds: CertThresholds,
}

impl Tracker {
    pub fn new(journey: Arc<Journey>, defaults: &AlertDefaults) -> Tracker {
        let rules = &journey.alerts;
        let latency = rules
            .latency
            .iter()
            .map(|r| LatencyWindow {
                rule: r.clone(),
                step: r.step.as_deref().and_then(|s| journey.step_index(s)),
                samples: VecDeque::new(),
            })
            .collect();
        let mut t = Tracker {
            failure_threshold: 0,
            success_threshold: 0,
            certs: CertWatch::new(journey.steps.len()),
            cert_thresholds: CertThresholds { ticket: defaults.cert_expiry.ticket, page: defaults.cert_expiry.page },
            slo: rules.slo.map(SloCounts::new),
            journey,
            fail_streak: 0,
            pass_streak: 0,
            degraded_streak: 0,
            clean_streak: 0,
            seen: false,
            down: false,
            degraded: false,
            last_failure: None,
            last_degradation: None,
            last_degraded_trace: None,
            latency,
        };
        t.resolve_thresholds(defaults);
        t
    }

    fn resolve_thresholds(&mut self, defaults: &AlertDefaults) {
        let rules = &self.journey.alerts;
        self.failure_threshold = rules.failure_threshold.unwrap_or(defaults.failure_threshold).max(1);
        self.success_threshold = rules.success_threshold.unwrap_or(defaults.success_threshold).max(1);
        self.cert_thresholds = CertThresholds {
            ticket: rules.cert_expiry.ticket.unwrap_or(defaults.cert_expiry.ticket),
            page: rules.cert_expiry.page.unwrap_or(defaults.cert_expiry.page),
        };
    }

    /// The settings' defaults changed (reload): the streaks and health are kept, the thresholds resolved
    /// again (the journey's own still win) and applied to the kept streaks at once, as the next outcome
    /// would: two failures in a row take a journey down now if the threshold became 2.
    pub fn set_defaults(&mut self, defaults: &AlertDefaults) {
        self.resolve_thresholds(defaults);
        if self.seen {
            self.judge();
        }
    }

    /// Whether time alone can change what this journey wants fired: SLO burn rates move as buckets age
    /// and latency samples leave their window. Without either, only an outcome can.
    pub fn time_dependent(&self) -> bool {
        self.slo.is_some() || !self.latency.is_empty()
    }

    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// The hysteresis: what the streaks say about down and degraded under the current thresholds.
    fn judge(&mut self) {
        if self.fail_streak >= self.failure_threshold {
            self.down = true;
            self.degraded = false;
        }
        if self.down && self.pass_streak >= self.success_threshold {
            self.down = false;
        }
        if self.degraded_streak >= self.failure_threshold && !self.down {
            self.degraded = true;
        }
        if self.clean_streak >= self.success_threshold {
            self.degraded = false;
        }
    }

    /// Feeds one outcome at `now`; `elapsed` is the time since the engine started (SLO buckets).
    pub fn record(&mut self, o: &RunOutcome, now: Instant, elapsed: Duration) {
        let failure = match &o.status {
            RunStatus::Cancelled => return,
            RunStatus::Failed(f) => Some(f),
            RunStatus::Passed => None,
        };
        self.seen = true;
        // Replacing a certificate takes as many runs in a row as resolving JourneyDown does.
        self.certs.record(o, self.success_threshold);
        if let Some(slo) = &mut self.slo {
            slo.record(elapsed, failure.is_none());
        }
        let mut breach = None;
        for w in &mut self.latency {
            if let Some(d) = w.sample(o) {
                if w.samples.len() == MAX_SAMPLES {
                    w.samples.pop_front();
                }
                w.samples.push_back((now, d));
                if d > w.rule.budget && breach.is_none() {
                    breach = Some(format!(
                        "{} took {}, over its {} budget",
                        w.what(&self.journey),
                        format_duration(round_ms(d)),
                        format_duration(w.rule.budget)
                    ));
                }
            }
        }
        if let Some(f) = failure {
            self.fail_streak += 1;
            self.pass_streak = 0;
            self.degraded_streak = 0;
            self.clean_streak = 0;
            self.last_failure = Some((**f).clone());
        } else {
            self.fail_streak = 0;
            self.pass_streak += 1;
            let soft = o.soft_failures.first().map(|f| format!("soft check failed: {f}"));
            match soft.or(breach) {
                Some(why) => {
                    self.degraded_streak += 1;
                    self.clean_streak = 0;
                    self.last_degradation = Some(why);
                    self.last_degraded_trace = Some(trace_id_hex(o.trace_id));
                }
                None => {
                    self.clean_streak += 1;
                    self.degraded_streak = 0;
                }
            }
        }
        self.judge();
    }

    /// Down, or its latest iteration failed (it may be on its way down).
    pub fn failing(&self) -> bool {
        self.down || self.fail_streak > 0
    }

    pub fn health(&self) -> Health {
        match (self.seen, self.down, self.degraded) {
            (false, _, _) => Health::Unknown,
            (_, true, _) => Health::Down,
            (_, _, true) => Health::Degraded,
            _ => Health::Up,
        }
    }

    /// Latency rules whose quantile over their window is above budget, described for people.
    pub fn latency_breaches(&mut self, now: Instant) -> Vec<String> {
        let journey = Arc::clone(&self.journey);
        let mut out = Vec::new();
        for w in &mut self.latency {
            if let Some(q) = w.quantile(now) {
                if q > w.rule.budget {
                    // No measured value here: it changes every run and would re-notify receivers.
                    out.push(format!(
                        "p{} of {} over {} is above its {} budget",
                        w.rule.quantile * 100.0,
                        w.what(&journey),
                        format_duration(w.rule.window),
                        format_duration(w.rule.budget)
                    ));
                }
            }
        }
        out
    }

    /// JourneyCertExpiring and JourneyCertExpiringSoon, when they should fire at `now` (Unix seconds).
    pub fn cert_alerts(&self, now: i64) -> BTreeMap<AlertName, BTreeMap<String, String>> {
        certs::wanted(&self.journey, &self.certs, self.cert_thresholds, self.success_threshold, now)
    }

    /// The time left at which this journey's certificate tickets fire (the status page's warning colour).
    pub fn cert_thresholds(&self) -> CertThresholds {
        self.cert_thresholds
    }

    pub fn slo_status(&self, elapsed: Duration) -> Option<SloStatus> {
        self.slo.as_ref().map(|s| s.status(elapsed))
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
