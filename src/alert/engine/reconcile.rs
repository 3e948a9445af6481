//! Bringing receivers' view in line with the trackers: what fires after maintenance and dependencies,
//! compared with what receivers were told, and the journey's gauges.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use tokio::time::Instant;

use super::suppress::is_down;
use super::wanted::Wanted;
use super::{Engine, Exported, Hold};
use crate::alert::notify::{Alert, AlertName, Notice, NoticeKind};
use crate::alert::rules::{Health, Tracker};

impl Engine {
    /// `reconcile` for the journeys in `scope` (all when `None`).
    pub(super) fn reconcile_names(&mut self, now: Instant, scope: Option<BTreeSet<String>>) -> Vec<Notice> {
        let wall = self.clock.wall(now);
        self.maintenance.prune(now);
        let full = scope.is_none();
        let names: Vec<String> = match scope {
            Some(names) => names.into_iter().collect(),
            None => self.trackers.keys().cloned().collect(),
        };
        let wanted: BTreeMap<String, _> = names.iter().map(|n| (n.clone(), self.wanted(n, now))).collect();
        let (held, holding) = self.holds(&names, &wanted, now, wall);
        let mut notices = Vec::new();
        for name in &names {
            let hold = held[name].clone();
            let desired = self.desired(name, &hold, &wanted[name], holding.get(name));
            self.apply(name, hold, desired, wall, &mut notices);
        }
        if !full {
            self.held.extend(held);
            return notices;
        }
        self.resolve_removed(wall, &mut notices);
        self.since.retain(|n, _| self.trackers.contains_key(n));
        self.held = held;
        notices
    }

    /// What fires for one journey once its hold applies, with the `suppressing` annotation on its
    /// `JourneyDown` when it holds others back.
    fn desired(&self, name: &str, hold: &Hold, wanted: &Wanted, held_back: Option<&Vec<String>>) -> Wanted {
        let (maint, dep) = hold;
        let mut desired = match (maint, dep) {
            (Some(_), _) => BTreeMap::new(),
            (None, Some(d)) if is_down(&self.trackers, d) => BTreeMap::new(),
            // Failing dependency: keep what already fires, hold the rest.
            (None, Some(_)) => {
                let active = self.active.get(name);
                let mut w = wanted.clone();
                w.retain(|k, _| active.is_some_and(|a| a.contains_key(k)));
                w
            }
            (None, None) => wanted.clone(),
        };
        if let (Some(held_back), Some(ann)) = (held_back, desired.get_mut(&AlertName::Down)) {
            ann.insert("suppressing".into(), format!("alerts of {} (they depend on {name})", held_back.join(", ")));
        }
        desired
    }

    /// Resolves what should no longer fire and fires or updates the rest; then the gauges and the
    /// "since" of one journey.
    fn apply(&mut self, name: &str, hold: Hold, desired: Wanted, wall: SystemTime, notices: &mut Vec<Notice>) {
        let (maint, dep) = hold;
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
        let state = self.state(name, maint.is_some());
        if self.since.get(name).map(|(s, _)| *s) != Some(state) {
            self.since.insert(name.to_string(), (state, wall));
        }
        self.active.insert(name.to_string(), active);
    }

    /// Journeys removed by a reload: resolve whatever they still had firing.
    fn resolve_removed(&mut self, wall: SystemTime, notices: &mut Vec<Notice>) {
        let gone: Vec<String> = self.active.keys().filter(|n| !self.trackers.contains_key(*n)).cloned().collect();
        for name in gone {
            for (_, mut a) in self.active.remove(&name).unwrap_or_default() {
                a.ends_at = Some(wall);
                a.annotations.insert("suppressed_by".into(), "the journey was removed from the configuration".into());
                notices.push(Notice { kind: NoticeKind::Resolved, alert: a });
            }
        }
    }

    /// Sets a journey's state and alert gauges, when they differ from what was last exported.
    fn export(&mut self, name: &str, maintenance: bool, suppressed: bool, active: &BTreeMap<AlertName, Alert>) {
        let now = Exported {
            state: self.state(name, maintenance),
            firing: AlertName::ALL.map(|a| active.contains_key(&a)),
            suppressed,
            maintenance,
        };
        if self.exported.get(name) == Some(&now) {
            return;
        }
        let m = &self.metrics;
        for s in Health::ALL {
            m.state.with_label_values(&[name, s.as_str()]).set(i64::from(s == now.state));
        }
        for (a, firing) in AlertName::ALL.iter().zip(now.firing) {
            m.firing.with_label_values(&[name, a.as_str()]).set(i64::from(firing));
        }
        m.suppressed.with_label_values(&[name]).set(i64::from(suppressed));
        m.maintenance.with_label_values(&[name]).set(i64::from(maintenance));
        self.exported.insert(name.to_string(), now);
    }

    /// A journey's state: its tracker's health, or `Maintenance` while a window holds it.
    pub(super) fn state(&self, name: &str, maintenance: bool) -> Health {
        if maintenance {
            return Health::Maintenance;
        }
        self.trackers.get(name).map_or(Health::Unknown, Tracker::health)
    }
}
