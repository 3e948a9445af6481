//! Reloads: a new settings file or a new suite, applied to the running engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::{base_url, Engine};
use crate::alert::notify::{Notice, NoticeKind};
use crate::alert::rules::Tracker;
use crate::model::Suite;
use crate::settings::Settings;

impl Engine {
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
        self.verdicts.retain(|(name, _), _| self.trackers.contains_key(name));
        self.index_dependents();
        self.reconcile(now)
    }
}
