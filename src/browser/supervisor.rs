//! [`Browser`]: one Chromium per journeyd, shared by every browser journey. A Chromium that died (crashed,
//! killed, OOM) is replaced on the next `new_page` and counted; pages that were open on it fail with
//! `Crashed`. A semaphore bounds the contexts open at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::cdp::Connection;
use super::page::Page;
use super::process::{self, Process};
use super::{BrowserError, BrowserOptions, PageOptions};

/// Time allowed for Chromium to start and accept the DevTools connection, independent of any step's
/// deadline: a restart serves every journey waiting for a page, not only the one that noticed the crash.
const LAUNCH: Duration = Duration::from_secs(30);

/// Time a graceful `Browser.close` gets at shutdown before the process is killed.
const CLOSE: Duration = Duration::from_secs(3);

/// One Chromium for the whole daemon; clones share it.
#[derive(Clone)]
pub struct Browser {
    inner: Arc<Inner>,
}

struct Inner {
    options: BrowserOptions,
    /// The running Chromium. Replaced (under `launching`) when found dead.
    current: Mutex<Option<Arc<Instance>>>,
    /// Serialises launches, so journeys that notice a crash together start one new Chromium, not several.
    launching: tokio::sync::Mutex<()>,
    /// One permit per open page (each its own context), released when the page is closed or dropped.
    permits: Arc<Semaphore>,
    restarts: AtomicU64,
    shut_down: AtomicBool,
}

/// One launched Chromium and its DevTools connection. Pages hold it too, so it lives (and is killed when
/// dropped) until the last page on it is gone.
pub(crate) struct Instance {
    pub process: Process,
    pub conn: Connection,
    /// Set when a page found this Chromium unresponsive: the next `new_page` replaces it.
    condemned: AtomicBool,
}

impl Instance {
    fn alive(&self) -> bool {
        !self.condemned.load(Ordering::Acquire) && !self.process.exited() && !self.conn.is_closed()
    }

    /// Marks this Chromium as broken and kills it; the next `new_page` starts another.
    pub fn condemn(&self) {
        self.condemned.store(true, Ordering::Release);
        self.process.kill();
    }

    async fn start(options: &BrowserOptions) -> Result<Arc<Instance>, BrowserError> {
        let deadline = Instant::now() + LAUNCH;
        let launched = process::launch(&options.executable).await?;
        let conn = Connection::connect(&launched.ws_url, deadline).await?;
        Ok(Arc::new(Instance { process: launched.process, conn, condemned: AtomicBool::new(false) }))
    }
}

impl Browser {
    /// Starts Chromium and connects to it. Fails with `Unavailable` when it cannot start.
    pub async fn launch(options: BrowserOptions) -> Result<Browser, BrowserError> {
        if options.max_contexts == 0 {
            return Err(BrowserError::Unavailable("max_contexts must be at least 1".to_string()));
        }
        let instance = Instance::start(&options).await?;
        let permits = Arc::new(Semaphore::new(options.max_contexts));
        Ok(Browser {
            inner: Arc::new(Inner {
                options,
                current: Mutex::new(Some(instance)),
                launching: tokio::sync::Mutex::new(()),
                permits,
                restarts: AtomicU64::new(0),
                shut_down: AtomicBool::new(false),
            }),
        })
    }

    /// A fresh incognito browser context (`Target.createBrowserContext`) with one page; waits for a context
    /// permit until `deadline`. Restarts a crashed or exited Chromium first (counted in [`Browser::restarts`]).
    pub async fn new_page(&self, options: PageOptions, deadline: Instant) -> Result<Page, BrowserError> {
        let permit = tokio::time::timeout_at(deadline, self.inner.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                BrowserError::Timeout(format!(
                    "a free browser context ({} open, the most allowed at once)",
                    self.inner.options.max_contexts
                ))
            })?
            .map_err(|_| BrowserError::Unavailable("the browser was shut down".to_string()))?;
        let instance = self.instance().await?;
        let page = match Page::open(instance.clone(), &options, deadline).await {
            // The browser died between the liveness check and the first command: one more try on a new one.
            Err(BrowserError::Crashed(_)) if !instance.alive() || instance.conn.is_closed() => {
                instance.condemn();
                Page::open(self.instance().await?, &options, deadline).await?
            }
            other => other?,
        };
        Ok(page.with_permit(permit))
    }

    /// How many times Chromium was found dead and started again.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    /// Pages (contexts) open now.
    pub fn open_contexts(&self) -> usize {
        self.inner.options.max_contexts - self.inner.permits.available_permits()
    }

    /// Closes Chromium (gracefully, then by force) and removes its profile directory. Later `new_page`
    /// calls fail with `Unavailable`; open pages fail with `Crashed`.
    pub async fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::Release);
        self.inner.permits.close();
        let _launching = self.inner.launching.lock().await;
        let Some(instance) = lock(&self.inner.current).take() else {
            return;
        };
        let deadline = Instant::now() + CLOSE;
        let _ = instance.conn.call(None, "Browser.close", json!({}), deadline).await;
        if !instance.process.wait_exit(deadline).await {
            instance.process.kill();
            instance.process.wait_exit(Instant::now() + CLOSE).await;
        }
    }

    /// The process id of the running Chromium, for tests that kill it.
    #[doc(hidden)]
    pub fn pid(&self) -> Option<u32> {
        lock(&self.inner.current).as_ref().and_then(|i| i.process.pid)
    }

    /// The ids of all page targets in the running Chromium, for tests that check a page is gone.
    #[doc(hidden)]
    pub async fn page_target_ids(&self) -> Result<Vec<String>, BrowserError> {
        let instance = self.instance().await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let targets = instance.conn.call(None, "Target.getTargets", json!({}), deadline).await?;
        let infos = targets["targetInfos"].as_array().cloned().unwrap_or_default();
        Ok(infos
            .iter()
            .filter(|t| t["type"] == "page")
            .filter_map(|t| t["targetId"].as_str().map(str::to_string))
            .collect::<Vec<_>>())
    }

    /// The running Chromium, started again if it died.
    async fn instance(&self) -> Result<Arc<Instance>, BrowserError> {
        if let Some(instance) = self.alive_instance() {
            return Ok(instance);
        }
        let _launching = self.inner.launching.lock().await;
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(BrowserError::Unavailable("the browser was shut down".to_string()));
        }
        if let Some(instance) = self.alive_instance() {
            return Ok(instance); // another journey restarted it while this one waited
        }
        let dead = lock(&self.inner.current).take();
        if let Some(dead) = &dead {
            dead.condemn();
            self.inner.restarts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                restarts = self.restarts(),
                stderr = %dead.process.stderr_tail(),
                "Chromium died; starting a new one"
            );
        }
        let instance = Instance::start(&self.inner.options).await?;
        *lock(&self.inner.current) = Some(instance.clone());
        Ok(instance)
    }

    fn alive_instance(&self) -> Option<Arc<Instance>> {
        lock(&self.inner.current).as_ref().filter(|i| i.alive()).cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The string at `key` of a CDP answer, or a `Protocol` error naming what was missing.
pub(crate) fn string_at(answer: &Value, key: &str, method: &str) -> Result<String, BrowserError> {
    answer[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BrowserError::Protocol(format!("{method} answered without {key}")))
}
