//! The status history: per journey, run counts in per-minute buckets over 24 hours (availability), per-step
//! per-minute latency quantiles over the plot window, the certificate each step's server presents, the last
//! run and the last failures. Memory is bounded by the number of journeys and steps, never by the number of
//! runs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::metrics::stats::Latency;
use crate::model::{Journey, Suite};
use crate::outcome::{CertNews, CertSeen, Failure, RunOutcome, RunStatus};
use crate::pipeline::Sink;

/// Availability is kept for this many minutes (24 h).
pub const AVAILABILITY_MINUTES: u64 = 24 * 60;
/// The latency plot covers this many minutes (3 h).
pub const PLOT_MINUTES: u64 = 3 * 60;
/// Failures kept across all journeys for `/api/v1/failures` and the page.
pub const FAILURES_KEPT: usize = 100;

/// Whole minutes since the Unix epoch: the bucket key.
pub fn minute_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs() / 60
}

/// How the last completed (not cancelled) run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastOutcome {
    Passed,
    /// Passed, but soft checks failed.
    Degraded,
    Failed,
}

#[derive(Debug, Clone)]
pub struct LastRun {
    pub at: SystemTime,
    pub outcome: LastOutcome,
    pub duration: Duration,
    /// When the outcome kind last changed (passed → failed …): the default state's "since".
    pub since: SystemTime,
    /// The first failure message of the last run (hard or soft), for the state's reason.
    pub reason: Option<String>,
}

/// One failure with where and when it happened. The evidence was redacted by the runner.
#[derive(Debug, Clone)]
pub struct FailureRecord {
    pub journey: String,
    pub at: SystemTime,
    /// A soft check: the journey passed, degraded.
    pub soft: bool,
    pub failure: Failure,
}

/// Passed and failed runs that started in one minute.
#[derive(Debug, Clone, Copy, Default)]
struct MinuteCount {
    passed: u32,
    failed: u32,
}

/// One minute of one step's latency, reduced to the quantiles the plot draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepMinute {
    pub minute: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub count: u64,
}

#[derive(Debug, Clone)]
pub struct StepHistory {
    pub name: String,
    /// The minute being filled; closed into `minutes` when a later minute starts.
    current: Option<(u64, Latency)>,
    /// Closed minutes, oldest first, at most `PLOT_MINUTES` of them. The API's overall runs, p50 and p99
    /// come from the metrics' `StatsTable`, which records the same response times (a copy here cost an HDR
    /// histogram per step).
    minutes: VecDeque<StepMinute>,
    /// What the step's latest fresh TLS handshake presented; gone when it answers over plain http.
    pub cert: Option<Arc<CertSeen>>,
}

impl StepHistory {
    fn new(name: &str) -> StepHistory {
        StepHistory { name: name.to_string(), current: None, minutes: VecDeque::new(), cert: None }
    }

    fn record(&mut self, minute: u64, d: Duration) {
        match &mut self.current {
            Some((m, h)) if *m == minute => h.record(d),
            // A late outcome for a minute already closed: not re-plotted.
            Some((m, _)) if *m > minute => {}
            _ => {
                if let Some((m, h)) = self.current.take() {
                    self.minutes.push_back(StepMinute {
                        minute: m,
                        p50: h.quantile(0.5),
                        p99: h.quantile(0.99),
                        count: h.count(),
                    });
                    while self.minutes.front().is_some_and(|f| f.minute + PLOT_MINUTES <= minute) {
                        self.minutes.pop_front();
                    }
                }
                let mut h = Latency::default();
                h.record(d);
                self.current = Some((minute, h));
            }
        }
    }

    /// Per-minute quantiles within the plot window ending at `now_minute`, oldest first.
    pub fn plot(&self, now_minute: u64) -> Vec<StepMinute> {
        let from = now_minute.saturating_sub(PLOT_MINUTES - 1);
        let mut out: Vec<StepMinute> = self.minutes.iter().filter(|m| m.minute >= from).copied().collect();
        if let Some((m, h)) = &self.current {
            if *m >= from {
                out.push(StepMinute { minute: *m, p50: h.quantile(0.5), p99: h.quantile(0.99), count: h.count() });
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct JourneyHistory {
    pub name: String,
    pub description: String,
    /// Fingerprint when last loaded: a changed journey restarts its step latency history.
    fingerprint: u64,
    /// One bucket per minute from `first_minute` on, oldest first, at most `AVAILABILITY_MINUTES` of them.
    /// Grows with uptime instead of being allocated whole (1,440 tagged buckets were 23 KB per journey, a
    /// quarter of a 1,000-journey monitor's heap), and needs no per-bucket minute tag.
    counts: VecDeque<MinuteCount>,
    /// The minute of `counts[0]`.
    first_minute: u64,
    pub steps: Vec<StepHistory>,
    pub last_run: Option<LastRun>,
    pub last_failure: Option<FailureRecord>,
}

impl JourneyHistory {
    fn new(j: &Journey) -> JourneyHistory {
        JourneyHistory {
            name: j.name.clone(),
            description: j.description.clone(),
            fingerprint: j.fingerprint,
            counts: VecDeque::new(),
            first_minute: 0,
            steps: j.steps.iter().map(|s| StepHistory::new(&s.name)).collect(),
            last_run: None,
            last_failure: None,
        }
    }

    fn count(&mut self, minute: u64, passed: bool) {
        if self.counts.is_empty() {
            self.first_minute = minute;
        }
        if minute < self.first_minute {
            // Older than the first bucket: kept only while the window still covers it.
            let newest = self.first_minute + self.counts.len() as u64 - 1;
            if newest - minute >= AVAILABILITY_MINUTES {
                return;
            }
            for _ in minute..self.first_minute {
                self.counts.push_front(MinuteCount::default());
            }
            self.first_minute = minute;
        }
        let next = self.first_minute + self.counts.len() as u64;
        if minute >= next + AVAILABILITY_MINUTES {
            // A day or more without runs (or a clock jump): nothing before is in the window any more.
            self.counts.clear();
            self.first_minute = minute;
        }
        let index = (minute - self.first_minute) as usize;
        if index >= self.counts.len() {
            self.counts.resize(index + 1, MinuteCount::default());
        }
        let c = &mut self.counts[index];
        if passed {
            c.passed += 1;
        } else {
            c.failed += 1;
        }
        // Minutes that fell out of the window go.
        let excess = self.counts.len().saturating_sub(AVAILABILITY_MINUTES as usize);
        self.counts.drain(..excess);
        self.first_minute += excess as u64;
    }

    /// (passed, failed) runs that started in the `minutes` minutes up to and including `now_minute`.
    pub fn runs_in(&self, now_minute: u64, minutes: u64) -> (u64, u64) {
        let from = now_minute.saturating_sub(minutes.saturating_sub(1));
        self.counts
            .iter()
            .zip(self.first_minute..)
            .filter(|(_, m)| *m >= from && *m <= now_minute)
            .fold((0, 0), |(p, f), (c, _)| (p + u64::from(c.passed), f + u64::from(c.failed)))
    }

    /// The share of runs that passed (degraded counts as passed) over the last `minutes`; `None` without runs.
    pub fn availability(&self, now_minute: u64, minutes: u64) -> Option<f64> {
        let (p, f) = self.runs_in(now_minute, minutes);
        (p + f > 0).then(|| p as f64 / (p + f) as f64)
    }
}

/// Everything the status page and API show, written by [`StatusSink`] and read by the HTTP handlers.
#[derive(Debug, Default)]
pub struct Board {
    pub journeys: BTreeMap<String, JourneyHistory>,
    /// Newest last; at most `FAILURES_KEPT`.
    pub failures: VecDeque<FailureRecord>,
}

/// A shared handle to the board. Writers hold the lock for one outcome; readers copy what they need.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<Board>>,
}

impl StatusBoard {
    pub fn new() -> StatusBoard {
        StatusBoard::default()
    }

    pub fn lock(&self) -> MutexGuard<'_, Board> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps unchanged journeys as they are, restarts the step history of changed ones whose steps differ,
    /// adds new ones and forgets removed ones (and their failures).
    pub fn set_suite(&self, suite: &Suite) {
        let mut b = self.lock();
        b.journeys.retain(|name, _| suite.get(name).is_some());
        b.failures.retain(|f| suite.get(&f.journey).is_some());
        for j in &suite.journeys {
            let entry = b.journeys.entry(j.name.clone()).or_insert_with(|| JourneyHistory::new(j));
            if entry.fingerprint != j.fingerprint {
                entry.fingerprint = j.fingerprint;
                entry.description = j.description.clone();
                if entry.steps.iter().map(|s| s.name.as_str()).ne(j.steps.iter().map(|s| s.name.as_str())) {
                    entry.steps = j.steps.iter().map(|s| StepHistory::new(&s.name)).collect();
                }
            }
        }
    }

    /// Records one outcome. Cancelled runs say nothing about the site and are not recorded.
    pub fn record(&self, o: &RunOutcome) {
        if matches!(o.status, RunStatus::Cancelled) {
            return;
        }
        let mut b = self.lock();
        let Board { journeys, failures } = &mut *b;
        let Some(h) = journeys.get_mut(o.journey.as_ref()) else { return };
        let minute = minute_of(o.wall_start);
        let outcome = match &o.status {
            RunStatus::Failed(_) => LastOutcome::Failed,
            _ if !o.soft_failures.is_empty() => LastOutcome::Degraded,
            _ => LastOutcome::Passed,
        };
        h.count(minute, outcome != LastOutcome::Failed);
        for so in &o.steps {
            if let Some(s) = h.steps.get_mut(so.index) {
                s.record(minute, so.response_time);
                match so.cert_news() {
                    CertNews::Presented(cert) => s.cert = Some(Arc::clone(cert)),
                    CertNews::Plain => s.cert = None,
                    CertNews::Unchanged => {}
                }
            }
        }
        let at = o.wall_start + o.duration;
        let since = match &h.last_run {
            Some(prev) if prev.outcome == outcome => prev.since,
            _ => at,
        };
        let mut reason = None;
        let mut push = |failure: &Failure, soft: bool| {
            reason.get_or_insert_with(|| failure.to_string());
            let rec = FailureRecord { journey: h.name.clone(), at, soft, failure: failure.clone() };
            if !soft {
                h.last_failure = Some(rec.clone());
            }
            failures.push_back(rec);
            while failures.len() > FAILURES_KEPT {
                failures.pop_front();
            }
        };
        if let Some(f) = o.failure() {
            push(f, false);
        }
        for f in &o.soft_failures {
            push(f, true);
        }
        h.last_run = Some(LastRun { at, outcome, duration: o.duration, since, reason });
    }
}

/// The pipeline sink that keeps the board current.
pub struct StatusSink {
    board: StatusBoard,
}

impl StatusSink {
    pub fn new(board: StatusBoard) -> StatusSink {
        StatusSink { board }
    }
}

impl Sink for StatusSink {
    fn suite_changed(&mut self, suite: &Suite) {
        self.board.set_suite(suite);
    }

    fn outcome(&mut self, _journey: &Journey, outcome: &RunOutcome) {
        self.board.record(outcome);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{AlertRules, LoadModel, RequestDefaults, Step, Template};
    use crate::outcome::{Reason, StepOutcome};
    use reqwest::Method;
    use std::time::Instant;

    /// A journey `name` against `http://127.0.0.1:1` whose steps each `GET /`, with a chosen fingerprint so
    /// tests can say "changed" or "unchanged". Built as the model directly, not loaded from YAML: status
    /// consumes the model and must not import `config`, not even in tests.
    pub(crate) fn journey(name: &str, steps: &[&str], fingerprint: u64) -> Arc<Journey> {
        let step = |s: &&str| Step {
            name: s.to_string(),
            method: Method::GET,
            url: Template::literal("/"),
            headers: Vec::new(),
            query: Vec::new(),
            body: None,
            timeout: None,
            max_redirects: RequestDefaults::default().max_redirects,
            expect: Vec::new(),
            capture: Vec::new(),
            think: None,
            ws: None,
            thresholds: Vec::new(),
        };
        Arc::new(Journey {
            name: name.to_string(),
            description: String::new(),
            tags: Vec::new(),
            source: "x.yml".into(),
            fingerprint,
            target: Some(Template::literal("http://127.0.0.1:1")),
            targets: None,
            every: Duration::from_secs(60),
            users: 1,
            load: LoadModel::Closed { users: 1 },
            timeout: Duration::from_secs(30),
            defaults: RequestDefaults::default(),
            vars: Vec::new(),
            data: Vec::new(),
            secrets: Vec::new(),
            steps: steps.iter().map(step).collect(),
            capture_slots: 0,
            secret_captures: Vec::new(),
            oauth: Vec::new(),
            depends_on: Vec::new(),
            alerts: AlertRules::default(),
            thresholds: Vec::new(),
        })
    }

    pub(crate) fn outcome(name: &str, at: SystemTime, failed: bool, ms: u64) -> RunOutcome {
        RunOutcome {
            journey: Arc::from(name),
            intended_start: Instant::now(),
            start_delay: Duration::ZERO,
            wall_start: at,
            duration: Duration::from_millis(ms),
            service_time: Duration::from_millis(ms),
            status: if failed {
                RunStatus::Failed(Box::new(Failure::new(0, "home", Reason::Status, "status 503 <b>")))
            } else {
                RunStatus::Passed
            },
            steps: vec![StepOutcome {
                index: 0,
                response_time: Duration::from_millis(ms),
                passed: !failed,
                ..Default::default()
            }],
            soft_failures: vec![],
            trace_id: 0,
            user: 0,
            target: None,
        }
    }

    #[test]
    fn availability_counts_windows_and_forgets_old_minutes() {
        let board = StatusBoard::new();
        board.set_suite(&Suite { journeys: vec![journey("shop", &["home"], 1)] });
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000 * 60);
        // 90 minutes ago: 3 failures; within the last hour: 3 passes, 1 failure.
        for _ in 0..3 {
            board.record(&outcome("shop", t0 - Duration::from_secs(90 * 60), true, 10));
        }
        for i in 0..3 {
            board.record(&outcome("shop", t0 - Duration::from_secs(i * 60), false, 10));
        }
        board.record(&outcome("shop", t0, true, 10));
        let b = board.lock();
        let h = &b.journeys["shop"];
        let now = minute_of(t0);
        assert_eq!(h.availability(now, 60), Some(0.75));
        assert_eq!(h.availability(now, AVAILABILITY_MINUTES), Some(3.0 / 7.0));
        // A day later, nothing of it counts.
        assert_eq!(h.availability(now + AVAILABILITY_MINUTES, AVAILABILITY_MINUTES), None);
        assert_eq!(h.counts.len() as u64, 91, "one bucket per minute since the first run");
        assert_eq!(b.failures.len(), 4);
        assert_eq!(h.last_run.as_ref().unwrap().outcome, LastOutcome::Failed);
        drop(b);
        // A run a minute for two days: the buckets stop at the window, and the old failures leave it.
        for m in 1..=2 * AVAILABILITY_MINUTES {
            board.record(&outcome("shop", t0 + Duration::from_secs(m * 60), false, 10));
        }
        let b = board.lock();
        let h = &b.journeys["shop"];
        assert_eq!(h.counts.len() as u64, AVAILABILITY_MINUTES, "bounded by the window, not by runs");
        let later = now + 2 * AVAILABILITY_MINUTES;
        assert_eq!(h.runs_in(later, AVAILABILITY_MINUTES), (AVAILABILITY_MINUTES, 0));
        assert_eq!(h.runs_in(later, 60), (60, 0));
        drop(b);
        // After a day without runs (or a clock jump) only the new run counts.
        board.record(&outcome("shop", t0 + Duration::from_secs(5 * AVAILABILITY_MINUTES * 60), true, 10));
        let b = board.lock();
        let h = &b.journeys["shop"];
        assert_eq!(h.counts.len(), 1);
        assert_eq!(h.runs_in(now + 5 * AVAILABILITY_MINUTES, AVAILABILITY_MINUTES), (0, 1));
    }

    #[test]
    fn plot_keeps_one_point_per_minute_within_the_window() {
        let mut s = StepHistory::new("home");
        let t0 = 10_000u64;
        for m in 0..(PLOT_MINUTES + 50) {
            s.record(t0 + m, Duration::from_millis(10 + m));
            s.record(t0 + m, Duration::from_millis(20 + m));
        }
        let now = t0 + PLOT_MINUTES + 49;
        let plot = s.plot(now);
        assert_eq!(plot.len() as u64, PLOT_MINUTES);
        assert!(s.minutes.len() as u64 <= PLOT_MINUTES);
        assert_eq!(plot.last().unwrap().minute, now);
        assert!(plot.iter().all(|p| p.count == 2 && p.p99 >= p.p50));
    }

    #[test]
    fn reload_keeps_unchanged_journeys_and_forgets_removed_ones() {
        let board = StatusBoard::new();
        board.set_suite(&Suite { journeys: vec![journey("a", &["home"], 1), journey("b", &["home"], 1)] });
        let t0 = UNIX_EPOCH + Duration::from_secs(60_000_000);
        board.record(&outcome("a", t0, false, 5));
        board.record(&outcome("b", t0, true, 5));
        board.set_suite(&Suite { journeys: vec![journey("a", &["home"], 1), journey("c", &["x"], 1)] });
        let b = board.lock();
        assert_eq!(b.journeys["a"].steps[0].plot(minute_of(t0)).len(), 1);
        assert!(!b.journeys.contains_key("b"));
        assert!(b.failures.iter().all(|f| f.journey != "b"));
        assert!(b.journeys["c"].last_run.is_none());
    }

    #[test]
    fn cancelled_runs_are_not_recorded() {
        let board = StatusBoard::new();
        board.set_suite(&Suite { journeys: vec![journey("a", &["home"], 1)] });
        let mut o = outcome("a", SystemTime::now(), false, 5);
        o.status = RunStatus::Cancelled;
        board.record(&o);
        assert!(board.lock().journeys["a"].last_run.is_none());
    }
}
