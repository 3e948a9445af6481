//! The binary as users and scripts meet it: help, exit codes, printed URLs, /metrics, signals.

#[path = "common/tempdir.rs"]
mod tempdir;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempdir::tempdir;

use journeyd::shop::{self, ShopOptions};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_journeyd"));
    c.env_remove("JOURNEYD_LOG").env_remove("RUST_LOG");
    c
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn help_lists_every_subcommand_and_version_prints() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "check", "demo", "shop", "import"] {
        assert!(text.contains(cmd), "help lacks {cmd}:\n{text}");
    }
    let out = bin().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    let out = bin().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["run", "--listen", "not-an-address"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_passes_on_the_bundled_journeys_and_fails_with_locations_on_a_broken_file() {
    let out = bin().args(["check"]).arg(repo().join("journeys")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 5 journeys (14 steps)"));

    let dir = tempdir("check-broken");
    std::fs::write(
        dir.join("bad.yml"),
        "name: bad\ntarget: http://127.0.0.1:1\nsteps:\n  - name: one\n    get: /\n    expect: [ status => 200 ]\n",
    )
    .unwrap();
    let out = bin().arg("check").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml:6:"), "no file:line:col in:\n{err}");
}

/// Reads stdout lines until one starting with each prefix has been seen, in order; returns the rest of each.
fn wait_for_lines<const N: usize>(child: &mut Child, prefixes: [&str; N]) -> [String; N] {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut found = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix(prefixes[found.len()]) {
            found.push(rest.trim().to_string());
            if found.len() == N {
                // Keep draining stdout so the child never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return found.try_into().unwrap();
            }
        }
    }
    panic!("the child exited without printing {:?}", &prefixes[found.len()..]);
}

fn get(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

fn sigterm(child: &Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
}

fn write_fast_journeys(dir: &Path) {
    std::fs::write(
        dir.join("fast.yml"),
        "name: fast\ntarget: \"{{ env.SHOP_URL }}\"\nevery: 1s\ntimeout: 1s\nsteps:\n  - name: price\n    get: /api/products/SKU-1001\n    expect: [ status == 200 ]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.yml"),
        "name: broken\ntarget: \"{{ env.SHOP_URL }}\"\nevery: 1s\ntimeout: 1s\nsteps:\n  - name: missing\n    get: /api/products/SKU-0000\n    expect: [ status == 200 ]\n",
    )
    .unwrap();
}

#[test]
fn run_prints_its_metrics_url_exports_journey_metrics_and_stops_on_sigterm() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let shop = rt.block_on(shop::spawn(ShopOptions::default())).unwrap();
    let dir = tempdir("run");
    write_fast_journeys(&dir);
    let mut child = bin()
        .args(["run", "--listen", "127.0.0.1:0", "--grace", "2s"])
        .arg(&dir)
        .env("SHOP_URL", shop.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let [url, status] = wait_for_lines(&mut child, ["metrics:", "status:"]);
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"), "{url}");
    assert_eq!(status, url.replace("/metrics", "/"), "the status page is on the same listener");
    let page = get(&status);
    assert!(page.contains("<title>journeyd"), "the status page answers there:\n{page}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut body = String::new();
    while Instant::now() < deadline {
        body = get(&url);
        if body.contains("journey_success{journey=\"fast\"} 1")
            && body.contains("journey_step_failures_total{journey=\"broken\",reason=\"status\",step=\"missing\"}")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(body.contains("journey_success{journey=\"fast\"} 1"), "{body}");
    assert!(body.contains("journey_success{journey=\"broken\"} 0"), "{body}");
    assert!(
        body.contains("journey_step_duration_seconds_bucket{journey=\"fast\",step=\"price\",le=\"0.005\"}"),
        "{body}"
    );
    assert!(
        body.contains("journey_step_failures_total{journey=\"broken\",reason=\"status\",step=\"missing\"}"),
        "{body}"
    );
    assert!(body.contains("journeyd_build_info{"), "{body}");
    assert!(!body.contains("SKU-0000"), "label values must not come from URLs");
    let healthy = get(&url.replace("/metrics", "/-/healthy"));
    assert!(healthy.contains("healthy"));

    sigterm(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn run_refuses_to_start_on_a_bad_config_with_exit_2() {
    let dir = tempdir("run-bad");
    std::fs::write(dir.join("x.yml"), "name: x\nsteps: []\n").unwrap();
    let out = bin().args(["run", "--listen", "127.0.0.1:0"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("x.yml:"));
}

#[test]
fn demo_runs_the_bundled_journeys_and_shows_them_up() {
    let out = bin()
        .args(["demo", "--listen", "127.0.0.1:0", "--every", "1s", "--duration", "6s"])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("metrics: http://127.0.0.1:"), "{text}");
    assert!(text.contains("shop:"), "{text}");
    for j in ["checkout", "price-view", "account", "login"] {
        let line = text.lines().rev().find(|l| l.starts_with(j)).unwrap_or_else(|| panic!("no row for {j}:\n{text}"));
        assert!(line.contains("up"), "{j} is not up:\n{text}");
    }
}

#[test]
fn demo_prints_the_status_page_url_next_to_the_metrics_url() {
    let mut child = bin()
        .args(["demo", "--listen", "127.0.0.1:0", "--every", "1s", "--duration", "60s"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let [metrics, status] = wait_for_lines(&mut child, ["metrics: ", "status:"]);
    assert_eq!(status, metrics.replace("/metrics", "/"), "the status page is on the monitor's listener");
    let page = get(&status);
    assert!(page.contains("<title>journeyd"), "the status page answers there:\n{page}");
    // SIGTERM, so the demo ends as a person's Ctrl-C does and removes its copy of the bundled journeys.
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    assert!(child.wait().unwrap().success(), "the demo exits 0 on SIGTERM");
    let copy = std::env::temp_dir().join(format!("journeyd-demo-{}", child.id()));
    assert!(!copy.exists(), "the demo left {} behind", copy.display());
}

#[test]
fn threads_one_runs_on_a_single_thread_and_zero_is_a_usage_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let shop = rt.block_on(shop::spawn(ShopOptions::default())).unwrap();
    let dir = tempdir("threads");
    write_fast_journeys(&dir);
    let out = bin()
        .args(["--threads", "1", "verify", "--journey", "fast", "--iterations", "20"])
        .arg(&dir)
        .env("SHOP_URL", shop.url())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin().args(["--threads", "0", "check"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}
