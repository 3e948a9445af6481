//! WebSocket steps (`ws: /path`, `send: [...]`): the URL and its scheme, the keys that do not apply to a
//! conversation, and the messages. The rest of the step (headers, query, timeout, expect, capture, think)
//! is built as for any step.

use reqwest::Method;

use super::super::position::{index_path, key_path};
use super::super::raw::{RawStep, Scalar};
use super::StepBuilder;
use crate::model::{Template, WsMessage, WsStep};

/// Keys of an HTTP request that a WebSocket step cannot have: what it sends is `send`, and an upgrade is
/// not redirected.
const NOT_WITH_WS: [&str; 7] = ["method", "url", "json", "form", "body", "content_type", "redirects"];

impl StepBuilder<'_, '_, '_, '_> {
    /// The upgrade's method (GET) and URL template of a `ws:` step, after checking nothing else names a
    /// request.
    pub(super) fn ws_request(&mut self, raw: &RawStep, ws: &Scalar, has_target: bool) -> Option<(Method, Template)> {
        if let Some((key, _)) = raw.method_keys().first() {
            let msg = format!("step `{}` has both `ws` and `{key}`", raw.name);
            let hint = "a step is one request or one WebSocket conversation; split it into two steps";
            self.error_key(&self.at(key), msg, Some(hint.into()));
            return None;
        }
        let set = [
            raw.method.is_some(),
            raw.url.is_some(),
            raw.json.is_some(),
            raw.form.is_some(),
            raw.body.is_some(),
            raw.content_type.is_some(),
            raw.redirects.is_some(),
        ];
        if let Some((key, _)) = NOT_WITH_WS.iter().zip(set).find(|(_, on)| *on) {
            let msg = format!("`{key}` does not apply to a WebSocket step");
            let hint = match *key {
                "redirects" => "an upgrade is not redirected: point `ws` at the final URL",
                _ => "a WebSocket step sends its messages with `send: [ { text: … } | { json: … } ]`",
            };
            self.error_key(&self.at(key), msg, Some(hint.into()));
            return None;
        }
        let text = &ws.0;
        let path = self.at("ws");
        let template = self.template(&path, text)?;
        if text.contains("://") && !["ws://", "wss://"].iter().any(|p| text.starts_with(p)) {
            let msg = format!("`{text}` is not a WebSocket URL");
            let hint = "write ws://… or wss://…, or a path joined to the journey's target (http → ws, https → wss)";
            self.error(&path, msg, Some(hint.into()));
            return None;
        }
        let absolute = ["ws://", "wss://", "{{"].iter().any(|p| text.starts_with(p));
        if !absolute && !has_target {
            let msg = format!("`{text}` is a relative URL but the journey has no `target`");
            let hint = "add `target: https://…` to the journey, or write an absolute ws:// or wss:// URL";
            self.error(&path, msg, Some(hint.into()));
            return None;
        }
        Some((Method::GET, template))
    }

    /// The messages of a `ws:` step (`None` for an HTTP step); `send` without `ws` is an error.
    pub(super) fn ws_send(&mut self, raw: &RawStep) -> Option<WsStep> {
        if raw.ws.is_none() {
            if raw.send.is_some() {
                let hint = "`send` lists the messages of a WebSocket step: add `ws: /path` (and no method)";
                self.error_key(&self.at("send"), "`send` needs `ws`", Some(hint.into()));
            }
            return None;
        }
        let mut send = Vec::new();
        for (i, message) in raw.send.iter().flatten().enumerate() {
            let path = index_path(&self.at("send"), i);
            match (&message.text, &message.json) {
                (Some(text), None) => {
                    let path = key_path(&path, "text");
                    send.extend(self.template(&path, &text.0).map(WsMessage::Text));
                }
                (None, Some(json)) => {
                    let path = key_path(&path, "json");
                    send.extend(self.json(&path, json).map(WsMessage::Json));
                }
                (Some(_), Some(_)) => {
                    let msg = "a message is `text` or `json`, not both";
                    self.error_key(&key_path(&path, "json"), msg, Some("split it into two messages".into()));
                }
                (None, None) => {
                    let hint = "write `- text: hello` or `- json: { subscribe: prices }`";
                    self.error(&path, "a message needs `text` or `json`", Some(hint.into()));
                }
            }
        }
        Some(WsStep { send })
    }
}
