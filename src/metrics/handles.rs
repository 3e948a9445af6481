//! Pre-resolved metric children of one journey and its steps, so recording an outcome does not hash label
//! values for every sample (`with_label_values` hashes and takes a read lock per call), and its windows and
//! stats row, so it is not looked up by name either.

use std::sync::Arc;

use prometheus::{Gauge, Histogram, IntCounter, IntGauge};

use crate::metrics::stats::JourneyRow;
use crate::metrics::window::JourneyWindow;
use crate::metrics::{Metrics, StatsTable, PHASES};
use crate::model::Journey;
use crate::outcome::CertSeen;

pub(crate) struct JourneyHandles {
    /// `journey_runs_total` by outcome: success, failure, cancelled.
    pub runs: [IntCounter; 3],
    pub success: IntGauge,
    pub duration: Histogram,
    pub service: Histogram,
    pub start_delay: Histogram,
    pub last_run: Gauge,
    /// Indexed like the journey's steps.
    pub steps: Vec<StepHandles>,
    /// The journey's sliding windows.
    pub window: JourneyWindow,
    /// The journey's row of the stats table; `None` for a journey the table does not hold.
    pub stats: Option<JourneyRow>,
}

pub(crate) struct StepHandles {
    pub duration: Histogram,
    pub service: Histogram,
    pub success: IntGauge,
    pub status: IntGauge,
    /// In the order of [`PHASES`].
    pub phases: [Histogram; 5],
    /// `journey_step_requests_total` for new and reused connections.
    pub requests: [IntCounter; 2],
    /// The certificate this step's TLS series were last set from: a run presenting the very same one (the
    /// handshake cache shares it) leaves them as they are without comparing. `None` again after a reload.
    pub cert: Option<Arc<CertSeen>>,
}

impl JourneyHandles {
    pub fn new(m: &Metrics, stats: &StatsTable, journey: &Journey) -> JourneyHandles {
        let name = journey.name.as_str();
        let steps = journey
            .steps
            .iter()
            .map(|step| {
                let labels = [name, step.name.as_str()];
                StepHandles {
                    duration: m.step_duration.with_label_values(&labels),
                    service: m.step_service.with_label_values(&labels),
                    success: m.step_success.with_label_values(&labels),
                    status: m.step_status.with_label_values(&labels),
                    phases: PHASES.map(|p| m.step_phase.with_label_values(&[name, step.name.as_str(), p])),
                    requests: ["new", "reused"]
                        .map(|c| m.step_requests.with_label_values(&[name, step.name.as_str(), c])),
                    cert: None,
                }
            })
            .collect();
        JourneyHandles {
            runs: super::OUTCOMES.map(|o| m.runs.with_label_values(&[name, o])),
            success: m.success.with_label_values(&[name]),
            duration: m.duration.with_label_values(&[name]),
            service: m.service.with_label_values(&[name]),
            start_delay: m.start_delay.with_label_values(&[name]),
            last_run: m.last_run.with_label_values(&[name]),
            steps,
            window: m.windows.journey(name),
            stats: stats.row(name),
        }
    }
}
