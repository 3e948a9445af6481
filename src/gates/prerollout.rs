//! Flagger's `pre-rollout` hook: the selected journeys run once now against the canary, each journey's run
//! a monitor iteration (the same runner, checks and evidence) with its `target` replaced, as `journeyd
//! verify --target` does. Bounded: every run ends by its journey's `timeout`, and a journey with a run in
//! flight is refused rather than run twice. The runs are not fed to the monitor's metrics or alerts: they
//! measure the canary, not what the monitor watches.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::verdict::Verdict;
use super::Gates;
use crate::model::{Journey, Template};
use crate::outcome::RunStatus;
use crate::runner::{run_iteration, Plan, VirtualUser};
use crate::status::JourneyState;

/// Why a pre-rollout run did not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunError {
    #[error("target {0:?} is not an http(s) URL: put the canary's address in metadata.target (e.g. http://podinfo-canary.test:9898)")]
    Target(String),
    #[error("metadata.target carries credentials (user:password@): the canary's address shows in answers and logs; keep credentials in the journeys' secrets")]
    Credentials,
    #[error("a pre-rollout run of journey {0:?} is already in flight: retry when it has answered")]
    Busy(String),
}

/// The journeys marked busy for as long as it lives.
struct Claim {
    busy: Arc<Mutex<HashSet<String>>>,
    names: Vec<String>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        for n in &self.names {
            busy.remove(n);
        }
    }
}

/// An http(s) base URL without credentials (it is echoed in answers and logs), without the trailing slash
/// journeys' paths add back.
pub fn canary_target(text: &str) -> Result<String, RunError> {
    match reqwest::Url::parse(text) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => Err(RunError::Credentials),
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(text.trim_end_matches('/').to_string())
        }
        _ => Err(RunError::Target(text.to_string())),
    }
}

impl Gates {
    /// Runs each of `journeys` once against `target`, all at once; `cancel` ends the runs early (the
    /// caller gave up). Refused as a whole when any of them has a run in flight.
    pub async fn run_once(
        &self,
        journeys: Vec<Arc<Journey>>,
        target: &str,
        cancel: &CancellationToken,
    ) -> Result<Vec<Verdict>, RunError> {
        let _claim = self.claim(&journeys)?;
        let runs = journeys.into_iter().map(|j| self.run_one(j, target, cancel));
        Ok(join_all(runs).await)
    }

    fn claim(&self, journeys: &[Arc<Journey>]) -> Result<Claim, RunError> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(j) = journeys.iter().find(|j| busy.contains(&j.name)) {
            return Err(RunError::Busy(j.name.clone()));
        }
        let names: Vec<String> = journeys.iter().map(|j| j.name.clone()).collect();
        busy.extend(names.iter().cloned());
        Ok(Claim { busy: Arc::clone(&self.busy), names })
    }

    async fn run_one(&self, journey: Arc<Journey>, target: &str, cancel: &CancellationToken) -> Verdict {
        let mut j = (*journey).clone();
        j.target = Some(Template::literal(target));
        // One run against the canary's address, not the journey's own stable and canary copies.
        j.targets = None;
        let plan = Plan::new(Arc::new(j), &self.clients);
        let verdict = |passed: bool, step: Option<String>, reasons: Vec<String>| Verdict {
            journey: journey.name.clone(),
            passed,
            state: if passed { JourneyState::Up } else { JourneyState::Down },
            compared_by: Some(format!("pre-rollout run against {target}")),
            comparison: None,
            step,
            reasons,
        };
        let mut vu = match VirtualUser::new(&plan, 0) {
            Ok(vu) => vu,
            Err(e) => return verdict(false, None, vec![format!("cannot start a run: {e}")]),
        };
        let outcome = run_iteration(&plan, &mut vu, Instant::now(), cancel).await;
        match outcome.status {
            RunStatus::Passed => verdict(true, None, Vec::new()),
            RunStatus::Failed(f) => verdict(false, Some(f.step_name.clone()), vec![f.to_string()]),
            RunStatus::Cancelled => verdict(false, None, vec!["the run was cancelled before it finished".into()]),
        }
    }
}
