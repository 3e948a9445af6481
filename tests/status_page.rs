//! The status page and its JSON API on the real daemon against the demo shop, the page in real headless
//! Chromium (skipped with a clear line when Chromium is not installed; `.ci/e2e-status` installs it), and
//! `--shard` partitioning journeys exactly.

mod daemon_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use daemon_support::{eventually, get_text, metric, tempdir, write_atomic, Daemon};
use journeyd::shop::{self, ShopOptions};

fn shop_journeys(dir: &Path) {
    write_atomic(
        &dir.join("healthy.yml"),
        "name: healthy\ndescription: The price API answers.\ntarget: \"{{ env.SHOP_URL }}\"\nevery: 1s\ntimeout: 1s\nsteps:\n  - name: price\n    get: /api/products/SKU-1001\n    expect: [ status == 200 ]\n  - name: page\n    get: /products/SKU-1001\n    expect: [ status == 200 ]\n",
    );
    write_atomic(
        &dir.join("broken.yml"),
        "name: broken\ndescription: A product that does not exist <em>on purpose</em>.\ntarget: \"{{ env.SHOP_URL }}\"\nevery: 1s\ntimeout: 1s\nsteps:\n  - name: missing\n    get: /api/products/SKU-0000\n    expect: [ status == 200 ]\n",
    );
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
}

/// Runs headless Chromium on `url` with `extra` flags; returns (stdout, stderr).
fn headless(browser: &str, url: &str, extra: &[&str]) -> (String, String) {
    let profile = tempdir("chromium-profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_api_and_page_show_a_down_journey_as_down() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let dir = tempdir("status-page");
    shop_journeys(&dir);
    let d = Daemon::start("status-page", &[dir.to_str().unwrap()], &[("SHOP_URL", &shop.url())]);
    let http = reqwest::Client::new();

    // The alert state machine calls a journey down only after consecutive failures (no page for one
    // flaky run): wait for that, and for two runs of each.
    let api: serde_json::Value = eventually("broken is down and both journeys ran twice", || async {
        let v: serde_json::Value = http.get(d.url("/api/v1/journeys")).send().await.ok()?.json().await.ok()?;
        let ran = |i: usize| v["journeys"][i]["runs_1h"].as_u64().unwrap_or(0) >= 2;
        (ran(0) && ran(1) && v["journeys"][0]["state"] == "down").then_some(v)
    })
    .await;
    assert_eq!(api["shard"], "0/1");
    assert_eq!(api["schedulers"], 2);
    let journeys = api["journeys"].as_array().unwrap();
    let (broken, healthy) = (&journeys[0], &journeys[1]);
    assert_eq!(broken["name"], "broken");
    assert_eq!(broken["state"], "down", "{broken}");
    assert_eq!(broken["availability_1h"], 0.0);
    assert_eq!(broken["last_failure"]["reason"], "status");
    assert_eq!(broken["last_failure"]["status"], 404);
    assert!(broken["state_reason"].as_str().unwrap().contains("missing"), "{broken}");
    assert_eq!(healthy["state"], "up");
    assert_eq!(healthy["availability_1h"], 1.0);
    assert_eq!(healthy["availability_24h"], 1.0);
    assert!(healthy["last_failure"].is_null());
    let steps = healthy["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|s| s["p50_seconds"].as_f64().unwrap() > 0.0
        && s["p99_seconds"].as_f64().unwrap() >= s["p50_seconds"].as_f64().unwrap()));

    let failures: serde_json::Value =
        http.get(d.url("/api/v1/failures?limit=1")).send().await.unwrap().json().await.unwrap();
    let failures = failures["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["journey"], "broken");
    assert!(failures[0]["request"].as_str().unwrap().contains("SKU-0000"), "evidence names the request");

    let html = get_text(&http, &d.url("/")).await;
    assert!(html.contains("id=\"journey-broken\" data-state=\"down\""));
    assert!(html.contains("&lt;em&gt;on purpose&lt;/em&gt;"), "descriptions are escaped");
    let metrics = get_text(&http, &d.url("/metrics")).await;
    assert_eq!(metric(&metrics, "journeyd_shard_info{shard=\"0/1\"}"), Some(1.0));

    let Some(browser) = chromium() else {
        println!("SKIP: chromium is not installed; the page was checked as HTML only (.ci/e2e-status runs Chromium)");
        return;
    };
    let url = d.url("/");
    let (dom, log) = tokio::task::block_in_place(|| headless(browser, &url, &["--dump-dom"]));
    assert!(dom.contains("journeyd status"), "Chromium did not render the page:\n{dom}\n{log}");
    assert!(dom.contains("id=\"journey-broken\" data-state=\"down\""), "{dom}");
    assert!(dom.contains("<span class=\"badge down\">down</span>"), "{dom}");
    assert!(dom.contains("id=\"journey-healthy\" data-state=\"up\""), "{dom}");
    assert!(dom.contains("<svg") && (dom.contains("<polyline") || dom.contains("<circle")), "latency plot: {dom}");
    // Chromium logs page console messages as `INFO:CONSOLE:<line>] "…"` (checked with a page that throws).
    for bad in ["Uncaught", ":CONSOLE", "Refused to", "Failed to load resource"] {
        assert!(!log.contains(bad), "console error {bad:?} while loading the page:\n{log}");
    }
    let shot = std::env::temp_dir().join("journeyd-status-page.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    tokio::task::block_in_place(|| headless(browser, &url, &[&arg, "--window-size=1280,900", "--hide-scrollbars"]));
    let png = std::fs::read(&shot).expect("Chromium wrote a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot");
    println!("screenshot: {}", shot.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_partition_thirty_journeys_exactly() {
    let dir = tempdir("shards");
    for i in 0..30 {
        write_atomic(
            &dir.join(format!("j{i}.yml")),
            &format!("name: journey-{i}\ntarget: http://127.0.0.1:1\nevery: 1h\ntimeout: 1s\nsteps:\n  - name: one\n    get: /\n"),
        );
    }
    let http = reqwest::Client::new();
    let mut seen: Vec<BTreeSet<String>> = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        // One replica takes its shard from the environment, as a StatefulSet would set it.
        let d = if i == 2 {
            Daemon::start("shard", &[dir.to_str().unwrap()], &[("JOURNEYD_SHARD", "journeyd-2/3")])
        } else {
            Daemon::start("shard", &["--shard", &shard, dir.to_str().unwrap()], &[])
        };
        // The board learns the suite through the pipeline: wait until it lists what the schedulers run.
        let api: serde_json::Value = eventually("the shard's journeys are listed", || async {
            let v: serde_json::Value = http.get(d.url("/api/v1/journeys")).send().await.ok()?.json().await.ok()?;
            let listed = v["journeys"].as_array()?.len();
            (listed > 0 && v["schedulers"] == listed).then_some(v)
        })
        .await;
        assert_eq!(api["shard"], shard.as_str());
        let names: BTreeSet<String> =
            api["journeys"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap().to_string()).collect();
        assert_eq!(api["schedulers"], names.len());
        assert!(!names.is_empty() && names.len() < 30, "shard {shard} owns {} journeys", names.len());
        let metrics = get_text(&http, &d.url("/metrics")).await;
        assert_eq!(metric(&metrics, &format!("journeyd_shard_info{{shard=\"{shard}\"}}")), Some(1.0));
        assert_eq!(metric(&metrics, "journeyd_journeys"), Some(names.len() as f64));
        seen.push(names);
    }
    let all: BTreeSet<&String> = seen.iter().flatten().collect();
    assert_eq!(all.len(), 30, "every journey runs somewhere");
    assert_eq!(seen.iter().map(BTreeSet::len).sum::<usize>(), 30, "and on exactly one shard");
}
