//! `journeyd report`: work with verify reports. `report merge` adds shard reports into one exact result
//! (histograms add), judges it again (the shards' thresholds plus any given here), prints the summary and
//! exits like `verify` would have for one run over all the shards.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::Exit;
use crate::report::text::{summary, Style};
use crate::report::{formats, merge, Report};
use crate::threshold::{self, Threshold};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge shard reports (`verify --shard i/n --report …`) into one and judge it.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Report files to merge.
    #[arg(required = true, value_name = "REPORT")]
    pub files: Vec<PathBuf>,
    /// Write the merged report here.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Another threshold to judge the merged report by (repeatable; the shards' own thresholds apply too).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Compare the merged report with a baseline report.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write a JUnit XML report of the merged result.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary of the merged result.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Do not print the summary.
    #[arg(short, long)]
    pub quiet: bool,
}

fn usage(msg: impl std::fmt::Display) -> Exit {
    eprintln!("journeyd report: {msg}");
    Exit::Usage
}

pub fn run(args: ReportArgs) -> Exit {
    match args.command {
        ReportCommand::Merge(m) => run_merge(m),
    }
}

fn run_merge(args: MergeArgs) -> Exit {
    let mut reports = Vec::new();
    for f in &args.files {
        match Report::read(f) {
            Ok(r) => reports.push((f.display().to_string(), r)),
            Err(e) => return usage(e),
        }
    }
    let baseline = match &args.baseline {
        Some(p) => match Report::read(p) {
            Ok(r) => Some(r),
            Err(e) => return usage(e),
        },
        None => None,
    };
    let mut merged = match merge(&reports) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    for t in &args.thresholds {
        if !merged.threshold_specs.contains(t) {
            merged.threshold_specs.push(t.clone());
        }
    }
    let mut parsed: Vec<Threshold> = Vec::new();
    for text in &merged.threshold_specs {
        match threshold::parse(text) {
            Ok(t) => parsed.push(t),
            Err(e) => return usage(e),
        }
    }
    let names =
        merged.journeys.iter().map(|(n, j)| (n.clone(), j.steps.iter().map(|s| s.name.clone()).collect())).collect();
    threshold::resolve_scopes(&mut parsed, &names);
    merged.judge(&parsed, baseline.as_ref());
    if let Some(n) = merged.shards.first().and_then(|s| s.split_once('/')).and_then(|(_, n)| n.parse::<usize>().ok()) {
        if n > 1 && merged.shards.len() < n {
            eprintln!(
                "journeyd report: warning: only {} of {n} shards merged ({})",
                merged.shards.len(),
                merged.shards.join(", ")
            );
        }
    }
    if !args.quiet {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty());
        print!("{}", summary(&merged, Style { color }));
    }
    let mut failed_write = false;
    if let Some(out) = &args.output {
        if let Err(e) = merged.write(out) {
            eprintln!("journeyd report: cannot write {}: {e}", out.display());
            failed_write = true;
        }
    }
    for (path, text) in [(&args.junit, formats::junit(&merged)), (&args.markdown, formats::markdown(&merged))] {
        if let Some(p) = path {
            if let Err(e) = std::fs::write(p, text) {
                eprintln!("journeyd report: cannot write {}: {e}", p.display());
                failed_write = true;
            }
        }
    }
    Exit::verdict(merged.unreachable, merged.passed, failed_write)
}
