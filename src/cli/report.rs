//! `journeyd report`: work with verify reports. (Being written: see issue 5.)

use clap::Args;

use crate::cli::Exit;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report files.
    pub files: Vec<std::path::PathBuf>,
}

pub fn run(args: ReportArgs) -> Exit {
    let _ = args;
    eprintln!("journeyd report: not available yet");
    Exit::Usage
}
