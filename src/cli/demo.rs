//! `journeyd demo` (the embedded shop plus the monitor on the bundled journeys, with a live summary) and
//! `journeyd shop` (the shop alone).

use clap::Args;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::daemon::{self as daemon_cli, BrowserArgs, WebArgs};
use crate::cli::signals::termination;
use crate::cli::{bind, demo_canary, demo_deploy, parse_duration_arg, Exit};
use crate::daemon::Options;
use crate::metrics::StatsTable;
use crate::model::Suite;
use crate::shop::{self, ShopOptions};
use crate::units::{format_duration, format_latency};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for the monitor's /metrics.
    #[arg(long, default_value = "127.0.0.1:9898")]
    pub listen: SocketAddr,
    /// Address for the demo shop (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub shop_listen: SocketAddr,
    /// Run every journey this often (the bundled files say 15–30s; a demo wants to show results sooner).
    #[arg(long, default_value = "5s", value_parser = parse_duration_arg)]
    pub every: Duration,
    /// Faults to inject from the start, e.g. `checkout=status:503` (see `journeyd shop --help`).
    #[arg(long = "fault", value_name = "ROUTE=SPEC")]
    pub faults: Vec<String>,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration_arg)]
    pub duration: Option<Duration>,
    /// Journey files or directories (default: the bundled journeys).
    pub paths: Vec<PathBuf>,
    /// Where the monitor probes from, as `journeyd run --location` (status page, API, alerts' labels).
    #[arg(long, value_name = "NAME", env = "JOURNEYD_LOCATION")]
    pub location: Option<crate::location::Location>,
    /// Simulate a bad deploy after this long: a deploy marker, then the price API 30 ms slower, and the
    /// regression naming the step (docs/operations.md, "Deploys").
    #[arg(long, value_name = "AFTER", value_parser = parse_duration_arg)]
    pub deploy_fault: Option<Duration>,
    /// Run a second shop as the canary of the first, with this fault (alone: `product=latency:30ms`), and a
    /// journey with `targets:` on both; the canary regression names the step (docs/operations.md, "Canary
    /// beside stable").
    #[arg(long, value_name = "ROUTE=SPEC", num_args = 0..=1, require_equals = true,
          default_missing_value = demo_canary::DEFAULT_FAULT)]
    pub canary_fault: Option<String>,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub browser: BrowserArgs,
}

#[derive(Debug, Args)]
pub struct ShopArgs {
    /// Address to serve the shop on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SHOP_LISTEN")]
    pub listen: SocketAddr,
    /// The password every test account accepts.
    #[arg(long, env = "SHOP_PASSWORD", default_value = crate::shop::DEMO_PASSWORD, hide_env_values = true)]
    pub password: String,
    /// Inject a fault from the start: ROUTE=SPEC[,SPEC…], e.g. `checkout=status:503`,
    /// `product=latency:300ms`, `login=error-rate:0.5`, `account=hang`, `cart=reset`, `*=stall:1s/5s`,
    /// `static=ui:js-error` (also `ui:no-checkout`, `ui:empty-price`: storefront breakage only a browser sees).
    /// Change faults at run time with the admin API (`PUT /admin/faults/ROUTE`).
    #[arg(long = "fault", value_name = "ROUTE=SPEC")]
    pub faults: Vec<String>,
}

/// The bundled journeys, compiled in so `demo` works from any directory.
const BUNDLED: &[(&str, &str)] = &[
    ("checkout.yml", include_str!("../../journeys/checkout.yml")),
    ("price-view.yml", include_str!("../../journeys/price-view.yml")),
    ("account.yml", include_str!("../../journeys/account.yml")),
    ("login.yml", include_str!("../../journeys/login.yml")),
    ("browser-checkout.yml", include_str!("../../journeys/browser-checkout.yml")),
    ("accounts.csv", include_str!("../../journeys/accounts.csv")),
];

fn parse_faults(specs: &[String]) -> Result<Vec<shop::FaultSpec>, Exit> {
    specs
        .iter()
        .map(|s| {
            shop::parse_fault(s).map_err(|e| {
                eprintln!("journeyd: --fault {s:?}: {e}");
                Exit::Usage
            })
        })
        .collect()
}

/// `journeyd shop`.
pub async fn shop(args: ShopArgs) -> Exit {
    let faults = match parse_faults(&args.faults) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let listener = match bind(args.listen).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    println!("shop: http://{addr}");
    println!("faults: http://{addr}/admin/faults");
    let stop = CancellationToken::new();
    let serving = tokio::spawn(shop::serve(listener, ShopOptions { password: args.password, faults }, stop.clone()));
    termination().await;
    stop.cancel();
    match serving.await {
        Ok(Ok(())) => Exit::Pass,
        Ok(Err(e)) => {
            eprintln!("journeyd: shop: {e}");
            Exit::Fail
        }
        Err(_) => Exit::Fail,
    }
}

/// Where the demo's journeys come from: the given paths, `./journeys` if present, else the compiled-in copies
/// written to a temporary directory, which the returned guard removes when the demo ends.
fn demo_paths(given: &[PathBuf]) -> std::io::Result<(Vec<PathBuf>, Option<BundledDir>)> {
    if !given.is_empty() {
        return Ok((given.to_vec(), None));
    }
    let local = PathBuf::from("journeys");
    if local.join("checkout.yml").is_file() {
        return Ok((vec![local], None));
    }
    let dir = BundledDir(std::env::temp_dir().join(format!("journeyd-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    for (name, text) in BUNDLED {
        std::fs::write(dir.0.join(name), text)?;
    }
    Ok((vec![dir.0.clone()], Some(dir)))
}

/// The temporary copy of the bundled journeys: removed on drop, so demos leave nothing behind in /tmp.
struct BundledDir(PathBuf);

impl Drop for BundledDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every journey runs `every` (and times out within it), so the demo shows results sooner; a canary window
/// widens to twice the ticks the comparison needs, so a long `--every` still reaches a verdict.
fn shorten_intervals(suite: Suite, every: Duration) -> Suite {
    let journeys = suite
        .journeys
        .into_iter()
        .map(|j| {
            let mut j = (*j).clone();
            j.every = every;
            j.timeout = j.timeout.min(every);
            if let Some(t) = j.targets.as_mut() {
                t.window = t.window.max(every * (2 * crate::model::Targets::MIN_TICKS as u32));
            }
            Arc::new(j)
        })
        .collect();
    Suite { journeys }
}

/// `journeyd demo`.
pub async fn run(args: DemoArgs) -> Exit {
    let faults = match parse_faults(&args.faults) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let canary_faults = match args.canary_fault.as_ref().map(|s| parse_faults(std::slice::from_ref(s))).transpose() {
        Ok(f) => f,
        Err(code) => return code,
    };
    let (mut paths, _bundled) = match demo_paths(&args.paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("journeyd: cannot write the bundled journeys to a temporary directory: {e}");
            return Exit::Usage;
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.shop_listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("journeyd: cannot listen on {} for the shop: {e} (use --shop-listen)", args.shop_listen);
            return Exit::Usage;
        }
    };
    let shop_url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(_) => return Exit::Usage,
    };
    let shop_stop = CancellationToken::new();
    let password = shop::DEMO_PASSWORD.to_string();
    let shop_task =
        tokio::spawn(shop::serve(listener, ShopOptions { password: password.clone(), faults }, shop_stop.clone()));
    let canary = match canary_faults {
        Some(faults) => match demo_canary::start(args.shop_listen.ip(), faults).await {
            Ok(c) => Some(c),
            Err(code) => {
                shop_stop.cancel();
                return code;
            }
        },
        None => None,
    };
    if let Some(c) = &canary {
        paths.push(c.dir.clone());
    }

    let mut options = Options {
        grace: Duration::from_secs(5),
        adjust: Some(Box::new(move |suite| shorten_intervals(suite, args.every))),
        access: args.web.access(),
        serve: args.web.serve_options(),
        location: args.location.clone(),
        chromium: args.browser.chromium.clone(),
        ..Options::new(paths)
    };
    let browser_line = match crate::browser::find_chromium(args.browser.chromium.as_deref()) {
        Ok(path) => format!("browser: Chromium at {} runs the browser journeys (browser-checkout)", path.display()),
        Err(e) => format!("browser: no Chromium, so the browser journeys do not run: {e}"),
    };
    options.load.env.insert("SHOP_URL".into(), shop_url.clone());
    options.load.env.insert("SHOP_PASSWORD".into(), password);
    if let Some(c) = &canary {
        options.load.env.insert("CANARY_URL".into(), c.url.clone());
    }
    let daemon = match monitor(args.listen, options).await {
        Ok(d) => d,
        Err(code) => {
            shop_stop.cancel();
            if let Some(c) = canary {
                c.stop().await;
            }
            return code;
        }
    };
    println!("shop:    {shop_url}");
    println!("metrics: {}://{}/metrics", daemon.scheme(), daemon.addr());
    let status_url = format!("{}://{}/", daemon.scheme(), daemon.addr());
    println!("status:  {status_url}");
    println!("{browser_line}");
    println!("journeys run every {}; a summary follows every 5s. Ctrl-C stops.", format_duration(args.every));
    println!("break checkout:  curl -X PUT {shop_url}/admin/faults/checkout -H 'content-type: application/json' -d '{{\"status\": 503}}'");
    println!("slow prices:     curl -X PUT {shop_url}/admin/faults/product -H 'content-type: application/json' -d '{{\"latency\": \"800ms\"}}'");
    println!("break the bundle: curl -X PUT {shop_url}/admin/faults/static -H 'content-type: application/json' -d '{{\"ui\": \"js-error\"}}'");
    println!("repair:          curl -X DELETE {shop_url}/admin/faults");
    if let (Some(c), Some(spec)) = (&canary, &args.canary_fault) {
        c.print(spec, &status_url);
    }

    let summary_stop = CancellationToken::new();
    let summary = tokio::spawn(print_summaries(daemon.stats().clone(), summary_stop.clone()));
    let bad_deploy = args.deploy_fault.map(|after| {
        println!("a bad deploy ({}) follows in {}", demo_deploy::VERSION, format_duration(after));
        let deploys = daemon.deploys().clone();
        tokio::spawn(demo_deploy::bad_deploy(deploys, shop_url.clone(), after, summary_stop.clone()))
    });
    let canary_watch =
        canary.as_ref().map(|_| tokio::spawn(demo_canary::watch(daemon.canary().clone(), summary_stop.clone())));
    let stop = async move {
        match args.duration {
            Some(d) => tokio::select! { _ = termination() => {}, _ = tokio::time::sleep(d) => {} },
            None => termination().await,
        }
    };
    let stats = daemon.stats().clone();
    let code = daemon_cli::serve_until(daemon, stop).await;
    summary_stop.cancel();
    let _ = summary.await;
    for task in bad_deploy.into_iter().chain(canary_watch) {
        let _ = task.await;
    }
    print_table(&stats);
    shop_stop.cancel();
    let _ = shop_task.await;
    if let Some(c) = canary {
        c.stop().await;
    }
    code
}

/// The monitor half of the demo: the same library entry and printing as `journeyd run`.
async fn monitor(listen: std::net::SocketAddr, options: Options) -> Result<crate::daemon::Daemon, Exit> {
    let listener = bind(listen).await?;
    daemon_cli::start(listener, options).await
}

async fn print_summaries(stats: StatsTable, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => print_table(&stats),
        }
    }
}

fn print_table(stats: &StatsTable) {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |text: &str, code: &str| if colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() };
    println!();
    println!(
        "{:<16} {:<6} {:>6} {:>8} {:>9} {:>9}  last failure",
        "journey", "state", "runs", "failures", "p50", "p99"
    );
    for s in stats.summaries() {
        let state = match s.last_passed {
            None => paint("wait", "2"),
            Some(true) => paint("up  ", "32"),
            Some(false) => paint("DOWN", "31;1"),
        };
        let failure = match (&s.last_failure, s.last_passed) {
            (Some(f), Some(false)) => format!("{f}"),
            (Some(f), _) => format!("(earlier) {f}"),
            (None, _) => String::new(),
        };
        println!(
            "{:<16} {:<6} {:>6} {:>8} {:>9} {:>9}  {}",
            s.name,
            state,
            s.runs,
            s.failures,
            format_latency(s.p50),
            format_latency(s.p99),
            crate::redact::truncate(&failure, 90)
        );
    }
}
