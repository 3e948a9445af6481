//! The alert engine: one tracker per journey, turned into the alerts receivers should know about.
//!
//! `reconcile` is the one place alerts change: it computes what should fire (hysteresis, SLO, latency),
//! removes what maintenance or a down dependency holds back, compares with what receivers were told, and
//! returns the differences as notices. It runs after every outcome and on a one-second tick (windows open
//! and close, latency samples age out).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use super::clock::{rfc3339, Clock};
use super::maintenance::Maintenance;
use super::metrics::{AlertMetrics, STATES};
use super::notify::{Alert, AlertName, Notice, NoticeKind};
use super::rules::{Health, Tracker};
use super::slo::WINDOWS;
use crate::model::{Journey, Suite};
use crate::outcome::{Failure, RunOutcome};
use crate::settings::{Settings, Severities};

/// A journey's state for the status page and `GET /api/v1/alerts`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JourneyView {
    pub journey: String,
    /// up, degraded, down, maintenance or unknown.
    pub state: &'static str,
    /// The journey this one's alerts are held for, when one it depends on is down.
    pub suppressed_by: Option<String>,
    pub maintenance: Option<String>,
    /// Alerts receivers were told are firing.
    pub firing: Vec<String>,
}

pub struct Engine {
    settings: Arc<Settings>,
    /// Base of `generatorURL`, ending in `/`.
    base_url: String,
    /// `http://<listen>/`: the base when the settings set no `external_url`, kept for reloads that drop it.
    listen_url: String,
    clock: Clock,
    /// SLO buckets count from here.
    started: Instant,
    trackers: BTreeMap<String, Tracker>,
    /// Per journey: the alerts receivers were last told are firing.
    active: BTreeMap<String, BTreeMap<AlertName, Alert>>,
    /// Per journey: why its alerts are held (maintenance reason or `depends on X, which is down`).
    held: BTreeMap<String, (Option<String>, Option<String>)>,
    /// Journeys naming each journey in `depends_on`, so an outcome reconciles only what it can affect.
    dependents: BTreeMap<String, Vec<String>>,
    pub maintenance: Maintenance,
    metrics: AlertMetrics,
    /// Per journey: its state and when it entered it (the status page shows "down since").
    since: BTreeMap<String, (&'static str, SystemTime)>,
    /// Per journey: what its gauges were last set to. The once-a-second full reconcile sets them only when
    /// this changes: hashing 12 label sets per journey every second was a fifth of the monitor's CPU.
    exported: HashMap<String, Exported>,
}

/// The values of one journey's `journey_state`, `journey_alert_firing` (in [`AlertName::ALL`] order),
/// `journey_alert_suppressed` and `journey_maintenance` gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exported {
    state: &'static str,
    firing: [bool; 5],
    suppressed: bool,
    maintenance: bool,
}

fn is_down(trackers: &BTreeMap<String, Tracker>, journey: &str) -> bool {
    trackers.get(journey).is_some_and(|t| t.health() == Health::Down)
}

fn is_failing(trackers: &BTreeMap<String, Tracker>, journey: &str) -> bool {
    trackers.get(journey).is_some_and(Tracker::failing)
}

/// Alert text for one failure: the evidence lines a person needs, already redacted by the runner.
fn evidence(f: &Failure) -> String {
    f.evidence().to_string()
}

/// The `severity` label of one alert.
fn severity_of(sev: &Severities, alert: AlertName) -> &str {
    match alert {
        AlertName::Down => &sev.down,
        AlertName::Degraded => &sev.degraded,
        AlertName::SloBurnFast => &sev.slo_fast,
        AlertName::SloBurnSlow => &sev.slo_slow,
        AlertName::Latency => &sev.latency,
    }
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
            trackers: BTreeMap::new(),
            active: BTreeMap::new(),
            held: BTreeMap::new(),
            dependents: BTreeMap::new(),
            metrics,
            since: BTreeMap::new(),
            exported: HashMap::new(),
        }
    }

    pub fn wall(&self, now: Instant) -> SystemTime {
        self.clock.wall(now)
    }

    pub fn has_journey(&self, name: &str) -> bool {
        self.trackers.contains_key(name)
    }

    /// The settings in force.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// A reloaded settings file. Trackers keep their streaks and health and judge by the new thresholds
    /// from now on; the new weekly windows replace the old (ad hoc ones stay). Receivers are told what
    /// changed: alerts that stop or start firing, and every firing alert whose labels changed
    /// (`external_labels`, a severity) resolves under the labels receivers know and fires under the new
    /// ones, so Alertmanager holds no stale copy until it times out. A new `generatorURL` alone is an
    /// update (labels are the identity).
    pub fn settings_changed(&mut self, settings: Arc<Settings>, now: Instant) -> Vec<Notice> {
        self.base_url = base_url(&settings, &self.listen_url);
        self.maintenance.set_recurring(settings.maintenance.clone());
        for t in self.trackers.values_mut() {
            t.set_defaults(&settings.defaults);
        }
        self.settings = settings;
        // What the new thresholds and windows stop is resolved under the labels it fired with.
        let mut notices = self.reconcile(now);
        let wall = self.clock.wall(now);
        let mut active = std::mem::take(&mut self.active);
        for (name, alerts) in &mut active {
            for (k, a) in alerts.iter_mut() {
                let mut next = self.alert(name, *k, a.annotations.clone());
                next.starts_at = a.starts_at;
                if next.labels != a.labels {
                    let mut old = std::mem::replace(a, next.clone());
                    old.ends_at = Some(wall);
                    old.annotations.insert(
                        "suppressed_by".into(),
                        "the settings changed this alert's labels; it fires on under the new ones".into(),
                    );
                    notices.push(Notice { kind: NoticeKind::Resolved, alert: old });
                    notices.push(Notice { kind: NoticeKind::Firing, alert: next });
                } else if next.generator_url != a.generator_url {
                    *a = next.clone();
                    notices.push(Notice { kind: NoticeKind::Update, alert: next });
                }
            }
        }
        self.active = active;
        notices
    }

    /// A new suite: unchanged journeys (same fingerprint) keep their state; changed ones start over;
    /// removed ones resolve their alerts and lose their series.
    pub fn suite_changed(&mut self, suite: &Suite, now: Instant) -> Vec<Notice> {
        let mut next = BTreeMap::new();
        for j in &suite.journeys {
            let tracker = match self.trackers.remove(&j.name) {
                Some(mut t) if t.journey.fingerprint == j.fingerprint => {
                    t.journey = Arc::clone(j);
                    t
                }
                _ => Tracker::new(Arc::clone(j), &self.settings.defaults),
            };
            if tracker.slo.is_none() {
                self.metrics.forget_slo(&j.name);
            }
            next.insert(j.name.clone(), tracker);
        }
        for gone in self.trackers.keys() {
            self.metrics.forget(gone);
            self.exported.remove(gone);
        }
        self.trackers = next;
        self.index_dependents();
        self.reconcile(now)
    }

    /// One finished run.
    pub fn outcome(&mut self, journey: &Journey, o: &RunOutcome, now: Instant) -> Vec<Notice> {
        let elapsed = now.saturating_duration_since(self.started);
        if !self.trackers.contains_key(&journey.name) {
            let t = Tracker::new(Arc::new(journey.clone()), &self.settings.defaults);
            self.trackers.insert(journey.name.clone(), t);
            self.index_dependents();
        }
        if let Some(t) = self.trackers.get_mut(&journey.name) {
            t.record(o, now, elapsed);
        }
        // Only this journey and those whose alerts depend on it can change now; the once-a-second tick
        // reconciles everything (time-driven changes). A full pass per outcome cost O(journeys) per run:
        // 60% of a core for 1,000 journeys every 10 s.
        let scope = self.scope_of(&journey.name);
        self.reconcile_names(now, Some(scope))
    }

    fn index_dependents(&mut self) {
        self.dependents.clear();
        for (name, t) in &self.trackers {
            for d in &t.journey.depends_on {
                self.dependents.entry(d.clone()).or_default().push(name.clone());
            }
        }
    }

    /// A journey, its dependencies, and (transitively) every journey that depends on one of those: the
    /// journeys whose alerts, holds or `suppressing` annotations an outcome of `journey` can change.
    fn scope_of(&self, journey: &str) -> BTreeSet<String> {
        let mut scope = BTreeSet::from([journey.to_string()]);
        if let Some(t) = self.trackers.get(journey) {
            scope.extend(t.journey.depends_on.iter().cloned());
        }
        let mut queue: Vec<String> = scope.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            for dependent in self.dependents.get(&name).into_iter().flatten() {
                if scope.insert(dependent.clone()) {
                    queue.push(dependent.clone());
                }
            }
        }
        scope.retain(|n| self.trackers.contains_key(n));
        scope
    }

    /// What should be firing for one journey, before maintenance and dependencies.
    fn wanted(&mut self, name: &str, now: Instant) -> BTreeMap<AlertName, BTreeMap<String, String>> {
        let elapsed = now.saturating_duration_since(self.started);
        let mut out = BTreeMap::new();
        let Some(t) = self.trackers.get_mut(name) else { return out };
        if t.down {
            let mut ann = BTreeMap::new();
            let threshold = t.failure_threshold();
            let mut summary = format!("journey {name} is down: {threshold} or more runs in a row failed");
            if let Some(f) = &t.last_failure {
                summary = format!("journey {name} is down: step {:?} fails ({})", f.step_name, f.reason);
                ann.insert("step".into(), f.step_name.clone());
                ann.insert("reason".into(), f.reason.as_str().to_string());
                ann.insert("description".into(), f.to_string());
                ann.insert("evidence".into(), evidence(f));
            }
            ann.insert("summary".into(), summary);
            out.insert(AlertName::Down, ann);
        } else if t.degraded {
            let why = t.last_degradation.clone().unwrap_or_default();
            let mut ann = BTreeMap::new();
            ann.insert("summary".into(), format!("journey {name} is degraded: it passes, but {why}"));
            ann.insert("description".into(), why);
            out.insert(AlertName::Degraded, ann);
        }
        if let Some(st) = t.slo_status(elapsed) {
            let slo = t.slo.as_ref().map(|s| s.slo).expect("slo status implies slo");
            let m = &self.metrics;
            m.objective.with_label_values(&[name]).set(slo.objective);
            m.budget_remaining.with_label_values(&[name]).set(st.budget_remaining);
            for (i, (w, _)) in WINDOWS.iter().enumerate() {
                m.burn_rate.with_label_values(&[name, w]).set(st.burn[i]);
            }
            let pct = format!("{}%", (slo.objective * 100_000.0).round() / 1000.0);
            // Annotations stay the same while the alert fires (numbers move every run; they are in the
            // metrics), so receivers are not re-notified on every run.
            let window = crate::units::format_duration(slo.window);
            if st.fast_burn() {
                let mut ann = BTreeMap::new();
                ann.insert(
                    "summary".into(),
                    format!("journey {name} burns its {pct} error budget over 14.4× too fast (1h and 5m)"),
                );
                ann.insert(
                    "description".into(),
                    format!(
                        "at this rate 2% of the {window} error budget is gone every hour; see journey_slo_burn_rate"
                    ),
                );
                out.insert(AlertName::SloBurnFast, ann);
            }
            if st.slow_burn() {
                let mut ann = BTreeMap::new();
                ann.insert(
                    "summary".into(),
                    format!("journey {name} burns its {pct} error budget over 6× too fast (6h and 30m)"),
                );
                ann.insert(
                    "description".into(),
                    format!(
                        "at this rate 5% of the {window} error budget is gone every 6 hours; see journey_slo_burn_rate"
                    ),
                );
                out.insert(AlertName::SloBurnSlow, ann);
            }
        }
        let breaches = t.latency_breaches(now);
        if !breaches.is_empty() {
            let mut ann = BTreeMap::new();
            ann.insert("summary".into(), format!("journey {name} is slow: {}", breaches[0]));
            ann.insert("description".into(), breaches.join("\n"));
            out.insert(AlertName::Latency, ann);
        }
        out
    }

    /// The alert as receivers see it; its severity comes from the settings in force.
    fn alert(&self, name: &str, alert: AlertName, annotations: BTreeMap<String, String>) -> Alert {
        let severity = severity_of(&self.settings.defaults.severity, alert).to_string();
        let mut labels = self.settings.external_labels.clone();
        labels.insert("alertname".into(), alert.as_str().into());
        labels.insert("journey".into(), name.into());
        labels.insert("severity".into(), severity);
        Alert {
            labels,
            annotations,
            starts_at: SystemTime::UNIX_EPOCH,
            ends_at: None,
            generator_url: format!("{}api/v1/alerts?journey={name}", self.base_url),
        }
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
        for (name, t) in &self.trackers {
            let released = self.held.get(name).is_some_and(|(maint, _)| maint.is_some());
            if (t.time_dependent() || released) && !scope.contains(name) {
                scope.extend(self.scope_of(name));
            }
        }
        if scope.is_empty() {
            return Vec::new();
        }
        self.reconcile_names(now, Some(scope))
    }

    /// `reconcile` for the journeys in `scope` (all when `None`).
    fn reconcile_names(&mut self, now: Instant, scope: Option<BTreeSet<String>>) -> Vec<Notice> {
        let wall = self.clock.wall(now);
        self.maintenance.prune(now);
        let full = scope.is_none();
        let names: Vec<String> = match scope {
            Some(names) => names.into_iter().collect(),
            None => self.trackers.keys().cloned().collect(),
        };
        let wanted: BTreeMap<String, _> = names.iter().map(|n| (n.clone(), self.wanted(n, now))).collect();
        // Only the dependencies of the journeys in scope are looked up (`is_down`, `is_failing`), so a
        // per-outcome reconcile does not walk every tracker: it did, for 10% of the monitor's CPU at 1,000
        // journeys.
        // Dependents held back because of each down journey, for its alert's annotations.
        let mut holding: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut notices = Vec::new();
        let mut held = BTreeMap::new();
        for name in &names {
            let t = &self.trackers[name];
            let maint = self.maintenance.active_for(name, now, wall);
            // A dependency that is down holds every alert. One that is failing but not yet down holds
            // alerts that have not fired yet: when both break together, the dependent (more users, a
            // lower threshold, an earlier tick) must not page before the dependency's verdict is in.
            let mut dep = t.journey.depends_on.iter().find(|d| is_down(&self.trackers, d)).cloned();
            if dep.is_none() {
                let active = self.active.get(name);
                let new_alert = wanted[name].keys().any(|k| !active.is_some_and(|a| a.contains_key(k)));
                if new_alert {
                    dep = t.journey.depends_on.iter().find(|d| is_failing(&self.trackers, d)).cloned();
                }
            }
            if let Some(d) = &dep {
                if !wanted[name].is_empty() {
                    holding.entry(d.clone()).or_default().push(name.clone());
                }
            }
            held.insert(name.clone(), (maint, dep));
        }
        for name in &names {
            let (maint, dep) = held[name].clone();
            let mut desired = match (&maint, &dep) {
                (Some(_), _) => BTreeMap::new(),
                (None, Some(d)) if is_down(&self.trackers, d) => BTreeMap::new(),
                // Failing dependency: keep what already fires, hold the rest.
                (None, Some(_)) => {
                    let active = self.active.get(name);
                    let mut w = wanted[name].clone();
                    w.retain(|k, _| active.is_some_and(|a| a.contains_key(k)));
                    w
                }
                (None, None) => wanted[name].clone(),
            };
            if let (Some(held_back), Some(ann)) = (holding.get(name), desired.get_mut(&AlertName::Down)) {
                ann.insert("suppressing".into(), format!("alerts of {} (they depend on {name})", held_back.join(", ")));
            }
            let why_held = maint.as_ref().map(|m| format!("in maintenance: {m}")).or_else(|| {
                dep.as_ref().map(|d| {
                    let how = if is_down(&self.trackers, d) { "down" } else { "failing" };
                    format!("depends on {d}, which is {how}")
                })
            });
            let mut active = self.active.remove(name).unwrap_or_default();
            // Resolve what should no longer fire.
            let stale: Vec<AlertName> = active.keys().filter(|k| !desired.contains_key(k)).copied().collect();
            for k in stale {
                let mut a = active.remove(&k).expect("listed");
                a.ends_at = Some(wall);
                if let Some(why) = &why_held {
                    a.annotations.insert("suppressed_by".into(), why.clone());
                }
                notices.push(Notice { kind: NoticeKind::Resolved, alert: a });
            }
            for (k, ann) in desired {
                match active.get_mut(&k) {
                    Some(a) if a.annotations == ann => {}
                    Some(a) => {
                        a.annotations = ann;
                        notices.push(Notice { kind: NoticeKind::Update, alert: a.clone() });
                    }
                    None => {
                        let mut a = self.alert(name, k, ann);
                        a.starts_at = wall;
                        notices.push(Notice { kind: NoticeKind::Firing, alert: a.clone() });
                        active.insert(k, a);
                    }
                }
            }
            self.export(name, maint.is_some(), dep.is_some(), &active);
            let state = self.state_name(name, maint.is_some());
            if self.since.get(name).map(|(s, _)| *s) != Some(state) {
                self.since.insert(name.clone(), (state, wall));
            }
            self.active.insert(name.clone(), active);
        }
        if !full {
            self.held.extend(held);
            return notices;
        }
        // Journeys removed by a reload: resolve whatever they still had firing.
        let gone: Vec<String> = self.active.keys().filter(|n| !self.trackers.contains_key(*n)).cloned().collect();
        for name in gone {
            for (_, mut a) in self.active.remove(&name).unwrap_or_default() {
                a.ends_at = Some(wall);
                a.annotations.insert("suppressed_by".into(), "the journey was removed from the configuration".into());
                notices.push(Notice { kind: NoticeKind::Resolved, alert: a });
            }
        }
        self.since.retain(|n, _| self.trackers.contains_key(n));
        self.held = held;
        notices
    }

    /// Sets a journey's state and alert gauges, when they differ from what was last exported.
    fn export(&mut self, name: &str, maintenance: bool, suppressed: bool, active: &BTreeMap<AlertName, Alert>) {
        let now = Exported {
            state: self.state_name(name, maintenance),
            firing: AlertName::ALL.map(|a| active.contains_key(&a)),
            suppressed,
            maintenance,
        };
        if self.exported.get(name) == Some(&now) {
            return;
        }
        let m = &self.metrics;
        for s in STATES {
            m.state.with_label_values(&[name, s]).set(i64::from(s == now.state));
        }
        for (a, firing) in AlertName::ALL.iter().zip(now.firing) {
            m.firing.with_label_values(&[name, a.as_str()]).set(i64::from(firing));
        }
        m.suppressed.with_label_values(&[name]).set(i64::from(suppressed));
        m.maintenance.with_label_values(&[name]).set(i64::from(maintenance));
        self.exported.insert(name.to_string(), now);
    }

    fn state_name(&self, name: &str, maintenance: bool) -> &'static str {
        if maintenance {
            return "maintenance";
        }
        match self.trackers.get(name).map(Tracker::health) {
            Some(Health::Up) => "up",
            Some(Health::Degraded) => "degraded",
            Some(Health::Down) => "down",
            Some(Health::Unknown) | None => "unknown",
        }
    }

    /// Every journey's state, as of the last reconcile.
    pub fn views(&self) -> Vec<JourneyView> {
        self.trackers
            .keys()
            .map(|name| {
                let (maint, dep) = self.held.get(name).cloned().unwrap_or_default();
                JourneyView {
                    journey: name.clone(),
                    state: self.state_name(name, maint.is_some()),
                    suppressed_by: dep,
                    maintenance: maint,
                    firing: self
                        .active
                        .get(name)
                        .map(|a| a.keys().map(|k| k.as_str().to_string()).collect())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    /// One journey's state, since when, and why (for the status page).
    pub fn state_of(&self, name: &str) -> Option<(&'static str, SystemTime, Option<String>)> {
        let t = self.trackers.get(name)?;
        let (maint, dep) = self.held.get(name).cloned().unwrap_or_default();
        let (state, since) = self.since.get(name).copied()?;
        let reason = maint
            .map(|m| format!("in maintenance: {m}"))
            .or_else(|| {
                self.active
                    .get(name)
                    .and_then(|a| a.values().next())
                    .and_then(|a| a.annotations.get("summary").cloned())
            })
            .or_else(|| dep.map(|d| format!("alerts held: depends on {d}, which is down")))
            .or_else(|| match t.health() {
                Health::Down => t.last_failure.as_ref().map(ToString::to_string),
                Health::Degraded => t.last_degradation.clone(),
                _ => None,
            });
        Some((state, since, reason))
    }

    /// Every alert receivers were told is firing: what a receiver added by a reload is told at once.
    pub fn firing_alerts(&self) -> Vec<Alert> {
        self.active.values().flat_map(|m| m.values().cloned()).collect()
    }

    /// Alerts receivers were told are firing, for `GET /api/v1/alerts`.
    pub fn firing(&self) -> Vec<serde_json::Value> {
        self.active
            .values()
            .flat_map(|m| m.values())
            .map(|a| {
                serde_json::json!({
                    "labels": a.labels, "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at), "generatorURL": a.generator_url,
                })
            })
            .collect()
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
