//! The one Chromium of a journeyd process, launched on the first browser journey's first run (so a daemon
//! without browser journeys never starts one), and where failure screenshots are kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::browser::{find_chromium, Browser, BrowserError, BrowserOptions};

use super::evidence::EvidenceStore;

/// Contexts (pages) open at once across all browser journeys: each is a renderer process of tens of MB,
/// so this bounds memory; more runs wait for a permit within their step deadline.
pub const MAX_CONTEXTS: usize = 8;

/// Shared by every plan of a process (cheap to clone).
#[derive(Clone)]
pub struct BrowserHost {
    inner: Arc<Inner>,
}

struct Inner {
    /// The Chromium found at start, or why none was: browser journeys are refused at load with this text.
    executable: Result<PathBuf, String>,
    /// Launched once, on first use; the engine restarts a crashed process itself.
    browser: OnceCell<Browser>,
    evidence: EvidenceStore,
}

impl std::fmt::Debug for BrowserHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserHost").field("executable", &self.inner.executable).finish_non_exhaustive()
    }
}

impl BrowserHost {
    /// Finds Chromium (`explicit` from `--chromium`, then `JOURNEYD_CHROMIUM`, then `PATH`) without starting
    /// it; screenshots go to `evidence`.
    pub fn new(explicit: Option<&Path>, evidence: EvidenceStore) -> BrowserHost {
        let executable = find_chromium(explicit).map_err(|e| e.to_string());
        BrowserHost { inner: Arc::new(Inner { executable, browser: OnceCell::new(), evidence }) }
    }

    /// The Chromium that browser journeys will run in, or the message that says how to get one.
    pub fn executable(&self) -> Result<&Path, &str> {
        match &self.inner.executable {
            Ok(p) => Ok(p),
            Err(e) => Err(e),
        }
    }

    /// The running browser, launching it on the first call.
    pub async fn browser(&self) -> Result<&Browser, BrowserError> {
        let executable = self.inner.executable.as_ref().map_err(|e| BrowserError::Unavailable(e.clone()))?;
        self.inner
            .browser
            .get_or_try_init(|| {
                Browser::launch(BrowserOptions { executable: executable.clone(), max_contexts: MAX_CONTEXTS })
            })
            .await
    }

    /// Times the engine restarted a dead Chromium (0 before the first launch).
    pub fn restarts(&self) -> u64 {
        self.inner.browser.get().map_or(0, Browser::restarts)
    }

    /// Browser contexts (one per running browser journey iteration) open now.
    pub fn open_contexts(&self) -> usize {
        self.inner.browser.get().map_or(0, Browser::open_contexts)
    }

    pub fn evidence(&self) -> &EvidenceStore {
        &self.inner.evidence
    }

    /// Stops Chromium, if it was started, and removes its profile directory.
    pub async fn shutdown(&self) {
        if let Some(b) = self.inner.browser.get() {
            b.shutdown().await;
        }
    }
}
