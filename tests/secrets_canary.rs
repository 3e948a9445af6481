//! Secrets canary: distinct canary values are planted in an env secret, a secret file, a multi-line (PEM-like)
//! secret file, a secret capture, a `query:` value with a space and a `~`, a URL's userinfo password, a
//! token that a response body puts across the excerpt and `actual` cut-off points, an `oauth:` access token
//! (echoed back by the API), and response bodies;
//! journeys that pass and fail run in the real binary with trace logging (text and JSON; the JSON run sends
//! plain http through reqwest, which turns userinfo into `Authorization: Basic`), and no canary may appear
//! in any encoding — plain, percent (RFC 3986 and form, either hex case), JSON, base64 (both alphabets,
//! padded or not, alone and as `user:canary`), or its first six characters — in logs at any level,
//! `/metrics`, `/api/v1/*`, the status page, alert payloads, `check` output, `verify` output and reports,
//! the Pushgateway body, exported OTLP spans (daemon and `verify`; decoded and raw), or failure evidence
//! (in-process outcomes, every field).

mod common;

#[path = "common/tempdir.rs"]
mod tempdir;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempdir::tempdir;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::{echo_app, serve, suite_from};

// Each canary starts with six characters found nowhere else, so a cut that leaves its start shows.
const CANARY_ENV: &str = "cnyENV-7f3a9c1e-do-not-leak";
const CANARY_FILE: &str = "cnyFIL-41b2d8aa-do-not-leak";
const CANARY_TOKEN: &str = "cnyTOK-9e0c77f3-do-not-leak";
/// Sent as a `query:` value: form encoding writes `+` and `%7E`.
const CANARY_QUERY: &str = "cnyQRY 4d2e~8b0a-do not leak";
/// A URL userinfo password that is no declared secret; `~` and `!` stay as they are in a URL.
const CANARY_USERINFO: &str = "cnyUIP~5c6d!do-not-leak";
const USER: &str = "canary-user";
/// The body lines of a multi-line file secret.
const CANARY_PEM: [&str; 2] = ["cnyPEMa1b2C3d4E5f6G7h8I9j0K1l2", "cnyPEMm3n4O5p6Q7r8S9t0U1v2W3x4"];
/// 13 characters, echoed across both cut-off points: the 200-byte `actual` and the 300-byte excerpt.
const CANARY_EDGE: &str = "cnyEDG9x2Qk7Z";
/// Sent as `Basic {{ base64(vars.user ~ ':' ~ secrets.pw) }}`: a token no secret alone is the base64 of.
const CANARY_PAIR: &str = "cnyPAR-3e8d1f0b-do-not-leak";
/// The access token an `oauth:` token endpoint hands out: no file or variable holds it.
const CANARY_OAUTH: &str = "cnyOAU-6a1f0d2c-do-not-leak";
/// The credential header of the trace export (`traces.headers` in the settings file): sent to the collector
/// only, never shown anywhere.
const CANARY_OTLP: &str = "cnyOTL-2b7e5a90-do-not-leak";
const CANARIES: [&str; 11] = [
    CANARY_ENV,
    CANARY_FILE,
    CANARY_TOKEN,
    CANARY_QUERY,
    CANARY_USERINFO,
    CANARY_PEM[0],
    CANARY_PEM[1],
    CANARY_EDGE,
    CANARY_PAIR,
    CANARY_OAUTH,
    CANARY_OTLP,
];

fn pem() -> String {
    format!("-----BEGIN CANARY TEST KEY-----\n{}\n{}\n-----END CANARY TEST KEY-----\n", CANARY_PEM[0], CANARY_PEM[1])
}

/// A body whose `actual` (quoted: one byte more) and excerpt are cut inside the edge canary, six characters in.
fn edge_body() -> String {
    let first = 200 - 1 - 6;
    let second = 300 - 6;
    format!("{}{CANARY_EDGE}{}{CANARY_EDGE}{}", "a".repeat(first), "b".repeat(second - first - 13), "c".repeat(40))
}

/// Authorization headers the `/basic` route received.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The echo app, plus a login that hands out the token canary, a page that leaks the env canary, a mirror
/// that fails with the request body, the edge page, and a `/basic` that echoes (and keeps) Authorization.
fn app() -> Router {
    Router::new()
        .route("/login", post(|| async { axum::Json(serde_json::json!({ "token": CANARY_TOKEN, "ok": true })) }))
        .route(
            "/leak",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, format!("stack trace: password={CANARY_ENV} failed")) }),
        )
        .route("/mirror", post(|body: String| async move { (StatusCode::INTERNAL_SERVER_ERROR, body) }))
        .route("/edge", get(|| async { edge_body() }))
        .route(
            "/oauth/token",
            post(|| async { axum::Json(serde_json::json!({ "access_token": CANARY_OAUTH, "expires_in": 3600 })) }),
        )
        .route(
            "/basic",
            get(|headers: HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                SEEN.lock().unwrap().push(auth.clone());
                axum::Json(serde_json::json!({ "authorization": auth }))
            }),
        )
        .merge(echo_app())
}

/// Journeys that carry the canaries every way they can travel; some pass, some fail.
fn write_journeys(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("secret.txt"), format!("{CANARY_FILE}\n")).unwrap();
    std::fs::write(dir.join("key.pem"), pem()).unwrap();
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
            "query-secret.yml",
            r#"name: query-secret
target: "{{ env.T }}"
every: 1s
secrets:
  q: { env: CANARY_QUERY }
steps:
  - name: search
    get: /echo/search
    query: { q: "{{ secrets.q }}", page: "2" }
    expect: [ json.method == "POST" ]
"#,
        ),
        (
            "userinfo.yml",
            r#"name: userinfo
every: 1s
steps:
  - name: basic
    get: "{{ env.UI }}/basic"
    expect: [ json.authorization == "none" ]
"#,
        ),
        (
            "pem-secret.yml",
            r#"name: pem-secret
target: "{{ env.T }}"
every: 1s
secrets:
  key: { file: key.pem }
steps:
  - name: mirror
    post: /mirror
    body: "{{ secrets.key }}"
    expect: [ status == 200 ]
"#,
        ),
        (
            "edge.yml",
            r#"name: edge
target: "{{ env.T }}"
every: 1s
secrets:
  edge: { env: CANARY_EDGE }
steps:
  - name: edge
    get: /edge
    expect: [ 'body contains "{{ secrets.edge }}-nope"' ]
"#,
        ),
        (
            "basic-pair.yml",
            r#"name: basic-pair
target: "{{ env.T }}"
every: 1s
vars:
  user: canary-user
secrets:
  pw: { env: CANARY_PAIR }
steps:
  - name: basic
    get: /basic
    headers: { Authorization: "Basic {{ base64(vars.user ~ ':' ~ secrets.pw) }}" }
    expect: [ json.authorization == "none" ]
"#,
        ),
        (
            "oauth.yml",
            r#"name: oauth
target: "{{ env.T }}"
every: 1s
secrets:
  cs: { env: CANARY_ENV }
oauth:
  api: { token_url: /oauth/token, client_id: canary-client, client_secret: "{{ secrets.cs }}" }
steps:
  - name: api
    get: /basic
    headers: { Authorization: "Bearer {{ oauth.api }}" }
    expect: [ json.authorization == "none" ]
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

const NAMES: [&str; 11] = [
    "env-secret",
    "file-secret",
    "captured",
    "leaky-body",
    "query-secret",
    "userinfo",
    "pem-secret",
    "edge",
    "basic-pair",
    "oauth",
    "passes",
];

/// The userinfo URL: the target with `USER:CANARY_USERINFO@` in it.
fn userinfo_url(target: &str) -> String {
    target.replacen("http://", &format!("http://{USER}:{CANARY_USERINFO}@"), 1)
}

fn env_of(target: &str) -> Vec<(&'static str, String)> {
    vec![
        ("T", target.to_string()),
        ("UI", userinfo_url(target)),
        ("CANARY_ENV", CANARY_ENV.to_string()),
        ("CANARY_QUERY", CANARY_QUERY.to_string()),
        ("CANARY_EDGE", CANARY_EDGE.to_string()),
        ("CANARY_PAIR", CANARY_PAIR.to_string()),
    ]
}

fn bin(target: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_journeyd"));
    c.env_remove("JOURNEYD_LOG").env_remove("RUST_LOG").env_remove("JOURNEYD_PLAIN_HTTP").envs(env_of(target));
    c
}

/// Every form a canary may take in output, written here independently of the redactor: the text and what
/// it is.
fn encodings(c: &str) -> Vec<(String, &'static str)> {
    let mut rfc3986 = String::new();
    for b in c.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            rfc3986.push(b as char);
        } else {
            rfc3986.push_str(&format!("%{b:02X}"));
        }
    }
    let form: String = url::form_urlencoded::byte_serialize(c.as_bytes()).collect();
    let lower = |s: &str| {
        let mut out = s.to_string();
        for (i, _) in s.match_indices('%') {
            out.replace_range(i + 1..i + 3, &s[i + 1..i + 3].to_ascii_lowercase());
        }
        out
    };
    let json = serde_json::to_string(c).unwrap();
    let mut forms = vec![
        (c.to_string(), "plain"),
        (c[..6].to_string(), "first six characters"),
        (lower(&rfc3986), "percent-encoded, lowercase hex"),
        (rfc3986, "percent-encoded"),
        (lower(&form), "form-encoded, lowercase hex"),
        (form, "form-encoded"),
        (json.trim_matches('"').to_string(), "JSON-escaped"),
    ];
    let pair = format!("{USER}:{c}");
    for (engine, name) in [(&STANDARD, "base64"), (&STANDARD_NO_PAD, "base64 unpadded")] {
        forms.push((engine.encode(c), name));
        forms.push((engine.encode(&pair), "base64 of user:canary"));
    }
    for (engine, name) in [(&URL_SAFE, "url-safe base64"), (&URL_SAFE_NO_PAD, "url-safe base64 unpadded")] {
        forms.push((engine.encode(c), name));
        forms.push((engine.encode(&pair), "url-safe base64 of user:canary"));
    }
    forms
}

fn assert_clean(what: &str, text: &str) {
    for c in CANARIES {
        for (form, how) in encodings(c) {
            assert!(!text.contains(&form), "{what} leaks canary {c} ({how}: {form}):\n{}", context(text, &form));
        }
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

/// What a daemon run showed: stdout+stderr, and the bodies of its HTTP endpoints by path.
struct DaemonRun {
    logs: String,
    endpoints: Vec<(&'static str, String)>,
}

/// Runs the daemon until every journey has run 4 times and an alert was delivered to the receivers; `reqwest`
/// sends plain http through reqwest (`JOURNEYD_PLAIN_HTTP=reqwest`) instead of journeyd's own client.
fn run_daemon(dir: &Path, target: &str, format: &str, reqwest: bool, pushed: &Mutex<String>) -> DaemonRun {
    let mut command = bin(target);
    if reqwest {
        command.env("JOURNEYD_PLAIN_HTTP", "reqwest");
    }
    let mut child: Child = command
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
    let mut metrics = String::new();
    // The daemon is a separate process: its /metrics is the readiness signal (bounded: 60 s).
    for _ in 0..600 {
        metrics = metrics_text(&addr);
        if NAMES.iter().all(|n| runs(&metrics, n) >= 4) && pushed.lock().unwrap().contains("JourneyDown") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(NAMES.iter().all(|n| runs(&metrics, n) >= 4), "journeys did not run:\n{metrics}");
    assert!(pushed.lock().unwrap().contains("JourneyDown"), "no alert was delivered");
    let mut endpoints = vec![("/metrics", metrics.clone())];
    for path in ["/api/v1/alerts", "/api/v1/journeys", "/api/v1/failures", "/"] {
        endpoints.push((path, http_get(&addr, path)));
    }
    assert!(metrics.contains("journey_runs_total{journey=\"passes\",outcome=\"success\"}"), "{metrics}");
    assert!(metrics.contains("journey_runs_total{journey=\"captured\",outcome=\"failure\"}"), "{metrics}");
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "daemon exit: {status}");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let logs = format!("{first}{rest}{}", err_reader.join().unwrap());
    DaemonRun { logs, endpoints }
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
    // An OTLP/HTTP collector keeps every exported span, decoded with the official definitions, and the
    // raw bytes: spans are output too.
    let spans = Arc::new(Mutex::new(String::new()));
    let keep = Arc::clone(&spans);
    let collector = serve(Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let keep = Arc::clone(&keep);
            async move {
                use prost::Message as _;
                let request =
                    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body.clone())
                        .unwrap();
                let mut kept = keep.lock().unwrap();
                kept.push_str(&format!("{request:?}"));
                kept.push_str(&String::from_utf8_lossy(&body));
                "ok"
            }
        }),
    ))
    .await;
    // The settings file lives in a subdirectory: `run DIR` reads every *.yml in DIR as a journey.
    std::fs::create_dir_all(dir.join("settings")).unwrap();
    std::fs::write(
        dir.join("settings").join("settings.yml"),
        format!(
            "receivers:\n  alertmanager:\n    - {{ url: \"{gateway}/am\" }}\n  webhook:\n    - {{ name: ops, url: \"{gateway}/hook\" }}\n  \
             slack:\n    - {{ name: chat, url: \"{gateway}/slack\" }}\n\
             traces:\n  endpoint: \"{collector}/v1/traces\"\n  sample_passing: 1\n  headers: {{ x-api-key: \"{CANARY_OTLP}\" }}\n"
        ),
    )
    .unwrap();

    // Logs at every level, text and JSON, /metrics, the API and the status page, from the real daemon.
    let basic = format!("Basic {}", STANDARD.encode(format!("{USER}:{CANARY_USERINFO}")));
    for (format, reqwest) in [("text", false), ("json", true)] {
        let d = dir.clone();
        let t = target.clone();
        let p = Arc::clone(&pushed);
        let run = tokio::task::spawn_blocking(move || run_daemon(&d, &t, format, reqwest, &p)).await.unwrap();
        let logs = &run.logs;
        assert!(logs.contains("step failed"), "failures should be logged ({format}):\n{logs}");
        assert!(logs.contains("[REDACTED]"), "redaction marks where secrets were ({format})");
        assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "trace/debug logging was on ({format})");
        assert_clean(&format!("{format} logs"), logs);
        for (path, body) in &run.endpoints {
            assert!(body.starts_with("HTTP/1.1 200"), "{path}: {body}");
            assert_clean(path, body);
        }
        let failures = &run.endpoints.iter().find(|(p, _)| *p == "/api/v1/failures").unwrap().1;
        assert!(failures.contains("[REDACTED]"), "/api/v1/failures shows where secrets were: {failures}");
        let bearer = format!("Bearer {CANARY_OAUTH}");
        assert!(SEEN.lock().unwrap().contains(&bearer), "the oauth token was not sent: {SEEN:?}");
        if reqwest {
            // The canary really went out as Basic, so the checks above could have seen it come back.
            assert!(SEEN.lock().unwrap().contains(&basic), "reqwest sent no Basic credentials: {SEEN:?}");
        }
    }
    let delivered = pushed.lock().unwrap().clone();
    assert!(delivered.contains("labels"), "alert payloads were delivered: {delivered:?}");
    assert!(delivered.contains("[REDACTED]"), "alert evidence shows where secrets were: {delivered}");
    assert_clean("alert payloads (Alertmanager, webhook, Slack)", &delivered);
    pushed.lock().unwrap().clear();
    let exported = spans.lock().unwrap().clone();
    assert!(exported.contains("journey.outcome") && exported.contains("url.template"), "spans were exported");
    assert!(exported.contains("[REDACTED]"), "span attributes show where secrets were");
    assert_clean("exported spans (OTLP)", &exported);

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
    let (d, t, o, g, c) = (dir.clone(), target.clone(), out_dir.clone(), gateway.clone(), collector.clone());
    spans.lock().unwrap().clear();
    let out = tokio::task::spawn_blocking(move || {
        bin(&t)
            .env("JOURNEYD_PLAIN_HTTP", "reqwest")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &c)
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
    let exported = spans.lock().unwrap().clone();
    assert!(exported.contains("journey.outcome"), "verify exported spans");
    assert_clean("spans exported by verify", &exported);
    let pushed = pushed.lock().unwrap().clone();
    assert!(pushed.contains("journey_"), "nothing was pushed: {pushed:?}");
    assert_clean("pushgateway body", &pushed);

    // Every field of the failure evidence of every journey, run in-process.
    let owned = env_of(&target);
    let env: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for name in NAMES {
        let text = std::fs::read_to_string(dir.join(format!("{name}.yml"))).unwrap();
        let text = text
            .replace("file: secret.txt", &format!("file: {}", dir.join("secret.txt").display()))
            .replace("file: key.pem", &format!("file: {}", dir.join("key.pem").display()));
        let suite = suite_from(&text, &env);
        let o = common::run_once(&suite.journeys[0]).await;
        let evidence = format!("{o:?} {}", o.failure().map(ToString::to_string).unwrap_or_default());
        assert_clean(&format!("evidence of {name}"), &evidence);
        if name != "passes" {
            assert!(o.failure().is_some(), "{name} is meant to fail");
            assert!(evidence.contains("[REDACTED]"), "evidence of {name} shows where the secret was: {evidence}");
        }
        if name == "basic-pair" {
            // The whole token is masked, not only the password's run inside it: the user's base64 (`Y2Fu…`
            // for `can…`) would otherwise still show before the mask.
            let actual = o.failure().and_then(|f| f.actual.clone());
            assert_eq!(actual.as_deref(), Some(r#""Basic [REDACTED]""#), "{evidence}");
        }
    }
}
