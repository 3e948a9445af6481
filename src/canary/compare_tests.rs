use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const STEPS: [&str; 3] = ["home", "view-price", "checkout"];

/// One simulated run of the three-step journey: each step log-normal around `median_ms` (σ = 0.15, a 2 %
/// tail of slow outliers up to 3×), failing with `failure` (the journey stops at the failing step).
fn run(rng: &mut StdRng, at: SystemTime, median_ms: [f64; 3], failure: [f64; 3]) -> Sample {
    let mut steps = Vec::new();
    let mut total = Duration::ZERO;
    let mut passed = true;
    for (i, name) in STEPS.iter().enumerate() {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let mut ms = median_ms[i] * (0.15 * normal).exp();
        if rng.random::<f64>() < 0.02 {
            ms *= 1.0 + 2.0 * rng.random::<f64>();
        }
        let ok = rng.random::<f64>() >= failure[i];
        let latency = Duration::from_secs_f64(ms / 1000.0);
        total += latency;
        steps.push((Arc::from(*name), latency, ok));
        if !ok {
            passed = false;
            break;
        }
    }
    Sample { at, tick: tick_of(at), passed, duration: total, steps }
}

const HEALTHY: [f64; 3] = [40.0, 120.0, 15.0];
const FLAKY: [f64; 3] = [0.0, 0.002, 0.0];

fn comparison() -> Comparison {
    let steps: Vec<Arc<str>> = STEPS.iter().map(|s| Arc::from(*s)).collect();
    let targets = ["stable".to_string(), "canary".to_string()];
    Comparison::new("checkout", &steps, &targets, Duration::from_secs(600))
}

/// Runs both targets every 5 s with `users` users for `ticks` ticks from `t0`; returns the tick of each new
/// finding.
fn simulate(
    rng: &mut StdRng,
    c: &mut Comparison,
    (t0, users): (SystemTime, u32),
    ticks: u64,
    canary: ([f64; 3], [f64; 3]),
) -> Vec<(u64, Finding)> {
    let mut raised = Vec::new();
    for k in 0..ticks {
        let at = t0 + Duration::from_secs(5 * k);
        let before = c.findings();
        for _ in 0..users {
            c.record("stable", run(rng, at, HEALTHY, FLAKY));
            c.record("canary", run(rng, at, canary.0, canary.1));
        }
        raised.extend(c.findings().into_iter().filter(|f| !before.contains(f)).map(|f| (k, f)));
    }
    raised
}

/// The tick of a simulated run: every run at one moment shares it, as the users of one scheduled run do.
fn tick_of(at: SystemTime) -> std::time::Instant {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now) + at.duration_since(UNIX_EPOCH).unwrap()
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_765_000_000)
}

#[test]
fn five_percent_errors_on_the_canary_are_flagged_naming_the_step_and_the_baseline() {
    // Five users a tick: telling 5 % from 0 % at this level takes about 300 runs per target.
    let mut rng = StdRng::seed_from_u64(5);
    let mut c = comparison();
    let mut failing = FLAKY;
    failing[1] = 0.05;
    let raised = simulate(&mut rng, &mut c, (t0(), 5), 240, (HEALTHY, failing));
    let (tick, f) = raised.iter().find(|(_, f)| f.step.as_deref() == Some("view-price")).expect("flagged");
    eprintln!("flagged at tick {tick}: {}", f.evidence);
    assert_eq!(f.target, "canary");
    assert!(f.evidence.starts_with("checkout.view-price on canary: availability 9"), "{}", f.evidence);
    assert!(f.evidence.contains("% on stable, p"), "{}", f.evidence);
    assert!(raised.iter().all(|(_, f)| f.step.as_deref() != Some("home")), "{raised:?}");
    let v = c.view();
    assert!(v.judged);
    assert_eq!(v.targets[0].target, "stable");
    assert!(v.targets[0].series.is_none(), "the baseline is not compared with itself");
    let canary = &v.targets[1];
    assert!(canary.steps["view-price"].availability.unwrap() < 1.0);
    assert!(canary.series.as_ref().unwrap().iter().any(|s| s.regression && s.step.as_deref() == Some("view-price")));
}

#[test]
fn thirty_ms_more_on_the_canary_is_flagged_and_a_finding_lapses_a_window_after_it_is_gone() {
    let mut rng = StdRng::seed_from_u64(30);
    let mut c = comparison();
    let mut slower = HEALTHY;
    slower[1] += 30.0;
    let raised = simulate(&mut rng, &mut c, (t0(), 1), 120, (slower, FLAKY));
    let (tick, f) = raised.iter().find(|(_, f)| f.step.as_deref() == Some("view-price")).expect("flagged");
    eprintln!("+30 ms flagged at tick {tick} (one run every 5 s): {}", f.evidence);
    assert!(f.evidence.starts_with("checkout.view-price on canary: p"), "{}", f.evidence);
    assert!(f.evidence.contains(" on stable (+"), "{}", f.evidence);
    assert!(!c.findings().is_empty());
    // The canary is fixed: once its slow runs have left the window and a window has passed, nothing stands.
    simulate(&mut rng, &mut c, (t0() + Duration::from_secs(600), 1), 360, (HEALTHY, FLAKY));
    assert_eq!(c.findings(), Vec::new());
    assert!(c.verdicts().all(|(_, _, regressed)| !regressed));
}

#[test]
fn nothing_is_judged_before_every_target_has_enough_runs() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut c = comparison();
    let mut down = FLAKY;
    down[0] = 1.0;
    simulate(&mut rng, &mut c, (t0(), 1), MIN_RUNS - 1, (HEALTHY, down));
    assert!(!c.judged_now());
    assert!(c.findings().is_empty(), "too few runs to look");
    simulate(&mut rng, &mut c, (t0() + Duration::from_secs(5 * MIN_RUNS), 1), 5, (HEALTHY, down));
    assert!(c.judged_now());
    assert!(c.findings().iter().any(|f| f.step.as_deref() == Some("home")), "{:?}", c.findings());
}

#[test]
fn a_hundred_windows_of_equal_targets_raise_at_most_two_false_regressions() {
    let mut rng = StdRng::seed_from_u64(0x6361_6e61_7279);
    let mut c = comparison();
    // 100 windows of 10 minutes at one run per target every 5 s, one continuous comparison.
    let raised = simulate(&mut rng, &mut c, (t0(), 1), 100 * 120, (HEALTHY, FLAKY));
    let windows: std::collections::BTreeSet<u64> = raised.iter().map(|(k, _)| k / 120).collect();
    eprintln!("{} of 100 windows of equal targets raised a regression: {raised:?}", windows.len());
    assert!(windows.len() <= 2, "{} of 100 windows: {raised:?}", windows.len());
}
