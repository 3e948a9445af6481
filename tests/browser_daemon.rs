//! Browser journeys in the real `journeyd run` process against the demo shop: the failure's screenshot is
//! served by the status page, the browser metrics are exported (and pass `promtool check metrics`), and
//! without a Chromium the daemon starts and runs the other journeys. Skipped (with a SKIPPED line) where no
//! Chromium is installed, except the last test, which needs none.

#[path = "certs/mod.rs"]
mod certs;
mod common;
mod daemon_support;

use daemon_support::{eventually, get_text, metric, tempdir, write_atomic, Daemon};
use journeyd::shop::{self, ShopOptions, JS_ERROR_MESSAGE};

const API: &str = "name: api-price\ntarget: \"{{ env.SHOP_URL }}\"\nevery: 1s\ntimeout: 1s\nsteps:\n  - name: price\n    get: /api/products/SKU-1001\n    expect: [ status == 200 ]\n";

const BROWSER: &str = r##"name: store-login
target: "{{ env.SHOP_URL }}"
every: 2s
timeout: 2s
browser: true
steps:
  - name: login-page
    actions: [ { goto: /store/login }, { wait_for: "#login:not([disabled])" } ]
"##;

fn journeys(name: &str) -> std::path::PathBuf {
    let dir = tempdir(name);
    write_atomic(&dir.join("api.yml"), API);
    write_atomic(&dir.join("browser.yml"), BROWSER);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_bundle_fails_the_browser_journey_with_a_served_screenshot_and_metrics() {
    let Some(chrome) = common::chromium() else { return };
    let faults = vec![shop::parse_fault("static=ui:js-error").unwrap()];
    let shop = shop::spawn(ShopOptions { faults, ..ShopOptions::default() }).await.unwrap();
    let dir = journeys("browser-daemon");
    let evidence = tempdir("browser-daemon-evidence");
    let d = Daemon::start(
        "browser-daemon",
        &[dir.to_str().unwrap(), "--chromium", chrome.to_str().unwrap()],
        &[("SHOP_URL", &shop.url()), ("JOURNEYD_EVIDENCE_DIR", evidence.to_str().unwrap())],
    );
    let http = reqwest::Client::new();
    let failure = eventually("a browser failure with a screenshot", || async {
        let v: serde_json::Value = http.get(d.url("/api/v1/failures")).send().await.ok()?.json().await.ok()?;
        v["failures"].as_array()?.iter().find(|f| f["journey"] == "store-login" && f["screenshot"].is_string()).cloned()
    })
    .await;
    assert_eq!(failure["reason"], "script", "{failure}");
    assert!(failure["message"].as_str().unwrap().contains(JS_ERROR_MESSAGE), "{failure}");
    let shot = failure["screenshot"].as_str().unwrap();
    let resp = http.get(d.url(&format!("/evidence/{shot}"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(resp.bytes().await.unwrap().starts_with(b"\x89PNG"));
    assert_eq!(http.get(d.url("/evidence/..%2Fapi.yml")).send().await.unwrap().status(), 404);
    let page = get_text(&http, &d.url("/")).await;
    assert!(page.contains(&format!("<img src=\"evidence/{shot}\"")), "the status page shows the screenshot");

    let metrics = get_text(&http, &d.url("/metrics")).await;
    let js = "journey_browser_js_errors_total{journey=\"store-login\",kind=\"exception\",step=\"login-page\"}";
    assert!(metric(&metrics, js).is_some_and(|n| n >= 1.0), "{metrics}");
    assert!(metrics.contains("journey_browser_navigation_seconds_bucket{journey=\"store-login\""), "{metrics}");
    assert!(metric(&metrics, "journeyd_browser_restarts_total").is_some());
    assert!(metric(&metrics, "journeyd_browser_contexts").is_some());
    let failures = "journey_step_failures_total{journey=\"store-login\",reason=\"script\",step=\"login-page\"}";
    assert!(metric(&metrics, failures).is_some_and(|n| n >= 1.0));
    assert_eq!(metric(&metrics, "journey_success{journey=\"api-price\"}"), Some(1.0), "the API journey is green");
    if let Some(problems) = certs::promtool_check_metrics(&metrics) {
        assert!(problems.is_empty(), "promtool check metrics:\n{problems}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_chromium_the_daemon_runs_the_other_journeys_and_names_the_browser_one() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let dir = journeys("browser-daemon-none");
    let d = Daemon::start(
        "browser-daemon-none",
        &[dir.to_str().unwrap(), "--chromium", "/nonexistent/chromium"],
        &[("SHOP_URL", &shop.url())],
    );
    let http = reqwest::Client::new();
    eventually("the API journey passes", || async {
        let m = get_text(&http, &d.url("/metrics")).await;
        (metric(&m, "journey_success{journey=\"api-price\"}") == Some(1.0)).then_some(())
    })
    .await;
    let metrics = get_text(&http, &d.url("/metrics")).await;
    assert_eq!(metric(&metrics, "journeyd_journeys"), Some(1.0), "the browser journey is left out");
    let log = d.log_text();
    assert!(log.contains("browser journey not loaded") && log.contains("store-login"), "{log}");
    assert!(log.contains("--chromium"), "the log says how to fix it: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_keeps_the_screenshot_beside_the_junit_file_which_attaches_it() {
    let Some(chrome) = common::chromium() else { return };
    let faults = vec![shop::parse_fault("static=ui:no-checkout").unwrap()];
    let shop = shop::spawn(ShopOptions { faults, ..ShopOptions::default() }).await.unwrap();
    let dir = tempdir("browser-verify");
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("journeys");
    for file in ["browser-checkout.yml", "accounts.csv"] {
        std::fs::copy(bundled.join(file), dir.join(file)).unwrap();
    }
    let out_dir = tempdir("browser-verify-out");
    let (junit, report) = (out_dir.join("r.xml"), out_dir.join("r.json"));
    let args: Vec<String> = [
        "verify",
        dir.to_str().unwrap(),
        "--target",
        &shop.url(),
        "--env",
        &format!("SHOP_PASSWORD={}", shop::DEMO_PASSWORD),
        "--iterations",
        "1",
        "--users",
        "1",
        "--no-progress",
        "--chromium",
        chrome.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_journeyd")).args(&args).env("NO_COLOR", "1").output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("browser-checkout: element ×1: step \"checkout\""), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let at = xml.find("[[ATTACHMENT|screenshots/").unwrap_or_else(|| panic!("no attachment:\n{xml}"));
    let name = xml[at + "[[ATTACHMENT|".len()..].split("]]").next().unwrap();
    assert!(name.starts_with("screenshots/browser-checkout--checkout--") && name.ends_with(".png"), "{name}");
    let png = std::fs::read(out_dir.join(name)).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the attached file is a PNG beside the JUnit file");
    let json = std::fs::read_to_string(&report).unwrap();
    assert!(json.contains(&format!("\"screenshot\": \"{}\"", name.trim_start_matches("screenshots/"))), "{json}");
}

/// A password typed into the storefront by a browser journey, in the shop and the journey's secret.
const CANARY: &str = "cnyBRW-5e1d0c9a-do-not-leak";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_secret_reaches_no_log_metric_api_or_page_even_at_trace_level() {
    let Some(chrome) = common::chromium() else { return };
    let shop = shop::spawn(ShopOptions { password: CANARY.into(), ..ShopOptions::default() }).await.unwrap();
    let dir = tempdir("browser-canary");
    // Logs in through the UI with the secret (typed key by key and filled), then fails on a page that
    // echoes the secret back, so the evidence (DOM, URL, console, screenshot) has it to leak.
    let journey = r##"name: canary
target: "{{ env.SHOP_URL }}"
every: 2s
timeout: 2s
browser: true
secrets: { pw: { env: CANARY_PW } }
steps:
  - name: login
    actions:
      - goto: /store/login
      - fill: { "#email": customer05@shop.test }
      - type: { "#password": "{{ secrets.pw }}" }
      - click: "#login"
      - wait_for: { url: /store/products/ }
  - name: echo
    actions: [ goto: "/store/products/{{ secrets.pw }}?q={{ secrets.pw }}" ]
    expect: [ 'text("h1") == "{{ secrets.pw }}"' ]
"##;
    write_atomic(&dir.join("canary.yml"), journey);
    let d = Daemon::start(
        "browser-canary",
        &[dir.to_str().unwrap(), "--chromium", chrome.to_str().unwrap()],
        &[("SHOP_URL", &shop.url()), ("CANARY_PW", CANARY), ("JOURNEYD_LOG", "trace")],
    );
    let http = reqwest::Client::new();
    eventually("the echo step failed", || async {
        let v: serde_json::Value = http.get(d.url("/api/v1/failures")).send().await.ok()?.json().await.ok()?;
        v["failures"].as_array()?.iter().any(|f| f["step"] == "echo").then_some(())
    })
    .await;
    let mut seen = vec![d.log_text()];
    for path in ["/api/v1/failures", "/api/v1/journeys", "/metrics", "/"] {
        seen.push(get_text(&http, &d.url(path)).await);
    }
    use base64::Engine as _;
    let encodings = [
        CANARY.to_string(),
        base64::engine::general_purpose::STANDARD.encode(CANARY),
        CANARY.replace('-', "%2D"),
        CANARY[..10].to_string(),
    ];
    for text in &seen {
        for enc in &encodings {
            assert!(!text.contains(enc.as_str()), "the typed secret leaked as {enc:?}:\n{text}");
        }
    }
    assert!(seen[0].contains("\"action\":\"type\"") && seen[0].contains("********"), "the typing is logged masked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_judges_web_vital_thresholds_on_browser_steps() {
    let Some(chrome) = common::chromium() else { return };
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let dir = tempdir("browser-vitals");
    write_atomic(&dir.join("browser.yml"), BROWSER);
    let out_dir = tempdir("browser-vitals-out");
    let report = out_dir.join("r.json");
    let shop_url = shop.url();
    let report_path = report.clone();
    let run = move |thresholds: &[&str]| {
        let mut args: Vec<String> = [
            "verify",
            dir.to_str().unwrap(),
            "--env",
            &format!("SHOP_URL={shop_url}"),
            "--iterations",
            "2",
            "--users",
            "1",
            "--no-progress",
            "--chromium",
            chrome.to_str().unwrap(),
            "--report",
            report_path.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for t in thresholds {
            args.extend(["--threshold".to_string(), t.to_string()]);
        }
        std::process::Command::new(env!("CARGO_BIN_EXE_journeyd")).args(&args).env("NO_COLOR", "1").output().unwrap()
    };
    let pass = tokio::task::spawn_blocking(move || {
        let ok = run(&["store-login.login-page: p75{vital=ttfb} < 30s", "store-login: max{vital=load} < 30s"]);
        let bad = run(&["store-login.login-page: p50{vital=ttfb} < 1us"]);
        (ok, bad)
    })
    .await
    .unwrap();
    let (ok, bad) = pass;
    let text = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("PASS  store-login.login-page: p75{vital=ttfb} < 30s"), "{}", text(&ok));
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("FAIL  store-login.login-page: p50{vital=ttfb} < 1us"), "{}", text(&bad));
    let json = std::fs::read_to_string(&report).unwrap();
    assert!(json.contains("\"vitals\"") && json.contains("\"ttfb\""), "the report keeps the page timings: {json}");
}
