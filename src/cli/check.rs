//! `journeyd check`: load everything, print every problem, exit 2 on any error.

use crate::cli::Exit;
use crate::config::{self, LoadOptions, Severity};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Journey files or directories.
    #[arg(default_value = "journeys")]
    pub paths: Vec<PathBuf>,
    /// Treat missing environment variables and secret files as errors (as `run` does).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub browser: crate::cli::daemon::BrowserArgs,
}

pub fn run(args: &CheckArgs) -> Exit {
    let opts = LoadOptions { strict_env: args.strict, ..LoadOptions::default() };
    match config::load(&args.paths, &opts) {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!("{}", config::render(&loaded.warnings));
            }
            let browser_journeys: Vec<&str> =
                loaded.suite.journeys.iter().filter(|j| j.browser.is_some()).map(|j| j.name.as_str()).collect();
            if !browser_journeys.is_empty() {
                // The files are valid either way; say now what `run` would leave out on this machine.
                if let Err(e) = crate::browser::find_chromium(args.browser.chromium.as_deref()) {
                    eprintln!("warning: browser journeys will not run here ({}): {e}", browser_journeys.join(", "));
                }
            }
            let n = loaded.suite.journeys.len();
            let steps: usize = loaded.suite.journeys.iter().map(|j| j.steps.len()).sum();
            let warnings = loaded.warnings.len();
            println!(
                "ok: {n} journey{} ({steps} steps) in {} file{}{}",
                plural(n),
                loaded.files.len(),
                plural(loaded.files.len()),
                if warnings > 0 { format!(", {warnings} warning{}", plural(warnings)) } else { String::new() }
            );
            Exit::Pass
        }
        Err(diags) => {
            eprint!("{}", config::render(&diags.0));
            let errors = diags.0.iter().filter(|d| d.severity == Severity::Error).count();
            let mut files: Vec<_> = diags.0.iter().filter(|d| d.severity == Severity::Error).map(|d| &d.file).collect();
            files.sort();
            files.dedup();
            eprintln!("error: {errors} problem{} in {} file{}", plural(errors), files.len(), plural(files.len()));
            Exit::Usage
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
