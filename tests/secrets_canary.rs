//! Secrets canary: distinct canary values are planted in an env secret, a secret file, a secret capture and
//! response bodies; journeys that pass and fail run in the real binary with trace logging (text and JSON),
//! and the canaries must appear nowhere: not in logs at any level, `/metrics`, `check` output, or failure
//! evidence (in-process outcomes, every field).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use common::{echo_app, serve, suite_from};

const CANARY_ENV: &str = "CANARY-env-7f3a9c1e-do-not-leak";
const CANARY_FILE: &str = "CANARY-file-41b2d8aa-do-not-leak";
const CANARY_TOKEN: &str = "CANARY-token-9e0c77f3-do-not-leak";
const CANARIES: [&str; 3] = [CANARY_ENV, CANARY_FILE, CANARY_TOKEN];

/// The echo app, plus a login that hands out the token canary and a page that leaks the env canary.
fn app() -> Router {
    Router::new()
        .route("/login", post(|| async { axum::Json(serde_json::json!({ "token": CANARY_TOKEN, "ok": true })) }))
        .route(
            "/leak",
            get(|| async {
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("stack trace: password={CANARY_ENV} failed"))
            }),
        )
        .merge(echo_app())
}

/// Journeys that carry the canaries every way they can travel; some pass, some fail.
fn write_journeys(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("secret.txt"), format!("{CANARY_FILE}\n")).unwrap();
    let files = [
        (
            "env-secret.yml",
            r#"name: env-secret
target: "{{ env.T }}"
every: 1s
secrets:
  pw: { env: CANARY_ENV }
steps:
  - name: send
    post: /echo/login?pw={{ secrets.pw }}
    headers: { X-Pw: "{{ secrets.pw }}" }
    json: { password: "{{ secrets.pw }}" }
    expect: [ json.body == "something else" ]
"#,
        ),
        (
            "file-secret.yml",
            r#"name: file-secret
target: "{{ env.T }}"
every: 1s
secrets:
  key: { file: secret.txt }
steps:
  - name: authorised
    get: /echo/me
    headers: { Authorization: "Bearer {{ secrets.key }}" }
    expect: [ json.method == "GET" ]
  - name: fails
    get: /echo/again?k={{ secrets.key }}
    expect: [ 'json.headers.x-none == "{{ secrets.key }}"' ]
"#,
        ),
        (
            "captured.yml",
            r#"name: captured
target: "{{ env.T }}"
every: 1s
steps:
  - name: login
    post: /login
    capture:
      token: { json: token, secret: true }
    expect: [ json.ok == true ]
  - name: use
    get: /echo/use?t={{ token }}
    headers: { X-Token: "{{ token }}" }
    expect: [ json.headers.x-token == "not-it" ]
"#,
        ),
        (
            "leaky-body.yml",
            r#"name: leaky-body
target: "{{ env.T }}"
every: 1s
secrets:
  pw: { env: CANARY_ENV }
steps:
  - name: leak
    get: /leak
    expect: [ status == 200 ]
"#,
        ),
        (
            "passes.yml",
            r#"name: passes
target: "{{ env.T }}"
every: 1s
secrets:
  pw: { env: CANARY_ENV }
steps:
  - name: ok
    post: /echo/fine
    json: { pw: "{{ secrets.pw }}" }
    expect: [ status == 200 ]
"#,
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("journeyd-canary-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bin(target: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_journeyd"));
    c.env_remove("JOURNEYD_LOG").env_remove("RUST_LOG").env("T", target).env("CANARY_ENV", CANARY_ENV);
    c
}

fn assert_clean(what: &str, text: &str) {
    for c in CANARIES {
        assert!(!text.contains(c), "{what} leaks canary {c}:\n{}", context(text, c));
        let encoded = c.replace('-', "%2D");
        assert!(!text.contains(&encoded), "{what} leaks an encoded canary");
    }
}

fn context(text: &str, needle: &str) -> String {
    let i = text.find(needle).unwrap_or(0);
    let start = text[..i].char_indices().rev().nth(300).map_or(0, |(j, _)| j);
    text[start..].chars().take(700).collect()
}

fn metrics_text(addr: &str) -> String {
    http_get(addr, "/metrics")
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    use std::io::Write;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Sum of journey_runs_total samples for a journey.
fn runs(metrics: &str, journey: &str) -> u64 {
    let prefix = format!("journey_runs_total{{journey=\"{journey}\"");
    metrics.lines().filter(|l| l.starts_with(&prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
}

/// Runs the daemon until every journey has run 4 times and an alert was delivered to the receivers;
/// returns (stdout+stderr, last /metrics, /api/v1/alerts).
fn run_daemon(dir: &Path, target: &str, format: &str, pushed: &Mutex<String>) -> (String, String, String) {
    let mut child: Child = bin(target)
        .args(["--log-level", "trace", "--log-format", format, "run", "--listen", "127.0.0.1:0", "--grace", "1s"])
        .arg("--settings")
        .arg(dir.join("settings").join("settings.yml"))
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first.trim().trim_start_matches("metrics: http://").trim_end_matches("/metrics").to_string();
    assert!(addr.starts_with("127.0.0.1:"), "unexpected first line {first:?}");
    let stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        s
    });
    let names = ["env-secret", "file-secret", "captured", "leaky-body", "passes"];
    let mut metrics = String::new();
    // The daemon is a separate process: its /metrics is the readiness signal (bounded: 60 s).
    for _ in 0..600 {
        metrics = metrics_text(&addr);
        if names.iter().all(|n| runs(&metrics, n) >= 4) && pushed.lock().unwrap().contains("JourneyDown") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(names.iter().all(|n| runs(&metrics, n) >= 4), "journeys did not run:\n{metrics}");
    assert!(pushed.lock().unwrap().contains("JourneyDown"), "no alert was delivered");
    let alerts = http_get(&addr, "/api/v1/alerts");
    assert!(metrics.contains("journey_runs_total{journey=\"passes\",outcome=\"success\"}"), "{metrics}");
    assert!(metrics.contains("journey_runs_total{journey=\"captured\",outcome=\"failure\"}"), "{metrics}");
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "daemon exit: {status}");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let logs = format!("{first}{rest}{}", err_reader.join().unwrap());
    (logs, metrics, alerts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_appear_in_no_log_metric_check_output_or_evidence() {
    let target = serve(app()).await;
    let dir = tempdir("run");
    write_journeys(&dir);

    // One in-process app stands in for the Pushgateway, Alertmanager, a webhook and Slack: it keeps every
    // body it receives.
    let pushed = Arc::new(Mutex::new(String::new()));
    let keep = Arc::clone(&pushed);
    let gateway = serve(Router::new().fallback(move |body: String| {
        let keep = Arc::clone(&keep);
        async move {
            keep.lock().unwrap().push_str(&body);
            "ok"
        }
    }))
    .await;
    // The settings file lives in a subdirectory: `run DIR` reads every *.yml in DIR as a journey.
    std::fs::create_dir_all(dir.join("settings")).unwrap();
    std::fs::write(
        dir.join("settings").join("settings.yml"),
        format!(
            "receivers:\n  alertmanager:\n    - {{ url: \"{gateway}/am\" }}\n  webhook:\n    - {{ name: ops, url: \"{gateway}/hook\" }}\n  \
             slack:\n    - {{ name: chat, url: \"{gateway}/slack\" }}\n"
        ),
    )
    .unwrap();

    // Logs at every level, text and JSON, and /metrics, from the real daemon.
    for format in ["text", "json"] {
        let d = dir.clone();
        let t = target.clone();
        let p = Arc::clone(&pushed);
        let (logs, metrics, alerts) =
            tokio::task::spawn_blocking(move || run_daemon(&d, &t, format, &p)).await.unwrap();
        assert!(logs.contains("step failed"), "failures should be logged ({format}):\n{logs}");
        assert!(logs.contains("[REDACTED]"), "redaction marks where secrets were ({format})");
        assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "trace/debug logging was on ({format})");
        assert_clean(&format!("{format} logs"), &logs);
        assert_clean("/metrics", &metrics);
        assert_clean("/api/v1/alerts", &alerts);
    }
    let delivered = pushed.lock().unwrap().clone();
    assert!(delivered.contains("labels"), "alert payloads were delivered: {delivered:?}");
    assert!(delivered.contains("[REDACTED]"), "alert evidence shows where secrets were: {delivered}");
    assert_clean("alert payloads (Alertmanager, webhook, Slack)", &delivered);
    pushed.lock().unwrap().clear();

    // `check` output, including a broken file whose offending line holds a secret's value literally.
    let broken = tempdir("check");
    write_journeys(&broken);
    std::fs::write(
        broken.join("broken.yml"),
        format!(
            "name: broken\ntarget: \"{{{{ env.T }}}}\"\nsecrets:\n  pw: {{ env: CANARY_ENV }}\nsteps:\n  - name: s\n    get: /\n    \
             headers: {{ X-Literal: \"{CANARY_ENV}\" }}\n    expcet: [ 'body contains \"{CANARY_ENV}\"' ]\n"
        ),
    )
    .unwrap();
    for args in [vec!["check"], vec!["--log-level", "trace", "check"]] {
        let out = bin(&target).args(&args).arg(&broken).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("broken.yml:9:"), "{text}");
        assert_clean("check output", &text);
    }

    // `verify` and everything it writes: terminal summary, JSON report, baseline, JUnit, Markdown, and the
    // body it pushes to a Pushgateway.
    let out_dir = tempdir("verify-out");
    let files = ["report.json", "baseline.json", "junit.xml", "summary.md"];
    let (d, t, o, g) = (dir.clone(), target.clone(), out_dir.clone(), gateway.clone());
    let out = tokio::task::spawn_blocking(move || {
        bin(&t)
            .args(["--log-level", "trace", "verify", "--iterations", "2", "--no-progress"])
            .arg("--report")
            .arg(o.join("report.json"))
            .arg("--save-baseline")
            .arg(o.join("baseline.json"))
            .arg("--junit")
            .arg(o.join("junit.xml"))
            .arg("--markdown")
            .arg(o.join("summary.md"))
            .args(["--pushgateway", &g, "--deploy", "canary-test"])
            .arg(&d)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "journeys fail, so verify fails: {}", String::from_utf8_lossy(&out.stderr));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_clean("verify output", &text);
    for f in files {
        let body = std::fs::read_to_string(out_dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(!body.is_empty(), "{f} is empty");
        assert_clean(f, &body);
    }
    let report = std::fs::read_to_string(out_dir.join("report.json")).unwrap();
    assert!(report.contains("[REDACTED]"), "the report's evidence shows where secrets were");
    let pushed = pushed.lock().unwrap().clone();
    assert!(pushed.contains("journey_"), "nothing was pushed: {pushed:?}");
    assert_clean("pushgateway body", &pushed);

    // Every field of the failure evidence of every journey, run in-process.
    let mut env: Vec<(&str, &str)> = vec![("T", &target), ("CANARY_ENV", CANARY_ENV)];
    env.push(("UNUSED", "x"));
    for file in ["env-secret.yml", "file-secret.yml", "captured.yml", "leaky-body.yml", "passes.yml"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let text = text.replace("file: secret.txt", &format!("file: {}", dir.join("secret.txt").display()));
        let suite = suite_from(&text, &env);
        let o = common::run_once(&suite.journeys[0]).await;
        let evidence = format!("{o:?} {}", o.failure().map(ToString::to_string).unwrap_or_default());
        assert_clean(&format!("evidence of {file}"), &evidence);
        if file != "passes.yml" {
            assert!(o.failure().is_some(), "{file} is meant to fail");
        }
    }
}
