//! `journeyd verify`: the post-deploy gate. (Being written: see issue 5.)

use clap::Args;

use crate::cli::Exit;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Journey files or directories.
    #[arg(default_value = "journeys")]
    pub paths: Vec<std::path::PathBuf>,
}

pub async fn run(args: VerifyArgs) -> Exit {
    let _ = args;
    eprintln!("journeyd verify: not available yet");
    Exit::Usage
}
