//! Reloads: a new settings file or a new suite, applied to the running engine.

use std::sync::Arc;

use tokio::time::Instant;

use super::{base_url, Engine, Watched};
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
        for w in &mut self.watched {
            w.tracker.set_defaults(&settings.defaults);
        }
        self.settings = settings;
        // What the new thresholds and windows stop is resolved under the labels it fired with.
        let mut notices = self.reconcile(now);
        let wall = self.clock.wall(now);
        let firing: Vec<(String, usize)> = self
            .index
            .iter()
            .filter(|(_, &i)| !self.watched[i].active.is_empty())
            .map(|(n, &i)| (n.clone(), i))
            .collect();
        for (name, i) in &firing {
            let mut alerts = std::mem::take(&mut self.watched[*i].active);
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
            self.watched[*i].active = alerts;
        }
        notices
    }

    /// A new suite: unchanged journeys (same fingerprint) keep their state; changed ones start over;
    /// removed ones resolve their alerts and lose their series.
    pub fn suite_changed(&mut self, suite: &Suite, now: Instant) -> Vec<Notice> {
        let before_index = std::mem::take(&mut self.index);
        let mut before: Vec<Option<Watched>> = std::mem::take(&mut self.watched).into_iter().map(Some).collect();
        for j in &suite.journeys {
            // A journey's alerts, hold and gauges stay with its name; a changed journey's tracker starts over.
            let w = match before_index.get(&j.name).and_then(|&i| before[i].take()) {
                Some(mut w) if w.tracker.journey.fingerprint == j.fingerprint => {
                    w.tracker.journey = Arc::clone(j);
                    w
                }
                Some(mut w) => {
                    w.tracker = Tracker::new(Arc::clone(j), &self.settings.defaults);
                    w
                }
                None => Watched::new(Tracker::new(Arc::clone(j), &self.settings.defaults)),
            };
            if w.tracker.slo.is_none() {
                self.metrics.forget_slo(&j.name);
            }
            self.index.insert(j.name.clone(), self.watched.len());
            self.watched.push(w);
        }
        // What is left of `before` was removed (in name order, as receivers are told).
        let gone: Vec<(&String, Watched)> =
            before_index.iter().filter_map(|(name, &i)| before[i].take().map(|w| (name, w))).collect();
        for (name, _) in &gone {
            self.metrics.forget(name);
        }
        self.verdicts.retain(|name, _| self.index.contains_key(name));
        self.index_dependents();
        let mut notices = self.reconcile(now);
        // Journeys removed: resolve whatever they still had firing.
        let wall = self.clock.wall(now);
        for (_, w) in gone {
            for (_, mut a) in w.active {
                a.ends_at = Some(wall);
                a.annotations.insert("suppressed_by".into(), "the journey was removed from the configuration".into());
                notices.push(Notice { kind: NoticeKind::Resolved, alert: a });
            }
        }
        notices
    }
}
