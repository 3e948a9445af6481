//! Logs through `tracing`: human-readable text on a terminal, JSON lines with `--log-format json`.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Libraries whose debug and trace logs print message payloads: every WebSocket frame, which for `ws:` steps
/// and the browser's DevTools connection carries typed secrets, cookies and page URLs. They log at `info`
/// at most, whatever the level asked for: no level may put a secret in the logs.
const PAYLOAD_LOGGERS: [&str; 2] = ["tungstenite=info", "tokio_tungstenite=info"];

pub fn init(format: LogFormat, filter: &str) -> Result<(), String> {
    let mut filter = EnvFilter::try_new(filter).map_err(|e| format!("invalid --log-level {filter:?}: {e}"))?;
    for cap in PAYLOAD_LOGGERS {
        filter = filter.add_directive(cap.parse().expect("static directive"));
    }
    // Colour only for a person at a terminal: logs piped to files or collectors stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let result = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    // A second init (tests calling `main` twice) is harmless.
    let _ = result;
    Ok(())
}
