//! Shared by the daemon tests (reload, shutdown, status page, web config): the daemon in-process on
//! 127.0.0.1:0 through the library entry ([`InProcess`], with its log captured), the real `journeyd run`
//! binary as a child process for what only the binary does (signals, printed output, exit codes), and a
//! counting HTTP target on port 0.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as AxPath, State};
use axum::routing::get;
use axum::Router;
use journeyd::daemon::{Daemon as Library, FinalCount, Options, Reloader};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound for anything we wait for, only so a broken daemon cannot hang the suite. Never a claim
/// about how fast anything is.
pub const PATIENCE: Duration = Duration::from_secs(90);

// The same file as `common::tempdir`: tests that use both helpers compile it twice, harmlessly (two types).
#[allow(clippy::duplicate_mod)]
#[path = "../common/tempdir.rs"]
mod tempdir_impl;
pub use tempdir_impl::tempdir;

/// Writes a file atomically (temp file + rename), so a concurrent reload never reads half of it.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The daemon in this process, started through `journeyd::daemon` on 127.0.0.1:0. Dropping it stops it.
pub struct InProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Reloads the way SIGHUP and `POST /-/reload` do, and returns the typed answer.
    pub reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<Vec<FinalCount>>>,
}

impl InProcess {
    /// Starts the daemon with `options` and serves reloads until [`InProcess::stop`] or drop.
    pub async fn start(options: Options) -> InProcess {
        capture_logs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let daemon = Library::start(listener, options).await.unwrap_or_else(|e| panic!("daemon did not start: {e}"));
        let base = format!("{}://{}", daemon.scheme(), daemon.addr());
        let reloader = daemon.reloader();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(daemon.run(async move {
            let _ = stopped.await;
        }));
        InProcess { base, reloader, stop: Some(stop), running: Some(running) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The body of `GET path`.
    pub async fn text(&self, path: &str) -> String {
        reqwest::get(self.url(path)).await.unwrap().text().await.unwrap()
    }

    /// The value of one series in `/metrics`, by its exact name and labels.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric(&self.text("/metrics").await, series)
    }

    /// Shuts the daemon down and returns each journey's final counts.
    pub async fn stop(mut self) -> Vec<FinalCount> {
        let _ = self.stop.take().unwrap().send(());
        self.running.take().unwrap().await.unwrap()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The daemon's options for the journeys under `dir`, with `TARGET` set for [`counting_journey`] files.
pub fn options(dir: &Path, target: &str) -> Options {
    let mut options = Options::new(vec![dir.to_path_buf()]);
    options.load.env.insert("TARGET".into(), target.into());
    options
}

/// Everything the in-process daemons of this test binary logged (tests run in parallel: look for text
/// only your test produces, such as its temporary directory's file names).
pub fn logs() -> String {
    String::from_utf8_lossy(&capture_logs().lock().unwrap()).into_owned()
}

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once per test binary, a global subscriber that keeps every log line in memory: the daemon's
/// tasks run on all the runtime's threads, so a per-thread default would miss them.
fn capture_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer(Arc::default());
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .try_init();
        buffer.0
    })
}

/// A `journeyd run` child: stdout is read for its URL, stderr (JSON log lines) goes to a file.
pub struct Daemon {
    pub child: Child,
    /// `http://127.0.0.1:PORT` (or https).
    pub base: String,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `journeyd --log-format json run --listen 127.0.0.1:0 ARGS…` and waits for its `metrics:` line.
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let log = tempdir(&format!("{name}-log")).join("journeyd.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_journeyd"));
        cmd.env_remove("JOURNEYD_LOG")
            .env_remove("RUST_LOG")
            .env_remove("JOURNEYD_SHARD")
            .env_remove("JOURNEYD_WEB_CONFIG")
            .args(["--log-format", "json", "run", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix("metrics:") {
                base = Some(url.trim().trim_end_matches("/metrics").to_string());
                break;
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let Some(base) = base else {
            let _ = child.wait();
            panic!("journeyd exited without printing its URL:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        Daemon { child, base, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit (bounded by `PATIENCE` only to keep a broken build from hanging).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "journeyd did not exit; log:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines whose message is `message`.
    pub fn log_events(&self, message: &str) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, panicking with `what` after `PATIENCE`. This waits for the
/// daemon to reach a state; it asserts nothing about timing.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of one exposition line, e.g. `journey_runs_total{journey="a",outcome="success"}`.
pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

/// The value of the series `name` with exactly `labels`, in whatever order the exposition writes them.
pub fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: std::collections::BTreeSet<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    body.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let inner = series.strip_prefix(name)?.strip_prefix('{')?.strip_suffix('}')?;
        let got: std::collections::BTreeSet<String> = inner.split(',').map(str::to_string).collect();
        (got == want).then(|| value.parse().ok()).flatten()
    })
}

/// An HTTP target that counts requests per path: `GET /hit/{name}` answers 200 and counts.
#[derive(Clone, Default)]
pub struct Counter {
    pub hits: Arc<Mutex<HashMap<String, u64>>>,
}

impl Counter {
    pub fn get(&self, name: &str) -> u64 {
        self.hits.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.hits.lock().unwrap().values().sum()
    }
}

/// Serves a [`Counter`] on 127.0.0.1:0; returns it and the base URL.
pub async fn counting_target() -> (Counter, String) {
    let counter = Counter::default();
    let app = Router::new()
        .route(
            "/hit/{name}",
            get(|State(c): State<Counter>, AxPath(name): AxPath<String>| async move {
                *c.hits.lock().unwrap().entry(name).or_default() += 1;
                "ok"
            }),
        )
        .with_state(counter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (counter, url)
}

/// A journey file that GETs `/hit/{name}` on `$TARGET` every `every`.
pub fn counting_journey(name: &str, every: &str, description: &str) -> String {
    format!(
        "name: {name}\ndescription: {description:?}\ntarget: \"{{{{ env.TARGET }}}}\"\nevery: {every}\ntimeout: {every}\nsteps:\n  - name: hit\n    get: /hit/{name}\n    expect: [ status == 200 ]\n"
    )
}

/// The two steps of the price journey the deploy, gate and canary tests watch on the demo shop: the
/// product page, then the price API (the step their faults break). A literal, for `concat!`.
#[allow(unused_macros)]
macro_rules! price_steps {
    () => {
        r#"steps:
  - name: product-page
    get: /products/SKU-1001
    expect: [ status == 200 ]
  - name: view-price
    get: /api/products/SKU-1001
    expect: [ status == 2xx ]
"#
    };
}
#[allow(unused_imports)]
pub(crate) use price_steps;

/// Runs `journeyd demo ARGS…` on ports of its own (at most 5 minutes) and reads the stdout lines that start
/// with `prefix` until one passes `done`; returns the lines before it and that line. The demo is then
/// stopped with SIGTERM, as Ctrl-C would, so it removes its temporary journey files.
pub fn demo_until(args: &[&str], prefix: &'static str, done: impl Fn(&str) -> bool) -> (Vec<String>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_journeyd"))
        .arg("demo")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--shop-listen", "127.0.0.1:0", "--duration", "5m"])
        .env_remove("JOURNEYD_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with(prefix) && tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut said = Vec::new();
    let last = loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(line) if done(&line) => break Ok(line),
            Ok(line) => said.push(line),
            Err(e) => break Err(e),
        }
    };
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    match last {
        Ok(line) => (said, line),
        Err(e) => panic!("the demo did not say it ({e}); it said {said:?}"),
    }
}
