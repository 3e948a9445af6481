//! Browser steps: the actions (written on the step, or in order under `actions:`), the selectors they name,
//! and the rule that a browser journey's steps are browser steps only. Mixing HTTP and browser steps in one
//! journey is an error with a hint: a browser journey measures what a customer sees, an API journey what
//! the API answers, and each keeps its own histograms and alerts (link them with `depends_on`).
//! The rest of the step (timeout, expect, capture, think, thresholds) is built as for any step.

use super::super::position::{index_path, key_path};
use super::super::raw::{OrderedMap, RawAction, RawStep, RawWaitFor, Scalar, ACTION_KEYS};
use super::super::selector::parse_selector;
use super::super::templates::Problem;
use super::StepBuilder;
use crate::model::{Action, Selector, Template, WaitFor};

/// Keys of an HTTP or WebSocket step, which a browser step cannot have.
const HTTP_KEYS: [&str; 13] = [
    "method",
    "url",
    "headers",
    "query",
    "json",
    "form",
    "body",
    "content_type",
    "multipart",
    "graphql",
    "redirects",
    "ws",
    "send",
];

/// The key names a person may know from other tools, and what to write instead.
fn action_hint(key: &str) -> &'static str {
    match key {
        "goto" => "`goto: /path` navigates",
        _ => "write one action on the step (`click: \"#login\"`) or several under `actions:`",
    }
}

impl StepBuilder<'_, '_, '_, '_> {
    /// In a journey without `browser:`: an action key is an error that says how to make it a browser journey.
    /// `None` when there was one (the step is not built further).
    pub(super) fn no_actions(&mut self, raw: &RawStep) -> Option<()> {
        let written = raw.own_action().keys();
        let key = written.first().copied().or(raw.actions.as_ref().map(|_| "actions"));
        if let Some(key) = key {
            let msg = format!("`{key}` is a browser action, and this journey has no `browser:`");
            let hint =
                "add `browser: true` to the journey (its steps are then all browser steps), or write an HTTP step";
            self.error_key(&self.at(key), msg, Some(hint.into()));
            return None;
        }
        Some(())
    }

    /// A browser step's actions, after checking it names no HTTP request. `None` after an error.
    pub(super) fn actions(&mut self, raw: &RawStep, has_target: bool) -> Option<Vec<Action>> {
        if let Some(key) = self.http_key(raw) {
            let msg = format!("`{key}` does not apply to a browser step");
            let hint = "a browser journey's steps are browser actions; put API requests in their own journey \
                        (and link them with `depends_on`)";
            self.error_key(&self.at(key), msg, Some(hint.into()));
            return None;
        }
        let single = raw.own_action();
        let single_keys = single.keys();
        let mut actions = Vec::new();
        match (single_keys.len(), raw.actions.as_ref()) {
            (0, None) => {
                let msg = format!("browser step `{}` does nothing", raw.name);
                let hint = format!("add an action ({}), or several under `actions:`", ACTION_KEYS.join(", "));
                self.error(&self.path.clone(), msg, Some(hint));
                return None;
            }
            (0, Some(list)) => {
                if list.is_empty() {
                    self.error(&self.at("actions"), "`actions` is empty", Some("list one action or more".into()));
                }
                for (i, action) in list.iter().enumerate() {
                    let path = index_path(&self.at("actions"), i);
                    self.action(&path, action, has_target, &mut actions);
                }
            }
            (1, None) => {
                let path = self.path.clone();
                self.action(&path, &single, has_target, &mut actions);
            }
            (_, list) => {
                let (first, second) = match list {
                    Some(_) => (single_keys[0], "actions"),
                    None => (single_keys[0], single_keys[1]),
                };
                let msg = format!("step `{}` has two actions on it: `{first}` and `{second}`", raw.name);
                let hint = "list several actions in order under `actions:`, e.g. \
                            actions: [ { fill: { \"#q\": coffee } }, { press: Enter } ]";
                self.error_key(&self.at(second), msg, Some(hint.into()));
                return None;
            }
        }
        self.ok.then_some(actions)
    }

    fn http_key(&self, raw: &RawStep) -> Option<&'static str> {
        if let Some((key, _)) = raw.method_keys().first() {
            return Some(key);
        }
        let set = [
            raw.method.is_some(),
            raw.url.is_some(),
            !raw.headers.0.is_empty(),
            !raw.query.0.is_empty(),
            raw.json.is_some(),
            raw.form.is_some(),
            raw.body.is_some(),
            raw.content_type.is_some(),
            raw.multipart.is_some(),
            raw.graphql.is_some(),
            raw.redirects.is_some(),
            raw.ws.is_some(),
            raw.send.is_some(),
        ];
        HTTP_KEYS.iter().zip(set).find(|(_, on)| *on).map(|(k, _)| *k)
    }

    /// One action at `path` (the step itself, or `actions[i]`), appended to `out`.
    fn action(&mut self, path: &str, raw: &RawAction, has_target: bool, out: &mut Vec<Action>) {
        let keys = raw.keys();
        if keys.len() != 1 {
            let (msg, at) = match keys.get(1) {
                Some(second) => {
                    (format!("an action has one key, found `{}` and `{second}`", keys[0]), key_path(path, second))
                }
                None => ("an action needs a key".to_string(), path.to_string()),
            };
            let hint =
                format!("one of {}: {}", ACTION_KEYS.join(", "), action_hint(keys.first().copied().unwrap_or("")));
            self.error_key(&at, msg, Some(hint));
            return;
        }
        if let Some(url) = &raw.goto {
            out.extend(self.goto(&key_path(path, "goto"), url, has_target));
        } else if let Some(sel) = &raw.click {
            out.extend(self.selector(&key_path(path, "click"), &sel.0).map(Action::Click));
        } else if let Some(map) = &raw.fill {
            self.fields(&key_path(path, "fill"), map, Action::Fill, out);
        } else if let Some(map) = &raw.type_text {
            self.fields(&key_path(path, "type"), map, Action::Type, out);
        } else if let Some(map) = &raw.select {
            self.fields(&key_path(path, "select"), map, Action::Select, out);
        } else if let Some(key) = &raw.press {
            out.extend(self.press(&key_path(path, "press"), &key.0));
        } else if let Some(w) = &raw.wait_for {
            out.extend(self.wait_for(&key_path(path, "wait_for"), w).map(Action::WaitFor));
        }
    }

    fn goto(&mut self, path: &str, url: &Scalar, has_target: bool) -> Option<Action> {
        let text = &url.0;
        let template = self.template(path, text)?;
        let absolute = ["http://", "https://", "{{"].iter().any(|p| text.starts_with(p));
        if text.contains("://") && !absolute {
            let msg = format!("`{text}` is not a web page's URL");
            self.error(path, msg, Some("a browser goes to http:// and https:// URLs".into()));
            return None;
        }
        if !absolute && !has_target {
            let msg = format!("`{text}` is a relative URL but the journey has no `target`");
            let hint = "add `target: https://…` to the journey, or write an absolute URL".to_string();
            self.error(path, msg, Some(hint));
            return None;
        }
        Some(Action::Goto(template))
    }

    /// A selector as written, checked; errors point at the offending character.
    fn selector(&mut self, path: &str, text: &str) -> Option<Selector> {
        match parse_selector(text) {
            Ok(s) => Some(s),
            Err((at, msg)) => {
                self.ok = false;
                let offset = text[..at.min(text.len())].chars().count();
                let hint = "write CSS (`#price`, `.cart-item`, `button[type=submit]`) or `text=Check out`";
                super::super::fields::report(
                    self.ctx,
                    path,
                    text,
                    vec![Problem::error(offset, msg, Some(hint.into()))],
                );
                None
            }
        }
    }

    /// `fill`, `type`, `select`: selector → template, in the order written.
    fn fields(
        &mut self,
        path: &str,
        map: &OrderedMap<Scalar>,
        make: fn(Selector, Template) -> Action,
        out: &mut Vec<Action>,
    ) {
        if map.0.is_empty() {
            let hint = "map a selector to a value: { \"#email\": \"{{ accounts.email }}\" }";
            self.error(path, "names no field", Some(hint.into()));
        }
        for (sel, value) in &map.0 {
            let at = key_path(path, sel);
            let selector = self.selector_key(&at, sel);
            let template = self.template(&at, &value.0);
            if let (Some(s), Some(t)) = (selector, template) {
                out.push(make(s, t));
            }
        }
    }

    /// A selector written as a mapping key: errors point at the key.
    fn selector_key(&mut self, path: &str, text: &str) -> Option<Selector> {
        match parse_selector(text) {
            Ok(s) => Some(s),
            Err((_, msg)) => {
                let hint = "write CSS (`#email`, `input[name=q]`) or `text=…`; quote selectors that start with `#`";
                self.error_key(path, format!("invalid selector `{text}`: {msg}"), Some(hint.into()));
                None
            }
        }
    }

    fn press(&mut self, path: &str, key: &str) -> Option<Action> {
        let named = crate::model::KEY_NAMES.contains(&key);
        if key.chars().count() == 1 || named {
            return Some(Action::Press(key.to_string()));
        }
        let hint = match super::super::suggest::did_you_mean(key, crate::model::KEY_NAMES.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("press one character, or one of {}", crate::model::KEY_NAMES.join(", ")),
        };
        self.error(path, format!("unknown key `{key}`"), Some(hint));
        None
    }

    fn wait_for(&mut self, path: &str, raw: &RawWaitFor) -> Option<WaitFor> {
        match raw {
            RawWaitFor::Short(t) if t == "network_idle" => Some(WaitFor::NetworkIdle),
            RawWaitFor::Short(t) => self.selector(path, t).map(WaitFor::Visible),
            RawWaitFor::Full(m) => {
                let set: Vec<(&str, &String)> = [
                    ("visible", m.visible.as_ref()),
                    ("attached", m.attached.as_ref()),
                    ("hidden", m.hidden.as_ref()),
                    ("url", m.url.as_ref()),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
                let [(key, value)] = set[..] else {
                    let msg = match set.get(1) {
                        Some((second, _)) => {
                            format!("`wait_for` waits for one thing, found `{}` and `{second}`", set[0].0)
                        }
                        None => "`wait_for` names nothing to wait for".into(),
                    };
                    let at = set.get(1).map_or(path.to_string(), |(k, _)| key_path(path, k));
                    self.error_key(
                        &at,
                        msg,
                        Some("use one of visible, attached, hidden, url; or several actions".into()),
                    );
                    return None;
                };
                let at = key_path(path, key);
                match key {
                    "url" if value.is_empty() => {
                        self.error(&at, "`url` needs the text the URL should contain", None);
                        None
                    }
                    "url" => Some(WaitFor::Url(value.clone())),
                    "visible" => self.selector(&at, value).map(WaitFor::Visible),
                    "attached" => self.selector(&at, value).map(WaitFor::Attached),
                    _ => self.selector(&at, value).map(WaitFor::Hidden),
                }
            }
        }
    }
}
