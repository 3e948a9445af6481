//! Deploy-aware monitoring: markers (`POST /api/v1/deploys`, `journeyd mark-deploy`) and, per marker, each
//! journey's and step's latency and availability after it compared with the window before it, as runs
//! arrive, until the decision window ends — with the statistics `verify --baseline` uses ([`crate::stats`])
//! and an alpha-spending rule for the repeated looks.
//!
//! Files: this one (the shared state, the pipeline sink, the gauges), `marker` (the request and its
//! bounds), `recent` (the runs of the last `deploys.before`), `judge` (one journey's comparison), `api`
//! (the HTTP routes).
//!
//! The verdicts go out three ways: `journey_deploy_regression{journey,step}`, `JourneyDeployRegression`
//! through the alert engine (held, suppressed and delivered like every other alert), and
//! `/api/v1/deploys`. Markers live in the daemon, not in the loaded files, so a reload keeps them; the
//! settings file bounds how many are kept (`deploys.keep`).

pub mod api;
pub mod judge;
pub mod marker;
pub mod recent;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{GaugeVec, IntGaugeVec, Opts, Registry};
use serde::Serialize;

use crate::alert::AlertHandle;
use crate::model::{Journey, Suite};
use crate::outcome::RunOutcome;
use crate::pipeline::Sink;
use crate::settings::DeploySettings;
use crate::status::{DeployMark, MarkSource};
use crate::units::rfc3339;
use judge::{Comparison, SeriesView, State};
use marker::{Marker, MarkerError, MarkerRequest};
use recent::{Runs, Sample};

/// Markers exported in `journeyd_deploy_info` and `journeyd_deploy_timestamp_seconds`: the newest few, so
/// the `version` label stays bounded however many deploys a day brings.
pub const EXPORTED_MARKERS: usize = 5;

/// One marker and its comparisons.
#[derive(Debug)]
struct Deploy {
    id: u64,
    marker: Marker,
    /// The end of the decision window.
    until: SystemTime,
    /// Per journey in the marker's scope.
    comparisons: BTreeMap<String, Comparison>,
}

struct Inner {
    settings: DeploySettings,
    /// The journeys running now, for scopes and step names, with their recent runs: one entry, so a run
    /// is recorded with one lookup.
    journeys: BTreeMap<String, Loaded>,
    /// Oldest first; at most `settings.keep`.
    deploys: VecDeque<Deploy>,
    next_id: u64,
}

/// A journey running now.
struct Loaded {
    journey: Arc<Journey>,
    /// Its step names, shared with every sample.
    steps: Vec<Arc<str>>,
    /// Its runs of the last `deploys.before`: a new marker's "before" side. Kept across reloads.
    recent: Runs,
}

/// The deploy gauges.
#[derive(Clone)]
struct Gauges {
    regression: IntGaugeVec,
    info: IntGaugeVec,
    timestamp: GaugeVec,
}

impl Gauges {
    fn register(registry: &Registry) -> Result<Gauges, prometheus::Error> {
        let regression = IntGaugeVec::new(
            Opts::new(
                "journey_deploy_regression",
                "1 when the latest deploy marker covering the journey made it (step=\"\": the whole journey) or \
                 the step slower or less available; 0 otherwise.",
            ),
            &["journey", "step"],
        )?;
        let info = IntGaugeVec::new(
            Opts::new("journeyd_deploy_info", "The newest deploy markers (at most 5); the value is always 1."),
            &["version"],
        )?;
        let timestamp = GaugeVec::new(
            Opts::new(
                "journeyd_deploy_timestamp_seconds",
                "When each of the newest deploy markers was set (Unix time), for Grafana annotations.",
            ),
            &["version"],
        )?;
        registry.register(Box::new(regression.clone()))?;
        registry.register(Box::new(info.clone()))?;
        registry.register(Box::new(timestamp.clone()))?;
        Ok(Gauges { regression, info, timestamp })
    }
}

/// The deploy comparison, shared by the pipeline sink, the HTTP routes and the status page. Cheap to clone.
#[derive(Clone)]
pub struct Deploys {
    inner: Arc<Mutex<Inner>>,
    gauges: Gauges,
    /// Where `JourneyDeployRegression` is raised and resolved.
    alerts: Option<AlertHandle>,
}

/// A marker as `/api/v1/deploys` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeployView {
    pub id: u64,
    #[serde(flatten)]
    pub marker: Marker,
    /// RFC 3339.
    pub at: String,
    pub decision_ends_at: String,
    /// `regression` as soon as any journey regressed (final), else `running` while any journey is, else
    /// `passed`.
    pub state: &'static str,
    pub results: Vec<JourneyResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JourneyResult {
    pub journey: String,
    pub state: State,
    pub series: Vec<SeriesView>,
}

impl Deploys {
    pub fn new(
        settings: DeploySettings,
        registry: &Registry,
        alerts: Option<AlertHandle>,
    ) -> Result<Deploys, prometheus::Error> {
        Ok(Deploys {
            inner: Arc::new(Mutex::new(Inner {
                settings,
                journeys: BTreeMap::new(),
                deploys: VecDeque::new(),
                next_id: 1,
            })),
            gauges: Gauges::register(registry)?,
            alerts,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A reloaded settings file: new bounds; markers beyond `keep` go, oldest first.
    pub fn set_settings(&self, settings: DeploySettings) {
        let mut inner = self.lock();
        inner.settings = settings;
        while inner.deploys.len() > settings.keep {
            inner.deploys.pop_front();
        }
        self.export_markers(&inner);
    }

    /// The pipeline sink that feeds the comparisons.
    pub fn sink(&self) -> DeploySink {
        DeploySink { deploys: self.clone() }
    }

    /// Records a marker at `at`: each journey in its scope starts a comparison with its runs in the window
    /// before, and takes over from an earlier marker's comparison of that journey.
    pub fn mark(&self, request: MarkerRequest, at: SystemTime) -> Result<DeployView, MarkerError> {
        let mut inner = self.lock();
        let (marker, scope) = request.validate(inner.journeys.values().map(|l| l.journey.as_ref()), at)?;
        let settings = inner.settings;
        let mut comparisons = BTreeMap::new();
        for name in scope {
            let from = at.checked_sub(settings.before).unwrap_or(UNIX_EPOCH);
            let loaded = inner.journeys.get(&name);
            let steps = loaded.map(|l| l.steps.clone()).unwrap_or_default();
            let before = loaded.into_iter().flat_map(|l| l.recent.between(from, at));
            comparisons
                .insert(name.clone(), Comparison::new(&name, &steps, before, &marker.version, at, settings.decision));
            for d in inner.deploys.iter_mut() {
                if let Some(c) = d.comparisons.get_mut(&name) {
                    c.superseded = true;
                }
            }
            self.set_verdict(&name, &comparisons[&name]);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        tracing::info!(id, version = %marker.version, journeys = comparisons.len(), by = %marker.by, "deploy marked");
        inner.deploys.push_back(Deploy { id, marker, until: at + settings.decision, comparisons });
        while inner.deploys.len() > settings.keep {
            inner.deploys.pop_front();
        }
        self.export_markers(&inner);
        Ok(view(inner.deploys.back().expect("just pushed"), at))
    }

    /// The kept markers, newest first, with their verdicts at `now`.
    pub fn list(&self, now: SystemTime) -> Vec<DeployView> {
        self.lock().deploys.iter().rev().map(|d| view(d, now)).collect()
    }

    /// The gauges and the alert of one journey from its comparison (the latest marker's).
    fn set_verdict(&self, journey: &str, c: &Comparison) {
        for (step, regressed) in c.verdicts() {
            self.gauges.regression.with_label_values(&[journey, step.unwrap_or("")]).set(i64::from(regressed));
        }
        let Some(alerts) = &self.alerts else { return };
        let findings = c.findings();
        let annotations = findings.first().map(|first| {
            let mut ann = BTreeMap::new();
            ann.insert("summary".to_string(), format!("journey {journey} regressed after a deploy: {first}"));
            ann.insert("description".to_string(), findings.join("\n"));
            ann.insert("evidence".to_string(), findings.join("\n"));
            if let Some(step) = c.failing_step() {
                ann.insert("step".to_string(), step.to_string());
            }
            ann
        });
        alerts.deploy_regression(journey, annotations);
    }

    /// `journeyd_deploy_info` and `journeyd_deploy_timestamp_seconds` for the newest markers only.
    fn export_markers(&self, inner: &Inner) {
        self.gauges.info.reset();
        self.gauges.timestamp.reset();
        for d in inner.deploys.iter().rev().take(EXPORTED_MARKERS) {
            let at = d.marker.at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
            self.gauges.info.with_label_values(&[d.marker.version.as_str()]).set(1);
            let ts = self.gauges.timestamp.with_label_values(&[d.marker.version.as_str()]);
            // Two markers of one version: the newer one's time.
            ts.set(ts.get().max(at));
        }
    }

    fn suite_changed(&self, suite: &Suite) {
        let mut inner = self.lock();
        let mut before = std::mem::take(&mut inner.journeys);
        inner.journeys = suite
            .journeys
            .iter()
            .map(|j| {
                let steps: Vec<Arc<str>> = j.steps.iter().map(|s| Arc::from(s.name.as_str())).collect();
                // A journey still loaded keeps its recent runs, changed or not.
                let recent = before.get_mut(&j.name).map(|l| std::mem::take(&mut l.recent)).unwrap_or_default();
                (j.name.clone(), Loaded { journey: Arc::clone(j), steps, recent })
            })
            .collect();
        for (name, old) in before {
            let gone = !inner.journeys.contains_key(&name);
            let renamed = inner.journeys.get(&name).is_some_and(|l| l.steps != old.steps);
            if gone || renamed {
                for step in std::iter::once("").chain(old.steps.iter().map(|s| s.as_ref())) {
                    let _ = self.gauges.regression.remove_label_values(&[name.as_str(), step]);
                }
            }
        }
    }

    fn record(&self, journey: &Journey, o: &RunOutcome) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(loaded) = inner.journeys.get_mut(&journey.name) else { return };
        let Some(sample) = Sample::of(&loaded.steps, o) else { return };
        // The newest marker covering the journey decides its gauges and alert; older ones are superseded.
        let latest = inner.deploys.iter_mut().rev().find_map(|d| d.comparisons.get_mut(&journey.name));
        if let Some(c) = latest {
            let was = c.findings().len();
            if c.record(&sample) && c.findings().len() != was {
                let c = c.clone();
                self.set_verdict(&journey.name, &c);
            }
        }
        loaded.recent.record(sample, inner.settings.before);
    }
}

fn view(d: &Deploy, now: SystemTime) -> DeployView {
    let results: Vec<JourneyResult> = d
        .comparisons
        .values()
        .map(|c| JourneyResult { journey: c.journey.clone(), state: c.state_at(now), series: c.views() })
        .collect();
    let state = if results.iter().any(|r| r.state == State::Regression) {
        "regression"
    } else if results.iter().any(|r| r.state == State::Running) {
        "running"
    } else {
        "passed"
    };
    DeployView {
        id: d.id,
        marker: d.marker.clone(),
        at: rfc3339(d.marker.at),
        decision_ends_at: rfc3339(d.until),
        state,
        results,
    }
}

impl MarkSource for Deploys {
    /// The kept markers, for the status page's plots.
    fn marks(&self) -> Vec<DeployMark> {
        self.lock()
            .deploys
            .iter()
            .map(|d| DeployMark {
                at: d.marker.at,
                version: d.marker.version.clone(),
                journeys: d.comparisons.keys().cloned().collect(),
                regression: d.comparisons.values().any(|c| c.state_at(d.marker.at) == State::Regression),
            })
            .collect()
    }
}

/// Feeds every completed run to the comparisons and the window of recent runs.
pub struct DeploySink {
    deploys: Deploys,
}

impl Sink for DeploySink {
    fn suite_changed(&mut self, suite: &Suite) {
        self.deploys.suite_changed(suite);
    }

    fn outcome(&mut self, journey: &Journey, outcome: &RunOutcome) {
        self.deploys.record(journey, outcome);
    }
}
