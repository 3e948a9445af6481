//! The alert engine's metrics, registered in the daemon's one registry. Names and labels are the contract
//! deploy/ relies on (deploy/tools/contract.py).

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use super::notify::AlertName;
use super::rules::Health;
use super::slo::WINDOWS;

#[derive(Clone)]
pub struct AlertMetrics {
    pub state: IntGaugeVec,
    pub firing: IntGaugeVec,
    pub suppressed: IntGaugeVec,
    pub maintenance: IntGaugeVec,
    pub budget_remaining: GaugeVec,
    pub burn_rate: GaugeVec,
    pub objective: GaugeVec,
    pub notifications: IntCounterVec,
    pub dropped: IntCounterVec,
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric")
}

fn fgauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("static metric")
}

impl AlertMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<AlertMetrics, prometheus::Error> {
        let m = AlertMetrics {
            state: gauge(
                "journey_state",
                "1 for the journey's current alert state (up, degraded, down, maintenance, unknown), 0 for the others.",
                &["journey", "state"],
            ),
            firing: gauge(
                "journey_alert_firing",
                "1 while journeyd's own alert is firing (after hysteresis, maintenance and dependency suppression).",
                &["journey", "alertname"],
            ),
            suppressed: gauge(
                "journey_alert_suppressed",
                "1 while the journey's alerts are suppressed because a journey it depends on is down.",
                &["journey"],
            ),
            maintenance: gauge(
                "journey_maintenance",
                "1 while the journey is in a maintenance window (its alerts are held).",
                &["journey"],
            ),
            budget_remaining: fgauge(
                "journey_slo_error_budget_remaining_ratio",
                "Share of the SLO window's error budget left: 1 untouched, 0 spent, below 0 overspent.",
                &["journey"],
            ),
            burn_rate: fgauge(
                "journey_slo_burn_rate",
                "Error ratio over the window divided by the error budget (1 - objective).",
                &["journey", "window"],
            ),
            objective: fgauge(
                "journey_slo_objective_ratio",
                "The journey's availability objective (slo.availability) as a ratio.",
                &["journey"],
            ),
            notifications: IntCounterVec::new(
                Opts::new(
                    "journeyd_notifications_total",
                    "Alert notifications per receiver: sent (accepted) or failed (attempt failed; retried unless 4xx).",
                ),
                &["receiver", "result"],
            )
            .expect("static metric"),
            dropped: IntCounterVec::new(
                Opts::new(
                    "journeyd_notifications_dropped_total",
                    "Notifications given up on: the receiver's queue was full, or it answered 4xx.",
                ),
                &["receiver"],
            )
            .expect("static metric"),
        };
        let all: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.state.clone()),
            Box::new(m.firing.clone()),
            Box::new(m.suppressed.clone()),
            Box::new(m.maintenance.clone()),
            Box::new(m.budget_remaining.clone()),
            Box::new(m.burn_rate.clone()),
            Box::new(m.objective.clone()),
            Box::new(m.notifications.clone()),
            Box::new(m.dropped.clone()),
        ];
        for c in all {
            registry.register(c)?;
        }
        Ok(m)
    }

    /// Makes a receiver's series exist from the start (rate() needs a zero to start from).
    pub fn init_receiver(&self, receiver: &str) {
        for result in ["sent", "failed"] {
            self.notifications.with_label_values(&[receiver, result]);
        }
        self.dropped.with_label_values(&[receiver]);
    }

    /// Removes every series of a journey (removed by a reload).
    pub fn forget(&self, journey: &str) {
        for s in Health::ALL {
            let _ = self.state.remove_label_values(&[journey, s.as_str()]);
        }
        for a in AlertName::ALL {
            let _ = self.firing.remove_label_values(&[journey, a.as_str()]);
        }
        let _ = self.suppressed.remove_label_values(&[journey]);
        let _ = self.maintenance.remove_label_values(&[journey]);
        self.forget_slo(journey);
    }

    pub fn forget_slo(&self, journey: &str) {
        let _ = self.budget_remaining.remove_label_values(&[journey]);
        let _ = self.objective.remove_label_values(&[journey]);
        for (w, _) in WINDOWS {
            let _ = self.burn_rate.remove_label_values(&[journey, w]);
        }
    }
}
