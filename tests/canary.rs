//! Canary beside stable end to end: a live daemon (in-process, 127.0.0.1:0) monitoring two demo shops as
//! the `stable` and `canary` targets of one journey. Errors injected on the canary's price route only are
//! flagged naming the step, in the metrics, `/api/v1/canary` and the alerts, while the journey's own
//! series and JourneyDown stay the baseline's; equal shops are not flagged over a bounded number of runs.
//! Nothing here is timed: each wait is for a condition, bounded only so a broken daemon cannot hang.

mod certs;
mod daemon_support;

use daemon_support::{demo_until, eventually, options, sample, tempdir, write_atomic, InProcess};
use journeyd::shop::{self, Fault, ShopOptions};
use serde_json::Value;

/// Twenty users a tick: telling 5 % errors from none takes a few hundred runs per target.
const JOURNEY: &str = concat!(
    r#"name: price
targets:
  stable: "{{ env.STABLE }}"
  canary: "{{ env.CANARY }}"
canary: { window: 1m }
every: 1s
timeout: 1s
users: 20
"#,
    daemon_support::price_steps!()
);

async fn daemon(name: &str, stable: &str, canary: &str) -> InProcess {
    daemon_with(name, JOURNEY, stable, canary).await.0
}

/// A daemon running `journey` (with `{{ env.STABLE }}` and `{{ env.CANARY }}`); also its file's path.
async fn daemon_with(name: &str, journey: &str, stable: &str, canary: &str) -> (InProcess, std::path::PathBuf) {
    let dir = tempdir(name);
    let journeys = dir.join("journeys");
    std::fs::create_dir_all(&journeys).unwrap();
    let file = journeys.join("price.yml");
    std::fs::write(&file, journey).unwrap();
    let mut opts = options(&journeys, stable);
    opts.load.env.insert("STABLE".into(), stable.into());
    opts.load.env.insert("CANARY".into(), canary.into());
    (InProcess::start(opts).await, file)
}

async fn canary(d: &InProcess) -> Value {
    reqwest::get(d.url("/api/v1/canary?journeys=price")).await.unwrap().json().await.unwrap()
}

/// A target's runs in the window, from `/api/v1/canary`.
fn runs(v: &Value, target: &str) -> u64 {
    let targets = v["journeys"][0]["targets"].as_array().cloned().unwrap_or_default();
    targets.iter().find(|t| t["target"] == target).and_then(|t| t["runs"].as_u64()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_errors_on_the_canary_only_are_flagged_naming_the_step() {
    let (stable, bad) =
        (shop::spawn(ShopOptions::default()).await.unwrap(), shop::spawn(ShopOptions::default()).await.unwrap());
    bad.faults.set("product", Fault::error_rate(0.05)).unwrap();
    let d = daemon("canary-errors", &stable.url(), &bad.url()).await;

    let step = r#"journey_canary_regression{journey="price",step="view-price",target="canary"}"#;
    eventually("the view-price regression on the canary", || async {
        (d.metric(step).await == Some(1.0)).then_some(())
    })
    .await;
    let page = r#"journey_canary_regression{journey="price",step="product-page",target="canary"}"#;
    assert_eq!(d.metric(page).await, Some(0.0));
    if let Some(problems) = certs::promtool_check_metrics(&d.text("/metrics").await) {
        assert!(problems.is_empty(), "promtool check metrics:\n{problems}");
    }

    let v = canary(&d).await;
    assert_eq!(v["state"], "regression", "{v}");
    let regressed = v["regressed"].as_array().unwrap();
    let r = regressed.iter().find(|r| r["step"] == "view-price").unwrap_or_else(|| panic!("{v}"));
    assert_eq!((r["journey"].as_str(), r["target"].as_str()), (Some("price"), Some("canary")));
    let evidence = r["evidence"].as_str().unwrap();
    assert!(evidence.starts_with("price.view-price on canary: availability "), "{evidence}");
    assert!(evidence.contains("vs 100.0% on stable, p"), "{evidence}");
    let targets = v["journeys"][0]["targets"].as_array().unwrap();
    assert_eq!(targets[0]["target"], "stable", "the baseline first: {v}");
    assert_eq!(targets[0]["availability"], 1.0, "{v}");
    assert!(targets[1]["steps"]["view-price"]["availability"].as_f64().unwrap() < 1.0, "{v}");

    let alerts: Value = reqwest::get(d.url("/api/v1/alerts")).await.unwrap().json().await.unwrap();
    let all = alerts["alerts"].as_array().unwrap();
    let alert = all
        .iter()
        .find(|a| a["labels"]["alertname"] == "JourneyCanaryRegression")
        .unwrap_or_else(|| panic!("no canary alert in {alerts}"));
    assert_eq!(alert["annotations"]["step"], "view-price", "{alert}");
    assert_eq!(alert["annotations"]["target"], "canary", "{alert}");
    assert!(alert["annotations"]["evidence"].as_str().unwrap().contains("price.view-price on canary"), "{alert}");
    let page = d.text("/").await;
    assert!(page.contains("<h2>Targets</h2>"), "{page}");
    assert!(page.contains("<tr class=\"target\" data-regression=\"true\"><td>price</td><td>canary</td>"), "{page}");
    assert!(page.contains("price.view-price on canary: availability "), "{page}");
    // The canary's failures are the canary's problem: the journey's own series are the baseline's.
    assert!(all.iter().all(|a| a["labels"]["alertname"] != "JourneyDown"), "{alerts}");
    let failures = r#"journey_runs_total{journey="price",outcome="failure"}"#;
    assert_eq!(d.metric(failures).await.unwrap_or(0.0), 0.0, "the canary's failures are not the journey's");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_targets_are_not_flagged_over_three_hundred_runs_each() {
    let (a, b) =
        (shop::spawn(ShopOptions::default()).await.unwrap(), shop::spawn(ShopOptions::default()).await.unwrap());
    let d = daemon("canary-equal", &a.url(), &b.url()).await;
    let v = eventually("300 runs of each target, judged", || async {
        let v = canary(&d).await;
        (v["judged"] == true && runs(&v, "stable") >= 300 && runs(&v, "canary") >= 300).then_some(v)
    })
    .await;
    assert_eq!(v["state"], "passed", "{v}");
    assert_eq!(v["regressed"], Value::Array(Vec::new()), "{v}");
    let whole = r#"journey_canary_regression{journey="price",step="",target="canary"}"#;
    assert_eq!(d.metric(whole).await, Some(0.0));
    d.stop().await;
}

/// `journeyd verify FILE ARGS…` with the two targets' URLs; returns the exit code and stdout.
fn verify(dir: &std::path::Path, stable: &str, canary: &str, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_journeyd"))
        .arg("verify")
        .arg(dir)
        .args(["--iterations", "3", "--no-progress", "--env", &format!("STABLE={stable}")])
        .args(["--env", &format!("CANARY={canary}")])
        .args(args)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_runs_each_target_and_target_replaces_them_all() {
    let (good, bad) =
        (shop::spawn(ShopOptions::default()).await.unwrap(), shop::spawn(ShopOptions::default()).await.unwrap());
    bad.faults.set("product", Fault::status(503)).unwrap();
    let dir = tempdir("canary-verify");
    std::fs::write(dir.join("price.yml"), JOURNEY).unwrap();
    let (dir, g, b) = (dir.to_path_buf(), good.url(), bad.url());
    let (code, out) = tokio::task::spawn_blocking({
        let (dir, g, b) = (dir.clone(), g.clone(), b.clone());
        move || verify(&dir, &g, &b, &[])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "the canary's checks fail:\n{out}");
    assert!(out.contains("price@stable") && out.contains("price@canary"), "{out}");
    let (code, out) = tokio::task::spawn_blocking(move || verify(&dir, &g, &b, &["--target", &g])).await.unwrap();
    assert_eq!(code, 0, "--target replaces both with the good shop:\n{out}");
    assert!(!out.contains("price@"), "{out}");
}

/// `journey_target_runs_total` of the journey `price`.
fn target_runs(text: &str, target: &str, outcome: &str) -> Option<f64> {
    sample(text, "journey_target_runs_total", &[("journey", "price"), ("target", target), ("outcome", outcome)])
}

/// The `le` values of a histogram's series with `labels`.
fn buckets(text: &str, name: &str, labels: &str) -> Vec<String> {
    let prefix = format!("{name}_bucket{{{labels},le=\"");
    text.lines().filter_map(|l| l.strip_prefix(&prefix)?.split_once('"').map(|(le, _)| le.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_has_runs_and_latency_series_that_agree_with_the_api_and_go_with_targets() {
    let (stable, bad) =
        (shop::spawn(ShopOptions::default()).await.unwrap(), shop::spawn(ShopOptions::default()).await.unwrap());
    bad.faults.set("product", Fault::status(503)).unwrap();
    // A window longer than the test: `/api/v1/canary` counts every run so far, as the counters do.
    let journey = JOURNEY.replace("window: 1m", "window: 30m").replace("users: 20", "users: 4");
    let (d, file) = daemon_with("canary-series", &journey, &stable.url(), &bad.url()).await;

    // The API read before and after one scrape: a run is counted before the comparison records it, so
    // each counter lies between the two.
    let (before, text, after) = eventually("forty runs of each target", || async {
        let before = canary(&d).await;
        let text = d.text("/metrics").await;
        let after = canary(&d).await;
        (runs(&before, "stable") >= 40 && runs(&before, "canary") >= 40).then_some((before, text, after))
    })
    .await;
    let within = |target: &str, n: f64| {
        let (low, high) = (runs(&before, target) as f64, runs(&after, target) as f64);
        assert!(low <= n && n <= high, "{target}: {n} runs counted, the API said {low} then {high}");
    };
    let ok = target_runs(&text, "stable", "success").unwrap();
    within("stable", ok);
    assert_eq!(target_runs(&text, "stable", "failure"), Some(0.0));
    let failed = target_runs(&text, "canary", "failure").unwrap();
    within("canary", failed);
    assert_eq!(target_runs(&text, "canary", "success"), Some(0.0), "every canary run meets the 503");
    for target in ["stable", "canary"] {
        assert_eq!(target_runs(&text, target, "cancelled"), Some(0.0));
        let count = sample(&text, "journey_target_duration_seconds_count", &[("journey", "price"), ("target", target)]);
        let total = target_runs(&text, target, "success").unwrap() + target_runs(&text, target, "failure").unwrap();
        let count = count.unwrap_or_else(|| panic!("no duration histogram for {target}"));
        assert!(count <= total && count >= runs(&before, target) as f64, "{target}: {count} timed of {total}");
        let labels = format!("journey=\"price\",target=\"{target}\"");
        let own = buckets(&text, "journey_duration_seconds", "journey=\"price\"");
        assert!(!own.is_empty());
        assert_eq!(buckets(&text, "journey_target_duration_seconds", &labels), own, "the journey's buckets");
    }
    assert!(!text.lines().any(|l| l.starts_with("journey_runs_total{") && l.contains("target=")), "{text}");
    if let Some(problems) = certs::promtool_check_metrics(&text) {
        assert!(problems.is_empty(), "promtool check metrics:\n{problems}");
    }

    // Without `targets:` the per-target series go; the journey's own stay.
    let single = journey.replace(
        "targets:\n  stable: \"{{ env.STABLE }}\"\n  canary: \"{{ env.CANARY }}\"\ncanary: { window: 30m }\n",
        "target: \"{{ env.STABLE }}\"\n",
    );
    assert_ne!(single, journey);
    write_atomic(&file, &single);
    d.reloader.reload().await.unwrap();
    let text = d.text("/metrics").await;
    assert!(!text.contains("journey_target_runs_total{"), "{text}");
    assert!(!text.contains("journey_target_duration_seconds_count{"), "{text}");
    assert!(text.contains("journey_runs_total{journey=\"price\",outcome=\"success\"}"), "{text}");
    d.stop().await;
}

#[test]
fn the_demo_runs_a_faulty_canary_beside_stable_and_names_the_slower_step() {
    let (said, verdict) = demo_until(&["--every", "1s", "--canary-fault"], "canary", |l| {
        l.contains("REGRESSION") && l.contains(".view-price")
    });
    assert!(
        said.iter().any(|l| l.starts_with("canary:  http://127.0.0.1:") && l.contains("product=latency:30ms")),
        "{said:?}"
    );
    assert!(said.iter().any(|l| l.contains("/api/v1/canary?journeys=price-canary")), "{said:?}");
    assert!(said.iter().any(|l| l.contains("journey_target_runs_total")), "{said:?}");
    assert!(verdict.starts_with("canary: REGRESSION (JourneyCanaryRegression): "), "{verdict}");
    assert!(verdict.contains("price-canary.view-price on canary: p"), "the slower step is named: {verdict}");
    assert!(verdict.contains("on stable"), "{verdict}");
}
