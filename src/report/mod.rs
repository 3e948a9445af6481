//! Verify reports: what `journeyd verify` found, as data that people, CI systems and later runs read.
//!
//! Files: `hist` (histograms stored losslessly), `cert` (the earliest-expiring certificate seen), `sink`
//! (the pipeline sink that builds a report from outcomes), `threshold` (the threshold language and its evaluation), `baseline` (comparison with an
//! earlier report: Mann-Whitney U on the exact histograms), `merge` (shard reports into one), `text`
//! (the terminal summary and progress line), `formats` (JUnit XML, Markdown), `push` (Pushgateway).
//!
//! A report never imports the runner: it is built from outcomes only.

/// Where `verify` keeps browser journeys' failure screenshots, beside its JUnit file (else its JSON report);
/// the JUnit `[[ATTACHMENT|screenshots/…]]` lines and the reports' `screenshot` fields refer to it.
pub const SCREENSHOT_DIR: &str = "screenshots";

pub mod baseline;
pub mod cert;
pub mod formats;
pub mod hist;
pub mod merge;
pub mod push;
pub mod sink;
pub mod text;
pub mod threshold;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::outcome::Failure;
use crate::threshold::Threshold;

pub use baseline::{compare, Comparison, Delta};
pub use cert::EarliestCert;
pub use hist::Hist;
pub use merge::{merge, MergeError};
pub use sink::{FailFast, ReportSink};
pub use threshold::{evaluate, Verdict};

/// Bumped on any incompatible change to the JSON layout; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// One verify run (or several shards merged): everything needed to judge it again or compare against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    /// The journeyd version that wrote it.
    pub journeyd_version: String,
    /// When the run started, RFC 3339 UTC (the earliest shard's, after a merge).
    pub started_at: String,
    /// Same instant as milliseconds since the epoch, for ordering.
    pub started_unix_ms: u64,
    /// Wall time of the run (the longest shard's, after a merge).
    pub elapsed_seconds: f64,
    /// `--target`, when one was given.
    pub target: Option<String>,
    /// The shards this report covers (`0/1` for an unsharded run).
    pub shards: Vec<String>,
    /// `--location`: where the run probed from; absent without it. After `report merge` of reports from
    /// different locations (or with and without one), `mixed`, and `locations` lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Set by `report merge` when the merged reports name more than one location: each named location,
    /// sorted (a report without a location adds none). Absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    /// Why the run stopped before its planned end (`--fail-fast`, interrupted), if it did.
    pub stopped_early: Option<String>,
    /// Every threshold in force, as written with its scope, so `report merge` can judge again.
    pub threshold_specs: Vec<String>,
    pub journeys: BTreeMap<String, JourneyReport>,
    /// Threshold verdicts (filled in by `finish`).
    pub verdicts: Vec<Verdict>,
    /// The comparison with `--baseline`, when one was given.
    pub comparison: Option<Comparison>,
    /// Every run of every journey failed at its first step without an HTTP response (see docs/verify.md).
    pub unreachable: bool,
    /// The gate's answer: every threshold passed and no regression was found.
    pub passed: bool,
}

/// One journey's results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JourneyReport {
    /// Completed runs (passed + failed; cancelled runs are neither).
    pub runs: u64,
    pub failed: u64,
    /// Runs stopped by the end of the run or `--fail-fast` before they finished.
    pub cancelled: u64,
    /// Open-model arrivals that could not start (every `max_users` busy).
    pub dropped: u64,
    /// Failed runs that got no HTTP response at their first step (connect, dns, tls).
    pub unreachable_runs: u64,
    /// Whole-iteration response time (from the intended start, think time included).
    pub duration: Hist,
    /// Failures by reason, with the earliest evidence.
    pub failures: BTreeMap<String, FailureCount>,
    pub steps: Vec<StepReport>,
    /// The certificate that expires first among every step's; absent when no step presented one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_cert: Option<EarliestCert>,
}

impl JourneyReport {
    /// Passed runs / completed runs; `None` with no completed runs.
    pub fn availability(&self) -> Option<f64> {
        (self.runs > 0).then(|| (self.runs - self.failed) as f64 / self.runs as f64)
    }
}

/// One step's results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    pub name: String,
    /// Times the step ran (a step after a failing one does not run).
    pub runs: u64,
    pub failed: u64,
    /// From the step's intended start to its response being complete.
    pub response: Hist,
    /// Failures of runs that failed at this step, by reason.
    pub failures: BTreeMap<String, FailureCount>,
    /// The certificate that expires first among those this step's fresh TLS handshakes presented; absent
    /// when it presented none (plain http, or only reused connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_cert: Option<EarliestCert>,
    /// Browser steps: page timings and web vitals by name (`lcp`, `ttfb`, … of
    /// `crate::threshold::PAGE_TIMINGS`), for `p75{vital=lcp}` thresholds; absent for other steps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vitals: BTreeMap<String, Hist>,
}

impl StepReport {
    pub fn availability(&self) -> Option<f64> {
        (self.runs > 0).then(|| (self.runs - self.failed) as f64 / self.runs as f64)
    }
}

/// How often a reason occurred, and the first time it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureCount {
    pub count: u64,
    pub first: Evidence,
}

/// The first failure of a reason: when its run started, and the failure itself (redacted at the source).
/// Equal when what a report stores is equal (not the step's index or the reason, which it does not store).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    /// Wall-clock start of the failed run, ms since the epoch: "first" means earliest, so merges agree.
    pub at_unix_ms: u64,
    /// `step`, `message`, `check`, `actual`, `request`, `status`, `excerpt`, `redirects` (the reason is the
    /// table's key, so it is not repeated).
    #[serde(flatten)]
    pub failure: Failure,
}

impl Evidence {
    /// One line for terminals, JUnit and Markdown.
    pub fn line(&self) -> String {
        evidence_line(&self.failure)
    }

    /// Earliest first; ties broken by the evidence itself, so every merge order keeps the same one.
    fn key(&self) -> impl Ord + '_ {
        let f = &self.failure;
        (
            self.at_unix_ms,
            &f.step_name,
            &f.message,
            &f.check,
            &f.actual,
            &f.request,
            f.status,
            &f.excerpt,
            &f.redirects,
            &f.trace_id,
        )
    }
}

impl PartialEq for Evidence {
    fn eq(&self, other: &Evidence) -> bool {
        self.key() == other.key()
    }
}

/// A failure on one line: `step "x": message; expected C, got A [REQUEST → STATUS] redirects: … body: "…"`,
/// the body cut to 120 bytes (never inside a mask).
pub fn evidence_line(f: &Failure) -> String {
    let mut s = format!("step {:?}: {}", f.step_name, f.message);
    s.push_str(&crate::outcome::check_and_actual(&f.message, f.check.as_deref(), f.actual.as_deref()));
    if let Some(r) = &f.request {
        s.push_str(&format!(" [{r}"));
        if let Some(st) = f.status {
            s.push_str(&format!(" → {st}"));
        }
        s.push(']');
    }
    if !f.redirects.is_empty() {
        s.push_str(&format!(" redirects: {}", crate::outcome::chain_text(&f.redirects)));
    }
    if let Some(e) = &f.excerpt {
        s.push_str(&format!(" body: {:?}", crate::redact::truncate(e, 120)));
    }
    if let Some(t) = &f.trace_id {
        s.push_str(&format!(" trace: {t}"));
    }
    s
}

/// Adds `count` occurrences with `evidence` into a reason table, keeping the earliest evidence.
pub(crate) fn add_failure(table: &mut BTreeMap<String, FailureCount>, reason: &str, count: u64, evidence: &Evidence) {
    match table.get_mut(reason) {
        Some(fc) => {
            fc.count += count;
            if evidence.key() < fc.first.key() {
                fc.first = evidence.clone();
            }
        }
        None => {
            table.insert(reason.to_string(), FailureCount { count, first: evidence.clone() });
        }
    }
}

/// Errors reading a report file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a journeyd verify report: {source}")]
    Json { path: String, source: serde_json::Error },
    #[error("{path}: report schema_version {found} is not supported (this journeyd reads {SCHEMA_VERSION}); re-run verify with this version")]
    Version { path: String, found: u64 },
}

impl Report {
    /// A report with no journeys yet.
    pub fn empty(started_unix_ms: u64) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            journeyd_version: crate::VERSION.to_string(),
            started_at: crate::units::rfc3339(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(started_unix_ms),
            ),
            started_unix_ms,
            elapsed_seconds: 0.0,
            target: None,
            shards: vec!["0/1".to_string()],
            location: None,
            locations: Vec::new(),
            stopped_early: None,
            threshold_specs: Vec::new(),
            journeys: BTreeMap::new(),
            verdicts: Vec::new(),
            comparison: None,
            unreachable: false,
            passed: false,
        }
    }

    /// Reads a report, checking the schema version before anything else.
    pub fn read(path: &Path) -> Result<Report, ReadError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io { path: p.clone(), source })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ReadError::Json { path: p.clone(), source })?;
        let found = value.get("schema_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if found != u64::from(SCHEMA_VERSION) {
            return Err(ReadError::Version { path: p, found });
        }
        serde_json::from_value(value).map_err(|source| ReadError::Json { path: p, source })
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Unix seconds at the end of the run (its start plus its wall time; after a merge, the earliest shard's
    /// start plus the longest shard's wall time): `cert_expiry` thresholds count from here.
    pub fn end_unix(&self) -> f64 {
        self.started_unix_ms as f64 / 1000.0 + self.elapsed_seconds
    }

    /// Every completed run of every journey failed at its first step with no HTTP response.
    pub fn all_unreachable(&self) -> bool {
        let runs: u64 = self.journeys.values().map(|j| j.runs).sum();
        let unreachable: u64 = self.journeys.values().map(|j| j.unreachable_runs).sum();
        runs > 0 && unreachable == runs
    }

    /// Judges the report: evaluates `thresholds` (already parsed from `threshold_specs`), compares with
    /// `baseline`, and sets `verdicts`, `comparison`, `unreachable` and `passed`.
    pub fn judge(&mut self, thresholds: &[Threshold], baseline: Option<&Report>) {
        self.verdicts = evaluate(self, thresholds);
        self.comparison = baseline.map(|b| compare(b, self));
        self.unreachable = self.all_unreachable();
        let regressions = self.comparison.as_ref().map_or(0, |c| c.regressions());
        self.passed = self.verdicts.iter().all(|v| v.passed) && regressions == 0 && !self.unreachable;
    }

    /// Whether one journey passed: its thresholds (and its steps') and its comparison rows.
    pub fn journey_passed(&self, journey: &str) -> bool {
        self.verdicts.iter().filter(|v| v.journey == journey).all(|v| v.passed)
            && self
                .comparison
                .as_ref()
                .map_or(true, |c| c.deltas.iter().filter(|d| d.journey == journey).all(|d| !d.regression))
    }
}
