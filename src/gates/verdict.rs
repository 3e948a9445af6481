//! One journey's verdict for a gate, from what the monitor already knows: the comparison that covers the
//! journey (its canary beside its stable target where it has `targets:`, else the latest deploy marker's
//! before/after comparison) and the journey's state in the alert engine. Flagger's `rollout` and `confirm-promotion` hooks and Argo's `web` analysis all read this.

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
    /// The comparison that judged it, `canary` or e.g. `deploy v1.4.2` (`null`: none covers the journey).
    pub compared_by: Option<String>,
    /// The comparison's state (`running` — for a canary: too few runs per target yet —, `regression`,
    /// `passed`, `no_baseline`).
    pub comparison: Option<State>,
    /// The step that failed or regressed, when one did.
    pub step: Option<String>,
    /// Why it did not pass, one line each (empty when it passed).
    pub reasons: Vec<String>,
}

/// What one comparison says about a journey.
struct Compared {
    by: String,
    /// A canary comparison (never ends), not a deploy's (ends with its decision window).
    canary: bool,
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
    /// covering it found a regression; with `decided`, also while its canary comparison has too few runs to
    /// judge (a promotion must not outrun the evidence).
    pub fn judge(&self, journey: &Journey, now: SystemTime, decided: bool) -> Verdict {
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
        let compared = self.compare(journey, now);
        match compared.as_ref() {
            Some(c) if c.state == State::Regression => reasons.extend(c.evidence.iter().cloned()),
            Some(c) if decided && c.canary && c.state == State::Running => {
                reasons.push("canary not judged yet: too few runs per target in its window".to_string())
            }
            _ => {}
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

    /// The comparison that covers `journey` now: its canary beside its stable target when it has
    /// `targets:` (the same build side by side is the better witness), else the newest deploy marker's.
    fn compare(&self, journey: &Journey, now: SystemTime) -> Option<Compared> {
        if journey.targets.is_some() {
            let v = self.canary.verdict(std::slice::from_ref(&journey.name));
            let state = match (v.regressed.is_empty(), v.judged) {
                (false, _) => State::Regression,
                (true, true) => State::Passed,
                (true, false) => State::Running,
            };
            return Some(Compared {
                by: "canary".to_string(),
                canary: true,
                state,
                step: v.regressed.iter().find_map(|r| r.step.clone()),
                evidence: v.regressed.into_iter().map(|r| r.evidence).collect(),
            });
        }
        let journey = journey.name.as_str();
        self.deploys.list(now).into_iter().find_map(|d| {
            let r = d.results.into_iter().find(|r| r.journey == journey && r.state != State::Superseded)?;
            let regressed: Vec<_> = r.series.iter().filter(|s| s.regression).collect();
            Some(Compared {
                by: format!("deploy {}", d.marker.version),
                canary: false,
                state: r.state,
                step: regressed.iter().find_map(|s| s.step.clone()),
                evidence: regressed.iter().filter_map(|s| s.evidence.clone()).collect(),
            })
        })
    }
}
