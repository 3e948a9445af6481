//! Dependency suppression: which journeys an outcome can affect, and which alerts a down or failing
//! dependency holds back.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use tokio::time::Instant;

use super::wanted::Wanted;
use super::{Engine, Hold};
use crate::alert::rules::{Health, Tracker};

pub(super) fn is_down(trackers: &BTreeMap<String, Tracker>, journey: &str) -> bool {
    trackers.get(journey).is_some_and(|t| t.health() == Health::Down)
}

pub(super) fn is_failing(trackers: &BTreeMap<String, Tracker>, journey: &str) -> bool {
    trackers.get(journey).is_some_and(Tracker::failing)
}

impl Engine {
    pub(super) fn index_dependents(&mut self) {
        self.dependents.clear();
        for (name, t) in &self.trackers {
            for d in &t.journey.depends_on {
                self.dependents.entry(d.clone()).or_default().push(name.clone());
            }
        }
    }

    /// A journey, its dependencies, and (transitively) every journey that depends on one of those: the
    /// journeys whose alerts, holds or `suppressing` annotations an outcome of `journey` can change.
    pub(super) fn scope_of(&self, journey: &str) -> BTreeSet<String> {
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

    /// Each journey's hold (maintenance, or the dependency it waits for), and per dependency the
    /// dependents it holds back (for its `JourneyDown`'s `suppressing` annotation).
    pub(super) fn holds(
        &self,
        names: &[String],
        wanted: &BTreeMap<String, Wanted>,
        now: Instant,
        wall: SystemTime,
    ) -> (BTreeMap<String, Hold>, BTreeMap<String, Vec<String>>) {
        // Only the dependencies of the journeys in scope are looked up (`is_down`, `is_failing`), so a
        // per-outcome reconcile does not walk every tracker: it did, for 10% of the monitor's CPU at 1,000
        // journeys.
        // Dependents held back because of each down journey, for its alert's annotations.
        let mut holding: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut held = BTreeMap::new();
        for name in names {
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
        (held, holding)
    }
}
