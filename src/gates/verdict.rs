//! One journey's verdict for a gate, from what the monitor already knows: the comparison that covers the
//! journey (today the latest deploy marker's before/after comparison) and the journey's state in the alert
//! engine. Flagger's `rollout` and `confirm-promotion` hooks and Argo's `web` analysis all read this.

use std::time::SystemTime;

use serde::Serialize;

use super::Gates;
use crate::deploys::judge::State;
use crate::model::Journey;
use crate::status::JourneyState;
use crate::units::rfc3339;

/// A journey's verdict as the gate endpoints show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub journey: String,
    pub passed: bool,
    /// The journey's state (`up`, `down`, … `unknown` before its first run).
    pub state: JourneyState,
    /// The comparison that judged it, e.g. `deploy v1.4.2` (`null`: no comparison covers the journey).
    pub compared_by: Option<String>,
    /// The comparison's state (`running`, `regression`, `passed`, `no_baseline`).
    pub comparison: Option<State>,
    /// The step that failed or regressed, when one did.
    pub step: Option<String>,
    /// Why it did not pass, one line each (empty when it passed).
    pub reasons: Vec<String>,
}

/// What one comparison says about a journey.
struct Compared {
    by: String,
    state: State,
    step: Option<String>,
    evidence: Vec<String>,
}

/// The verdicts of several journeys, as one answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateVerdict {
    pub passed: bool,
    /// One line: what passed, or the first reason to halt.
    pub message: String,
    pub journeys: Vec<Verdict>,
}

impl GateVerdict {
    pub fn of(journeys: Vec<Verdict>) -> GateVerdict {
        let failed: Vec<&Verdict> = journeys.iter().filter(|v| !v.passed).collect();
        let message = match failed.first() {
            None => format!("{} journey(s) passed: {}", journeys.len(), names(journeys.iter())),
            Some(first) => format!(
                "{} of {} journey(s) failed ({}); {}: {}",
                failed.len(),
                journeys.len(),
                names(failed.iter().copied()),
                first.journey,
                first.reasons.join("; ")
            ),
        };
        GateVerdict { passed: failed.is_empty(), message, journeys }
    }
}

fn names<'a>(vs: impl Iterator<Item = &'a Verdict>) -> String {
    vs.map(|v| v.journey.as_str()).collect::<Vec<_>>().join(", ")
}

impl Gates {
    /// `journey`'s verdict at `now`: it fails when it is down (or has not run yet) or when the comparison
    /// covering it found a regression.
    pub fn judge(&self, journey: &Journey, now: SystemTime) -> Verdict {
        let mut reasons = Vec::new();
        let view = self.states.state(&journey.name);
        let state = view.as_ref().map_or(JourneyState::Unknown, |v| v.state);
        match state {
            JourneyState::Down => {
                let since = view.as_ref().and_then(|v| v.since).map(|t| format!(" since {}", rfc3339(t)));
                let why = view.as_ref().and_then(|v| v.reason.clone()).map(|r| format!(": {r}"));
                reasons.push(format!("journey is down{}{}", since.unwrap_or_default(), why.unwrap_or_default()));
            }
            JourneyState::Unknown => reasons.push("no completed run yet: nothing to judge".to_string()),
            JourneyState::Up | JourneyState::Degraded | JourneyState::Maintenance => {}
        }
        let compared = self.compare(&journey.name, now);
        if let Some(c) = compared.as_ref().filter(|c| c.state == State::Regression) {
            reasons.extend(c.evidence.iter().cloned());
        }
        // A down journey's reason names its failing step in words; the field is the comparison's.
        let step = compared.as_ref().and_then(|c| c.step.clone());
        Verdict {
            journey: journey.name.clone(),
            passed: reasons.is_empty(),
            state,
            compared_by: compared.as_ref().map(|c| c.by.clone()),
            comparison: compared.as_ref().map(|c| c.state),
            step,
            reasons,
        }
    }

    /// The comparison that covers `journey` now: the newest deploy marker's. A canary-beside-stable
    /// comparison, where a journey has one, is the better witness and belongs first here.
    fn compare(&self, journey: &str, now: SystemTime) -> Option<Compared> {
        self.deploys.list(now).into_iter().find_map(|d| {
            let r = d.results.into_iter().find(|r| r.journey == journey && r.state != State::Superseded)?;
            let regressed: Vec<_> = r.series.iter().filter(|s| s.regression).collect();
            Some(Compared {
                by: format!("deploy {}", d.marker.version),
                state: r.state,
                step: regressed.iter().find_map(|s| s.step.clone()),
                evidence: regressed.iter().filter_map(|s| s.evidence.clone()).collect(),
            })
        })
    }
}
