//! The command line: subcommands and flags (clap derive), logging setup, and the wiring of each command.
//! Only this module (and `main.rs`) handles signals, prints to the terminal for people, and picks exit codes.

mod check;
mod daemon;
mod demo;
mod demo_canary;
mod demo_deploy;
mod import;
mod logging;
mod mark_deploy;
mod report;
mod schema;
mod signals;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use check::CheckArgs;
pub use daemon::{RunArgs, WebArgs};
pub use demo::{DemoArgs, ShopArgs};
pub use import::{ImportArgs, ImportSource, OutputArgs};
pub use logging::LogFormat;
pub use mark_deploy::MarkDeployArgs;
pub use report::ReportArgs;
pub use verify::VerifyArgs;

/// Exit codes are an interface: scripts and CI/CD gates depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed.
    Pass = 0,
    /// Checks or thresholds failed.
    Fail = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// `verify`: the target was unreachable from the start.
    Unreachable = 3,
}

impl Exit {
    /// The verdict of a `verify` run (or of merged shard reports): unreachable beats failed, which beats a
    /// report that could not be written.
    pub fn verdict(unreachable: bool, passed: bool, write_failed: bool) -> Exit {
        if unreachable {
            Exit::Unreachable
        } else if !passed {
            Exit::Fail
        } else if write_failed {
            Exit::Usage
        } else {
            Exit::Pass
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "journeyd",
    version,
    about = "Synthetic user-journey monitor: walks scripted multi-step journeys against a site, over HTTP or in a \
             real browser, records truthful latency, exports Prometheus metrics and traces, raises alerts, and \
             judges deploys.",
    after_help = "Exit codes: 0 pass, 1 checks or thresholds failed, 2 usage or config error, \
                  3 (verify) target unreachable.\nDocs: README.md and docs/journeys.md"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "JOURNEYD_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info`, `warn,journeyd=debug`.
    #[arg(long, global = true, default_value = "info", env = "JOURNEYD_LOG")]
    pub log_level: String,
    /// Worker threads of the async runtime (default: one per CPU). `1` runs everything on one thread, so
    /// journeyd uses at most one core (a sidecar's share).
    #[arg(long, global = true, env = "JOURNEYD_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the monitor: every journey on its schedule, metrics on /metrics.
    Run(RunArgs),
    /// Validate journey files: print every problem as file:line:col, exit 2 on errors.
    Check(CheckArgs),
    /// Start the embedded demo shop and monitor it with the bundled journeys.
    Demo(DemoArgs),
    /// Serve the demo shop alone (a target for journeys, tests and benchmarks).
    Shop(ShopArgs),
    /// The post-deploy gate: run journeys now, judge thresholds, exit non-zero on failure or regression.
    Verify(VerifyArgs),
    /// Work with `verify` reports (merge shard reports).
    Report(ReportArgs),
    /// Print the JSON Schema of the journey format (for editors' YAML language server).
    Schema,
    /// Write a journey from a browser's HAR recording or from curl command lines.
    Import(ImportArgs),
    /// Tell a running monitor that a deploy happened: it compares every journey before and after.
    MarkDeploy(MarkDeployArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

pub(crate) fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(s)
}

/// Binds a command's HTTP port, or says why not: a taken or invalid address is a usage error.
pub(crate) async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, Exit> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("journeyd: cannot listen on {addr}: {e} (choose another address with --listen)");
        Exit::Usage
    })
}

/// Parses arguments, sets up logging, runs the command, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => Exit::Usage.into(),
            };
        }
    };
    if let Err(e) = logging::init(cli.log_format, &cli.log_level) {
        eprintln!("journeyd: {e}");
        return Exit::Usage.into();
    }
    let exit = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Report(args) => report::run(args),
        Command::Schema => schema::run(),
        Command::Import(args) => import::run(args),
        command => {
            // One thread: tokio's current-thread scheduler (no work stealing, no cross-thread wake-ups).
            let mut builder = match cli.threads {
                Some(1) => tokio::runtime::Builder::new_current_thread(),
                _ => tokio::runtime::Builder::new_multi_thread(),
            };
            if let Some(n) = cli.threads.filter(|&n| n > 1) {
                builder.worker_threads(usize::from(n));
            }
            let runtime = match builder.enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("journeyd: cannot start the async runtime: {e}");
                    return Exit::Usage.into();
                }
            };
            runtime.block_on(async move {
                match command {
                    Command::Run(args) => daemon::run(args).await,
                    Command::Demo(args) => demo::run(args).await,
                    Command::Shop(args) => demo::shop(args).await,
                    Command::Verify(args) => verify::run(args).await,
                    Command::MarkDeploy(args) => mark_deploy::run(args).await,
                    Command::Check(_) | Command::Report(_) | Command::Schema | Command::Import(_) => {
                        unreachable!("handled above")
                    }
                }
            })
        }
    };
    exit.into()
}
