//! Reloading: every file re-read and checked before anything is applied — all of them, or none.

use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

use super::start::{locate, now_seconds, trace_config};
use super::{Daemon, ReloadError};
use crate::alert::NewSettings;
use crate::config;
use crate::settings::Settings;

/// Asks a running daemon to reload, through the same queue as `POST /-/reload`, so reloads never overlap.
#[derive(Clone)]
pub struct Reloader {
    requests: mpsc::Sender<TypedRequest>,
}

/// The trace export a reload applies, and the `trace_url` the status page links with.
type NewTraces = (Option<crate::trace::ExportConfig>, Option<String>);

/// A reload asked for by a [`Reloader`] (SIGHUP, tests): the reply keeps the typed error.
pub(super) type TypedRequest = oneshot::Sender<Result<(), ReloadError>>;

impl Reloader {
    pub(super) fn new(requests: mpsc::Sender<TypedRequest>) -> Reloader {
        Reloader { requests }
    }

    /// Waits for the reload to be applied or rejected.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(reply).await.map_err(|_| ReloadError::ShuttingDown)?;
        answer.await.unwrap_or(Err(ReloadError::ShuttingDown))
    }
}

impl Daemon {
    /// Re-reads every file. A bad configuration is rejected with its diagnostics and the running one keeps
    /// going; `journeyd_config_last_reload_successful` says which happened.
    pub async fn reload(&mut self) -> Result<(), ReloadError> {
        match self.try_reload().await {
            Ok(journeys) => {
                self.metrics.reload_success.set(1);
                self.metrics.reload_timestamp.set(now_seconds());
                self.schedulers.set(self.monitor.len() as i64);
                self.status.schedulers.store(self.monitor.len(), Ordering::Release);
                tracing::info!(journeys, "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                // One place records a rejection, in the gauge and the log, so they cannot disagree.
                self.metrics.reload_success.set(0);
                match &e {
                    ReloadError::Journeys(_) => {
                        tracing::error!("reload rejected; the previous configuration keeps running:\n{e}")
                    }
                    _ => tracing::error!("reload rejected; the previous configuration keeps running: {e}"),
                }
                Err(e)
            }
        }
    }

    /// Reads everything, then applies it; returns how many journeys this replica now runs.
    async fn try_reload(&mut self) -> Result<usize, ReloadError> {
        let web = self.web.reread().map_err(ReloadError::WebConfig)?;
        let (settings, traces) = self.reread_settings()?.unzip();
        let loaded = config::load(&self.sources.paths, &self.sources.load).map_err(ReloadError::Journeys)?;
        let suite = self.sources.prepare(loaded.suite);
        let n = suite.journeys.len();
        self.monitor.apply(suite).await;
        if let Some(web) = web {
            self.web.install(web);
        }
        if let Some(settings) = settings {
            self.deploys.set_settings(settings.settings().deploys);
            self.alerts.apply_settings(settings);
        }
        if let Some((export, trace_url)) = traces {
            self.traces.apply(export);
            self.status.set_trace_url(trace_url);
        }
        Ok(n)
    }

    /// Reads the `--settings` file and builds what applying it needs, without applying anything: the alert
    /// settings, and the trace export with its `trace_url`.
    fn reread_settings(&self) -> Result<Option<(NewSettings, NewTraces)>, ReloadError> {
        let Some(path) = &self.sources.settings else { return Ok(None) };
        let settings = Settings::load(path).map_err(ReloadError::Settings)?;
        let settings = locate(settings, self.sources.location.as_ref()).map_err(ReloadError::Location)?;
        let export =
            trace_config(&settings, self.sources.location.as_ref(), self.sources.shard).map_err(ReloadError::Traces)?;
        let traces = (export, settings.traces.trace_url.clone());
        let alerts = self.alerts.prepare(settings).map_err(ReloadError::Alerts)?;
        Ok(Some((alerts, traces)))
    }
}
