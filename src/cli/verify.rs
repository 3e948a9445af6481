//! `journeyd verify`: the post-deploy gate. Runs the selected journeys now as load, judges thresholds and
//! the baseline, prints the summary, writes the reports, and answers with its exit code:
//! 0 passed, 1 a threshold failed / a journey failed / a regression, 2 usage or config error,
//! 3 the target was unreachable (every completed run failed at its first step with no HTTP response).
//! See docs/verify.md.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::cli::daemon::print_diagnostics;
use crate::cli::signals::termination;
use crate::cli::{parse_duration_arg, Exit};
use crate::config::{self, LoadOptions};
use crate::http::Clients;
use crate::model::{Journey, LoadModel, Suite, Template};
use crate::pipeline::{self, Event, Sink};
use crate::report::text::{progress_line, summary, Style};
use crate::report::{formats, push, FailFast, Report, ReportSink};
use crate::runner::browser_host::BrowserHost;
use crate::runner::evidence::{self, EvidenceStore};
use crate::runner::load::{drive, LoadSpec, Stop};
use crate::runner::Plan;
use crate::shard::Shard;
use crate::threshold::{self, check_scopes, Threshold};
use crate::trace::{self, ExportConfig};

/// `--fail-fast`: a journey whose first this-many completed runs all failed has failed hard.
pub const FAIL_FAST_RUNS: u64 = 5;
/// `--fail-fast`: …or whose completed runs (at least one) all failed this long after the start.
pub const FAIL_FAST_WINDOW: Duration = Duration::from_secs(5);
/// Without `--for` or `--iterations`, a closed-model journey runs this many iterations per virtual user.
pub const DEFAULT_ITERATIONS_PER_USER: u64 = 3;
/// Without `--for` or `--iterations`, an arrival-rate journey runs this long.
pub const DEFAULT_OPEN_DURATION: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 passed; 1 a threshold failed, a journey failed or a latency/availability \
regression against --baseline; 2 usage or configuration error; 3 the target was unreachable (every completed run \
failed at its first step with a connect, DNS or TLS error). Details: docs/verify.md")]
pub struct VerifyArgs {
    /// Journey files or directories.
    #[arg(default_value = "journeys")]
    pub paths: Vec<PathBuf>,
    /// Base URL that replaces every journey's `target` (e.g. the canary: https://canary.example).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Run only this journey (repeatable; a journey is selected when named or tagged).
    #[arg(long = "journey", value_name = "NAME")]
    pub journeys: Vec<String>,
    /// Run only journeys carrying this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Run for this long (e.g. 2m). With --iterations too, whichever comes first.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration_arg)]
    pub duration: Option<Duration>,
    /// Iterations per journey (split over shards). Default without --for: 3 per virtual user (closed
    /// model), or 10s of arrivals (with a rate).
    #[arg(long, value_name = "N")]
    pub iterations: Option<u64>,
    /// Virtual users looping back to back (closed model), replacing each journey's own load model.
    #[arg(long, value_name = "N", conflicts_with = "rate")]
    pub users: Option<u32>,
    /// Arrival rate (open model), e.g. 20/s, replacing each journey's own load model.
    #[arg(long, value_name = "RATE", value_parser = parse_rate_arg)]
    pub rate: Option<f64>,
    /// With --rate: most iterations in flight (default: rate × journey timeout, 1..=10000).
    #[arg(long, value_name = "N", requires = "rate")]
    pub max_users: Option<u32>,
    /// A threshold, e.g. 'availability >= 99.5%', 'p99 < 800ms', 'checkout.login: p50 < 200ms',
    /// 'failures{reason=timeout} == 0', 'cert_expiry > 14d' (repeatable).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Stop as soon as a journey fails hard: its first 5 completed runs all failed, or every completed run
    /// failed 5s after the start.
    #[arg(long)]
    pub fail_fast: bool,
    /// Baseline, report files and the Pushgateway (boxed: they are many and the command enum stays small).
    #[command(flatten)]
    pub outputs: Box<Outputs>,
    #[command(flatten)]
    pub browser: crate::cli::daemon::BrowserArgs,
    /// Run shard i of n: a stable share of the virtual users or iterations; merge with `report merge`.
    #[arg(long, value_name = "i/n", default_value = "0/1")]
    pub shard: Shard,
    /// Where this run probes from (a region, a data centre): `[a-z0-9][a-z0-9_-]{0,62}`. Written as
    /// `location` in the JSON report, a JUnit property and the Markdown summary.
    #[arg(long, value_name = "NAME", env = "JOURNEYD_LOCATION")]
    pub location: Option<crate::location::Location>,
    /// No progress line.
    #[arg(long)]
    pub no_progress: bool,
    /// An environment value for the journey files, overriding the process environment (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
}

/// Where results go (and the baseline they are compared with).
#[derive(Debug, Args)]
pub struct Outputs {
    /// Compare with an earlier report (written by --save-baseline or --report).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write this run's report as a baseline for a later --baseline.
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,
    /// Write the JSON report (schema_version 1, docs/verify.md).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a JUnit XML report (a test case per journey and per threshold).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary (for a pull-request or deploy comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Push the verdict to this Prometheus Pushgateway (needs --deploy).
    #[arg(long, value_name = "URL", requires = "deploy")]
    pub pushgateway: Option<String>,
    /// The `deploy` label of the pushed series (a version, a commit).
    #[arg(long, value_name = "LABEL", requires = "pushgateway")]
    pub deploy: Option<String>,
    /// A settings file whose `traces:` section exports runs as OpenTelemetry traces (the `OTEL_*`
    /// variables work without it); the rest of the file is checked and not used.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
}

fn parse_rate_arg(s: &str) -> Result<f64, String> {
    crate::units::parse_rate(s)
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected K=V, got {s:?}")),
    }
}

fn usage(msg: impl std::fmt::Display) -> Exit {
    eprintln!("journeyd verify: {msg}");
    Exit::Usage
}

/// Loads the journey files. With `--target`, a variable used only in `target:` lines need not be set (the
/// target is replaced anyway).
fn load(args: &VerifyArgs) -> Result<Suite, Exit> {
    let mut opts = LoadOptions { strict_env: true, target_override: args.target.clone(), ..LoadOptions::default() };
    opts.env.extend(args.env.iter().cloned());
    let result = config::load(&args.paths, &opts);
    match result {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("{w}");
            }
            Ok(l.suite)
        }
        Err(d) => {
            print_diagnostics(&d);
            eprintln!("journeyd verify: configuration has errors (run `journeyd check` for details)");
            Err(Exit::Usage)
        }
    }
}

/// Picks the journeys named or tagged, and applies `--target`, `--users`, `--rate`.
fn select(args: &VerifyArgs, suite: Suite) -> Result<Vec<Arc<Journey>>, Exit> {
    for name in &args.journeys {
        if suite.get(name).is_none() {
            let names: Vec<&str> = suite.journeys.iter().map(|j| j.name.as_str()).collect();
            return Err(usage(format!("no journey named {name:?}; the files define: {}", names.join(", "))));
        }
    }
    let all = args.journeys.is_empty() && args.tags.is_empty();
    let mut out = Vec::new();
    for j in suite.journeys {
        if !(all || args.journeys.contains(&j.name) || j.tags.iter().any(|t| args.tags.contains(t))) {
            continue;
        }
        let mut j = (*j).clone();
        if let Some(t) = &args.target {
            j.target = Some(Template::literal(t.trim_end_matches('/')));
        }
        if let Some(users) = args.users {
            j.load = LoadModel::Closed { users };
        }
        // A closed-model shard runs the users it owns: with fewer users than shards some shard would own
        // none, yet still owe its share of the iterations. Every shard gets at least one user.
        if let LoadModel::Closed { users } = &mut j.load {
            if *users < args.shard.count {
                eprintln!(
                    "journeyd verify: journey {:?}: {} virtual user(s) for {} shards; running {} (one per shard)",
                    j.name, users, args.shard.count, args.shard.count
                );
                *users = args.shard.count;
            }
        }
        if let Some(rate) = args.rate {
            let max_users =
                args.max_users.unwrap_or_else(|| (rate * j.timeout.as_secs_f64()).ceil().clamp(1.0, 10_000.0) as u32);
            j.load = LoadModel::Open { rate_per_sec: rate, max_users };
        }
        out.extend(per_target(j).into_iter().map(Arc::new));
    }
    if out.is_empty() {
        return Err(usage(format!("no journey carries the tag(s) {}", args.tags.join(", "))));
    }
    Ok(out)
}

/// A journey with `targets:` runs once per target, reported as `journey@target` (`@` cannot appear in a
/// journey name, so these never clash with another journey); `--target` already replaced them all.
fn per_target(j: Journey) -> Vec<Journey> {
    let Some(targets) = j.targets.clone() else { return vec![j] };
    let each = targets.named.into_iter().map(|(name, url)| Journey {
        name: format!("{}@{name}", j.name),
        target: Some(url),
        targets: None,
        ..j.clone()
    });
    each.collect()
}

/// When a journey's drive stops.
fn stop_for(args: &VerifyArgs, j: &Journey) -> Stop {
    match (args.duration, args.iterations) {
        (Some(d), Some(n)) => Stop::Either(d, n),
        (Some(d), None) => Stop::After(d),
        (None, Some(n)) => Stop::Iterations(n),
        (None, None) => match &j.load {
            LoadModel::Closed { users } => Stop::Iterations(DEFAULT_ITERATIONS_PER_USER * u64::from(*users)),
            LoadModel::Open { .. } => Stop::After(DEFAULT_OPEN_DURATION),
            LoadModel::Stages(stages) => Stop::After(stages.iter().map(|s| s.duration).sum()),
        },
    }
}

/// Parses the journey files' thresholds and `--threshold`s, and checks their scopes against the selected
/// journeys. Returns them with their texts (scoped), for the report.
fn thresholds(args: &VerifyArgs, journeys: &[Arc<Journey>]) -> Result<(Vec<Threshold>, Vec<String>), Exit> {
    let mut out: Vec<Threshold> = journeys.iter().flat_map(|j| j.scoped_thresholds()).collect();
    let mut specs: Vec<String> = out.iter().map(|t| t.text.clone()).collect();
    for text in &args.thresholds {
        out.push(threshold::parse(text).map_err(usage)?);
        specs.push(text.clone());
    }
    let names: BTreeMap<String, Vec<String>> =
        journeys.iter().map(|j| (j.name.clone(), j.steps.iter().map(|s| s.name.clone()).collect())).collect();
    threshold::resolve_scopes(&mut out, &names);
    check_scopes(&out, &names).map_err(usage)?;
    Ok((out, specs))
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Shows the progress line until `done` fires: redrawn in place on a terminal, a plain line every 10s
/// otherwise (CI logs).
async fn show_progress(sink: ReportSink, start: Instant, done: CancellationToken) {
    let tty = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(if tty { Duration::from_millis(250) } else { Duration::from_secs(10) });
    tick.tick().await;
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            _ = tick.tick() => {
                let line = progress_line(start.elapsed(), &sink.progress());
                if tty { eprint!("\r\x1b[2K{line}") } else { eprintln!("{line}") }
            }
        }
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
}

/// `journeyd verify`: check the flags, load and prepare, run the journeys, judge, print the summary, write
/// the outputs, and answer with the exit code.
pub async fn run(args: VerifyArgs) -> Exit {
    if let Err(e) = check_flags(&args) {
        return e;
    }
    let Prepared { journeys, thresholds, specs, baseline, plans, traces } = match prepare(&args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let ran = execute(&args, &journeys, plans, traces).await;
    let report = judge(&args, ran, specs, &thresholds, baseline.as_ref());
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty());
    print!("{}", summary(&report, Style { color }));
    let write_failed = write_outputs(&args.outputs, &report).await;
    Exit::verdict(report.unreachable, report.passed, write_failed)
}

/// Flag values clap cannot refuse on its own: `--target` must be an http(s) URL, counts at least 1.
fn check_flags(args: &VerifyArgs) -> Result<(), Exit> {
    if let Some(t) = &args.target {
        match reqwest::Url::parse(t) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(usage(format!("--target {t:?} is not an http(s) URL (e.g. https://canary.example)"))),
        }
    }
    if args.iterations == Some(0) {
        return Err(usage("--iterations must be at least 1"));
    }
    if args.users == Some(0) || args.max_users == Some(0) {
        return Err(usage("--users and --max-users must be at least 1"));
    }
    Ok(())
}

/// Everything a run needs, made before it starts, so nothing after the start can fail with a usage error.
struct Prepared {
    journeys: Vec<Arc<Journey>>,
    thresholds: Vec<Threshold>,
    /// The thresholds' texts, scoped, for the report (`report merge` judges again from them).
    specs: Vec<String>,
    baseline: Option<Report>,
    /// One per journey, in the same order.
    plans: Vec<Arc<Plan>>,
    /// Where runs are exported as traces, when configured.
    traces: Option<ExportConfig>,
}

/// Loads and selects the journeys, parses the thresholds, reads the baseline and builds the plans.
fn prepare(args: &VerifyArgs) -> Result<Prepared, Exit> {
    let suite = load(args)?;
    let browser = browser_host(args);
    let journeys = runnable(select(args, suite)?, &browser)?;
    let (thresholds, specs) = thresholds(args, &journeys)?;
    let baseline = match &args.outputs.baseline {
        Some(p) => Some(Report::read(p).map_err(usage)?),
        None => None,
    };
    let clients = Clients::new().map_err(usage)?.with_browser(browser);
    let plans = journeys.iter().map(|j| Arc::new(Plan::new(Arc::clone(j), &clients))).collect();
    let traces = trace_config(args)?;
    Ok(Prepared { journeys, thresholds, specs, baseline, plans, traces })
}

/// `--settings`' `traces:` and the `OTEL_*` variables, as the daemon reads them.
fn trace_config(args: &VerifyArgs) -> Result<Option<ExportConfig>, Exit> {
    let settings = match &args.outputs.settings {
        Some(path) => crate::settings::Settings::load(path).map_err(|e| usage(format!("--settings: {e}")))?,
        None => crate::settings::Settings::default(),
    };
    let origin = trace::Origin { location: args.location.as_ref(), shard: args.shard };
    let env = |k: &str| std::env::var(k).ok();
    ExportConfig::resolve(&settings.traces, &env, origin).map_err(|e| usage(format!("trace export: {e}")))
}

/// How long verify waits at the end for queued traces to be sent.
const TRACE_DRAIN: Duration = Duration::from_secs(5);

/// Without a Chromium, browser journeys are left out, each named on stderr, as `run` does; a selection of
/// browser journeys only is then a usage error, not a pass.
fn runnable(journeys: Vec<Arc<Journey>>, browser: &BrowserHost) -> Result<Vec<Arc<Journey>>, Exit> {
    let Err(why) = browser.executable() else {
        return Ok(journeys);
    };
    let (kept, left_out): (Vec<_>, Vec<_>) = journeys.into_iter().partition(|j| j.browser.is_none());
    for j in &left_out {
        eprintln!("journeyd verify: warning: browser journey {} left out: {why}", j.name);
    }
    if kept.is_empty() && !left_out.is_empty() {
        return Err(usage("every selected journey is a browser journey, and there is no Chromium to run them"));
    }
    Ok(kept)
}

/// The browser journeys' Chromium, with failure screenshots kept in `screenshots/` next to the JUnit file
/// (else the JSON report), where the JUnit's attachments point; without either, in the default directory.
fn browser_host(args: &VerifyArgs) -> BrowserHost {
    let beside = args.outputs.junit.as_ref().or(args.outputs.report.as_ref());
    let evidence = match beside {
        Some(file) => {
            let dir = file.parent().unwrap_or(std::path::Path::new("")).join(crate::report::SCREENSHOT_DIR);
            EvidenceStore::new(dir, evidence::DEFAULT_MAX_FILES, evidence::DEFAULT_MAX_BYTES)
        }
        None => EvidenceStore::from_env(),
    };
    BrowserHost::new(args.browser.chromium.as_deref(), evidence)
}

/// What a finished run leaves for judging.
struct Ran {
    /// Holds the outcomes; the pipeline has flushed into it.
    sink: ReportSink,
    start: Instant,
    /// Stopped by SIGINT/SIGTERM.
    interrupted: bool,
}

/// Drives every journey as load into the report sink until each stops or a termination signal arrives,
/// with the progress line meanwhile.
async fn execute(
    args: &VerifyArgs,
    journeys: &[Arc<Journey>],
    plans: Vec<Arc<Plan>>,
    traces: Option<ExportConfig>,
) -> Ran {
    let started_ms = unix_ms();
    let start = Instant::now();
    let cancel = CancellationToken::new();
    let fail_fast = args.fail_fast.then(|| FailFast {
        min_runs: FAIL_FAST_RUNS,
        window: FAIL_FAST_WINDOW,
        start,
        cancel: cancel.clone(),
    });
    let sink = ReportSink::new(started_ms, fail_fast);
    sink.add_journeys(journeys);
    let (events, rx) = pipeline::channel();
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink.clone())];
    let registry = prometheus::Registry::new();
    let exporter = traces.map(|config| {
        let (trace_sink, exporter) = trace::start(config, &registry);
        sinks.push(Box::new(trace_sink));
        exporter
    });
    let pipeline_task = tokio::spawn(pipeline::run(rx, sinks));
    let _ = events.send(Event::Suite(Suite { journeys: journeys.to_vec() })).await;
    let done = CancellationToken::new();
    let progress = (!args.no_progress).then(|| tokio::spawn(show_progress(sink.clone(), start, done.clone())));
    let mut drives = tokio::task::JoinSet::new();
    for (plan, j) in plans.into_iter().zip(journeys) {
        let spec = LoadSpec { model: j.load.clone(), stop: stop_for(args, j), shard: args.shard };
        drives.spawn(drive(plan, spec, events.clone(), cancel.clone()));
    }
    drop(events);
    let interrupted = tokio::select! {
        _ = async { while drives.join_next().await.is_some() {} } => false,
        _ = termination() => {
            cancel.cancel();
            while drives.join_next().await.is_some() {}
            true
        }
    };
    let _ = pipeline_task.await;
    if let Some(exporter) = exporter {
        let t = exporter.finish(TRACE_DRAIN).await;
        eprintln!("journeyd verify: traces: {} runs exported, {} dropped", t.exported, t.dropped);
    }
    done.cancel();
    if let Some(p) = progress {
        let _ = p.await;
    }
    Ran { sink, start, interrupted }
}

/// The report of the run, judged by `thresholds` and `baseline`; an interrupted run never passes.
fn judge(
    args: &VerifyArgs,
    ran: Ran,
    specs: Vec<String>,
    thresholds: &[Threshold],
    baseline: Option<&Report>,
) -> Report {
    let Ran { sink, start, interrupted } = ran;
    let mut report = sink.report();
    report.elapsed_seconds = start.elapsed().as_secs_f64();
    report.target = args.target.clone();
    report.shards = vec![args.shard.to_string()];
    report.location = args.location.as_ref().map(ToString::to_string);
    report.threshold_specs = specs;
    report.stopped_early = if interrupted { Some("interrupted (SIGINT/SIGTERM)".into()) } else { sink.tripped() };
    report.judge(thresholds, baseline);
    if interrupted {
        report.passed = false;
    }
    report
}

/// Writes the JSON report, the baseline, JUnit and Markdown where asked, then pushes to the Pushgateway.
/// Returns whether any of them failed (each failure is printed, and the others are still attempted).
async fn write_outputs(outputs: &Outputs, report: &Report) -> bool {
    let mut write_failed = false;
    // Each text is made only when its file is asked for: the JSON of a long run's histograms is not free.
    let mut write = |path: &Option<PathBuf>, what: &str, text: &dyn Fn() -> Result<String, String>| {
        let Some(path) = path else { return };
        let result = text().and_then(|t| std::fs::write(path, t).map_err(|e| e.to_string()));
        if let Err(e) = result {
            eprintln!("journeyd verify: cannot write the {what} to {}: {e}", path.display());
            write_failed = true;
        }
    };
    let json = std::cell::OnceCell::new();
    let json = || {
        let text = json.get_or_init(|| {
            let text = serde_json::to_string_pretty(report).map(|mut s| {
                s.push('\n');
                s
            });
            text.map_err(|e| e.to_string())
        });
        text.clone()
    };
    write(&outputs.report, "report", &json);
    write(&outputs.save_baseline, "baseline", &json);
    write(&outputs.junit, "JUnit report", &|| Ok(formats::junit(report)));
    write(&outputs.markdown, "Markdown summary", &|| Ok(formats::markdown(report)));
    if let (Some(url), Some(deploy)) = (&outputs.pushgateway, &outputs.deploy) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        if let Err(e) = push::push(&client, url, deploy, report).await {
            eprintln!("journeyd verify: {e}");
            write_failed = true;
        }
    }
    write_failed
}
