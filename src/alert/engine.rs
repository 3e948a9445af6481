//! The alert engine: one tracker per journey, turned into the alerts receivers should know about.
//!
//! `reconcile` is the one place alerts change: it computes what should fire (hysteresis, SLO, latency,
//! certificates), removes what maintenance or a down dependency holds back, compares with what receivers
//! were told, and returns the differences as notices. It runs after every outcome and on a one-second tick (windows open
//! and close, latency samples age out).
//!
//! Each journey's state is one entry (`Watched`) in a vector, rebuilt when the suite changes: an outcome
//! looks its journey's name up once and every stage after reaches the entry by slot. Before, five maps
//! keyed by name took ~15 lookups and a dozen allocations per outcome, most of the pipeline's cost at
//! 1,000 journeys (bench/RESULTS.md, section 6, "the sinks").
//!
//! Files: this one holds the engine's state and its entry points; `wanted` (what should fire, and the
//! alert receivers see), `suppress` (dependency holds and the journeys an outcome can affect),
//! `reconcile` (diffing against what receivers were told, and the gauges), `reload` (settings and suite
//! changes), `views` (the API and status page).

mod reconcile;
mod reload;
mod suppress;
mod views;
mod wanted;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::clock::Clock;
use super::maintenance::Maintenance;
use super::metrics::AlertMetrics;
use super::notify::{Alert, AlertName, Notice};
use super::rules::{Health, Tracker};
use crate::model::Journey;
use crate::outcome::{Failure, RunOutcome};
use crate::settings::Settings;

pub use views::JourneyView;

/// Why a journey's alerts are held: the maintenance reason, and the dependency (down or failing) they
/// wait for.
type Hold = (Option<String>, Option<String>);

pub struct Engine {
    settings: Arc<Settings>,
    /// Base of `generatorURL`, ending in `/`.
    base_url: String,
    /// `http://<listen>/`: the base when the settings set no `external_url`, kept for reloads that drop it.
    listen_url: String,
    clock: Clock,
    /// SLO buckets count from here.
    started: Instant,
    /// Per journey, by name: its slot in `watched`. An outcome looks its journey up here once; every stage
    /// of its reconcile then reaches the entry by slot (five maps keyed by name cost ~15 string-compared
    /// lookups per outcome). Iterated wherever order shows (full passes, views): names in order.
    index: BTreeMap<String, usize>,
    /// Per journey: its tracker and what receivers were told about it. Rebuilt on every suite change.
    watched: Vec<Watched>,
    /// Journeys naming each journey in `depends_on`, so an outcome reconciles only what it can affect.
    dependents: BTreeMap<String, Vec<String>>,
    pub maintenance: Maintenance,
    metrics: AlertMetrics,
    /// Per journey and alert: the annotations of its deploy and canary regressions (set by the deploy and
    /// canary comparisons, which own the verdicts; the engine only holds, suppresses and delivers them like
    /// any other alert). Keyed by journey first, so an outcome looks them up by name without allocating.
    verdicts: BTreeMap<String, BTreeMap<AlertName, BTreeMap<String, String>>>,
}

/// One journey's alerting state.
struct Watched {
    tracker: Tracker,
    /// The alerts receivers were last told are firing.
    active: BTreeMap<AlertName, Alert>,
    /// Why its alerts are held (maintenance reason or `depends on X, which is down`).
    held: Hold,
    /// Its state and when it entered it (the status page shows "down since"); `None` until reconciled.
    since: Option<(Health, SystemTime)>,
    /// What its gauges were last set to. The once-a-second full reconcile sets them only when this
    /// changes: hashing 12 label sets per journey every second was a fifth of the monitor's CPU.
    exported: Option<Exported>,
    /// No `depends_on` and no dependents: an outcome can change this journey alone, so it is reconciled
    /// without building a scope (set by `index_dependents`, at start and reload).
    alone: bool,
}

impl Watched {
    fn new(tracker: Tracker) -> Watched {
        Watched { tracker, active: BTreeMap::new(), held: Hold::default(), since: None, exported: None, alone: false }
    }
}

/// The values of one journey's `journey_state`, `journey_alert_firing` (in [`AlertName::ALL`] order),
/// `journey_alert_suppressed` and `journey_maintenance` gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exported {
    state: Health,
    firing: [bool; AlertName::ALL.len()],
    suppressed: bool,
    maintenance: bool,
}

/// Alert text for one failure: the evidence lines a person needs, already redacted by the runner.
fn evidence(f: &Failure) -> String {
    f.evidence().to_string()
}

/// The `generatorURL` base: `external_url`, else journeyd's own address; ends in `/`.
fn base_url(settings: &Settings, listen_url: &str) -> String {
    let mut base = settings.external_url.clone().unwrap_or_else(|| listen_url.to_string());
    if !base.ends_with('/') {
        base.push('/');
    }
    base
}

impl Engine {
    pub fn new(settings: Arc<Settings>, listen_url: &str, clock: Clock, metrics: AlertMetrics) -> Engine {
        Engine {
            maintenance: Maintenance::new(settings.maintenance.clone()),
            base_url: base_url(&settings, listen_url),
            listen_url: listen_url.to_string(),
            settings,
            clock,
            started: Instant::now(),
            index: BTreeMap::new(),
            watched: Vec::new(),
            dependents: BTreeMap::new(),
            metrics,
            verdicts: BTreeMap::new(),
        }
    }

    pub fn wall(&self, now: Instant) -> SystemTime {
        self.clock.wall(now)
    }

    pub fn has_journey(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// A journey's entry, by name.
    fn by_name(&self, name: &str) -> Option<&Watched> {
        self.index.get(name).map(|&i| &self.watched[i])
    }

    /// The settings in force.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// One finished run.
    pub fn outcome(&mut self, journey: &Journey, o: &RunOutcome, now: Instant) -> Vec<Notice> {
        let elapsed = now.saturating_duration_since(self.started);
        let i = match self.index.get(&journey.name) {
            Some(&i) => i,
            None => {
                let t = Tracker::new(Arc::new(journey.clone()), &self.settings.defaults);
                self.index.insert(journey.name.clone(), self.watched.len());
                self.watched.push(Watched::new(t));
                self.index_dependents();
                self.watched.len() - 1
            }
        };
        let w = &mut self.watched[i];
        w.tracker.record(o, now, elapsed);
        // Only this journey and those whose alerts depend on it can change now; the once-a-second tick
        // reconciles everything (time-driven changes). A full pass per outcome cost O(journeys) per run:
        // 60% of a core for 1,000 journeys every 10 s.
        if w.alone {
            return self.reconcile_one(i, now);
        }
        let scope = self.scope_of(&journey.name);
        self.reconcile_names(now, Some(scope))
    }

    /// Brings receivers' view in line with the trackers; returns what changed.
    pub fn reconcile(&mut self, now: Instant) -> Vec<Notice> {
        self.reconcile_names(now, None)
    }

    /// The once-a-second pass: what time alone can change. Outcomes reconcile their own journeys, so
    /// only journeys with SLO or latency rules (and those their alerts' holds involve) can change between
    /// outcomes, plus every journey while a maintenance window exists and those still held by one that
    /// closed. A full pass over 1,000 quiet journeys every second was a tenth of the monitor's CPU.
    pub fn tick(&mut self, now: Instant) -> Vec<Notice> {
        self.maintenance.prune(now);
        if !self.maintenance.is_empty() {
            return self.reconcile(now);
        }
        let mut scope = BTreeSet::new();
        for (name, &i) in &self.index {
            let w = &self.watched[i];
            let released = w.held.0.is_some();
            if (w.tracker.time_dependent() || released) && !scope.contains(name) {
                scope.extend(self.scope_of(name));
            }
        }
        if scope.is_empty() {
            return Vec::new();
        }
        self.reconcile_names(now, Some(scope))
    }

    /// Sets (or with `None` clears) a journey's deploy regression and reconciles what it can affect.
    pub fn deploy_regression(
        &mut self,
        journey: &str,
        annotations: Option<BTreeMap<String, String>>,
        now: Instant,
    ) -> Vec<Notice> {
        self.verdict(journey, AlertName::DeployRegression, annotations, now)
    }

    /// Sets (or with `None` clears) a journey's canary regression and reconciles what it can affect.
    pub fn canary_regression(
        &mut self,
        journey: &str,
        annotations: Option<BTreeMap<String, String>>,
        now: Instant,
    ) -> Vec<Notice> {
        self.verdict(journey, AlertName::CanaryRegression, annotations, now)
    }

    /// An alert whose verdict a comparison outside the engine owns.
    fn verdict(
        &mut self,
        journey: &str,
        alert: AlertName,
        annotations: Option<BTreeMap<String, String>>,
        now: Instant,
    ) -> Vec<Notice> {
        let changed = match annotations {
            Some(ann) => {
                self.verdicts.entry(journey.to_string()).or_default().insert(alert, ann.clone()).as_ref() != Some(&ann)
            }
            None => {
                let verdicts = self.verdicts.get_mut(journey);
                let removed = verdicts.is_some_and(|v| v.remove(&alert).is_some());
                if self.verdicts.get(journey).is_some_and(BTreeMap::is_empty) {
                    self.verdicts.remove(journey);
                }
                removed
            }
        };
        if !changed || !self.index.contains_key(journey) {
            return Vec::new();
        }
        let scope = self.scope_of(journey);
        self.reconcile_names(now, Some(scope))
    }

    /// How long the engine has run (tests).
    pub fn uptime(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }
}

#[cfg(test)]
mod tests {
    use crate::outcome::{Failure, Reason, RedirectHop};

    #[test]
    fn evidence_shows_where_redirects_led() {
        let mut f = Failure::new(0, "home", Reason::Connect, "tcp connect error");
        f.request = Some("GET https://a.example/start".into());
        assert!(!super::evidence(&f).contains("redirects"), "no chain, no line");
        f.redirects = vec![
            RedirectHop { url: "https://a.example/start".into(), status: Some(302) },
            RedirectHop { url: "http://169.254.169.254/latest".into(), status: None },
        ];
        assert_eq!(
            super::evidence(&f),
            "request: GET https://a.example/start\n\
             redirects: https://a.example/start (302) → http://169.254.169.254/latest (no response)"
        );
    }
}
