//! Reports as a library: merging shard reports equals one run over the same outcomes, exactly; judging,
//! JSON round trips and merge refusals.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use journeyd::outcome::{Failure, Reason, RunOutcome, RunStatus, StepOutcome};
use journeyd::report::{merge, MergeError, Report, ReportSink};
use journeyd::threshold;

const YAML: &str = r#"
name: shop
target: "http://127.0.0.1:9"
every: 10s
steps:
  - name: login
    get: /login
  - name: pay
    get: /pay
"#;

/// A deterministic mix: passes, failures at either step with several reasons, a cancelled run.
fn outcomes() -> Vec<RunOutcome> {
    let base = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    (0..400u64)
        .map(|i| {
            let step = |index: usize, ms: u64, passed: bool| StepOutcome {
                index,
                status: Some(if passed { 200 } else { 503 }),
                response_time: Duration::from_micros(ms * 1000 + i * 37 % 1000),
                passed,
                ..StepOutcome::default()
            };
            let (status, steps) = match i % 10 {
                0 => {
                    let mut f = Failure::new(1, "pay", Reason::Status, format!("status 503 (run {i})"));
                    f.status = Some(503);
                    (RunStatus::Failed(Box::new(f)), vec![step(0, 5 + i % 7, true), step(1, 40, false)])
                }
                3 => {
                    let f = Failure::new(0, "login", Reason::Timeout, format!("timed out (run {i})"));
                    (RunStatus::Failed(Box::new(f)), vec![step(0, 900, false)])
                }
                7 if i % 20 == 7 => (RunStatus::Cancelled, vec![step(0, 3, true)]),
                _ => (RunStatus::Passed, vec![step(0, 5 + i % 7, true), step(1, 10 + i % 13, true)]),
            };
            let duration = steps.iter().map(|s| s.response_time).sum::<Duration>() + Duration::from_micros(i);
            RunOutcome {
                journey: Arc::from("shop"),
                intended_start: Instant::now(),
                start_delay: Duration::ZERO,
                // Out of order on purpose: "first evidence" must mean earliest, whoever records it first.
                wall_start: base + Duration::from_millis((i * 7919) % 400 * 10),
                duration,
                service_time: duration,
                status,
                steps,
                soft_failures: Vec::new(),
                trace_id: 0,
                user: 0,
                target: None,
            }
        })
        .collect()
}

fn report_of(outcomes: &[&RunOutcome], shard: &str) -> Report {
    let journey = common::journey(YAML, &[]);
    let sink = ReportSink::new(1_800_000_000_000, None);
    sink.add_journeys(&[journey]);
    for o in outcomes {
        sink.record(o);
    }
    let mut r = sink.report();
    r.shards = vec![shard.to_string()];
    r.threshold_specs = vec!["p90 < 1s".into(), "shop.pay: failures{reason=status} == 0".into()];
    r
}

#[test]
fn merging_two_shard_reports_equals_one_run_over_the_same_outcomes() {
    let all = outcomes();
    let whole = report_of(&all.iter().collect::<Vec<_>>(), "0/1");
    let a = report_of(&all.iter().step_by(2).collect::<Vec<_>>(), "0/2");
    let b = report_of(&all.iter().skip(1).step_by(2).collect::<Vec<_>>(), "1/2");
    // Through JSON, as `report merge` reads them from files.
    let a: Report = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    let b: Report = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    let merged = merge(&[("a".into(), a), ("b".into(), b)]).unwrap();
    assert_eq!(merged.shards, vec!["0/2", "1/2"]);
    assert_eq!(merged.journeys, whole.journeys, "counts, histograms and first evidence are exact");

    let j = &whole.journeys["shop"];
    assert_eq!((j.runs, j.failed, j.cancelled), (380, 80, 20));
    assert_eq!(j.failures["status"].count, 40);
    assert_eq!(j.steps[1].failures["status"].count, 40);
    assert_eq!(j.failures["timeout"].first.failure.step_name, "login");
    let earliest = all
        .iter()
        .filter(|o| matches!(o.failure(), Some(f) if f.reason == Reason::Status))
        .map(|o| o.wall_start)
        .min()
        .unwrap();
    assert_eq!(j.failures["status"].first.at_unix_ms, earliest.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64);

    // Judged the same way, they give the same verdicts.
    let parse = |r: &Report| r.threshold_specs.iter().map(|t| threshold::parse(t).unwrap()).collect::<Vec<_>>();
    let (mut m, mut w) = (merged.clone(), whole.clone());
    m.judge(&parse(&merged), None);
    w.judge(&parse(&whole), None);
    assert_eq!(m.verdicts, w.verdicts);
    assert!(!m.passed, "80 failed runs fail the default availability gate");
    assert!(m
        .verdicts
        .iter()
        .any(|v| v.threshold == "shop.pay: failures{reason=status} == 0" && !v.passed && v.actual == "40"));
    assert!(m.verdicts.iter().any(|v| v.threshold == "shop: p90 < 1s" && v.passed));
}

#[test]
fn a_report_round_trips_through_its_file() {
    let all = outcomes();
    let mut r = report_of(&all.iter().collect::<Vec<_>>(), "0/1");
    let before = r.clone();
    r.judge(&[threshold::parse("p99 < 10ms").unwrap()], Some(&before));
    let path = common::tempdir::tempfile("report.json");
    r.write(&path).unwrap();
    let back = Report::read(&path).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.comparison.as_ref().unwrap().regressions(), 0, "a report compared with itself has no regression");

    let text = std::fs::read_to_string(&path).unwrap().replace("\"schema_version\": 1", "\"schema_version\": 2");
    std::fs::write(&path, text).unwrap();
    let e = Report::read(&path).unwrap_err().to_string();
    assert!(e.contains("schema_version 2 is not supported"), "{e}");
}

#[test]
fn merge_refuses_mismatched_reports() {
    let all = outcomes();
    let one: Vec<&RunOutcome> = all.iter().take(10).collect();
    let a = report_of(&one, "0/2");
    let c = report_of(&one, "1/3");
    assert!(matches!(merge(&[("a".into(), a.clone()), ("c".into(), c)]), Err(MergeError::Count { .. })));
    assert!(matches!(merge(&[("a".into(), a.clone()), ("a2".into(), a.clone())]), Err(MergeError::Overlap { .. })));
    let mut other = report_of(&one, "1/2");
    other.journeys.get_mut("shop").unwrap().steps.pop();
    assert!(matches!(merge(&[("a".into(), a), ("o".into(), other)]), Err(MergeError::Steps { .. })));
    assert_eq!(merge(&[]).unwrap_err(), MergeError::Empty);
}

#[test]
fn a_report_names_its_location_and_merges_of_several_say_mixed_and_list_them() {
    let all = outcomes();
    let some: Vec<&RunOutcome> = all.iter().take(20).collect();
    let at = |l: Option<&str>| {
        let mut r = report_of(&some, "0/1");
        r.location = l.map(str::to_string);
        r
    };
    // No location: the field is absent, so reports without --location are unchanged.
    let text = serde_json::to_string(&at(None)).unwrap();
    assert!(!text.contains("location"), "{text}");
    let eu = at(Some("eu"));
    let text = serde_json::to_string_pretty(&eu).unwrap();
    assert!(text.contains("\"location\": \"eu\""), "{text}");
    assert!(!text.contains("locations"), "{text}");
    assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), eu, "round trip");

    let m = |rs: Vec<Report>| merge(&rs.into_iter().enumerate().map(|(i, r)| (format!("r{i}"), r)).collect::<Vec<_>>());
    let same = m(vec![at(Some("eu")), at(Some("eu"))]).unwrap();
    assert_eq!((same.location.as_deref(), same.locations.len()), (Some("eu"), 0));
    let none = m(vec![at(None), at(None)]).unwrap();
    assert_eq!((none.location, none.locations.len()), (None, 0));
    let mixed = m(vec![at(Some("us")), at(Some("eu")), at(None)]).unwrap();
    assert_eq!(mixed.location.as_deref(), Some("mixed"));
    assert_eq!(mixed.locations, ["eu", "us"]);
    assert_eq!(mixed.journeys["shop"].runs, 3 * same.journeys["shop"].runs / 2, "counts add as before");
    // A merge of a merge keeps every location.
    let again = m(vec![mixed.clone(), at(Some("ap"))]).unwrap();
    assert_eq!(
        (again.location.as_deref(), again.locations.clone()),
        (Some("mixed"), vec!["ap".into(), "eu".into(), "us".into()])
    );

    // JUnit and Markdown show it; without a location they do not.
    let junit = journeyd::report::formats::junit(&eu);
    assert!(junit.contains("<property name=\"location\" value=\"eu\"/>"), "{junit}");
    let md = journeyd::report::formats::markdown(&eu);
    assert!(md.contains(" from `eu`, started "), "{md}");
    let junit = journeyd::report::formats::junit(&mixed);
    assert!(junit.contains("<property name=\"locations\" value=\"eu,us\"/>"), "{junit}");
    assert!(journeyd::report::formats::markdown(&mixed).contains(" from `eu`, `us`, started "));
    assert!(!journeyd::report::formats::junit(&at(None)).contains("location"));
    assert!(!journeyd::report::formats::markdown(&at(None)).contains(" from "));
}
