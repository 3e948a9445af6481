//! The report sink: owns the per-journey and per-step histograms and failure tables of a verify run, fed
//! by the pipeline, read by the progress line (rarely, under a short lock) and by `verify` at the end.
//! It also applies the `--fail-fast` rule, since it is the one place that sees every outcome in order.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::model::{Journey, Suite};
use crate::outcome::{Reason, RunOutcome, RunStatus};
use crate::pipeline::Sink;
use crate::report::{add_failure, cert, EarliestCert, Evidence, Hist, JourneyReport, Report, StepReport};

/// `--fail-fast`: stop the whole run once some journey has failed hard (every completed run failing).
#[derive(Debug, Clone)]
pub struct FailFast {
    /// A journey whose first `min_runs` completed runs all failed has failed hard.
    pub min_runs: u64,
    /// …as has one with at least one completed run, all failed, once this long has passed since `start`
    /// (slow failures such as timeouts produce few runs).
    pub window: Duration,
    pub start: Instant,
    /// Cancelled when the rule trips; the load driver stops on it.
    pub cancel: CancellationToken,
}

/// What the progress line shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub runs: u64,
    pub failed: u64,
    pub p99: Duration,
}

#[derive(Debug)]
struct Collector {
    report: Report,
    /// Every journey's iteration durations together, for the progress line's p99.
    all: Hist,
    runs: u64,
    failed: u64,
    fail_fast: Option<FailFast>,
    /// Why fail-fast tripped (kept so it trips once).
    tripped: Option<String>,
}

/// A pipeline sink that builds a [`Report`]. Clones share the same state.
#[derive(Debug, Clone)]
pub struct ReportSink {
    inner: Arc<Mutex<Collector>>,
}

impl ReportSink {
    pub fn new(started_unix_ms: u64, fail_fast: Option<FailFast>) -> ReportSink {
        let collector = Collector {
            report: Report::empty(started_unix_ms),
            all: Hist::default(),
            runs: 0,
            failed: 0,
            fail_fast,
            tripped: None,
        };
        ReportSink { inner: Arc::new(Mutex::new(collector)) }
    }

    /// Adds journeys (and their steps) so that journeys with no runs still appear in the report.
    pub fn add_journeys(&self, journeys: &[Arc<Journey>]) {
        let mut c = self.lock();
        for j in journeys {
            c.report.journeys.entry(j.name.clone()).or_insert_with(|| JourneyReport {
                steps: j.steps.iter().map(|s| StepReport { name: s.name.clone(), ..StepReport::default() }).collect(),
                ..JourneyReport::default()
            });
        }
    }

    /// Records one outcome (the `Sink` entry point, callable directly by tests and tools).
    pub fn record(&self, outcome: &RunOutcome) {
        let mut c = self.lock();
        let c = &mut *c;
        let Some(jr) = c.report.journeys.get_mut(outcome.journey.as_ref()) else { return };
        let failure = match &outcome.status {
            RunStatus::Cancelled => {
                jr.cancelled += 1;
                return;
            }
            RunStatus::Passed => None,
            RunStatus::Failed(f) => Some(f),
        };
        jr.runs += 1;
        c.runs += 1;
        jr.duration.record(outcome.duration);
        c.all.record(outcome.duration);
        for so in &outcome.steps {
            if let Some(sr) = jr.steps.get_mut(so.index) {
                sr.runs += 1;
                sr.failed += u64::from(!so.passed);
                sr.response.record(so.response_time);
                if let Some(p) = &so.page {
                    let timings = [p.fcp, p.lcp, p.tbt, p.ttfb, p.dom_content_loaded, p.load];
                    for (name, d) in crate::threshold::PAGE_TIMINGS.iter().zip(timings) {
                        if let Some(d) = d {
                            sr.vitals.entry(name.to_string()).or_default().record(d);
                        }
                    }
                }
                if let Some(cert) = so.tls.as_deref().filter(|c| cert::is_earlier(&sr.earliest_cert, c)) {
                    let seen = EarliestCert::of(cert);
                    cert::keep_earliest(&mut sr.earliest_cert, &seen);
                    cert::keep_earliest(&mut jr.earliest_cert, &seen);
                }
            }
        }
        if let Some(f) = failure {
            jr.failed += 1;
            c.failed += 1;
            if f.step == 0 && matches!(f.reason, Reason::Connect | Reason::Dns | Reason::Tls) && f.status.is_none() {
                jr.unreachable_runs += 1;
            }
            let at = outcome.wall_start.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
            let evidence = Evidence { at_unix_ms: at, failure: (**f).clone() };
            add_failure(&mut jr.failures, f.reason.as_str(), 1, &evidence);
            if let Some(sr) = jr.steps.get_mut(f.step) {
                add_failure(&mut sr.failures, f.reason.as_str(), 1, &evidence);
            }
        }
        if let (Some(ff), None) = (&c.fail_fast, &c.tripped) {
            let hard =
                jr.runs > 0 && jr.failed == jr.runs && (jr.runs >= ff.min_runs || ff.start.elapsed() >= ff.window);
            if hard {
                let why = format!(
                    "--fail-fast: every one of the first {} completed run(s) of journey {:?} failed",
                    jr.runs, outcome.journey
                );
                ff.cancel.cancel();
                c.tripped = Some(why);
            }
        }
    }

    pub fn progress(&self) -> Progress {
        let c = self.lock();
        Progress { runs: c.runs, failed: c.failed, p99: c.all.quantile(0.99) }
    }

    /// Why `--fail-fast` stopped the run, if it did.
    pub fn tripped(&self) -> Option<String> {
        self.lock().tripped.clone()
    }

    /// A copy of the report so far (journeys and their numbers; not judged).
    pub fn report(&self) -> Report {
        self.lock().report.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Collector> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sink for ReportSink {
    fn suite_changed(&mut self, suite: &Suite) {
        self.add_journeys(&suite.journeys);
    }

    fn outcome(&mut self, _journey: &Journey, outcome: &RunOutcome) {
        self.record(outcome);
    }

    fn dropped(&mut self, journey: &Journey, count: u64) {
        if let Some(jr) = self.lock().report.journeys.get_mut(&journey.name) {
            jr.dropped += count;
        }
    }
}
