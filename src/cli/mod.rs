//! The command line: subcommands and flags (clap derive), logging setup, and the wiring of each command.
//! Only this module (and `main.rs`) handles signals, prints to the terminal for people, and picks exit codes.

mod check;
mod daemon;
mod demo;
mod logging;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use logging::LogFormat;

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

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "journeyd",
    version,
    about = "Synthetic user-journey monitor: walks scripted multi-step HTTP journeys against a site, \
             records truthful latency, exports Prometheus metrics and raises alerts.",
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
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Journey files or directories (a directory contributes its *.yml and *.yaml files).
    #[arg(default_value = "journeys")]
    pub paths: Vec<PathBuf>,
    /// Address for /metrics, /-/healthy, /-/ready and /-/reload.
    #[arg(long, default_value = "127.0.0.1:9898", env = "JOURNEYD_LISTEN")]
    pub listen: SocketAddr,
    /// On SIGTERM/SIGINT, how long in-flight runs may finish before they are cancelled.
    #[arg(long, default_value = "10s", value_parser = parse_duration_arg)]
    pub grace: Duration,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Journey files or directories.
    #[arg(default_value = "journeys")]
    pub paths: Vec<PathBuf>,
    /// Treat missing environment variables and secret files as errors (as `run` does).
    #[arg(long)]
    pub strict: bool,
}

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
    /// `product=latency:300ms`, `login=error-rate:0.5`, `account=hang`, `cart=reset`, `*=stall:1s/5s`.
    /// Change faults at run time with the admin API (`PUT /admin/faults/ROUTE`).
    #[arg(long = "fault", value_name = "ROUTE=SPEC")]
    pub faults: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
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
        command => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
                    Command::Check(_) => unreachable!("handled above"),
                }
            })
        }
    };
    exit.into()
}
