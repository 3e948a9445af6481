//! Dependency suppression: which journeys an outcome can affect, and which alerts a down or failing
//! dependency holds back.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use tokio::time::Instant;

use super::wanted::Wanted;
use super::{Engine, Hold};
use crate::alert::rules::Health;

impl Engine {
    pub(super) fn is_down(&self, journey: &str) -> bool {
        self.by_name(journey).is_some_and(|w| w.tracker.health() == Health::Down)
    }

    fn is_failing(&self, journey: &str) -> bool {
        self.by_name(journey).is_some_and(|w| w.tracker.failing())
    }

    pub(super) fn index_dependents(&mut self) {
        self.dependents.clear();
        for (name, &i) in &self.index {
            for d in &self.watched[i].tracker.journey.depends_on {
                self.dependents.entry(d.clone()).or_default().push(name.clone());
            }
        }
        for w in &mut self.watched {
            let j = &w.tracker.journey;
            w.alone = j.depends_on.is_empty() && !self.dependents.contains_key(&j.name);
        }
    }

    /// A journey, its dependencies, and (transitively) every journey that depends on one of those: the
    /// journeys whose alerts, holds or `suppressing` annotations an outcome of `journey` can change.
    pub(super) fn scope_of(&self, journey: &str) -> BTreeSet<String> {
        let mut scope = BTreeSet::from([journey.to_string()]);
        if let Some(w) = self.by_name(journey) {
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
        scope.retain(|n| self.index.contains_key(n));
        scope
    }

    /// Each journey's hold (maintenance, or the dependency it waits for), in the order of `slots`, and per
    /// dependency the dependents it holds back (for its `JourneyDown`'s `suppressing` annotation).
    pub(super) fn holds(
        &self,
        slots: &[usize],
        wanted: &[Wanted],
        now: Instant,
        wall: SystemTime,
    ) -> (Vec<Hold>, BTreeMap<String, Vec<String>>) {
        // Dependents held back because of each down journey, for its alert's annotations.
        let mut holding: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut held = Vec::with_capacity(slots.len());
        for (&i, wanted) in slots.iter().zip(wanted) {
            let hold = self.hold_of(i, wanted, now, wall);
            if let Some(d) = &hold.1 {
                if !wanted.is_empty() {
                    holding.entry(d.clone()).or_default().push(self.watched[i].tracker.journey.name.clone());
                }
            }
            held.push(hold);
        }
        (held, holding)
    }

    /// One journey's hold. Only its own dependencies are looked up (`is_down`, `is_failing`), so a
    /// per-outcome reconcile does not walk every tracker: it did, for 10% of the monitor's CPU at 1,000
    /// journeys.
    pub(super) fn hold_of(&self, i: usize, wanted: &Wanted, now: Instant, wall: SystemTime) -> Hold {
        let w = &self.watched[i];
        let maint = self.maintenance.active_for(&w.tracker.journey.name, now, wall);
        let depends_on = &w.tracker.journey.depends_on;
        // A dependency that is down holds every alert. One that is failing but not yet down holds
        // alerts that have not fired yet: when both break together, the dependent (more users, a
        // lower threshold, an earlier tick) must not page before the dependency's verdict is in.
        let mut dep = depends_on.iter().find(|d| self.is_down(d)).cloned();
        if dep.is_none() && !depends_on.is_empty() {
            let new_alert = wanted.keys().any(|k| !w.active.contains_key(k));
            if new_alert {
                dep = depends_on.iter().find(|d| self.is_failing(d)).cloned();
            }
        }
        (maint, dep)
    }
}
