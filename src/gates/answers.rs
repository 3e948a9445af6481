//! `journeyd_gate_requests_total{gate,answer}`: what the gates told the controllers, so an operator can see
//! a rollout halted by journeyd (or a controller sending payloads journeyd refuses) without the controller's
//! logs. Both labels are closed sets; a request for a Flagger hook journeyd does not serve (404) is not
//! counted, since its name comes from the URL.

use prometheus::{IntCounterVec, Opts, Registry};

/// The `gate` label values: each Flagger hook served (`flagger-` + [`super::api::FLAGGER_HOOKS`]), then
/// Argo Rollouts' `web` analysis.
pub const GATES: [&str; 5] =
    ["flagger-pre-rollout", "flagger-confirm-rollout", "flagger-rollout", "flagger-confirm-promotion", "argo-verdict"];

/// What a gate answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The verdict passed: 200 to Flagger, `passed: true` to Argo.
    Proceed,
    /// The verdict failed: 412 to Flagger, `passed: false` to Argo.
    Halt,
    /// No verdict: a payload or selection to fix, or a pre-rollout run already in flight (4xx).
    Error,
}

impl Answer {
    pub const ALL: [Answer; 3] = [Answer::Proceed, Answer::Halt, Answer::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Proceed => "proceed",
            Answer::Halt => "halt",
            Answer::Error => "error",
        }
    }

    pub fn of(passed: bool) -> Answer {
        if passed {
            Answer::Proceed
        } else {
            Answer::Halt
        }
    }
}

/// The counter, every series created at zero so a rate or an `increase` sees the first answer.
#[derive(Clone)]
pub struct Answers {
    counter: IntCounterVec,
}

impl Answers {
    pub fn new(registry: &Registry) -> Result<Answers, prometheus::Error> {
        let counter = IntCounterVec::new(
            Opts::new(
                "journeyd_gate_requests_total",
                "Requests to the progressive-delivery gates by gate (flagger-pre-rollout, flagger-confirm-rollout, \
                 flagger-rollout, flagger-confirm-promotion, argo-verdict) and answer (proceed, halt, error).",
            ),
            &["gate", "answer"],
        )?;
        registry.register(Box::new(counter.clone()))?;
        for gate in GATES {
            for answer in Answer::ALL {
                counter.with_label_values(&[gate, answer.as_str()]);
            }
        }
        Ok(Answers { counter })
    }

    /// Counts one answer of `gate` (one of [`GATES`]; anything else is not counted).
    pub fn count(&self, gate: &str, answer: Answer) {
        if GATES.contains(&gate) {
            self.counter.with_label_values(&[gate, answer.as_str()]).inc();
        }
    }
}
