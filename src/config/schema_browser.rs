//! The JSON Schema of browser journeys: `browser:` on the journey, the actions of its steps, and the page
//! captures (docs/journeys.md, "Browser journeys").

use serde_json::{json, Value};

/// A selector: CSS, or `text=…` (checked by `journeyd check`, beyond what a pattern can say).
const SELECTOR: &str = "A selector: CSS (`#price`, `.cart-item`, `button[type=submit]`) or `text=Check out` (by visible text). Quote selectors that start with `#`.";

fn selector(what: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": format!("{what} {SELECTOR}") })
}

fn field_map(what: &str) -> Value {
    json!({
        "type": "object", "minProperties": 1,
        "additionalProperties": { "type": ["string", "number", "boolean"] },
        "description": format!("Selector → value template, in order: {what}")
    })
}

/// The action keys, each with its schema: the same on a step (one action) and in `actions:` items.
fn actions() -> Vec<(&'static str, Value)> {
    vec![
        (
            "goto",
            json!({ "type": "string", "description": "Navigate to this URL template (a path joins `target`) and wait for the load event." }),
        ),
        ("click", selector("Wait until the element is visible and enabled, then click its centre.")),
        ("fill", field_map("clear each field, then insert the text (input and change events fire).")),
        ("type", field_map("type the text into each field key by key.")),
        ("select", field_map("choose the <option> with this value.")),
        ("press", {
            json!({ "type": "string", "minLength": 1, "description": "A key press on the focused element: one character, or Enter, Tab, Escape, Backspace, Delete, Space, ArrowUp, ArrowDown, ArrowLeft, ArrowRight, Home, End, PageUp, PageDown." })
        }),
        (
            "wait_for",
            json!({
                "description": "Wait (until the step's deadline) for: a selector to be visible; network_idle; or {visible|attached|hidden: selector} or {url: text} (a substring, or a glob with *).",
                "oneOf": [
                    { "type": "string", "minLength": 1 },
                    {
                        "type": "object", "additionalProperties": false, "minProperties": 1, "maxProperties": 1,
                        "properties": {
                            "visible": selector("An element to be visible."),
                            "attached": selector("An element to be in the DOM, visible or not."),
                            "hidden": selector("No matching element to be visible."),
                            "url": { "type": "string", "minLength": 1, "description": "Text the page's URL contains, or a glob (*) it matches." }
                        }
                    }
                ]
            }),
        ),
    ]
}

pub(super) fn add_browser_keys(schema: &mut Value) {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "browser".into(),
            json!({
                "description": "The journey runs in a real Chromium (a fresh incognito context per run): its steps are browser actions, not requests. true, or settings.",
                "oneOf": [
                    { "type": "boolean" },
                    {
                        "type": "object", "additionalProperties": false,
                        "properties": {
                            "viewport": { "type": "string", "pattern": r"^[0-9]+[xX×][0-9]+$", "description": "WIDTHxHEIGHT in CSS pixels (100 to 8192). Default 1280x800." },
                            "allow_js_errors": { "type": "boolean", "description": "Uncaught exceptions and console errors do not fail the step (they are still counted). Default false: they fail it with reason script." },
                            "fail_on_failed_requests": { "enum": ["none", "same-origin", "all"], "description": "Which failed sub-requests (status >= 400, blocked, refused) fail the step; all are counted. Default same-origin." },
                            "user_agent": { "type": "string", "minLength": 1, "description": "Sent instead of Chromium's own User-Agent." }
                        }
                    }
                ]
            }),
        );
    }
    let Some(step) = schema.pointer_mut("/definitions/step").and_then(Value::as_object_mut) else {
        return;
    };
    let item_props: serde_json::Map<String, Value> = actions().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    if let Some(Value::Array(one_of)) = step.get_mut("oneOf") {
        for (key, _) in actions() {
            one_of.push(json!({ "required": [key] }));
        }
        one_of.push(json!({ "required": ["actions"] }));
    }
    if let Some(Value::Object(props)) = step.get_mut("properties") {
        props.extend(item_props.clone());
        props.insert(
            "actions".into(),
            json!({
                "type": "array", "minItems": 1,
                "description": "Browser journeys: several actions, in order (a step's own action key holds one).",
                "items": {
                    "type": "object", "additionalProperties": false, "minProperties": 1, "maxProperties": 1,
                    "properties": item_props
                }
            }),
        );
    }
    step.insert(
        "description".into(),
        json!("One HTTP request (exactly one of get/post/put/patch/delete/head/options, or method + url), one WebSocket conversation (ws), or in a browser journey one action (goto, click, fill, type, select, press, wait_for) or several (actions)."),
    );
    if let Some(Value::Object(pattern)) = schema.pointer_mut("/definitions/capture/oneOf/0") {
        pattern.insert(
            "pattern".into(),
            json!(r#"^(status|url|title|json([.\[].*)?|header\..+|cookie\..+|text\(.+\)|attr\(.+,.+\))$"#),
        );
    }
}
