//! Bringing receivers' view in line with the trackers: what fires after maintenance and dependencies,
//! compared with what receivers were told, and the journey's gauges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::wanted::Wanted;
use super::{Engine, Exported, Hold};
use crate::alert::metrics::AlertMetrics;
use crate::alert::notify::{AlertName, Notice, NoticeKind};
use crate::alert::rules::Health;

impl Engine {
    /// `reconcile` for the journeys in `scope` (all when `None`).
    pub(super) fn reconcile_names(&mut self, now: Instant, scope: Option<BTreeSet<String>>) -> Vec<Notice> {
        let wall = self.clock.wall(now);
        self.maintenance.prune(now);
        // In name order, as receivers have always been told.
        let slots: Vec<usize> = match scope {
            Some(names) => names.iter().filter_map(|n| self.index.get(n).copied()).collect(),
            None => self.index.values().copied().collect(),
        };
        let wanted: Vec<Wanted> = slots.iter().map(|&i| self.wanted(i, now)).collect();
        let (held, holding) = self.holds(&slots, &wanted, now, wall);
        let mut notices = Vec::new();
        for ((&i, hold), wanted) in slots.iter().zip(held).zip(wanted) {
            let held_back = holding.get(self.watched[i].tracker.journey.name.as_str());
            let desired = self.desired(i, &hold, wanted, held_back);
            self.apply(i, hold, desired, wall, &mut notices);
        }
        notices
    }

    /// `reconcile` for one journey that neither depends on another nor has dependents (see
    /// `Watched::alone`): what an outcome of it can change, without building a scope.
    pub(super) fn reconcile_one(&mut self, i: usize, now: Instant) -> Vec<Notice> {
        let wall = self.clock.wall(now);
        self.maintenance.prune(now);
        let wanted = self.wanted(i, now);
        let hold = self.hold_of(i, &wanted, now, wall);
        let desired = self.desired(i, &hold, wanted, None);
        let mut notices = Vec::new();
        self.apply(i, hold, desired, wall, &mut notices);
        notices
    }

    /// What fires for one journey once its hold applies, with the `suppressing` annotation on its
    /// `JourneyDown` when it holds others back.
    fn desired(&self, i: usize, hold: &Hold, wanted: Wanted, held_back: Option<&Vec<String>>) -> Wanted {
        let (maint, dep) = hold;
        let watched = &self.watched[i];
        let name = watched.tracker.journey.name.as_str();
        let mut desired = match (maint, dep) {
            (Some(_), _) => BTreeMap::new(),
            (None, Some(d)) if self.is_down(d) => BTreeMap::new(),
            // Failing dependency: keep what already fires, hold the rest.
            (None, Some(_)) => {
                let mut w = wanted;
                w.retain(|k, _| watched.active.contains_key(k));
                w
            }
            (None, None) => wanted,
        };
        if let (Some(held_back), Some(ann)) = (held_back, desired.get_mut(&AlertName::Down)) {
            ann.insert("suppressing".into(), format!("alerts of {} (they depend on {name})", held_back.join(", ")));
        }
        desired
    }

    /// Resolves what should no longer fire and fires or updates the rest; then the hold, the gauges and
    /// the "since" of one journey.
    fn apply(&mut self, i: usize, hold: Hold, desired: Wanted, wall: SystemTime, notices: &mut Vec<Notice>) {
        let why_held = hold.0.as_ref().map(|m| format!("in maintenance: {m}")).or_else(|| {
            hold.1.as_ref().map(|d| {
                let how = if self.is_down(d) { "down" } else { "failing" };
                format!("depends on {d}, which is {how}")
            })
        });
        let w = &mut self.watched[i];
        let journey = Arc::clone(&w.tracker.journey);
        let name = journey.name.as_str();
        let mut active = std::mem::take(&mut w.active);
        let health = w.tracker.health();
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
        let maintenance = hold.0.is_some();
        let exported = Exported {
            state: if maintenance { Health::Maintenance } else { health },
            firing: AlertName::ALL.map(|a| active.contains_key(&a)),
            suppressed: hold.1.is_some(),
            maintenance,
        };
        let w = &mut self.watched[i];
        if w.exported != Some(exported) {
            export(&self.metrics, name, &exported);
            w.exported = Some(exported);
        }
        if w.since.map(|(s, _)| s) != Some(exported.state) {
            w.since = Some((exported.state, wall));
        }
        w.active = active;
        w.held = hold;
    }

    /// A journey's state: its tracker's health, or `Maintenance` while a window holds it.
    pub(super) fn state(&self, name: &str, maintenance: bool) -> Health {
        if maintenance {
            return Health::Maintenance;
        }
        self.by_name(name).map_or(Health::Unknown, |w| w.tracker.health())
    }
}

/// Sets a journey's state and alert gauges.
fn export(m: &AlertMetrics, name: &str, now: &Exported) {
    for s in Health::ALL {
        m.state.with_label_values(&[name, s.as_str()]).set(i64::from(s == now.state));
    }
    for (a, firing) in AlertName::ALL.iter().zip(now.firing) {
        m.firing.with_label_values(&[name, a.as_str()]).set(i64::from(firing));
    }
    m.suppressed.with_label_values(&[name]).set(i64::from(now.suppressed));
    m.maintenance.with_label_values(&[name]).set(i64::from(now.maintenance));
}
