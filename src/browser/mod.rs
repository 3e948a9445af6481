//! The browser engine: the only code that talks to Chromium.
//!
//! - `find`       — which Chromium to run (`--chromium`, `JOURNEYD_CHROMIUM`, the usual names on `PATH`).
//! - `process`    — one headless Chromium on a fresh profile directory: DevTools URL from stderr, reaped
//!   on exit, killed and cleaned up on drop.
//! - `cdp`        — the DevTools connection: one task owns the WebSocket; answers by id, events by session.
//! - `supervisor` — [`Browser`]: one Chromium per journeyd, restarted (and counted) when it died, a
//!   semaphore bounding concurrent contexts.
//! - `page`       — [`Page`]: one incognito context with one tab; navigation, queries, screenshots, timings.
//! - `actions`    — click, fill, type, select, press, wait_for: each auto-waits for its element.
//! - `events`     — what a page saw (exceptions, console, failed requests, in-flight requests).
//! - `script`     — the JavaScript run in pages: locators, actionability, web vitals.
//! - `keys`       — the keys `press` knows.
//!
//! # Why our own CDP client
//!
//! journeyd needs about 25 DevTools methods and a dozen events. `chromiumoxide` generates the whole protocol
//! as Rust types: its `chromiumoxide_cdp/src/cdp.rs` is 3.9 MB of serde-derived source (measured on the
//! crate's repository), 2.7× all of journeyd's own `src/` (1.4 MB), to be compiled on a 2-core machine that
//! four people share, for types we would not use. The protocol is JSON over a WebSocket: `tokio-tungstenite`
//! (already a dependency, for `ws:` steps) and `serde_json` carry it in `cdp` (about 200 lines), and the
//! parts that matter for monitoring are ours to get right: a deadline on every command, a crashed browser
//! noticed rather than waited on, events bounded per page.
//!
//! # Deadlines
//!
//! Every action takes the step's deadline. Waiting for an element that does not show up fails at the
//! deadline with `NotFound` (nothing ever matched) or `Timeout` (it matched but never became visible or
//! enabled), and the page stays usable, so the caller can take a screenshot as evidence. A page that does
//! not finish loading by the deadline, or stops answering commands, is hung: its target is closed and its
//! context disposed, and later calls on it fail with `Crashed`.

mod actions;
mod cdp;
mod error;
mod events;
mod find;
mod keys;
mod page;
mod process;
mod script;
mod supervisor;

use std::path::PathBuf;
use std::time::Duration;

pub use error::{BrowserError, BrowserErrorKind};
pub use find::{find_chromium, CHROMIUM_ENV};
pub use keys::is_known_key;
pub use page::Page;
pub use supervisor::Browser;

/// How to run Chromium.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    pub executable: PathBuf,
    /// Pages (each its own incognito context) open at once; more wait for a permit. Each context costs a
    /// renderer process (tens of MB), so this bounds memory.
    pub max_contexts: usize,
}

/// How a new page looks to the site.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// Width and height of the viewport in CSS pixels.
    pub viewport: (u32, u32),
    /// Replaces Chromium's User-Agent (which says `HeadlessChrome`) when set.
    pub user_agent: Option<String>,
    /// Sent with every request the page makes.
    pub extra_headers: Vec<(String, String)>,
    /// Accept any certificate (a staging site with a private CA).
    pub ignore_https_errors: bool,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions { viewport: (1280, 800), user_agent: None, extra_headers: Vec::new(), ignore_https_errors: false }
    }
}

/// Which element(s) an action or query is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// A CSS selector, as `document.querySelectorAll` reads it.
    Css(String),
    /// The innermost elements whose text contains this, case-insensitively and with whitespace collapsed;
    /// in double quotes (`text="Pay now"`), whose whole text equals it. Buttons' `value` counts as text.
    Text(String),
}

impl Locator {
    /// `text=Checkout` is a [`Locator::Text`]; everything else is CSS.
    pub fn parse(written: &str) -> Locator {
        match written.strip_prefix("text=") {
            Some(text) => Locator::Text(text.to_string()),
            None => Locator::Css(written.to_string()),
        }
    }
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Locator::Css(css) => write!(f, "`{css}`"),
            Locator::Text(text) => write!(f, "`text={text}`"),
        }
    }
}

/// When `goto` counts the page as loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitUntil {
    /// The `load` event: the document and its subresources.
    Load,
    /// `DOMContentLoaded`: the document is parsed; images and async scripts may still load.
    DomContentLoaded,
    /// `load`, then no request in flight for [`NETWORK_IDLE`].
    NetworkIdle,
}

/// How long no request may be in flight for the network to count as idle (the 500 ms Playwright, Puppeteer
/// and Chromium's own `networkIdle` lifecycle event use).
pub const NETWORK_IDLE: Duration = Duration::from_millis(500);

/// What `wait_for` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// An element matching is visible (has a box, not `visibility: hidden`).
    Visible(Locator),
    /// An element matching is in the DOM, visible or not.
    Attached(Locator),
    /// No element matching is visible (none at all is fine).
    Hidden(Locator),
    /// The page's URL contains this, or, when it has a `*`, matches it as a glob (`*` is any run of
    /// characters) over the whole URL.
    Url(String),
    /// No request in flight for [`NETWORK_IDLE`].
    NetworkIdle,
}

/// Where a `goto` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Navigation {
    /// The HTTP status of the document after redirects; `None` for a same-document (`#hash`) navigation,
    /// `data:` and `about:` URLs.
    pub status: Option<u16>,
    /// The document's URL after redirects.
    pub url: String,
}

/// Everything a page saw since the previous [`Page::take_signals`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageSignals {
    /// Uncaught exceptions and unhandled promise rejections.
    pub exceptions: Vec<JsException>,
    /// `console.*` calls and browser log entries (deprecations, CSP and mixed-content errors). Network
    /// errors the browser logs are left out: they are in `failed_requests`.
    pub console: Vec<ConsoleMessage>,
    /// Sub-requests answered with a status >= 400, or that failed (refused, blocked, aborted by the
    /// browser). The main document's own status is [`Navigation::status`], not here; requests cancelled
    /// because the page navigated away are not failures.
    pub failed_requests: Vec<FailedRequest>,
    /// Every request the page made (the main document too), in order; not the favicon the browser asks for
    /// on its own, which is never a failure either.
    pub requests: Vec<RequestMade>,
    /// Entries not kept because a list reached its bound ([`events::MAX_ENTRIES`] each) or the page's event
    /// channel was full.
    pub dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsException {
    /// The exception's description (`TypeError: x is undefined`), first line.
    pub message: String,
    /// `url:line:column` where it was thrown (1-based line and column), when known.
    pub location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsoleLevel {
    Debug,
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMessage {
    pub level: ConsoleLevel,
    pub text: String,
    /// `console` for `console.*` calls, else Chromium's log source (`javascript`, `security`, `violation`…).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRequest {
    pub url: String,
    /// The HTTP status when there was an answer.
    pub status: Option<u16>,
    /// Chromium's error text when there was none (`net::ERR_CONNECTION_REFUSED`, `net::ERR_BLOCKED_BY_CLIENT`).
    pub error: Option<String>,
    /// The request went to the page's own origin (scheme, host and port): the site's own API or assets,
    /// not a third party.
    pub same_origin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMade {
    pub method: String,
    pub url: String,
    /// Chromium's resource type: `Document`, `Script`, `Fetch`, `XHR`, `Image`, …
    pub resource_type: String,
}

/// Navigation timing of the current document and its web vitals so far. Each is `None` when the browser
/// has not measured it (yet): `load` before the load event, `lcp` on a page without content.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PageTimings {
    /// Navigation start to the first byte of the response.
    pub ttfb: Option<Duration>,
    /// Navigation start to the end of the `DOMContentLoaded` handlers.
    pub dom_content_loaded: Option<Duration>,
    /// Navigation start to the end of the `load` handlers.
    pub load: Option<Duration>,
    /// First Contentful Paint.
    pub fcp: Option<Duration>,
    /// Largest Contentful Paint: the latest candidate (the browser finalises it at the first input).
    pub lcp: Option<Duration>,
    /// Cumulative Layout Shift: the largest session window of shifts without recent input (unitless).
    pub cls: Option<f64>,
    /// Total Blocking Time: the part over 50 ms of each long task after First Contentful Paint.
    pub tbt: Option<Duration>,
}

/// Whether `url` matches a [`WaitFor::Url`] pattern: a substring, or with `*`, a glob over the whole URL.
pub fn url_matches(pattern: &str, url: &str) -> bool {
    if !pattern.contains('*') {
        return url.contains(pattern);
    }
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = url.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_patterns() {
        assert!(url_matches("/cart", "http://h/store/cart?x=1"));
        assert!(!url_matches("/carts", "http://h/store/cart"));
        assert!(url_matches("*/store/cart", "http://h/store/cart"));
        assert!(!url_matches("*/store/cart", "http://h/store/cart?x=1"));
        assert!(url_matches("http://*/products/*", "http://h:1/store/products/SKU-1"));
        assert!(url_matches("*", "anything"));
        assert!(!url_matches("https://*", "http://h/"));
        assert!(url_matches("http://h/*/cart*", "http://h/store/cart#top"));
    }

    #[test]
    fn locators() {
        assert_eq!(Locator::parse("text=Checkout"), Locator::Text("Checkout".into()));
        assert_eq!(Locator::parse("#checkout"), Locator::Css("#checkout".into()));
        assert_eq!(Locator::parse("button[data-text=x]").to_string(), "`button[data-text=x]`");
    }
}
