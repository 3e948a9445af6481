//! Deploy markers end to end: a live daemon (in-process, 127.0.0.1:0) monitoring the demo shop, markers
//! sent with `journeyd mark-deploy` and over `POST /api/v1/deploys`, a slower `view-price` after one, and
//! the verdict in the metrics, the alerts API, `/api/v1/deploys` and the status page. Nothing here is
//! timed: each wait is for a condition, bounded only so a broken daemon cannot hang the suite.

mod certs;
mod daemon_support;

use std::time::Duration;

use daemon_support::{demo_until, eventually, options, tempdir, InProcess};
use journeyd::server::WriteAccess;
use journeyd::shop::{self, Fault, ShopOptions};
use serde_json::{json, Value};

const JOURNEY: &str = concat!(
    r#"name: price
target: "{{ env.TARGET }}"
every: 1s
timeout: 1s
"#,
    daemon_support::price_steps!()
);

/// A daemon monitoring `target` with the deploy windows in `deploys` and the admin API on or off.
async fn daemon(name: &str, target: &str, deploys: &str, admin: bool) -> InProcess {
    let dir = tempdir(name);
    let journeys = dir.join("journeys");
    std::fs::create_dir_all(&journeys).unwrap();
    std::fs::write(journeys.join("price.yml"), JOURNEY).unwrap();
    let settings = dir.join("settings.yml");
    std::fs::write(&settings, format!("deploys: {deploys}\n")).unwrap();
    let mut opts = options(&journeys, target);
    opts.settings = Some(settings);
    opts.access = WriteAccess { lifecycle: false, admin };
    InProcess::start(opts).await
}

async fn text(url: String) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// The value of one series in `/metrics`, by its exact name and labels.
async fn metric(d: &InProcess, series: &str) -> Option<f64> {
    daemon_support::metric(&text(d.url("/metrics")).await, series)
}

async fn runs(d: &InProcess) -> f64 {
    metric(d, r#"journey_runs_total{journey="price",outcome="success"}"#).await.unwrap_or(0.0)
}

/// Runs `journeyd mark-deploy ARGS…` and returns its exit code and stderr.
async fn mark_deploy(args: &[&str]) -> (i32, String) {
    mark_deploy_with(args, None).await
}

/// …with `JOURNEYD_PASSWORD` set to `password`.
async fn mark_deploy_with(args: &[&str], password: Option<&str>) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let password = password.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_journeyd"));
        cmd.arg("mark-deploy").args(&args).env_remove("JOURNEYD_URL").env_remove("JOURNEYD_PASSWORD");
        if let Some(p) = password {
            cmd.env("JOURNEYD_PASSWORD", p);
        }
        let out = cmd.output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    })
    .await
    .unwrap()
}

async fn deploys(d: &InProcess) -> Value {
    reqwest::get(d.url("/api/v1/deploys")).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_ms_more_on_view_price_after_a_marker_is_flagged_naming_the_step() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let d = daemon("deploy-slow", &shop.url(), "{ before: 10m, decision: 5m }", true).await;
    eventually("20 runs before the deploy", || async { (runs(&d).await >= 20.0).then_some(()) }).await;

    let (code, stderr) = mark_deploy(&["--url", &d.base, "--version", "v1.4.2", "--by", "test pipeline"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(metric(&d, r#"journeyd_deploy_info{version="v1.4.2"}"#).await, Some(1.0));
    assert!(metric(&d, r#"journeyd_deploy_timestamp_seconds{version="v1.4.2"}"#).await.unwrap() > 1.7e9);
    shop.faults.set("product", Fault::latency(Duration::from_millis(30))).unwrap();

    let step = r#"journey_deploy_regression{journey="price",step="view-price"}"#;
    eventually("the view-price regression", || async { (metric(&d, step).await == Some(1.0)).then_some(()) }).await;
    assert_eq!(metric(&d, r#"journey_deploy_regression{journey="price",step="product-page"}"#).await, Some(0.0));
    if let Some(problems) = certs::promtool_check_metrics(&text(d.url("/metrics")).await) {
        assert!(problems.is_empty(), "promtool check metrics:\n{problems}");
    }

    let list = deploys(&d).await;
    let deploy = &list["deploys"][0];
    assert_eq!((deploy["version"].as_str(), deploy["by"].as_str()), (Some("v1.4.2"), Some("test pipeline")));
    assert_eq!(deploy["state"], "regression", "{deploy}");
    let series = deploy["results"][0]["series"].as_array().unwrap();
    let view_price = series.iter().find(|s| s["step"] == "view-price").unwrap();
    let evidence = view_price["evidence"].as_str().unwrap();
    assert!(evidence.starts_with("price.view-price p"), "{evidence}");
    assert!(evidence.contains("since deploy v1.4.2 at "), "{evidence}");

    let alerts: Value = reqwest::get(d.url("/api/v1/alerts")).await.unwrap().json().await.unwrap();
    let alert = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "JourneyDeployRegression")
        .unwrap_or_else(|| panic!("no deploy alert in {alerts}"));
    assert_eq!(alert["annotations"]["step"], "view-price", "{alert}");
    assert!(alert["annotations"]["evidence"].as_str().unwrap().contains("price.view-price"), "{alert}");

    let page = text(d.url("/")).await;
    assert!(page.contains("class=\"deploy\"") && page.contains("deploy v1.4.2 at"), "a marker on the plot");

    // A reload keeps the marker and its verdict.
    d.reloader.reload().await.unwrap();
    assert_eq!(deploys(&d).await["deploys"][0]["state"], "regression");
    d.stop().await;
    shop.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_changes_nothing_passes_when_its_window_ends() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let d = daemon("deploy-same", &shop.url(), "{ before: 10m, decision: 15s }", true).await;
    eventually("20 runs before the deploy", || async { (runs(&d).await >= 20.0).then_some(()) }).await;
    let r = reqwest::Client::new()
        .post(d.url("/api/v1/deploys"))
        .json(&json!({ "version": "v2", "journeys": ["price"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let verdict = eventually("the end of the decision window", || async {
        let list = deploys(&d).await;
        let state = list["deploys"][0]["state"].as_str().unwrap().to_string();
        (state != "running").then_some(list)
    })
    .await;
    let deploy = &verdict["deploys"][0];
    assert_eq!(deploy["state"], "passed", "{deploy}");
    assert!(deploy["results"][0]["series"][0]["runs_after"].as_u64().unwrap() > 0, "{deploy}");
    assert_eq!(metric(&d, r#"journey_deploy_regression{journey="price",step="view-price"}"#).await, Some(0.0));
    d.stop().await;
    shop.stop().await.unwrap();
}

#[tokio::test]
async fn markers_go_through_the_write_gate_and_bad_ones_say_what_to_send() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let closed = daemon("deploy-gate", &shop.url(), "{ keep: 2 }", false).await;
    let http = reqwest::Client::new();
    let r = http.post(closed.url("/api/v1/deploys")).json(&json!({ "version": "v1" })).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let (code, stderr) = mark_deploy(&["--url", &closed.base, "--version", "v1"]).await;
    assert_eq!(code, 2, "refused: a usage error ({stderr})");
    assert!(stderr.contains("--enable-admin-api"), "{stderr}");
    closed.stop().await;

    let d = daemon("deploy-bad", &shop.url(), "{ keep: 2 }", true).await;
    let post = |body: Value| http.post(d.url("/api/v1/deploys")).json(&body).send();
    let r = post(json!({ "version": "v1", "journeys": ["pricee"] })).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("unknown journey `pricee`"));
    let r = post(json!({ "version": "x".repeat(129) })).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post(json!({ "version": "v1", "tags": ["nothing-has-this"] })).await.unwrap();
    assert!(r.text().await.unwrap().contains("no journey"));
    let r = post(json!({ "versoin": "v1" })).await.unwrap();
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains(r#"send {"version""#), "{e}");
    for v in ["v1", "v2", "v3"] {
        assert_eq!(post(json!({ "version": v })).await.unwrap().status(), 201);
    }
    let kept: Vec<String> = deploys(&d).await["deploys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kept, ["v3", "v2"], "deploys.keep bounds the markers kept");
    let (code, stderr) = mark_deploy(&["--url", &d.base, "--version", "v4", "--journey", "nope"]).await;
    assert_eq!(code, 2, "{stderr}");
    d.stop().await;

    // Nothing listens on a port just released: unreachable.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, stderr) = mark_deploy(&["--url", &format!("http://127.0.0.1:{port}"), "--version", "v1"]).await;
    assert_eq!(code, 3, "{stderr}");
    shop.stop().await.unwrap();
}

#[test]
fn the_demo_simulates_a_bad_deploy_and_names_the_slower_step() {
    let (said, verdict) = demo_until(&["--every", "1s", "--deploy-fault", "15s"], "deploy demo-v2", |l| {
        l.contains("REGRESSION") || l.contains("no regression")
    });
    assert!(said.iter().any(|l| l.contains("marked")), "{said:?}");
    assert!(verdict.contains("REGRESSION (JourneyDeployRegression)"), "{verdict}");
    assert!(
        verdict.contains("checkout.view-price") || verdict.contains("price-view.price-api"),
        "the step behind the slower route is named: {verdict}"
    );
    assert!(verdict.contains("since deploy demo-v2 at"), "{verdict}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_deploy_authenticates_over_https_with_a_password_from_a_file_or_the_environment() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let dir = tempdir("deploy-tls");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(dir.join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), cert.key_pair.serialize_pem()).unwrap();
    // Cost 4 keeps the test fast; real files use 10 or more.
    let hash = bcrypt::hash("s3cret pass", 4).unwrap();
    let web = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  ci: {hash}\n"
    );
    std::fs::write(dir.join("web.yml"), web).unwrap();
    std::fs::write(dir.join("password"), "s3cret pass\n").unwrap();
    std::fs::write(dir.join("wrong"), "guess\n").unwrap();
    let journeys = dir.join("journeys");
    std::fs::create_dir_all(&journeys).unwrap();
    std::fs::write(journeys.join("price.yml"), JOURNEY).unwrap();
    let mut opts = options(&journeys, &shop.url());
    opts.web_config = Some(dir.join("web.yml"));
    opts.access = WriteAccess { lifecycle: false, admin: true };
    let d = InProcess::start(opts).await;
    assert!(d.base.starts_with("https://"), "{}", d.base);
    let (ca, password, wrong) = (dir.join("server.crt"), dir.join("password"), dir.join("wrong"));
    let (ca, password, wrong) = (ca.to_str().unwrap(), password.to_str().unwrap(), wrong.to_str().unwrap());

    let (code, stderr) = mark_deploy(&["--url", &d.base, "--version", "v1", "--ca", ca]).await;
    assert_eq!(code, 2, "no credentials: refused ({stderr})");
    assert!(stderr.contains("401"), "{stderr}");
    let (code, stderr) =
        mark_deploy(&["--url", &d.base, "--version", "v1", "--ca", ca, "--user", "ci", "--password-file", wrong]).await;
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) =
        mark_deploy(&["--url", &d.base, "--version", "v1", "--ca", ca, "--user", "ci", "--password-file", password])
            .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("s3cret"), "the password is never printed: {stderr}");
    let (code, stderr) =
        mark_deploy_with(&["--url", &d.base, "--version", "v2", "--ca", ca, "--user", "ci"], Some("s3cret pass")).await;
    assert_eq!(code, 0, "the password from JOURNEYD_PASSWORD ({stderr})");
    let (code, stderr) =
        mark_deploy(&["--url", &d.base, "--version", "v1", "--user", "ci", "--password-file", password]).await;
    assert_eq!(code, 3, "an unknown CA: the monitor cannot be reached safely ({stderr})");
    d.stop().await;
    shop.stop().await.unwrap();
}
