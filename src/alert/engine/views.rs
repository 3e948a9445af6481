//! Views of the engine for `GET /api/v1/alerts` and the status page.

use std::time::SystemTime;

use serde::Serialize;

use super::Engine;
use crate::alert::certs::CertThresholds;
use crate::alert::notify::Alert;
use crate::alert::rules::Health;
use crate::units::rfc3339_millis;

/// A journey's state for the status page and `GET /api/v1/alerts`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JourneyView {
    pub journey: String,
    /// up, degraded, down, maintenance or unknown.
    pub state: Health,
    /// The journey this one's alerts are held for, when one it depends on is down.
    pub suppressed_by: Option<String>,
    pub maintenance: Option<String>,
    /// Alerts receivers were told are firing.
    pub firing: Vec<String>,
}

impl Engine {
    /// Every journey's state, as of the last reconcile.
    pub fn views(&self) -> Vec<JourneyView> {
        self.index
            .iter()
            .map(|(name, &i)| {
                let w = &self.watched[i];
                let (maint, dep) = w.held.clone();
                JourneyView {
                    journey: name.clone(),
                    state: self.state(name, maint.is_some()),
                    suppressed_by: dep,
                    maintenance: maint,
                    firing: w.active.keys().map(|k| k.as_str().to_string()).collect(),
                }
            })
            .collect()
    }

    /// One journey's state, since when, and why (for the status page).
    pub fn state_of(&self, name: &str) -> Option<(Health, SystemTime, Option<String>)> {
        let w = self.by_name(name)?;
        let t = &w.tracker;
        let (maint, dep) = w.held.clone();
        let (state, since) = w.since?;
        let reason = maint
            .map(|m| format!("in maintenance: {m}"))
            .or_else(|| w.active.values().next().and_then(|a| a.annotations.get("summary").cloned()))
            .or_else(|| dep.map(|d| format!("alerts held: depends on {d}, which is down")))
            .or_else(|| match t.health() {
                Health::Down => t.last_failure.as_ref().map(ToString::to_string),
                Health::Degraded => t.last_degradation.clone(),
                _ => None,
            });
        Some((state, since, reason))
    }

    /// A journey's certificate thresholds, resolved from the journey and the settings in force.
    pub fn cert_thresholds(&self, name: &str) -> Option<CertThresholds> {
        self.by_name(name).map(|w| w.tracker.cert_thresholds())
    }

    /// Every alert receivers were told is firing: what a receiver added by a reload is told at once.
    pub fn firing_alerts(&self) -> Vec<Alert> {
        self.index.values().flat_map(|&i| self.watched[i].active.values().cloned()).collect()
    }

    /// Alerts receivers were told are firing, for `GET /api/v1/alerts`.
    pub fn firing(&self) -> Vec<serde_json::Value> {
        self.index
            .values()
            .flat_map(|&i| self.watched[i].active.values())
            .map(|a| {
                serde_json::json!({
                    "labels": a.labels, "annotations": a.annotations,
                    "startsAt": rfc3339_millis(a.starts_at), "generatorURL": a.generator_url,
                })
            })
            .collect()
    }
}
