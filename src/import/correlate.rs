//! Correlation: a value that an earlier response returned (in its JSON body, its `Location` header or a
//! token-like header) and a later request sends back (in its URL, a header or its body) is what a real
//! client carries from step to step — a token, a cart id. It becomes a `capture:` on the earlier step and
//! a `{{ name }}` reference in every later use, so the journey works with the values of its own run
//! instead of the recording's.

use super::draft::{unique, Capture, CaptureSource, Draft, Piece};
use super::rules;
use super::Exchange;
use std::collections::HashMap;

/// At most this many values are taken from one response: a large listing must not make the import slow.
const MAX_VALUES_PER_RESPONSE: usize = 2000;
/// At most this many values wait for a use at once; past it the oldest responses' values are forgotten
/// (a value is mostly sent back soon after it was returned).
const MAX_CANDIDATES: usize = 20_000;
/// Longer strings are documents, not identifiers.
const MAX_VALUE_LEN: usize = 4096;

/// A value a response returned, waiting for a later request to send it.
struct Candidate {
    step: usize,
    source: CaptureSource,
    /// Suggested capture name: the last key on the JSON path, or the header's name.
    key: String,
    /// The capture's name once a later request used it.
    name: Option<String>,
    /// How much of the requests' text was sent up to the response that returned the value: checked on
    /// first use only, so a large recording does not search every value through every request.
    seen_len: usize,
}

/// Adds captures to `drafts` and replaces the values later steps send by references to them. A value
/// counts only when no request up to its response sent it first (an email the user typed is not a
/// server's value) and when it is [`rules::is_distinctive`]; the most recent response that returned a
/// value before its first use is the one captured.
pub fn correlate(kept: &[Exchange], drafts: &mut [Draft]) {
    let mut candidates: HashMap<String, Candidate> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut seen = String::new();
    for i in 0..drafts.len() {
        seen.push_str(&request_text(&kept[i]));
        // One search per candidate through the step's text (small) finds the few it sends.
        let sent: String = drafts[i].texts_mut().iter().map(|(t, _)| t.searchable()).collect();
        let mut values: Vec<String> = candidates.keys().filter(|v| sent.contains(v.as_str())).cloned().collect();
        // Longest first, so a value that contains another is replaced whole.
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        for value in values {
            let Some(c) = candidates.get_mut(&value) else { continue };
            if c.name.is_none() && seen[..c.seen_len].contains(&value) {
                candidates.remove(&value);
                continue;
            }
            use_candidate(&value, c, i, drafts, &mut names);
        }
        for (source, key, value) in returned(&kept[i]) {
            // A value already captured and sent back stays with its first source: returned again, it is
            // an echo of what the client sent.
            if candidates.get(&value).is_some_and(|c| c.name.is_some()) {
                continue;
            }
            let seen_len = seen.len();
            candidates.insert(value, Candidate { step: i, source, key, name: None, seen_len });
        }
        if candidates.len() > MAX_CANDIDATES {
            let oldest = candidates.values().map(|c| c.step).min().unwrap_or(0);
            candidates.retain(|_, c| c.step > oldest);
        }
    }
}

/// Replaces `value` in step `i` by a reference to its capture, adding the capture on first use.
fn use_candidate(value: &str, c: &mut Candidate, i: usize, drafts: &mut [Draft], names: &mut Vec<String>) {
    let name = c.name.clone().unwrap_or_else(|| unique(&capture_name(&c.key), names, '_'));
    let (mut used, mut as_secret) = (0, false);
    for (text, secret_header) in drafts[i].texts_mut() {
        let pending = text.0.iter().any(|p| matches!(p, Piece::Pending { value: v, .. } if v == value));
        let n = text.substitute(value, &name);
        used += n;
        as_secret |= n > 0 && (secret_header.is_some() || pending);
    }
    if used == 0 {
        return;
    }
    let producer = &mut drafts[c.step];
    match producer.captures.iter_mut().find(|cap| cap.name == name) {
        Some(cap) => cap.secret |= as_secret,
        None => {
            let secret = as_secret || rules::is_secret_field(&c.key);
            producer.captures.push(Capture { name: name.clone(), source: c.source.clone(), secret });
            names.push(name.clone());
            c.name = Some(name);
        }
    }
}

/// What a response handed the client: distinctive values of its JSON body, and of its `Location` header
/// and headers named like a token, key, secret, CSRF or session (`X-CSRF-Token`). Other headers (`Date`,
/// `ETag`, `Server`…) would only make coincidences; `Set-Cookie` is the cookie jar's.
fn returned(ex: &Exchange) -> Vec<(CaptureSource, String, String)> {
    let Some(resp) = &ex.response else { return Vec::new() };
    let mut out = Vec::new();
    for (name, value) in &resp.headers {
        let lower = name.to_ascii_lowercase();
        let wanted = lower == "location"
            || (lower != "set-cookie"
                && (rules::is_secret_field(&lower) || ["csrf", "xsrf", "session"].iter().any(|w| lower.contains(w))));
        if wanted && rules::is_distinctive(value) && value.len() <= MAX_VALUE_LEN {
            out.push((CaptureSource::Header(name.clone()), name.clone(), value.clone()));
        }
    }
    let json = resp.body.as_deref().and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
    if let Some(json) = json {
        let mut found = Vec::new();
        walk(&json, String::new(), "value", &mut found);
        out.extend(found.into_iter().map(|(path, key, value)| (CaptureSource::Json(path), key, value)));
    }
    out
}

/// Everything a request sent, for "did the client know this value already".
fn request_text(ex: &Exchange) -> String {
    let mut s = ex.url.as_str().to_string();
    for (n, v) in &ex.headers {
        s.push_str(&format!("\n{n}: {v}"));
    }
    if let Some(b) = &ex.body {
        s.push('\n');
        s.push_str(&b.text);
        // A JSON body's strings may be escaped on the wire; look for them as they are decoded too.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&b.text) {
            let mut found = Vec::new();
            walk(&v, String::new(), "", &mut found);
            found.iter().for_each(|(_, _, v)| s.push_str(&format!("\n{v}")));
        }
    }
    s
}

/// Distinctive string and integer values with their path (`items[0].id`) and nearest key. Keys a path
/// cannot spell (dots, spaces) are skipped with everything under them.
fn walk(v: &serde_json::Value, path: String, key: &str, out: &mut Vec<(String, String, String)>) {
    use serde_json::Value;
    if out.len() >= MAX_VALUES_PER_RESPONSE {
        return;
    }
    let text = match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    continue;
                }
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(child, p, k, out);
            }
            return;
        }
        Value::Array(a) => {
            for (n, child) in a.iter().enumerate() {
                walk(child, format!("{path}[{n}]"), key, out);
            }
            return;
        }
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return,
    };
    if text.len() <= MAX_VALUE_LEN && rules::is_distinctive(&text) {
        out.push((path, key.to_string(), text));
    }
}

/// A capture name from a JSON key: `cartId` → `cartid`, `order-id` → `order_id`; `value` when the key
/// gives nothing usable.
fn capture_name(key: &str) -> String {
    let s = rules::slug(key, '_');
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        "value".into()
    } else if matches!(s.as_str(), "env" | "vars" | "secrets") {
        format!("{s}_value")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walk_finds_paths_of_distinctive_values() {
        let v = json!({"token": "9f86d081884c", "n": 12, "items": [{"id": 123456, "ok": true}], "a.b": "skipped!"});
        let mut out = Vec::new();
        walk(&v, String::new(), "value", &mut out);
        let paths: Vec<_> = out.iter().map(|(p, k, v)| format!("{p}|{k}|{v}")).collect();
        assert_eq!(paths, vec!["items[0].id|id|123456", "token|token|9f86d081884c"]);
    }

    #[test]
    fn capture_names() {
        assert_eq!(capture_name("cartId"), "cartid");
        assert_eq!(capture_name("order-id"), "order_id");
        assert_eq!(capture_name("1st"), "value");
    }
}
