//! [`Page`]: one incognito browser context with one tab, attached over a flat session. Navigation, queries,
//! screenshots, signals and timings live here; the element actions are in `actions`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::cdp::Events;
use super::events::PageState;
use super::script;
use super::supervisor::{string_at, Instance};
use super::{BrowserError, Locator, Navigation, PageOptions, PageSignals, PageTimings, WaitUntil, NETWORK_IDLE};

/// The bound on queries that take no deadline (text, url, screenshot…): they answer in milliseconds on a
/// live page; one that does not answer in this long is hung and is killed.
pub(crate) const QUERY: Duration = Duration::from_secs(10);

/// A page that does not answer a check within this long is hung (a script in an endless loop), not slow.
const HUNG: Duration = Duration::from_millis(250);

/// Time allowed for disposing of a context. A browser that cannot do that is itself hung and is replaced.
const DISPOSE: Duration = Duration::from_secs(5);

/// One page in its own incognito context. Dropping it disposes of the context in the background; `close`
/// does so and waits.
pub struct Page {
    /// The Chromium this page lives in (kept alive by it).
    pub(crate) instance: Arc<Instance>,
    pub(crate) session: String,
    target_id: String,
    context_id: String,
    events: Events,
    pub(crate) state: PageState,
    /// Why this page can no longer be used (killed at a deadline, renderer crashed), once it cannot.
    gone: Option<String>,
    /// The context was disposed of (by `close`, or when the page was killed): nothing left to do on drop.
    disposed: bool,
    /// When the page opened: the network counts as quiet since then until a request is made.
    opened: Instant,
    /// The browser's context permit, released when the page is dropped.
    permit: Option<OwnedSemaphorePermit>,
}

impl Page {
    pub(crate) async fn open(
        instance: Arc<Instance>,
        options: &PageOptions,
        deadline: Instant,
    ) -> Result<Page, BrowserError> {
        let conn = instance.conn.clone();
        let created =
            conn.call(None, "Target.createBrowserContext", json!({ "disposeOnDetach": true }), deadline).await?;
        let context_id = string_at(&created, "browserContextId", "Target.createBrowserContext")?;
        let opened = async {
            let target = json!({ "url": "about:blank", "browserContextId": context_id });
            let target = conn.call(None, "Target.createTarget", target, deadline).await?;
            let target_id = string_at(&target, "targetId", "Target.createTarget")?;
            let attach = json!({ "targetId": target_id, "flatten": true });
            let attached = conn.call(None, "Target.attachToTarget", attach, deadline).await?;
            Ok::<_, BrowserError>((target_id, string_at(&attached, "sessionId", "Target.attachToTarget")?))
        };
        let (target_id, session) = match opened.await {
            Ok(ids) => ids,
            Err(e) => {
                dispose(instance.clone(), None, context_id).await;
                return Err(e);
            }
        };
        let events = conn.subscribe(&session);
        let mut page = Page {
            instance,
            session,
            state: PageState::new(target_id.clone()),
            target_id,
            context_id,
            events,
            gone: None,
            disposed: false,
            opened: Instant::now(),
            permit: None,
        };
        page.set_up(options, deadline).await?;
        Ok(page)
    }

    pub(crate) fn with_permit(mut self, permit: OwnedSemaphorePermit) -> Page {
        self.permit = Some(permit);
        self
    }

    /// Enables the domains the signals come from, installs the web-vitals observer and applies the options.
    /// The commands are sent together: Chromium answers them in order, one round trip in all.
    async fn set_up(&mut self, options: &PageOptions, deadline: Instant) -> Result<(), BrowserError> {
        let mut commands = vec![
            ("Page.enable", json!({})),
            ("Page.setLifecycleEventsEnabled", json!({ "enabled": true })),
            ("Runtime.enable", json!({})),
            ("Network.enable", json!({})),
            ("Log.enable", json!({})),
            ("Page.addScriptToEvaluateOnNewDocument", json!({ "source": script::VITALS })),
            (
                "Emulation.setDeviceMetricsOverride",
                json!({ "width": options.viewport.0, "height": options.viewport.1, "deviceScaleFactor": 1, "mobile": false }),
            ),
        ];
        if let Some(agent) = &options.user_agent {
            commands.push(("Emulation.setUserAgentOverride", json!({ "userAgent": agent })));
        }
        if !options.extra_headers.is_empty() {
            let headers: serde_json::Map<String, Value> =
                options.extra_headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            commands.push(("Network.setExtraHTTPHeaders", json!({ "headers": headers })));
        }
        if options.ignore_https_errors {
            commands.push(("Security.setIgnoreCertificateErrors", json!({ "ignore": true })));
        }
        let conn = &self.instance.conn;
        let session = Some(self.session.as_str());
        let calls = commands.into_iter().map(|(method, params)| conn.call(session, method, params, deadline));
        let answers = futures_util::future::join_all(calls).await;
        if let Some(Err(e)) = answers.into_iter().find(Result::is_err) {
            return Err(self.failed(e));
        }
        Ok(())
    }

    /// Sends a command to this page's session. A command not answered by `deadline` means the page is
    /// hung: it is killed.
    pub(crate) async fn call(&mut self, method: &str, params: Value, deadline: Instant) -> Result<Value, BrowserError> {
        self.usable()?;
        let answer = self.instance.conn.call(Some(&self.session), method, params, deadline).await;
        answer.map_err(|e| self.failed(e))
    }

    /// Turns an error into the page's fate: a timeout kills the page; a lost connection or renderer
    /// makes it unusable.
    fn failed(&mut self, e: BrowserError) -> BrowserError {
        match &e {
            BrowserError::Timeout(what) => self.kill(&format!("it was killed after timing out waiting for {what}")),
            BrowserError::Crashed(why) => self.gone = Some(why.clone()),
            _ => {}
        }
        e
    }

    /// Fails with `Crashed` when the page can no longer be used.
    pub(crate) fn usable(&mut self) -> Result<(), BrowserError> {
        self.pump();
        if self.state.crashed && self.gone.is_none() {
            self.gone = Some("the page's renderer crashed".to_string());
        }
        match &self.gone {
            Some(why) => Err(BrowserError::Crashed(why.clone())),
            None => Ok(()),
        }
    }

    /// Closes the page's target and context now (in the background) and makes later calls fail.
    pub(crate) fn kill(&mut self, why: &str) {
        if self.gone.is_none() {
            self.gone = Some(format!("the page is gone: {why}"));
        }
        if !self.disposed {
            self.disposed = true;
            self.instance.conn.unsubscribe(&self.session);
            let target = Some(self.target_id.clone());
            tokio::spawn(dispose(self.instance.clone(), target, self.context_id.clone()));
        }
    }

    /// Applies the events received so far.
    pub(crate) fn pump(&mut self) {
        while let Ok(event) = self.events.rx.try_recv() {
            self.state.apply(&event.method, &event.params);
        }
    }

    /// Waits for the next event until `until`; `false` when none came. Fails when the page's event stream
    /// ended (browser gone or target detached).
    pub(crate) async fn next_event(&mut self, until: Instant) -> Result<bool, BrowserError> {
        match tokio::time::timeout_at(until, self.events.rx.recv()).await {
            Ok(Some(event)) => {
                self.state.apply(&event.method, &event.params);
                Ok(true)
            }
            Ok(None) => {
                let why = "the browser or the page went away".to_string();
                self.gone.get_or_insert(why.clone());
                Err(BrowserError::Crashed(why))
            }
            Err(_) => Ok(false),
        }
    }

    /// Navigates to `url` and waits until the page reached `until`. A page that does not get there by
    /// `deadline` is killed.
    pub async fn goto(&mut self, url: &str, until: WaitUntil, deadline: Instant) -> Result<Navigation, BrowserError> {
        self.usable()?;
        self.state.navigating();
        // Chromium answers `Page.navigate` when the response starts: a server that never answers times out
        // here (and the page is killed).
        let answer = match self.call("Page.navigate", json!({ "url": url }), deadline).await {
            Err(BrowserError::Timeout(_)) => return Err(BrowserError::Timeout(format!("{url} to load (no response)"))),
            other => other?,
        };
        let error = answer["errorText"].as_str().filter(|e| !e.is_empty());
        // An HTTP error without a body: Chromium shows its own error page, but the site did answer.
        let http_error = error == Some("net::ERR_HTTP_RESPONSE_CODE_FAILURE");
        if let (Some(error), false) = (error, http_error) {
            return Err(BrowserError::Navigation(format!("{error} loading {url}")));
        }
        let Some(loader) = answer["loaderId"].as_str().map(str::to_string) else {
            return Ok(Navigation { status: None, url: self.url().await? }); // same document (#fragment)
        };
        let event = match until {
            WaitUntil::DomContentLoaded => "DOMContentLoaded",
            WaitUntil::Load | WaitUntil::NetworkIdle => "load",
        };
        while !http_error && !self.state.lifecycle_seen(&loader, event) {
            if !self.next_event(deadline).await? {
                let what = format!("{url} to load (the {event} event)");
                self.kill(&format!("it was killed after timing out waiting for {what}"));
                return Err(BrowserError::Timeout(what));
            }
        }
        if until == WaitUntil::NetworkIdle && !self.network_idle(deadline).await? {
            let what = format!("{url} to reach network idle ({} requests in flight)", self.state.in_flight.len());
            self.kill(&format!("it was killed after timing out waiting for {what}"));
            return Err(BrowserError::Timeout(what));
        }
        // The document's response event comes before its lifecycle events; without one (data: and about:
        // URLs, an error page) there is no status.
        self.pump();
        match self.state.documents.get(&loader).cloned() {
            Some((status, url)) => Ok(Navigation { status: (status > 0).then_some(status), url }),
            None => Ok(Navigation { status: None, url: self.url().await? }),
        }
    }

    /// Waits until no request has been in flight for [`NETWORK_IDLE`]; `false` at `deadline`.
    pub(crate) async fn network_idle(&mut self, deadline: Instant) -> Result<bool, BrowserError> {
        loop {
            self.pump();
            let until = if self.state.in_flight.is_empty() {
                let quiet_at = self.state.network_changed.unwrap_or(self.opened) + NETWORK_IDLE;
                if Instant::now() >= quiet_at {
                    return Ok(true);
                }
                quiet_at.min(deadline)
            } else {
                deadline
            };
            if !self.next_event(until).await? && Instant::now() >= deadline {
                return Ok(false);
            }
        }
    }

    /// Evaluates `expression` in the page's main frame and returns its value.
    pub(crate) async fn eval(&mut self, expression: &str, deadline: Instant) -> Result<Value, BrowserError> {
        let params = json!({ "expression": expression, "returnByValue": true });
        evaluated(self.call("Runtime.evaluate", params, deadline).await?)
    }

    /// `eval` for a wait's repeated checks: `None` when the answer did not come by `deadline` because the
    /// check started too close to it, which says nothing about the page. Only a page that had [`HUNG`] to
    /// answer and did not is killed.
    pub(crate) async fn poll(&mut self, expression: &str, deadline: Instant) -> Result<Option<Value>, BrowserError> {
        self.usable()?;
        let started = Instant::now();
        let params = json!({ "expression": expression, "returnByValue": true });
        match self.instance.conn.call(Some(&self.session), "Runtime.evaluate", params, deadline).await {
            Ok(answer) => evaluated(answer).map(Some),
            Err(BrowserError::Timeout(_)) if started + HUNG > deadline => Ok(None),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// `eval` for queries: retried while a navigation replaces the document (the old context is gone and
    /// the new one not ready), until the query bound.
    pub(crate) async fn query(&mut self, expression: &str) -> Result<Value, BrowserError> {
        let deadline = Instant::now() + QUERY;
        loop {
            match self.eval(expression, deadline).await {
                Err(BrowserError::Protocol(e))
                    if navigating(&e) && Instant::now() + Duration::from_millis(50) < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    /// The probe's answer for `op` on the elements `locator` matches, right now.
    pub(crate) async fn probe_now(&mut self, locator: &Locator, op: &str, arg: &str) -> Result<Value, BrowserError> {
        let answer = self.query(&script::probe(locator, op, arg)).await?;
        if answer["state"] == "bad-selector" {
            return Err(BrowserError::Protocol(format!(
                "{locator} is not a valid selector: {}",
                answer["error"].as_str().unwrap_or_default()
            )));
        }
        Ok(answer)
    }

    /// The text (`innerText`) of the first element `locator` matches; `None` when nothing matches.
    pub async fn text(&mut self, locator: &Locator) -> Result<Option<String>, BrowserError> {
        let answer = self.probe_now(locator, "text", "").await?;
        Ok(answer["value"].as_str().map(str::to_string))
    }

    /// The attribute `name` of the first element `locator` matches; `None` when nothing matches or it has
    /// no such attribute.
    pub async fn attribute(&mut self, locator: &Locator, name: &str) -> Result<Option<String>, BrowserError> {
        let answer = self.probe_now(locator, "attr", name).await?;
        Ok(answer["value"].as_str().map(str::to_string))
    }

    /// How many elements `locator` matches.
    pub async fn count(&mut self, locator: &Locator) -> Result<usize, BrowserError> {
        let answer = self.probe_now(locator, "count", "").await?;
        Ok(answer["value"].as_u64().unwrap_or(0) as usize)
    }

    /// Whether any element `locator` matches is visible.
    pub async fn is_visible(&mut self, locator: &Locator) -> Result<bool, BrowserError> {
        let answer = self.probe_now(locator, "is-visible", "").await?;
        Ok(answer["value"].as_bool().unwrap_or(false))
    }

    /// The page's URL (`location.href`).
    pub async fn url(&mut self) -> Result<String, BrowserError> {
        Ok(self.query("location.href").await?.as_str().unwrap_or_default().to_string())
    }

    pub async fn title(&mut self) -> Result<String, BrowserError> {
        Ok(self.query("document.title").await?.as_str().unwrap_or_default().to_string())
    }

    /// The value of the cookie `name` the browser would send to the page's URL (HttpOnly ones too).
    pub async fn cookie(&mut self, name: &str) -> Result<Option<String>, BrowserError> {
        let answer = self.call("Network.getCookies", json!({}), Instant::now() + QUERY).await?;
        let cookies = answer["cookies"].as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(cookies.iter().find(|c| c["name"] == name).and_then(|c| c["value"].as_str()).map(str::to_string))
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&mut self) -> Result<Vec<u8>, BrowserError> {
        let answer = self.call("Page.captureScreenshot", json!({ "format": "png" }), Instant::now() + QUERY).await?;
        let data = answer["data"].as_str().ok_or_else(|| BrowserError::Protocol("a screenshot without data".into()))?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| BrowserError::Protocol(format!("a screenshot that is not base64: {e}")))
    }

    /// The start of the document's HTML (`outerHTML`), at most `max_bytes`, cut at a character boundary.
    /// Typed values are properties, not attributes, so what was filled into inputs is not in it.
    pub async fn dom_excerpt(&mut self, max_bytes: usize) -> Result<String, BrowserError> {
        // Cut in the page first, so a huge DOM is not sent whole (UTF-16 units ≤ bytes, so this keeps enough).
        let expression =
            format!("document.documentElement ? document.documentElement.outerHTML.slice(0, {max_bytes}) : ''");
        let mut html = self.query(&expression).await?.as_str().unwrap_or_default().to_string();
        if html.len() > max_bytes {
            let mut end = max_bytes;
            while !html.is_char_boundary(end) {
                end -= 1;
            }
            html.truncate(end);
        }
        Ok(html)
    }

    /// Everything seen since the last call: exceptions, console messages, failed and made requests.
    pub fn take_signals(&mut self) -> PageSignals {
        self.pump();
        let mut signals = std::mem::take(&mut self.state.signals);
        signals.dropped += self.events.lost.swap(0, Ordering::Relaxed);
        signals
    }

    /// Navigation timing of the current document and its web vitals so far.
    pub async fn timings(&mut self) -> Result<PageTimings, BrowserError> {
        let t = self.query(script::TIMINGS).await?;
        let ms = |key: &str| {
            t[key].as_f64().filter(|v| v.is_finite() && *v >= 0.0).map(|v| Duration::from_secs_f64(v / 1000.0))
        };
        Ok(PageTimings {
            ttfb: ms("ttfb"),
            dom_content_loaded: ms("dcl"),
            load: ms("load"),
            fcp: ms("fcp"),
            lcp: ms("lcp"),
            cls: t["cls"].as_f64(),
            tbt: ms("tbt"),
        })
    }

    /// Disposes of the page's context (and with it its cookies and storage) and waits for that.
    pub async fn close(mut self) {
        if !self.disposed {
            self.disposed = true;
            self.instance.conn.unsubscribe(&self.session);
            dispose(self.instance.clone(), None, self.context_id.clone()).await;
        }
    }

    /// The page's target id, for tests that check the page is gone.
    #[doc(hidden)]
    pub fn target_id(&self) -> &str {
        &self.target_id
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        if !self.disposed {
            self.instance.conn.unsubscribe(&self.session);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(dispose(self.instance.clone(), None, self.context_id.clone()));
            }
        }
    }
}

/// Closes `target` (when given: a hung page's renderer is stopped first) and disposes of the context. A
/// browser that does not manage that in time is hung as a whole and is replaced.
async fn dispose(instance: Arc<Instance>, target: Option<String>, context: String) {
    let deadline = Instant::now() + DISPOSE;
    if let Some(target) = target {
        let _ = instance.conn.call(None, "Target.closeTarget", json!({ "targetId": target }), deadline).await;
    }
    let disposed = instance
        .conn
        .call(None, "Target.disposeBrowserContext", json!({ "browserContextId": context }), deadline)
        .await;
    if let Err(BrowserError::Timeout(_)) = disposed {
        tracing::warn!("Chromium did not dispose of a browser context in {}s; replacing it", DISPOSE.as_secs());
        instance.condemn();
    }
}

/// The value of a `Runtime.evaluate` answer, or the page script's exception.
fn evaluated(mut answer: Value) -> Result<Value, BrowserError> {
    if let Some(details) = answer.get("exceptionDetails") {
        let text = details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("exception");
        return Err(BrowserError::Protocol(format!("page script failed: {text}")));
    }
    Ok(answer["result"]["value"].take())
}

/// Whether an evaluation failed because the document was being replaced.
pub(crate) fn navigating(error: &str) -> bool {
    error.contains("context was destroyed")
        || error.contains("Cannot find context")
        || error.contains("Cannot find default execution context")
        || error.contains("navigated or closed")
}
