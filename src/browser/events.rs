//! What a page saw: the events of its session folded into signals (exceptions, console messages, failed
//! and made requests), the requests in flight (for network idle), and the lifecycle of its navigations.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use tokio::time::Instant;

use super::{ConsoleLevel, ConsoleMessage, FailedRequest, JsException, PageSignals, RequestMade};

/// Entries kept per list between two `take_signals`: enough for any page a person would check out on,
/// small enough that a page logging in a loop cannot grow journeyd's memory.
pub const MAX_ENTRIES: usize = 200;

/// The longest text kept for one message or URL.
const MAX_TEXT: usize = 2048;

/// The state a page builds from its events.
#[derive(Default)]
pub(crate) struct PageState {
    pub signals: PageSignals,
    /// The request behind each id (for `loadingFailed`, which carries no URL) and the document that made it
    /// (for same-origin marking). Cleared per navigation, so it stays bounded by one document's requests.
    requests: HashMap<String, Request>,
    /// Requests started and not finished: the network is idle when this has been empty for a while.
    pub in_flight: HashSet<String>,
    /// When `in_flight` last changed.
    pub network_changed: Option<Instant>,
    /// Lifecycle events of the main frame: `(loaderId, name)`, since the last `goto` cleared them.
    pub lifecycle: Vec<(String, String)>,
    /// The main document's response by loader: status and URL.
    pub documents: HashMap<String, (u16, String)>,
    /// The renderer died (`Inspector.targetCrashed`).
    pub crashed: bool,
    /// The main frame's id (equal to the target id in Chromium).
    pub main_frame: String,
}

struct Request {
    url: String,
    document: String,
    /// `requestId == loaderId`: a navigation request; its status belongs to `goto`, not to failed requests.
    navigation: bool,
    /// The browser asks for `/favicon.ico` on its own; a site without one is not failing its customers.
    favicon: bool,
}

impl PageState {
    pub fn new(main_frame: String) -> PageState {
        PageState { main_frame, ..PageState::default() }
    }

    pub fn apply(&mut self, method: &str, p: &Value) {
        match method {
            "Runtime.exceptionThrown" => self.exception(&p["exceptionDetails"]),
            "Runtime.consoleAPICalled" => self.console_call(p),
            "Log.entryAdded" => self.log_entry(&p["entry"]),
            "Network.requestWillBeSent" => self.request_sent(p),
            "Network.responseReceived" => self.response(p),
            "Network.loadingFinished" => self.finished(str_of(p, "requestId")),
            "Network.loadingFailed" => self.failed(p),
            "Page.lifecycleEvent" if str_of(p, "frameId") == self.main_frame => {
                self.lifecycle.push((str_of(p, "loaderId").to_string(), str_of(p, "name").to_string()));
            }
            "Inspector.targetCrashed" => self.crashed = true,
            _ => {}
        }
    }

    /// Forgets the previous document's lifecycle and requests: a new navigation starts.
    pub fn navigating(&mut self) {
        self.lifecycle.clear();
        self.documents.clear();
        self.requests.retain(|id, _| self.in_flight.contains(id));
    }

    pub fn lifecycle_seen(&self, loader: &str, name: &str) -> bool {
        self.lifecycle.iter().any(|(l, n)| l == loader && n == name)
    }

    fn exception(&mut self, d: &Value) {
        let described = d["exception"]["description"].as_str().or_else(|| d["text"].as_str()).unwrap_or("exception");
        let message = clip(described.lines().next().unwrap_or_default());
        let url = d["url"].as_str().filter(|u| !u.is_empty());
        let location = url.map(|u| {
            let line = d["lineNumber"].as_u64().unwrap_or(0) + 1;
            let column = d["columnNumber"].as_u64().unwrap_or(0) + 1;
            format!("{}:{line}:{column}", clip(u))
        });
        push(&mut self.signals.exceptions, &mut self.signals.dropped, JsException { message, location });
    }

    fn console_call(&mut self, p: &Value) {
        let level = match str_of(p, "type") {
            "error" | "assert" => ConsoleLevel::Error,
            "warning" => ConsoleLevel::Warning,
            "debug" | "trace" => ConsoleLevel::Debug,
            _ => ConsoleLevel::Info,
        };
        let args = p["args"].as_array().map(Vec::as_slice).unwrap_or_default();
        let text = args.iter().map(remote_object_text).collect::<Vec<_>>().join(" ");
        let message = ConsoleMessage { level, text: clip(&text), source: "console".to_string() };
        push(&mut self.signals.console, &mut self.signals.dropped, message);
    }

    fn log_entry(&mut self, entry: &Value) {
        let source = str_of(entry, "source");
        if source == "network" {
            return; // "Failed to load resource": the same request is in failed_requests
        }
        let level = match str_of(entry, "level") {
            "error" => ConsoleLevel::Error,
            "warning" => ConsoleLevel::Warning,
            "verbose" => ConsoleLevel::Debug,
            _ => ConsoleLevel::Info,
        };
        let message = ConsoleMessage { level, text: clip(str_of(entry, "text")), source: source.to_string() };
        push(&mut self.signals.console, &mut self.signals.dropped, message);
    }

    fn request_sent(&mut self, p: &Value) {
        let id = str_of(p, "requestId").to_string();
        let url = clip(str_of(&p["request"], "url"));
        let favicon = p["type"] == "Other" && url.split(['?', '#']).next().is_some_and(|u| u.ends_with("/favicon.ico"));
        if p.get("redirectResponse").is_none() && !favicon {
            let made = RequestMade {
                method: str_of(&p["request"], "method").to_string(),
                url: url.clone(),
                resource_type: p["type"].as_str().unwrap_or("Other").to_string(),
            };
            push(&mut self.signals.requests, &mut self.signals.dropped, made);
        }
        let navigation = id == str_of(p, "loaderId");
        let document = str_of(p, "documentURL").to_string();
        self.requests.insert(id.clone(), Request { url, document, navigation, favicon });
        self.in_flight.insert(id);
        self.network_changed = Some(Instant::now());
    }

    fn response(&mut self, p: &Value) {
        let id = str_of(p, "requestId");
        let status = p["response"]["status"].as_u64().unwrap_or(0) as u16;
        let url = str_of(&p["response"], "url");
        if str_of(p, "type") == "Document" && str_of(p, "frameId") == self.main_frame {
            self.documents.insert(str_of(p, "loaderId").to_string(), (status, url.to_string()));
        }
        let Some(request) = self.requests.get(id) else {
            return;
        };
        if status >= 400 && !request.navigation && !request.favicon {
            let failed = FailedRequest {
                url: clip(url),
                status: Some(status),
                error: None,
                same_origin: same_origin(url, &request.document),
            };
            push(&mut self.signals.failed_requests, &mut self.signals.dropped, failed);
        }
    }

    fn finished(&mut self, id: &str) {
        if self.in_flight.remove(id) {
            self.network_changed = Some(Instant::now());
        }
    }

    fn failed(&mut self, p: &Value) {
        let id = str_of(p, "requestId");
        self.finished(id);
        let Some(request) = self.requests.get(id) else {
            return;
        };
        // A request cancelled by the page itself (it navigated away, or aborted a fetch) is not a failure of
        // the site; one the browser blocked (CSP, mixed content) is.
        let cancelled = p["canceled"].as_bool() == Some(true) && p.get("blockedReason").is_none();
        if cancelled || request.navigation || request.favicon {
            return;
        }
        let error = match p["blockedReason"].as_str() {
            Some(reason) => format!("{} (blocked: {reason})", str_of(p, "errorText")),
            None => str_of(p, "errorText").to_string(),
        };
        let failed = FailedRequest {
            url: request.url.clone(),
            status: None,
            error: Some(error),
            same_origin: same_origin(&request.url, &request.document),
        };
        push(&mut self.signals.failed_requests, &mut self.signals.dropped, failed);
    }
}

fn push<T>(list: &mut Vec<T>, dropped: &mut u64, item: T) {
    if list.len() < MAX_ENTRIES {
        list.push(item);
    } else {
        *dropped += 1;
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn clip(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A console argument as text: its value for primitives, its description (`Error: …` with the stack,
/// `Object`) otherwise.
fn remote_object_text(arg: &Value) -> String {
    match arg.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => arg["description"]
            .as_str()
            .or_else(|| arg["unserializableValue"].as_str())
            .unwrap_or(str_of(arg, "type"))
            .to_string(),
        Some(other) => other.to_string(),
    }
}

fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin() && a.origin().is_tuple(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn failed_subrequests_are_marked_by_origin_and_navigations_are_not_failures() {
        let mut s = PageState::new("F".into());
        let doc = "http://127.0.0.1:8080/store/";
        let sent = |id: &str, loader: &str, url: &str| json!({"requestId": id, "loaderId": loader, "documentURL": doc, "request": {"url": url, "method": "GET"}, "type": "Fetch"});
        s.apply("Network.requestWillBeSent", &sent("L1", "L1", doc));
        s.apply("Network.responseReceived", &json!({"requestId": "L1", "loaderId": "L1", "type": "Document", "frameId": "F", "response": {"status": 404, "url": doc}}));
        s.apply("Network.requestWillBeSent", &sent("2", "L1", "http://127.0.0.1:8080/api/x"));
        s.apply("Network.responseReceived", &json!({"requestId": "2", "type": "Fetch", "frameId": "F", "response": {"status": 500, "url": "http://127.0.0.1:8080/api/x"}}));
        s.apply("Network.requestWillBeSent", &sent("3", "L1", "http://cdn.example/a.js"));
        s.apply("Network.loadingFailed", &json!({"requestId": "3", "errorText": "net::ERR_NAME_NOT_RESOLVED"}));
        s.apply("Network.requestWillBeSent", &sent("4", "L1", "http://127.0.0.1:8080/slow"));
        s.apply("Network.loadingFailed", &json!({"requestId": "4", "errorText": "net::ERR_ABORTED", "canceled": true}));
        let failed = &s.signals.failed_requests;
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert_eq!((failed[0].status, failed[0].same_origin), (Some(500), true));
        assert_eq!((failed[1].error.as_deref(), failed[1].same_origin), (Some("net::ERR_NAME_NOT_RESOLVED"), false));
        assert_eq!(s.documents["L1"].0, 404);
        assert_eq!(s.signals.requests.len(), 4);
        assert_eq!(s.in_flight.len(), 2, "L1 and 2 never finished");
    }

    #[test]
    fn lists_are_bounded() {
        let mut s = PageState::new("F".into());
        for _ in 0..MAX_ENTRIES + 5 {
            s.apply("Runtime.consoleAPICalled", &json!({"type": "error", "args": [{"type": "string", "value": "x"}]}));
        }
        assert_eq!(s.signals.console.len(), MAX_ENTRIES);
        assert_eq!(s.signals.dropped, 5);
    }
}
