//! Why the daemon could not start, and why a reload was rejected: data for the caller to print, log, or
//! answer over HTTP. Nothing here prints.

use crate::alert::AlertError;
use crate::config::Diagnostics;
use crate::http::ClientError;
use crate::settings::SettingsError;
use crate::webconfig::WebConfigError;

/// Why [`Daemon::start`](super::Daemon::start) failed. Every case is a usage or configuration problem the
/// operator fixes before starting again.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("--web-config: {0}")]
    WebConfig(WebConfigError),
    #[error("--settings: {0}")]
    Settings(SettingsError),
    /// The journey files have errors; the diagnostics carry `file:line:col` and hints for printing.
    #[error("configuration has errors")]
    Journeys(Diagnostics),
    #[error("cannot read the listener's address: {0}")]
    Listener(std::io::Error),
    #[error("{0}")]
    Client(ClientError),
    #[error("{0}")]
    Alerts(AlertError),
    #[error("--settings: {0}")]
    Location(LocationConflict),
    /// The `OTEL_*` variables that configure trace export are malformed.
    #[error("trace export: {0}")]
    Traces(crate::trace::TraceConfigError),
}

/// Why a reload was rejected; the running configuration keeps going. The text is what `POST /-/reload`
/// answers and the log records.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("--web-config: {0}")]
    WebConfig(WebConfigError),
    #[error("--settings: {0}")]
    Settings(SettingsError),
    /// Settings that parse but cannot be applied (e.g. no HTTP client for the new delivery options).
    #[error("--settings: {0}")]
    Alerts(AlertError),
    /// The journey files have errors: one diagnostic per line, each with `file:line:col`.
    #[error("{}", one_per_line(.0))]
    Journeys(Diagnostics),
    /// The settings file's `external_labels.location` disagrees with `--location`.
    #[error("--settings: {0}")]
    Location(LocationConflict),
    /// The settings' `traces:` with the `OTEL_*` variables name no usable collector.
    #[error("--settings: trace export: {0}")]
    Traces(crate::trace::TraceConfigError),
    /// The daemon stopped before it could answer.
    #[error("shutting down")]
    ShuttingDown,
}

fn one_per_line(d: &Diagnostics) -> String {
    d.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// The settings file labels alerts with one location and `--location` names another: which one the alerts
/// carry would be a guess, so journeyd refuses (at start) or keeps the running settings (on reload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "external_labels.location is {settings:?} but --location is {flag:?}: remove `location` from external_labels \
     (--location sets it) or make them equal"
)]
pub struct LocationConflict {
    pub settings: String,
    pub flag: String,
}
