//! Dependency suppression: which journeys an outcome can affect, and which alerts a down or failing
//! dependency holds back.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use tokio::time::Instant;

use super::wanted::Wanted;
use super::{Engine, Hold, Watched};
use crate::alert::rules::Health;

pub(super) fn is_down(journeys: &BTreeMap<String, Watched>, journey: &str) -> bool {
    journeys.get(journey).is_some_and(|w| w.tracker.health() == Health::Down)
}

pub(super) fn is_failing(journeys: &BTreeMap<String, Watched>, journey: &str) -> bool {
    journeys.get(journey).is_some_and(|w| w.tracker.failing())
}

impl Engine {
    pub(super) fn index_dependents(&mut self) {
        self.dependents.clear();
        for (name, w) in &self.journeys {
            for d in &w.tracker.journey.depends_on {
                self.dependents.entry(d.clone()).or_default().push(name.clone());
            }
        }
        for (name, w) in &mut self.journeys {
            w.alone = w.tracker.journey.depends_on.is_empty() && !self.dependents.contains_key(name);
        }
    }

    /// A journey, its dependencies, and (transitively) every journey that depends on one of those: the
    /// journeys whose alerts, holds or `suppressing` annotations an outcome of `journey` can change.
    pub(super) fn scope_of(&self, journey: &str) -> BTreeSet<String> {
        let mut scope = BTreeSet::from([journey.to_string()]);
        if let Some(w) = self.journeys.get(journey) {
            scope.extend(w.tracker.journey.depends_on.iter().cloned());
        }
        let mut queue: Vec<String> = scope.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            for dependent in self.dependents.get(&name).into_iter().flatten() {
                if scope.insert(dependent.clone()) {
                    queue.push(dependent.clone());
                }
            }
        }
        scope.retain(|n| self.journeys.contains_key(n));
        scope
    }

    /// Each journey's hold (maintenance, or the dependency it waits for), in the order of `names`, and per
    /// dependency the dependents it holds back (for its `JourneyDown`'s `suppressing` annotation).
    pub(super) fn holds(
        &self,
        names: &[String],
        wanted: &[Wanted],
        now: Instant,
        wall: SystemTime,
    ) -> (Vec<Hold>, BTreeMap<String, Vec<String>>) {
        // Dependents held back because of each down journey, for its alert's annotations.
        let mut holding: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut held = Vec::with_capacity(names.len());
        for (name, wanted) in names.iter().zip(wanted) {
            let hold = self.hold_of(name, wanted, now, wall);
            if let Some(d) = &hold.1 {
                if !wanted.is_empty() {
                    holding.entry(d.clone()).or_default().push(name.clone());
                }
            }
            held.push(hold);
        }
        (held, holding)
    }

    /// One journey's hold. Only its own dependencies are looked up (`is_down`, `is_failing`), so a
    /// per-outcome reconcile does not walk every tracker: it did, for 10% of the monitor's CPU at 1,000
    /// journeys.
    pub(super) fn hold_of(&self, name: &str, wanted: &Wanted, now: Instant, wall: SystemTime) -> Hold {
        let Some(w) = self.journeys.get(name) else { return Hold::default() };
        let maint = self.maintenance.active_for(name, now, wall);
        let depends_on = &w.tracker.journey.depends_on;
        // A dependency that is down holds every alert. One that is failing but not yet down holds
        // alerts that have not fired yet: when both break together, the dependent (more users, a
        // lower threshold, an earlier tick) must not page before the dependency's verdict is in.
        let mut dep = depends_on.iter().find(|d| is_down(&self.journeys, d)).cloned();
        if dep.is_none() && !depends_on.is_empty() {
            let new_alert = wanted.keys().any(|k| !w.active.contains_key(k));
            if new_alert {
                dep = depends_on.iter().find(|d| is_failing(&self.journeys, d)).cloned();
            }
        }
        (maint, dep)
    }
}
