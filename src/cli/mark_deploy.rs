//! `journeyd mark-deploy`: tells a running monitor that a deploy happened (`POST /api/v1/deploys`), for
//! pipelines. Exit codes: 0 recorded, 2 usage (bad flags, unreadable credentials, the monitor refused the
//! marker), 3 the monitor could not be reached (or answered 5xx).
//!
//! Credentials never appear on the command line: the basic-auth password and the bearer token come from a
//! file or the environment (`JOURNEYD_PASSWORD`, `JOURNEYD_BEARER_TOKEN`), as the monitor's
//! `--web-config` expects them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use crate::cli::{parse_duration_arg, Exit};

#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 the marker was recorded; 2 usage error or the monitor refused the marker \
(unknown journey, admin API off, wrong credentials); 3 the monitor could not be reached or failed. \
Details: docs/operations.md (Deploys)")]
pub struct MarkDeployArgs {
    /// The monitor's base URL (http://journeyd:9898).
    #[arg(long, value_name = "URL", env = "JOURNEYD_URL")]
    pub url: String,
    /// What was deployed (v1.4.2, a commit).
    #[arg(long, value_name = "VERSION")]
    pub version: String,
    /// Compare only this journey (repeatable; with --tag, journeys named or tagged).
    #[arg(long = "journey", value_name = "NAME")]
    pub journeys: Vec<String>,
    /// Compare only journeys carrying this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Who or what deployed (default: $GITHUB_WORKFLOW run $GITHUB_RUN_ID, $CI_PIPELINE_URL, or $USER).
    #[arg(long, value_name = "TEXT")]
    pub by: Option<String>,
    /// Free text for people (a change title, a link).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub description: String,
    /// Basic-auth user of the monitor's --web-config.
    #[arg(long, value_name = "USER", env = "JOURNEYD_USER")]
    pub user: Option<String>,
    /// File holding the basic-auth password (else $JOURNEYD_PASSWORD).
    #[arg(long, value_name = "FILE", requires = "user")]
    pub password_file: Option<PathBuf>,
    /// File holding a bearer token, for a proxy in front of the monitor (else $JOURNEYD_BEARER_TOKEN).
    #[arg(long, value_name = "FILE", conflicts_with = "user")]
    pub bearer_token_file: Option<PathBuf>,
    /// PEM file of the CA that signed the monitor's certificate (https).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Give up after this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration_arg)]
    pub timeout: Duration,
}

/// A secret from a file (trailing newline trimmed) or, without one, from an environment variable.
fn secret(file: &Option<PathBuf>, env: &str, what: &str) -> Result<Option<String>, Exit> {
    match file {
        Some(path) => {
            std::fs::read_to_string(path).map(|s| Some(s.trim_end_matches(['\r', '\n']).to_string())).map_err(|e| {
                eprintln!("journeyd mark-deploy: cannot read the {what} from {}: {e}", path.display());
                Exit::Usage
            })
        }
        None => Ok(std::env::var(env).ok().filter(|v| !v.is_empty())),
    }
}

/// Who sent the marker when `--by` is not given: the CI run, else the user.
fn default_by() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(w), Some(id)) = (var("GITHUB_WORKFLOW"), var("GITHUB_RUN_ID")) {
        return format!("{w} run {id}");
    }
    var("CI_PIPELINE_URL").or_else(|| var("USER")).unwrap_or_else(|| "journeyd mark-deploy".into())
}

fn client(args: &MarkDeployArgs) -> Result<reqwest::Client, Exit> {
    let mut builder = reqwest::Client::builder().timeout(args.timeout);
    if let Some(path) = &args.ca {
        let pem = std::fs::read(path).map_err(|e| {
            eprintln!("journeyd mark-deploy: cannot read --ca {}: {e}", path.display());
            Exit::Usage
        })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            eprintln!("journeyd mark-deploy: --ca {} is not a PEM certificate: {e}", path.display());
            Exit::Usage
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| {
        eprintln!("journeyd mark-deploy: cannot build the HTTP client: {e}");
        Exit::Usage
    })
}

pub async fn run(args: MarkDeployArgs) -> Exit {
    match send(&args).await {
        Ok(exit) | Err(exit) => exit,
    }
}

async fn send(args: &MarkDeployArgs) -> Result<Exit, Exit> {
    let url = format!("{}/api/v1/deploys", args.url.trim_end_matches('/'));
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        eprintln!("journeyd mark-deploy: --url {} is not an http:// or https:// URL", args.url);
        return Err(Exit::Usage);
    }
    let client = client(args)?;
    let body = json!({
        "version": args.version,
        "journeys": args.journeys,
        "tags": args.tags,
        "by": args.by.clone().unwrap_or_else(default_by),
        "description": args.description,
    });
    let mut request = client.post(&url).json(&body);
    if let Some(user) = &args.user {
        let password = secret(&args.password_file, "JOURNEYD_PASSWORD", "password")?;
        request = request.basic_auth(user, password);
    } else if let Some(token) = secret(&args.bearer_token_file, "JOURNEYD_BEARER_TOKEN", "bearer token")? {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        eprintln!("journeyd mark-deploy: cannot reach {url}: {}", crate::http::error_chain(&e));
        Exit::Unreachable
    })?;
    let status = response.status();
    let text: String = response.text().await.unwrap_or_default().chars().take(2000).collect();
    if status.is_success() {
        let id = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["id"].as_u64());
        println!("deploy {} marked on {} (id {})", args.version, args.url, id.map_or("?".into(), |i| i.to_string()));
        return Ok(Exit::Pass);
    }
    let reason = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(text);
    eprintln!("journeyd mark-deploy: {url} answered {status}: {}", reason.trim());
    Err(if status.is_server_error() { Exit::Unreachable } else { Exit::Usage })
}
