//! Helpers shared by the alert tests: journeys from YAML text, outcomes, metric values.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use journeyd::config::{self, LoadOptions};
use journeyd::model::{Journey, Suite};
use journeyd::outcome::{Failure, Reason, RunOutcome, RunStatus, StepOutcome};

/// Loads journeys from `(file name, yaml)` pairs written to a fresh directory.
pub fn suite(files: &[(&str, &str)]) -> Suite {
    let dir: PathBuf = std::env::temp_dir().join(format!("journeyd-alerts-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let loaded = config::load(std::slice::from_ref(&dir), &LoadOptions::default()).unwrap_or_else(|d| panic!("{d}"));
    let _ = std::fs::remove_dir_all(&dir);
    loaded.suite
}

/// A one-step journey; `extra` is appended at the top level (alerts:, slo:, depends_on:).
pub fn journey_yaml(name: &str, extra: &str) -> String {
    format!("name: {name}\ntarget: http://127.0.0.1:9\nevery: 30s\n{extra}\nsteps:\n  - name: home\n    get: /\n")
}

pub fn get(suite: &Suite, name: &str) -> Arc<Journey> {
    Arc::clone(suite.get(name).unwrap())
}

fn outcome(journey: &str, status: RunStatus, step_ms: u64) -> RunOutcome {
    let passed = matches!(status, RunStatus::Passed);
    RunOutcome {
        journey: journey.into(),
        intended_start: std::time::Instant::now(),
        start_delay: Duration::ZERO,
        wall_start: SystemTime::now(),
        duration: Duration::from_millis(step_ms),
        service_time: Duration::from_millis(step_ms),
        status,
        steps: vec![StepOutcome {
            index: 0,
            status: Some(if passed { 200 } else { 503 }),
            response_time: Duration::from_millis(step_ms),
            passed,
            ..Default::default()
        }],
        soft_failures: vec![],
    }
}

pub fn pass(journey: &str) -> RunOutcome {
    outcome(journey, RunStatus::Passed, 20)
}

pub fn slow(journey: &str, ms: u64) -> RunOutcome {
    outcome(journey, RunStatus::Passed, ms)
}

pub fn soft(journey: &str) -> RunOutcome {
    let mut o = pass(journey);
    o.soft_failures.push(Failure::new(0, "home", Reason::Check, "json.banner exists failed"));
    o
}

pub fn fail(journey: &str) -> RunOutcome {
    let mut f = Failure::new(0, "home", Reason::Status, "expected status 200, got 503");
    f.status = Some(503);
    f.check = Some("status == 200".into());
    f.actual = Some("503".into());
    f.request = Some("GET http://127.0.0.1:9/".into());
    f.excerpt = Some("upstream unavailable".into());
    outcome(journey, RunStatus::Failed(Box::new(f)), 20)
}

pub fn cancelled(journey: &str) -> RunOutcome {
    outcome(journey, RunStatus::Cancelled, 20)
}

/// The value of one sample in the registry's text exposition (`name{labels}` exactly as printed).
pub fn metric(registry: &prometheus::Registry, series: &str) -> Option<f64> {
    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).map(|v| v.parse().unwrap()))
}
