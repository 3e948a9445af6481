//! Browser journeys in the model: the journey's browser settings, a step's actions, and the selectors they
//! name. Checked at load (selectors as written, viewport, templates), so a run cannot fail on them.

use super::Template;

/// `browser:` on a journey: its steps are actions in a real Chromium page, one fresh incognito context
/// per run.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserSettings {
    /// The page's viewport, in CSS pixels (width, height).
    pub viewport: (u32, u32),
    /// Uncaught exceptions and console errors fail the step (reason `script`) unless allowed: a broken
    /// bundle is the outage browser journeys exist to catch.
    pub allow_js_errors: bool,
    /// Which failed sub-requests (4xx/5xx, blocked, network errors) fail the step; all are counted.
    pub failed_requests: FailedRequests,
    /// Sent instead of Chromium's own `User-Agent` (to tell monitor traffic apart in the site's logs).
    pub user_agent: Option<String>,
}

impl Default for BrowserSettings {
    fn default() -> Self {
        BrowserSettings {
            viewport: DEFAULT_VIEWPORT,
            allow_js_errors: false,
            failed_requests: FailedRequests::SameOrigin,
            user_agent: None,
        }
    }
}

/// A laptop screen: the layout most customers' checkout pages are built for.
pub const DEFAULT_VIEWPORT: (u32, u32) = (1280, 800);

/// `fail_on_failed_requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedRequests {
    /// Counted only.
    None,
    /// The site's own requests (same origin as the page): a missing bundle or a failing API call.
    SameOrigin,
    /// Every request, third parties (analytics, fonts) included.
    All,
}

impl FailedRequests {
    pub const NAMES: [&'static str; 3] = ["none", "same-origin", "all"];

    pub fn parse(text: &str) -> Option<FailedRequests> {
        match text {
            "none" => Some(FailedRequests::None),
            "same-origin" => Some(FailedRequests::SameOrigin),
            "all" => Some(FailedRequests::All),
            _ => None,
        }
    }

    /// Whether a failed request of this origin fails the step.
    pub fn fails(self, same_origin: bool) -> bool {
        match self {
            FailedRequests::None => false,
            FailedRequests::SameOrigin => same_origin,
            FailedRequests::All => true,
        }
    }
}

/// An element selector as written: `text=Check out` finds by visible text, anything else is CSS (its
/// syntax checked at load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Css(String),
    Text(String),
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Css(s) => f.write_str(s),
            Selector::Text(t) => write!(f, "text={t}"),
        }
    }
}

/// One thing a customer does, in the order written.
#[derive(Debug, Clone)]
pub enum Action {
    /// Navigate to the URL (a path joins the journey's target) and wait for the load event.
    Goto(Template),
    /// Wait for the element to be visible and enabled, then click its centre.
    Click(Selector),
    /// Clear the field, then insert the text at once (input and change events fire).
    Fill(Selector, Template),
    /// Focus the field and type the text key by key.
    Type(Selector, Template),
    /// Choose the `<option>` with this value.
    Select(Selector, Template),
    /// A key press on the focused element: `Enter`, `Tab`, `a`.
    Press(String),
    WaitFor(WaitFor),
}

impl Action {
    /// The action's name in the journey language, for messages.
    pub fn key(&self) -> &'static str {
        match self {
            Action::Goto(_) => "goto",
            Action::Click(_) => "click",
            Action::Fill(..) => "fill",
            Action::Type(..) => "type",
            Action::Select(..) => "select",
            Action::Press(_) => "press",
            Action::WaitFor(_) => "wait_for",
        }
    }
}

/// `wait_for:` what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    Visible(Selector),
    Attached(Selector),
    Hidden(Selector),
    /// The page's URL contains this text (or matches it as a glob with `*`).
    Url(String),
    /// No request in flight for 500 ms.
    NetworkIdle,
}

/// Key names `press:` accepts besides single characters (the DOM `KeyboardEvent.key` names).
pub const KEY_NAMES: [&str; 14] = [
    "Enter",
    "Tab",
    "Escape",
    "Backspace",
    "Delete",
    "Space",
    "ArrowUp",
    "ArrowDown",
    "ArrowLeft",
    "ArrowRight",
    "Home",
    "End",
    "PageUp",
    "PageDown",
];
