//! `journeyd verify`, the real binary, against the in-process demo shop on port 0: exit codes, verdicts,
//! baselines, reports (JSON, JUnit validated against tests/data/junit/junit.xsd, Markdown), fail-fast,
//! shards and the Pushgateway push.

#[path = "common/tempdir.rs"]
mod tempdir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::routing::put;
use axum::Router;
use journeyd::report::Report;
use journeyd::shop::{self, Fault, ShopOptions};

/// What the fake Pushgateway received: (path, content type, body) per request.
type Pushes = Arc<Mutex<Vec<(String, String, String)>>>;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// The bundled journeys but the browser one, copied once: these tests are about verify itself and must
/// read the same with or without a Chromium (tests/browser_journeys.rs runs the browser journey).
fn journeys_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("journeyd-verify-journeys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("journeys")).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n != "browser-checkout.yml") && path.is_file() {
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        dir
    })
    .clone()
}

/// Runs `journeyd verify ARGS` (blocking, off the runtime so the in-process shop keeps serving).
async fn verify(args: Vec<String>) -> Run {
    run_bin([vec!["verify".to_string()], args].concat()).await
}

async fn run_bin(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_journeyd"))
            .args(&args)
            .env_remove("SHOP_URL")
            .env("NO_COLOR", "1")
            .env("JOURNEYD_LOG", "warn")
            .output()
            .expect("run journeyd");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// The usual arguments: bundled journeys, `--target` the shop, its password, no progress line.
fn base(shop_url: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        journeys_dir().display().to_string(),
        "--target".into(),
        shop_url.into(),
        "--env".into(),
        format!("SHOP_PASSWORD={}", shop::DEMO_PASSWORD),
        "--no-progress".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn tmp(name: &str) -> PathBuf {
    tempdir::tempfile(name)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_against_a_healthy_shop_and_writes_every_report() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let (json, junit, md) = (tmp("r.json"), tmp("r.xml"), tmp("r.md"));
    let run = verify(base(
        &shop.url(),
        &[
            "--users",
            "2",
            "--iterations",
            "4",
            "--threshold",
            "p99 < 5s",
            "--threshold",
            "checkout.login: availability >= 99%",
        ]
        .into_iter()
        .chain(["--report", &s(&json), "--junit", &s(&junit), "--markdown", &s(&md)])
        .collect::<Vec<_>>(),
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Verdict: PASSED"), "{run:?}");
    assert!(run.stdout.contains("PASS  checkout.login: availability >= 99%"), "{run:?}");

    let report = Report::read(&json).unwrap();
    assert_eq!(report.schema_version, 1);
    assert!(report.passed);
    assert_eq!(report.journeys.len(), 4, "every bundled journey ran");
    for (name, j) in &report.journeys {
        assert_eq!(j.runs, 4, "{name}: --iterations 4 per journey");
        assert_eq!(j.duration.count(), 4);
        assert!(j.steps.iter().all(|st| st.runs == 4), "{name}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    let cases = check_junit(&xml).unwrap_or_else(|e| panic!("JUnit does not validate: {e}\n{xml}"));
    // Per journey: the journey, one per threshold verdict (p99 + implicit or explicit availability).
    assert!(cases.iter().any(|(n, f)| n.starts_with("journey checkout") && !f), "{cases:?}");
    assert!(cases.iter().any(|(n, _)| n == "checkout.login: availability >= 99%"), "{cases:?}");
    assert!(cases.iter().all(|(_, failed)| !failed));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.starts_with("### journeyd verify: ✅ passed"), "{markdown}");
    assert!(markdown.contains("| **checkout** | 4 | 100.00% |"), "{markdown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_fault_fails_with_a_clear_verdict_and_evidence() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    shop.faults.set("checkout", Fault::status(503)).unwrap();
    let junit = tmp("fail.xml");
    let run = verify(base(&shop.url(), &["--users", "1", "--iterations", "3", "--junit", &s(&junit)])).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("FAIL  checkout: availability >= 100% (default)  — actual 0.00% (3 of 3 failed)"),
        "{run:?}"
    );
    assert!(run.stdout.contains("PASS  login: availability >= 100%"), "{run:?}");
    assert!(run.stdout.contains("checkout: status ×3: step \"checkout\""), "first evidence shown: {run:?}");
    assert!(run.stdout.contains("→ 503]"), "{run:?}");
    assert!(run.stdout.contains("Verdict: FAILED (1 of 4 threshold(s) failed"), "{run:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let cases = check_junit(&xml).unwrap_or_else(|e| panic!("JUnit does not validate: {e}\n{xml}"));
    let failed: Vec<&str> = cases.iter().filter(|(_, f)| *f).map(|(n, _)| n.as_str()).collect();
    assert_eq!(failed.len(), 2, "the checkout journey and its availability threshold: {failed:?}");
    assert!(failed.iter().all(|n| n.contains("checkout")), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_fault_after_a_baseline_is_a_significant_regression_and_noise_is_not() {
    // Both routes answer in about 100ms, as real pages do: a busy test machine's few milliseconds of noise
    // then stay below the minimum effect (+20% and +5ms), as they would in production.
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    shop.faults.set("product", Fault::latency(Duration::from_millis(100))).unwrap();
    shop.faults.set("product-page", Fault::latency(Duration::from_millis(100))).unwrap();
    let (before, clean, slow) = (tmp("before.json"), tmp("clean.json"), tmp("slow.json"));
    let args = |extra: &[&str]| {
        base(&shop.url(), &[&["--journey", "price-view", "--users", "3", "--iterations", "30"], extra].concat())
    };
    let run = verify(args(&["--save-baseline", &s(&before)])).await;
    assert_eq!(run.code, 0, "{run:?}");

    let run = verify(args(&["--baseline", &s(&before), "--report", &s(&clean)])).await;
    assert_eq!(run.code, 0, "two clean runs are not a regression: {run:?}");
    let c = Report::read(&clean).unwrap().comparison.unwrap();
    assert_eq!(c.regressions(), 0, "{c:?}");
    assert_eq!(c.deltas.len(), 3, "the journey and its two steps: {c:?}");

    shop.faults.set("product", Fault::latency(Duration::from_millis(250))).unwrap();
    let run = verify(args(&["--baseline", &s(&before), "--report", &s(&slow)])).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("REGRESSION  price-view.price-api: latency regression: p50"), "{run:?}");
    let report = Report::read(&slow).unwrap();
    let c = report.comparison.unwrap();
    let step = c.deltas.iter().find(|d| d.step.as_deref() == Some("price-api")).unwrap();
    assert!(step.regression && step.latency_p_value.unwrap() < 0.01, "{step:?}");
    let page = c.deltas.iter().find(|d| d.step.as_deref() == Some("product-page")).unwrap();
    assert!(!page.regression, "the untouched step did not regress: {page:?}");
    assert!(report.verdicts.iter().all(|v| v.passed), "only the comparison fails the gate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_config_errors_exit_2() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let run = verify(base(&shop.url(), &["--threshold", "checkout: p99 < 800"])).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("invalid threshold `checkout: p99 < 800`: latency `800` has no unit"), "{run:?}");
    assert!(run.stderr.contains("\n                  ^^^\n"), "caret under the value: {run:?}");

    let run = verify(base(&shop.url(), &["--threshold", "chekout.login: p99 < 1s"])).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no journey named `chekout` is selected"), "{run:?}");

    let run = verify(base(&shop.url(), &["--journey", "nope"])).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no journey named \"nope\"; the files define: account, checkout, login, price-view"),
        "{run:?}"
    );

    let bad = tmp("bad.yml");
    std::fs::write(&bad, "name: bad\ntarget: http://127.0.0.1:9\nevery: 10s\nsteps:\n  - name: a\n    get: /x\n    expect: [ status === 200 ]\n")
        .unwrap();
    let run = verify(vec![s(&bad), "--target".into(), shop.url(), "--no-progress".into()]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("bad.yml:7:"), "located config error: {run:?}");

    // --target makes a variable used only in `target:` unnecessary, also when another error is reported;
    // a variable used outside `target:` is still needed.
    let bad_env = tmp("bad_env.yml");
    std::fs::write(
        &bad_env,
        "name: bad\ntarget: \"{{ env.JD_TEST_UNSET_TARGET }}\"\nevery: 10s\nsteps:\n  - name: a\n    get: /x\n    headers: { x-env: \"{{ env.JD_TEST_UNSET_HEADER }}\" }\n    expect: [ status === 200 ]\n",
    )
    .unwrap();
    let run = verify(vec![s(&bad_env), "--target".into(), shop.url(), "--no-progress".into()]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("bad_env.yml:8:"), "the other error is reported: {run:?}");
    assert!(!run.stderr.contains("JD_TEST_UNSET_TARGET"), "the target's variable is not needed: {run:?}");
    assert!(run.stderr.contains("bad_env.yml:7:"), "a variable used outside target: is: {run:?}");
    assert!(run.stderr.contains("JD_TEST_UNSET_HEADER"), "{run:?}");

    let run = verify(base(&shop.url(), &["--users", "2", "--rate", "5/s"])).await;
    assert_eq!(run.code, 2, "conflicting flags: {run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_exits_3() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let report = tmp("dead.json");
    let run = verify(base(&format!("http://127.0.0.1:{port}"), &["--iterations", "2", "--report", &s(&report)])).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("UNREACHABLE"), "{run:?}");
    let r = Report::read(&report).unwrap();
    assert!(r.unreachable && !r.passed);
    assert!(r.journeys.values().all(|j| j.runs > 0 && j.unreachable_runs == j.runs));

    // A reachable target that fails is 1, not 3.
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    shop.faults.set("*", Fault::status(500)).unwrap();
    let run = verify(base(&shop.url(), &["--iterations", "2"])).await;
    assert_eq!(run.code, 1, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_stops_a_hard_failing_run_early() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    shop.faults.set("login", Fault::status(500)).unwrap();
    let report = tmp("ff.json");
    let run = verify(base(
        &shop.url(),
        &["--journey", "login", "--users", "2", "--iterations", "100000", "--fail-fast", "--report", &s(&report)],
    ))
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("stopped early: --fail-fast: every one of the first"), "{run:?}");
    let r = Report::read(&report).unwrap();
    let j = &r.journeys["login"];
    assert!(j.runs >= 1 && j.runs < 1000 && j.failed == j.runs, "stopped long before 100000 runs: {}", j.runs);
    assert!(r.stopped_early.unwrap().contains("\"login\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_reports_merge_into_the_whole() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let (a, b, merged) = (tmp("a.json"), tmp("b.json"), tmp("merged.json"));
    for (shard, file) in [("0/2", &a), ("1/2", &b)] {
        let run = verify(base(
            &shop.url(),
            &["--journey", "price-view", "--users", "2", "--iterations", "7", "--shard", shard, "--report", &s(file)],
        ))
        .await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    let (ra, rb) = (Report::read(&a).unwrap(), Report::read(&b).unwrap());
    assert_eq!(ra.journeys["price-view"].runs + rb.journeys["price-view"].runs, 7, "shards split the iterations");
    let run = run_bin(vec!["report".into(), "merge".into(), s(&a), s(&b), "-o".into(), s(&merged)]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("(shards 0/2, 1/2)"), "{run:?}");
    let m = Report::read(&merged).unwrap();
    let j = &m.journeys["price-view"];
    assert_eq!(j.runs, 7);
    let mut hist = ra.journeys["price-view"].duration.clone();
    hist.add(&rb.journeys["price-view"].duration);
    assert_eq!(j.duration, hist);
    assert!(m.passed);

    // A journey with one user still runs on every shard: each gets one user and its share of iterations.
    let c = tmp("c.json");
    let run =
        verify(base(&shop.url(), &["--journey", "login", "--iterations", "5", "--shard", "1/2", "--report", &s(&c)]))
            .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("1 virtual user(s) for 2 shards; running 2 (one per shard)"), "{run:?}");
    assert_eq!(Report::read(&c).unwrap().journeys["login"].runs, 2, "shard 1/2 owns 2 of 5 iterations");

    // Merging a shard twice is refused.
    let run = run_bin(vec!["report".into(), "merge".into(), s(&a), s(&a)]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("both cover shard 0/2"), "{run:?}");
    // A threshold given at merge time is judged on the merged numbers.
    let run =
        run_bin(vec!["report".into(), "merge".into(), s(&a), s(&b), "--threshold".into(), "runs >= 8".into()]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("FAIL  price-view: runs >= 8  — actual 7"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_the_verdict_to_a_pushgateway() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let got: Pushes = Arc::default();
    let app = Router::new().route("/{*path}", put(record)).with_state(Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let run = verify(base(
        &shop.url(),
        &["--journey", "price-view", "--iterations", "2", "--pushgateway", &gateway, "--deploy", "v1.2.3"],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one push");
    let (path, content_type, body) = &got[0];
    assert_eq!(path, "/metrics/job/journeyd_verify/deploy/v1.2.3");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let samples: BTreeMap<&str, &str> =
        body.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit_once(' ')).collect();
    assert_eq!(samples.get("journey_verify_passed{journey=\"price-view\"}"), Some(&"1"), "{body}");
    assert_eq!(samples.get("journey_verify_availability_ratio{journey=\"price-view\"}"), Some(&"1"), "{body}");
    let p99: f64 = samples["journey_verify_latency_seconds{journey=\"price-view\",quantile=\"0.99\"}"].parse().unwrap();
    assert!(p99 > 0.0 && p99 < 10.0, "{body}");
}

async fn record(State(got): State<Pushes>, req: Request) -> &'static str {
    let path = req.uri().path().to_string();
    let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body: Bytes = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
    got.lock().unwrap().push((path, ct, String::from_utf8_lossy(&body).into_owned()));
    ""
}

// ---- A minimal XML reader and the JUnit schema checker (tests/data/junit/junit.xsd, rule by rule). ----

#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Element>,
    text: String,
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').ok_or("unterminated entity")? + i;
        out.push_str(match &rest[i + 1..end] {
            "amp" => "&",
            "lt" => "<",
            "gt" => ">",
            "quot" => "\"",
            "apos" => "'",
            other => return Err(format!("unknown entity &{other};")),
        });
        rest = &rest[end + 1..];
    }
    if rest.contains('<') {
        return Err("raw `<` in text".into());
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a document: optional declaration, one root element (no comments, CDATA or DTDs: we never write them).
fn parse_xml(doc: &str) -> Result<Element, String> {
    let mut rest = doc.trim_start();
    if let Some(r) = rest.strip_prefix("<?xml") {
        rest = &r[r.find("?>").ok_or("unterminated declaration")? + 2..];
    }
    let (root, tail) = parse_element(rest.trim_start())?;
    if !tail.trim().is_empty() {
        return Err(format!("content after the root element: {:?}", &tail[..tail.len().min(40)]));
    }
    Ok(root)
}

fn parse_element(s: &str) -> Result<(Element, &str), String> {
    let s = s.strip_prefix('<').ok_or("expected `<`")?;
    let name_end = s.find(|c: char| c.is_whitespace() || c == '>' || c == '/').ok_or("unterminated tag")?;
    let mut el = Element { name: s[..name_end].to_string(), ..Element::default() };
    let mut rest = &s[name_end..];
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("/>") {
            return Ok((el, r));
        }
        if let Some(r) = rest.strip_prefix('>') {
            rest = r;
            break;
        }
        let eq = rest.find('=').ok_or_else(|| format!("<{}>: attribute without value", el.name))?;
        let key = rest[..eq].trim().to_string();
        let r = rest[eq + 1..].trim_start().strip_prefix('"').ok_or("attribute value must be double-quoted")?;
        let close = r.find('"').ok_or("unterminated attribute value")?;
        if el.attrs.insert(key.clone(), unescape(&r[..close])?).is_some() {
            return Err(format!("<{}>: duplicate attribute {key}", el.name));
        }
        rest = &r[close + 1..];
    }
    loop {
        let lt = rest.find('<').ok_or_else(|| format!("<{}> is never closed", el.name))?;
        el.text.push_str(&unescape(&rest[..lt])?);
        rest = &rest[lt..];
        if let Some(r) = rest.strip_prefix("</") {
            let gt = r.find('>').ok_or("unterminated end tag")?;
            if r[..gt].trim() != el.name {
                return Err(format!("<{}> closed by </{}>", el.name, &r[..gt]));
            }
            return Ok((el, &r[gt + 1..]));
        }
        let (child, r) = parse_element(rest)?;
        el.children.push(child);
        rest = r;
    }
}

fn attr<'a>(el: &'a Element, name: &str, required: bool) -> Result<Option<&'a str>, String> {
    match el.attrs.get(name) {
        Some(v) => Ok(Some(v)),
        None if required => Err(format!("<{}> lacks required attribute {name}", el.name)),
        None => Ok(None),
    }
}

fn allowed(el: &Element, names: &[&str]) -> Result<(), String> {
    match el.attrs.keys().find(|k| !names.contains(&k.as_str())) {
        Some(k) => Err(format!("<{}> has undeclared attribute {k}", el.name)),
        None => Ok(()),
    }
}

fn int(el: &Element, name: &str, required: bool) -> Result<Option<u64>, String> {
    attr(el, name, required)?
        .map(|v| v.parse::<u64>().map_err(|_| format!("<{}> {name}={v:?} is not an int", el.name)))
        .transpose()
}

fn decimal(el: &Element, name: &str, required: bool) -> Result<(), String> {
    if let Some(v) = attr(el, name, required)? {
        let ok = !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') && v.matches('.').count() <= 1;
        if !ok {
            return Err(format!("<{}> {name}={v:?} is not a decimal", el.name));
        }
    }
    Ok(())
}

fn non_empty(el: &Element, name: &str) -> Result<(), String> {
    match attr(el, name, true)? {
        Some("") => Err(format!("<{}> {name} must not be empty", el.name)),
        _ => Ok(()),
    }
}

/// Children must appear in this order, each group at most `max` times.
fn sequence(el: &Element, groups: &[(&[&str], usize)]) -> Result<(), String> {
    let mut g = 0;
    let mut seen = 0;
    for c in &el.children {
        while g < groups.len() && !groups[g].0.contains(&c.name.as_str()) {
            g += 1;
            seen = 0;
        }
        if g == groups.len() {
            return Err(format!("<{}> is not allowed (here) in <{}>", c.name, el.name));
        }
        seen += 1;
        if seen > groups[g].1 {
            return Err(format!("too many <{}> in <{}>", c.name, el.name));
        }
    }
    Ok(())
}

fn timestamp_ok(v: &str) -> bool {
    let b = v.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
}

/// Validates a JUnit document against the rules of tests/data/junit/junit.xsd; returns every test case as
/// (name, failed).
fn check_junit(doc: &str) -> Result<Vec<(String, bool)>, String> {
    const MANY: usize = usize::MAX;
    let root = parse_xml(doc)?;
    if root.name != "testsuites" {
        return Err(format!("root is <{}>, not <testsuites>", root.name));
    }
    allowed(&root, &["name", "tests", "failures", "errors", "time"])?;
    let (tests, failures) = (int(&root, "tests", false)?, int(&root, "failures", false)?);
    int(&root, "errors", false)?;
    decimal(&root, "time", false)?;
    sequence(&root, &[(&["testsuite"], MANY)])?;
    let mut cases = Vec::new();
    for suite in &root.children {
        allowed(
            suite,
            &["name", "timestamp", "hostname", "tests", "failures", "errors", "skipped", "time", "package", "id"],
        )?;
        non_empty(suite, "name")?;
        non_empty(suite, "hostname")?;
        let ts = attr(suite, "timestamp", true)?.unwrap_or("");
        if !timestamp_ok(ts) {
            return Err(format!("timestamp {ts:?} is not YYYY-MM-DDTHH:MM:SS"));
        }
        let (st, sf) = (int(suite, "tests", true)?.unwrap_or(0), int(suite, "failures", true)?.unwrap_or(0));
        int(suite, "errors", true)?;
        int(suite, "skipped", false)?;
        int(suite, "id", false)?;
        decimal(suite, "time", true)?;
        sequence(suite, &[(&["properties"], 1), (&["testcase"], MANY), (&["system-out"], 1), (&["system-err"], 1)])?;
        let (mut n, mut nf) = (0, 0);
        for c in &suite.children {
            match c.name.as_str() {
                "properties" => {
                    sequence(c, &[(&["property"], MANY)])?;
                    for p in &c.children {
                        allowed(p, &["name", "value"])?;
                        non_empty(p, "name")?;
                        attr(p, "value", true)?;
                    }
                }
                "testcase" => {
                    allowed(c, &["name", "classname", "time"])?;
                    non_empty(c, "name")?;
                    non_empty(c, "classname")?;
                    decimal(c, "time", true)?;
                    sequence(c, &[(&["skipped", "error", "failure"], 1), (&["system-out"], 1), (&["system-err"], 1)])?;
                    let mut failed = false;
                    for k in &c.children {
                        match k.name.as_str() {
                            "failure" | "error" => {
                                allowed(k, &["message", "type"])?;
                                attr(k, "type", true)?;
                                failed = true;
                            }
                            "skipped" => allowed(k, &["message"])?,
                            _ => {}
                        }
                    }
                    n += 1;
                    nf += u64::from(failed);
                    cases.push((c.attrs["name"].clone(), failed));
                }
                _ => {}
            }
        }
        if (n, nf) != (st, sf) {
            return Err(format!("suite says tests={st} failures={sf}, has {n} and {nf}"));
        }
    }
    let (n, nf) = (cases.len() as u64, cases.iter().filter(|c| c.1).count() as u64);
    if tests.is_some_and(|t| t != n) || failures.is_some_and(|f| f != nf) {
        return Err(format!("totals say tests={tests:?} failures={failures:?}, documents has {n} and {nf}"));
    }
    Ok(cases)
}

#[test]
fn the_junit_checker_rejects_what_the_schema_forbids() {
    let ok = r#"<?xml version="1.0"?><testsuites><testsuite name="s" timestamp="2026-01-01T00:00:00" hostname="h" tests="1" failures="1" errors="0" time="0.1"><testcase name="c" classname="k" time="0"><failure type="t" message="m">x &amp; y</failure></testcase><system-out/><system-err/></testsuite></testsuites>"#;
    assert_eq!(check_junit(ok).unwrap(), vec![("c".to_string(), true)]);
    let bad = [
        ok.replace(" hostname=\"h\"", ""),
        ok.replace("2026-01-01T00:00:00", "2026-01-01T00:00:00Z"),
        ok.replace("tests=\"1\"", "tests=\"2\""),
        ok.replace("<failure type=\"t\"", "<failure"),
        ok.replace("<system-out/><system-err/>", "<system-err/><system-out/>"),
        ok.replace("time=\"0.1\"", "time=\"fast\""),
        ok.replace("x &amp; y", "x & y"),
        ok.replace("</testsuites>", ""),
        ok.replace("classname=\"k\"", "classname=\"k\" flaky=\"yes\""),
    ];
    for doc in &bad {
        assert!(check_junit(doc).is_err(), "should not validate: {doc}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_in_journey_files_are_judged_and_kept_in_the_report() {
    let shop = shop::spawn(ShopOptions::default()).await.unwrap();
    let file = tmp("mini.yml");
    std::fs::write(
        &file,
        "name: mini\ntarget: \"{{ env.SHOP_URL }}\"\nevery: 10s\nthresholds: [ \"runs >= 1000\", \"availability >= 50%\" ]\n\
         steps:\n  - name: page\n    get: /static/hello\n    thresholds: [ \"p99 < 30s\" ]\n",
    )
    .unwrap();
    let report = tmp("mini.json");
    let run = verify(vec![
        s(&file),
        "--target".into(),
        shop.url(),
        "--iterations".into(),
        "3".into(),
        "--no-progress".into(),
        "--report".into(),
        s(&report),
    ])
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("FAIL  mini: runs >= 1000  — actual 3"), "{run:?}");
    assert!(run.stdout.contains("PASS  mini: availability >= 50%  — actual 100.00%"), "{run:?}");
    assert!(run.stdout.contains("PASS  mini.page: p99 < 30s"), "{run:?}");
    assert!(!run.stdout.contains("(default)"), "a written availability threshold replaces the default: {run:?}");
    let r = Report::read(&report).unwrap();
    assert_eq!(r.threshold_specs, vec!["mini: runs >= 1000", "mini: availability >= 50%", "mini.page: p99 < 30s"]);
}
