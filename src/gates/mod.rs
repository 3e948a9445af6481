//! Progressive-delivery gates: what Flagger's webhooks and Argo Rollouts' `web` analysis ask, answered from
//! journeyd's own runs.
//!
//! Files: this one (the shared state, the selection of journeys, the sink that keeps the running suite),
//! `verdict` (one journey's verdict from what the monitor knows: the canary comparison where the journey
//! has `targets:`, else the latest deploy marker's, and the journey's state), `prerollout` (the selected journeys run once now against the canary, one run per journey at a
//! time), `api` (the routes: `POST /api/v1/gates/flagger/{hook}`, `GET /api/v1/gates/verdict`), `answers`
//! (`journeyd_gate_requests_total`: what the gates answered).
//!
//! The Flagger routes are writes (POST, and pre-rollout sends traffic), so `server::writes` gates them with
//! the admin API and `--web-config` auth covers them; the verdict route only reads.

pub mod answers;
pub mod api;
pub mod prerollout;
pub mod verdict;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use answers::Answers;
use prometheus::Registry;

use crate::canary::Verdicts;
use crate::deploys::Deploys;
use crate::http::Clients;
use crate::model::{Journey, Suite};
use crate::outcome::RunOutcome;
use crate::pipeline::Sink;
use crate::status::StateSource;

/// What the gates read and the one pre-rollout run per journey they allow. Cheap to clone.
#[derive(Clone)]
pub struct Gates {
    /// The journeys running now: a gate judges and runs only what the monitor runs.
    suite: Arc<Mutex<Vec<Arc<Journey>>>>,
    /// Journeys with a pre-rollout run in flight: a second request for one of them is refused, so a
    /// controller retrying a slow webhook cannot pile runs up against the canary.
    busy: Arc<Mutex<HashSet<String>>>,
    /// The clients pre-rollout runs are made with (the monitor's TLS configurations).
    clients: Clients,
    /// Deploy markers and their before/after verdicts.
    deploys: Deploys,
    /// Canary-beside-stable comparisons of the journeys with `targets:`: the better witness where present.
    canary: Verdicts,
    /// Journey states as the alert engine holds them (hysteresis, maintenance).
    states: Arc<dyn StateSource>,
    /// What the gates answered, counted for the operator watching a rollout.
    answers: Answers,
}

/// Which journeys a request selects: named or tagged; neither selects every journey.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub journeys: BTreeSet<String>,
    pub tags: BTreeSet<String>,
}

impl Selection {
    /// From comma-separated lists (`checkout,login`), the form Flagger's string-only metadata and a query
    /// string both carry. Blank items are ignored.
    pub fn from_lists(journeys: Option<&str>, tags: Option<&str>) -> Selection {
        let split = |s: Option<&str>| -> BTreeSet<String> {
            s.unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
        };
        Selection { journeys: split(journeys), tags: split(tags) }
    }

    fn selects(&self, j: &Journey) -> bool {
        (self.journeys.is_empty() && self.tags.is_empty())
            || self.journeys.contains(&j.name)
            || j.tags.iter().any(|t| self.tags.contains(t))
    }
}

/// Why a selection cannot be judged or run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("no journey named {name:?}; running: {running}")]
    Unknown { name: String, running: String },
    #[error("no running journey carries the tags {tags}; running: {running}")]
    Empty { tags: String, running: String },
}

impl Gates {
    /// Registers `journeyd_gate_requests_total` in `registry`.
    pub fn new(
        clients: Clients,
        deploys: Deploys,
        canary: Verdicts,
        states: Arc<dyn StateSource>,
        registry: &Registry,
    ) -> Result<Gates, prometheus::Error> {
        Ok(Gates {
            suite: Arc::new(Mutex::new(Vec::new())),
            busy: Arc::new(Mutex::new(HashSet::new())),
            clients,
            deploys,
            canary,
            states,
            answers: Answers::new(registry)?,
        })
    }

    /// The pipeline sink that keeps the running suite current across reloads.
    pub fn sink(&self) -> GateSink {
        GateSink { suite: Arc::clone(&self.suite) }
    }

    fn running(&self) -> MutexGuard<'_, Vec<Arc<Journey>>> {
        self.suite.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The running journeys `selection` picks; a name that is not running, or tags that pick nothing, is
    /// an error that lists what is running.
    pub fn select(&self, selection: &Selection) -> Result<Vec<Arc<Journey>>, SelectError> {
        let suite = self.running();
        let running = || suite.iter().map(|j| j.name.as_str()).collect::<Vec<_>>().join(", ");
        if let Some(name) = selection.journeys.iter().find(|n| !suite.iter().any(|j| &j.name == *n)) {
            return Err(SelectError::Unknown { name: name.clone(), running: running() });
        }
        let picked: Vec<Arc<Journey>> = suite.iter().filter(|j| selection.selects(j)).cloned().collect();
        if picked.is_empty() {
            let tags = selection.tags.iter().cloned().collect::<Vec<_>>().join(", ");
            return Err(SelectError::Empty { tags, running: running() });
        }
        Ok(picked)
    }
}

/// Keeps [`Gates`]' view of the running suite.
pub struct GateSink {
    suite: Arc<Mutex<Vec<Arc<Journey>>>>,
}

impl Sink for GateSink {
    fn suite_changed(&mut self, suite: &Suite) {
        *self.suite.lock().unwrap_or_else(|e| e.into_inner()) = suite.journeys.clone();
    }

    fn outcome(&mut self, _journey: &Journey, _outcome: &RunOutcome) {}
}

#[cfg(test)]
mod tests {
    use super::prerollout::{canary_target, RunError};
    use super::*;

    #[test]
    fn lists_are_split_on_commas_and_blank_items_dropped() {
        let s = Selection::from_lists(Some(" checkout, login,,"), None);
        assert_eq!(s.journeys.into_iter().collect::<Vec<_>>(), ["checkout", "login"]);
        assert!(s.tags.is_empty());
        assert_eq!(Selection::from_lists(Some(""), Some(" ")), Selection::default(), "blank selects everything");
    }

    #[test]
    fn a_canary_target_is_an_http_url_without_credentials() {
        assert_eq!(canary_target("http://shop-canary.shop:8080/").unwrap(), "http://shop-canary.shop:8080");
        assert_eq!(canary_target("shop-canary:8080"), Err(RunError::Target("shop-canary:8080".into())));
        assert_eq!(canary_target("ftp://x"), Err(RunError::Target("ftp://x".into())));
        assert_eq!(canary_target("https://u:p@canary"), Err(RunError::Credentials));
    }
}
