//! The one consumer of outcomes: workers and schedulers send events over a channel; this loop owns the
//! sinks (metrics, alerts, status history, reports) and feeds each event to every sink in order.
//!
//! Workers never aggregate and never lock shared state to record a result; the loop ends when the last
//! sender is dropped, after every event sent before that has been recorded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::{Journey, Suite};
use crate::outcome::{Failure, RunOutcome};

/// Something that happened, for the sinks.
#[derive(Debug)]
pub enum Event {
    /// An iteration ended (passed, failed or cancelled).
    Outcome(RunOutcome),
    /// A scheduled run was skipped because the previous one was still in flight.
    Missed { journey: Arc<str> },
    /// Open-model iterations that could not start in time (all `max_users` busy).
    Dropped { journey: Arc<str>, count: u64 },
    /// A monitor attempt failed and is retried at once (`alerts.confirm`): retry number `attempt`.
    Retried { journey: Arc<str>, attempt: u32, failure: Box<Failure> },
    /// A monitor run started late (scheduler or machine stall).
    Late { journey: Arc<str>, by: Duration },
    /// The loaded suite changed (start, reload): sinks add new journeys and forget removed ones.
    Suite(Suite),
}

/// A consumer of events. Implementations must not block: they run on the pipeline's task.
pub trait Sink: Send {
    /// The suite changed. Called before any outcome of a new journey.
    fn suite_changed(&mut self, _suite: &Suite) {}
    fn outcome(&mut self, journey: &Journey, outcome: &RunOutcome);
    fn missed(&mut self, _journey: &Journey) {}
    fn dropped(&mut self, _journey: &Journey, _count: u64) {}
    fn late(&mut self, _journey: &Journey, _by: Duration) {}
    /// A failed monitor attempt is being retried; its failure is not a run of its own.
    fn retried(&mut self, _journey: &Journey, _attempt: u32, _failure: &Failure) {}
    /// The channel closed; write out anything pending.
    fn finish(&mut self) {}
    /// Also wants the runs of a journey's non-baseline `targets:` (the canary comparison). Other sinks see
    /// only the baseline's runs, so a journey's series, alerts and status stay what they were.
    fn every_target(&self) -> bool {
        false
    }
}

/// Capacity of the event channel: enough for bursts from thousands of users; when full, workers wait
/// (back-pressure) rather than lose outcomes.
pub const CHANNEL_CAPACITY: usize = 16 * 1024;

pub fn channel() -> (mpsc::Sender<Event>, mpsc::Receiver<Event>) {
    mpsc::channel(CHANNEL_CAPACITY)
}

/// Feeds events to sinks until every sender is gone. Returns the sinks (reports read them afterwards).
pub async fn run(mut rx: mpsc::Receiver<Event>, mut sinks: Vec<Box<dyn Sink>>) -> Vec<Box<dyn Sink>> {
    let mut journeys: HashMap<Arc<str>, Arc<Journey>> = HashMap::new();
    while let Some(event) = rx.recv().await {
        match event {
            Event::Suite(suite) => {
                journeys = suite.journeys.iter().map(|j| (Arc::from(j.name.as_str()), Arc::clone(j))).collect();
                for s in &mut sinks {
                    s.suite_changed(&suite);
                }
            }
            Event::Outcome(o) => {
                // Outcomes of a journey removed by a reload are dropped: its series are gone.
                if let Some(j) = journeys.get(&o.journey) {
                    let side =
                        o.target.as_deref().is_some_and(|t| j.targets.as_ref().is_some_and(|ts| ts.baseline() != t));
                    for s in sinks.iter_mut().filter(|s| !side || s.every_target()) {
                        s.outcome(j, &o);
                    }
                }
            }
            Event::Missed { journey } => {
                if let Some(j) = journeys.get(&journey) {
                    sinks.iter_mut().for_each(|s| s.missed(j));
                }
            }
            Event::Dropped { journey, count } => {
                if let Some(j) = journeys.get(&journey) {
                    sinks.iter_mut().for_each(|s| s.dropped(j, count));
                }
            }
            Event::Retried { journey, attempt, failure } => {
                if let Some(j) = journeys.get(&journey) {
                    sinks.iter_mut().for_each(|s| s.retried(j, attempt, &failure));
                }
            }
            Event::Late { journey, by } => {
                if let Some(j) = journeys.get(&journey) {
                    sinks.iter_mut().for_each(|s| s.late(j, by));
                }
            }
        }
    }
    for s in &mut sinks {
        s.finish();
    }
    sinks
}
