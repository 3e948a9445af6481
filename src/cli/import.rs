//! `journeyd import har|curl`: read the recording, write the journey to stdout or `-o`, and tell the
//! person on stderr what was left out and which variables to set. An error writes nothing (exit 2).

use crate::cli::Exit;
use crate::import::{self, ImportError, Imported, Options};
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// A HAR 1.2 file as browsers' developer tools save it (Network tab, "Save all as HAR").
    Har {
        /// The HAR file.
        file: PathBuf,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// curl command lines, as "Copy as cURL" gives them: one quoted argument each, several commands on
    /// separate lines, or `-` to read them from stdin.
    Curl {
        /// curl command lines (`'curl https://shop.example/api/login -H … --data-raw …'`), or `-`.
        #[arg(required = true)]
        commands: Vec<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write the journey to this file (replaced whole, never left half-written) instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The journey's name (default: the HAR file's name, or `curl-import`).
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(args: ImportArgs) -> Exit {
    let (result, out) = match args.source {
        ImportSource::Har { file, out } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return usage(format!("cannot read {}: {e}", file.display())),
            };
            let shown = file.display().to_string();
            let name = file.file_name().map_or(shown.clone(), |n| n.to_string_lossy().into_owned());
            let opts = Options { name: out.name.clone(), command: format!("journeyd import har {name}") };
            (import::from_har(&shown, &text, &opts), out)
        }
        ImportSource::Curl { commands, out } => {
            let text = if commands == ["-"] {
                let mut s = String::new();
                if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                    return usage(format!("cannot read stdin: {e}"));
                }
                s
            } else {
                commands.join("\n")
            };
            // The command lines hold credentials: the file names the command, never its arguments.
            let opts = Options { name: out.name.clone(), command: "journeyd import curl".into() };
            (import::from_curl(&text, &opts), out)
        }
    };
    match result {
        Ok(imported) => finish(&imported, out.output.as_deref()),
        Err(e) => report(&e),
    }
}

fn report(e: &ImportError) -> Exit {
    usage(e.to_string())
}

fn usage(message: String) -> Exit {
    eprintln!("journeyd: {message}");
    Exit::Usage
}

fn finish(imported: &Imported, output: Option<&Path>) -> Exit {
    match output {
        Some(path) => {
            if let Err(e) = write_whole(path, &imported.yaml) {
                return usage(format!("cannot write {}: {e}", path.display()));
            }
        }
        None => {
            use std::io::Write;
            // Not `print!`: a closed pipe (`… | head`) is an error to report, not a panic.
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(imported.yaml.as_bytes()).and_then(|()| stdout.flush()) {
                return usage(format!("cannot write the journey to stdout: {e}"));
            }
        }
    }
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    let left_out: Vec<String> = imported.dropped.iter().map(|(d, n)| format!("{n} {}", d.describe())).collect();
    let where_to = output.map_or(String::new(), |p| format!(" into {}", p.display()));
    let left = if left_out.is_empty() { String::new() } else { format!("; left out {}", left_out.join(", ")) };
    eprintln!("imported {} step{}{where_to}{left}", imported.steps, if imported.steps == 1 { "" } else { "s" });
    if !imported.env.is_empty() {
        eprintln!("set these before running it (the recorded values were not written):");
        for (var, what) in &imported.env {
            eprintln!("  {var}: {what}");
        }
    }
    Exit::Pass
}

/// Writes to a temporary file beside `path` and renames it over `path`: a failure leaves no partial file.
fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path.file_name().map_or("journey".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
