//! The actions a customer takes, each waiting for its element first ("auto-wait"): the probe is evaluated
//! at a short, growing interval until the element is actionable or the deadline passes. An element that
//! never shows up fails with `NotFound`; one that shows up but stays hidden, disabled or covered fails with
//! `Timeout` saying which. The page stays usable after either, for evidence.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::keys::{self, Key};
use super::page::{navigating, Page};
use super::script;
use super::{url_matches, BrowserError, Locator, WaitFor};

/// The first re-check comes quickly (most waits are for a render a few ms away), later ones less often so
/// a long wait costs little CPU in the page.
const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(100);

impl Page {
    /// Clicks the centre of the first visible match with real mouse events (move, press, release), after
    /// waiting for it to be visible, enabled and not covered by another element.
    pub async fn click(&mut self, locator: &Locator, deadline: Instant) -> Result<(), BrowserError> {
        let at = self.wait_until(locator, "point", "", "visible, enabled and not covered", deadline).await?;
        let (x, y) = (at["x"].as_f64().unwrap_or(0.0), at["y"].as_f64().unwrap_or(0.0));
        for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
            let event = json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1 });
            self.call("Input.dispatchMouseEvent", event, deadline).await?;
        }
        Ok(())
    }

    /// Replaces the value of an input, textarea or contenteditable: focuses and clears it, inserts `text` as
    /// one input (`Input.insertText`), then fires `change`.
    pub async fn fill(&mut self, locator: &Locator, text: &str, deadline: Instant) -> Result<(), BrowserError> {
        self.wait_until(locator, "focus-clear", "", "visible, enabled and editable", deadline).await?;
        if !text.is_empty() {
            self.call("Input.insertText", json!({ "text": text }), deadline).await?;
        }
        self.changed(locator, deadline).await
    }

    /// Focuses the element and types `text` key by key (keydown, keypress, input, keyup for each), for pages
    /// that react to keystrokes (autocomplete, masks). Does not clear it first.
    pub async fn type_text(&mut self, locator: &Locator, text: &str, deadline: Instant) -> Result<(), BrowserError> {
        self.wait_until(locator, "focus", "", "visible, enabled and editable", deadline).await?;
        for c in text.chars() {
            let key = if c == '\n' { keys::key("Enter").expect("Enter is a named key") } else { keys::char_key(c) };
            self.key_stroke(&key, deadline).await?;
        }
        self.changed(locator, deadline).await
    }

    /// Chooses the option of a `<select>` whose value is `value` (or, failing that, whose label is), and
    /// fires `input` and `change`. Waits for the option too (options filled in by a script).
    pub async fn select(&mut self, locator: &Locator, value: &str, deadline: Instant) -> Result<(), BrowserError> {
        let wanted = format!("visible, enabled and offering the option {value:?}");
        self.wait_until(locator, "select", value, &wanted, deadline).await?;
        Ok(())
    }

    /// Presses a key on whatever has focus: a named key (`Enter`, `Tab`, `Escape`, arrows…, see
    /// [`super::is_known_key`]) or a single character.
    pub async fn press(&mut self, key: &str, deadline: Instant) -> Result<(), BrowserError> {
        let Some(key) = keys::key(key) else {
            return Err(BrowserError::Protocol(format!("unknown key {key:?} (named keys: Enter, Tab, Escape, …)")));
        };
        self.key_stroke(&key, deadline).await
    }

    /// Waits until the condition holds. A condition still false at `deadline` fails (`NotFound` for an
    /// element that never appeared) and leaves the page usable.
    pub async fn wait_for(&mut self, condition: &WaitFor, deadline: Instant) -> Result<(), BrowserError> {
        match condition {
            WaitFor::Visible(l) => self.wait_until(l, "visible", "", "visible", deadline).await.map(drop),
            WaitFor::Attached(l) => self.wait_until(l, "attached", "", "in the page", deadline).await.map(drop),
            WaitFor::Hidden(l) => self.wait_until(l, "hidden", "", "hidden", deadline).await.map(drop),
            WaitFor::Url(pattern) => self.wait_url(pattern, deadline).await,
            WaitFor::NetworkIdle => match self.network_idle(deadline).await? {
                true => Ok(()),
                false => Err(BrowserError::Timeout(format!(
                    "network idle ({} requests still in flight)",
                    self.state.in_flight.len()
                ))),
            },
        }
    }

    async fn wait_url(&mut self, pattern: &str, deadline: Instant) -> Result<(), BrowserError> {
        let mut pause = FIRST_POLL;
        let mut url = String::new();
        loop {
            match self.poll("location.href", deadline).await {
                Ok(Some(now)) => url = now.as_str().unwrap_or_default().to_string(),
                Ok(None) => {}
                Err(BrowserError::Protocol(e)) if navigating(&e) => {}
                Err(e) => return Err(e),
            };
            if url_matches(pattern, &url) {
                return Ok(());
            }
            if !pause_until(&mut pause, deadline).await {
                return Err(BrowserError::Timeout(format!("the URL to match {pattern:?} (it is {url})")));
            }
        }
    }

    /// Evaluates the probe's `op` on `locator` until it answers `ok`, and returns that answer.
    async fn wait_until(
        &mut self,
        locator: &Locator,
        op: &str,
        arg: &str,
        wanted: &str,
        deadline: Instant,
    ) -> Result<Value, BrowserError> {
        let expression = script::probe(locator, op, arg);
        let mut pause = FIRST_POLL;
        let mut answer = json!({ "state": "missing" });
        loop {
            match self.poll(&expression, deadline).await {
                Ok(Some(now)) => answer = now,
                Ok(None) => {} // no answer by the deadline: report the last one
                Err(BrowserError::Protocol(e)) if navigating(&e) => answer = json!({ "state": "missing" }),
                Err(e) => return Err(e),
            };
            let state = answer["state"].as_str().unwrap_or("missing");
            match state {
                "ok" => return Ok(answer),
                "bad-selector" => {
                    let error = answer["error"].as_str().unwrap_or_default();
                    return Err(BrowserError::Protocol(format!("{locator} is not a valid selector: {error}")));
                }
                _ => {}
            }
            if !pause_until(&mut pause, deadline).await {
                return Err(match state {
                    "missing" => BrowserError::NotFound(locator.to_string()),
                    _ => BrowserError::Timeout(format!("{locator} to be {wanted} (it is {})", describe(&answer))),
                });
            }
        }
    }

    /// Fires `change` on the element after typing into it, as a person leaving the field would.
    async fn changed(&mut self, locator: &Locator, deadline: Instant) -> Result<(), BrowserError> {
        match self.eval(&script::probe(locator, "changed", ""), deadline).await {
            Err(BrowserError::Protocol(e)) if navigating(&e) => Ok(()), // the typing submitted a form
            other => other.map(drop),
        }
    }

    async fn key_stroke(&mut self, key: &Key, deadline: Instant) -> Result<(), BrowserError> {
        let mut down = json!({
            "type": if key.text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": key.key,
            "code": key.code,
            "windowsVirtualKeyCode": key.key_code,
            "nativeVirtualKeyCode": key.key_code,
        });
        if let Some(text) = &key.text {
            down["text"] = json!(text);
            down["unmodifiedText"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down, deadline).await?;
        let up = json!({ "type": "keyUp", "key": key.key, "code": key.code, "windowsVirtualKeyCode": key.key_code, "nativeVirtualKeyCode": key.key_code });
        self.call("Input.dispatchKeyEvent", up, deadline).await?;
        Ok(())
    }
}

/// Sleeps for `pause` (doubling it up to [`MAX_POLL`]) but not past `deadline`; `false` once the deadline
/// has passed, so the caller reports what it saw last.
async fn pause_until(pause: &mut Duration, deadline: Instant) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return false;
    }
    tokio::time::sleep_until((now + *pause).min(deadline)).await;
    *pause = (*pause * 2).min(MAX_POLL);
    true
}

/// The probe's state in words, for a timeout's text.
fn describe(answer: &Value) -> String {
    match answer["state"].as_str().unwrap_or_default() {
        "covered" => format!("covered by {}", answer["value"].as_str().unwrap_or("another element")),
        "not-editable" => "not editable".to_string(),
        "not-select" => "not a <select>".to_string(),
        "no-option" => "without that option".to_string(),
        other => other.to_string(),
    }
}
