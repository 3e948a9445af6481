//! What can go wrong in the browser, as a small closed set the runner maps to failure reasons.

/// Why a browser operation did not succeed. The text says what was looked for or waited on, so a failure
/// reason reads well without the caller adding context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowserError {
    /// No element matched the locator by the deadline (or at all, for queries that do not wait).
    #[error("no element matches {0}")]
    NotFound(String),
    /// The deadline passed while waiting for the named thing.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// The browser could not load the page: a `net::ERR_…` text from Chromium.
    #[error("navigation failed: {0}")]
    Navigation(String),
    /// The browser process or the page's renderer died, or the page was closed at an earlier deadline.
    #[error("the browser crashed: {0}")]
    Crashed(String),
    /// No usable Chromium: the text says how to point journeyd at one.
    #[error("{0}")]
    Unavailable(String),
    /// Chromium answered something this client did not expect (a protocol error, a bad selector).
    #[error("unexpected answer from Chromium: {0}")]
    Protocol(String),
}

/// The kind of a [`BrowserError`], without its text: what the runner maps to a failure reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrowserErrorKind {
    NotFound,
    Timeout,
    Navigation,
    Crashed,
    Unavailable,
    Protocol,
}

impl BrowserError {
    pub fn kind(&self) -> BrowserErrorKind {
        match self {
            BrowserError::NotFound(_) => BrowserErrorKind::NotFound,
            BrowserError::Timeout(_) => BrowserErrorKind::Timeout,
            BrowserError::Navigation(_) => BrowserErrorKind::Navigation,
            BrowserError::Crashed(_) => BrowserErrorKind::Crashed,
            BrowserError::Unavailable(_) => BrowserErrorKind::Unavailable,
            BrowserError::Protocol(_) => BrowserErrorKind::Protocol,
        }
    }
}
