//! Unknown keys, all of them: serde stops at the first, so the file's mappings are walked against
//! [`raw::FIELDS`](super::raw::FIELDS) before serde sees them.

use serde_yaml::Value;

use super::raw::FIELDS;
use crate::config::{did_you_mean, FileCtx};

/// Reports every key no mapping of the settings file accepts, with the closest known key as a hint.
pub(super) fn check(ctx: &mut FileCtx, value: &Value) {
    walk(ctx, value, "", "");
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `pattern` is the path with `[]` for sequence items and `*` for the receiver kinds; `path` is the real one.
fn walk(ctx: &mut FileCtx, value: &Value, pattern: &str, path: &str) {
    match value {
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(ctx, item, &format!("{pattern}[]"), &format!("{path}[{i}]"));
            }
        }
        Value::Mapping(map) => {
            let Some((_, fields)) = FIELDS.iter().find(|(p, _)| *p == pattern) else { return };
            for (k, v) in map {
                let Some(key) = k.as_str() else { continue };
                if !fields.contains(&key) {
                    unknown(ctx, path, key, fields);
                    continue;
                }
                let child = if pattern == "receivers" { "receivers.*".to_string() } else { join(pattern, key) };
                walk(ctx, v, &child, &join(path, key));
            }
        }
        _ => {}
    }
}

/// serde's words for an unknown field, so messages read as they always did.
fn unknown(ctx: &mut FileCtx, path: &str, key: &str, fields: &[&str]) {
    let expected: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    let prefix = if path.is_empty() { String::new() } else { format!("{path}: ") };
    let message = format!("{prefix}unknown field `{key}`, expected one of {}", expected.join(", "));
    let hint = did_you_mean(key, fields.iter().copied()).map(|m| format!("did you mean `{m}`?"));
    ctx.error_key(&join(path, key), message, hint);
}
