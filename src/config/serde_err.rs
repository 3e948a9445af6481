//! Turns serde_yaml errors into diagnostics: located at the key or value they are about (through the
//! position index where serde's own location is vague), in words a person reads, with "did you mean".

use super::diag::FileCtx;
use super::position::{key_path, Pos};
use super::suggest;
use super::Severity;

/// The path prefix (`steps[0].post`, or "" at the top level) and the message without it or the
/// " at line L column C" part.
fn split(e: &serde_yaml::Error) -> (String, String) {
    let mut text = e.to_string();
    if let Some(loc) = e.location() {
        let at = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(i) = text.find(&at) {
            text.replace_range(i..i + at.len(), "");
        }
    }
    match text.split_once(": ") {
        Some((path, rest)) if !path.is_empty() && !path.contains([' ', '`']) => (path.to_string(), rest.to_string()),
        _ => (String::new(), text),
    }
}

/// Backtick-quoted names in a serde "expected one of `a`, `b`" list.
fn expected_names(message: &str) -> Vec<&str> {
    let Some((_, list)) = message.split_once("expected ") else {
        return Vec::new();
    };
    list.split('`').skip(1).step_by(2).collect()
}

fn first_quoted(message: &str) -> &str {
    message.split('`').nth(1).unwrap_or("")
}

/// Friendlier names for what serde expected.
fn expected_words(what: &str) -> String {
    let what = what.trim();
    if what.starts_with("struct ") || what == "a map" {
        return "a mapping".into();
    }
    match what {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a boolean" => "true or false".into(),
        other => other.into(),
    }
}

fn found_words(found: &str) -> String {
    match found {
        "unit value" => "null".into(),
        "map" => "a mapping".into(),
        "sequence" => "a list".into(),
        other => other.into(),
    }
}

pub fn report(ctx: &mut FileCtx, e: &serde_yaml::Error) {
    let (path, message) = split(e);
    // Reader errors (control characters, bad UTF-8) are located at 1:1; their real place is "at position N".
    let serde_pos =
        offset_pos(&ctx.text, &message).or_else(|| e.location().map(|l| Pos { line: l.line(), col: l.column() }));
    // The key the value belongs to: `expect` for `steps[0].expect[1]`.
    let mut keyed = path.as_str();
    while let Some(i) = keyed.strip_suffix(']').and_then(|k| k.rfind('[')) {
        keyed = &keyed[..i];
    }
    let name = keyed.rsplit('.').next().unwrap_or("");
    let fallback = serde_pos.unwrap_or_else(|| ctx.index.value(&path));
    let (at, message, hint) = if message.starts_with("unknown field `") {
        let field = first_quoted(&message).to_string();
        let expected = expected_names(&message);
        let hint = suggest::hint(&field, expected.iter().copied()).or_else(|| {
            (!expected.is_empty())
                .then(|| format!("expected one of {}", suggest::quoted_list(expected.iter().copied())))
        });
        let full = key_path(&path, &field);
        let at = if ctx.index.get(&full).is_some() { ctx.index.key(&full) } else { fallback };
        (at, format!("unknown field `{field}`"), hint)
    } else if message.starts_with("unknown variant `") {
        let value = first_quoted(&message).to_string();
        let expected = expected_names(&message);
        let hint = suggest::hint(&value, expected.iter().copied())
            .unwrap_or_else(|| format!("expected one of {}", suggest::quoted_list(expected.iter().copied())));
        let at = if ctx.index.get(&path).is_some() { ctx.index.value(&path) } else { fallback };
        (at, format!("unknown value `{value}` for `{name}`"), Some(hint))
    } else if is_blank(&ctx.text) {
        let hint = "a journey needs at least `name` and `steps`".to_string();
        (Pos::START, "the file is empty".into(), Some(hint))
    } else if message.starts_with("missing field `") {
        let field = first_quoted(&message);
        let at = if path.is_empty() { Pos::START } else { ctx.index.value(&path) };
        let whose = if path.is_empty() { "the journey".to_string() } else { format!("`{path}`") };
        (at, format!("{whose} is missing `{field}`"), None)
    } else if message.starts_with("duplicate field") || message.starts_with("duplicate entry") {
        if !ctx.index.duplicates.is_empty() {
            return; // Already reported, each at its own key.
        }
        (fallback, message, None)
    } else if let Some(rest) =
        message.strip_prefix("invalid type: ").or_else(|| message.strip_prefix("invalid value: "))
    {
        let kind = if message.starts_with("invalid type") { "type" } else { "value" };
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let subject = if name.is_empty() { String::new() } else { format!(" for `{name}`") };
        let msg = if expected.is_empty() {
            format!("invalid {kind}{subject}: {}", found_words(found))
        } else {
            format!("invalid {kind}{subject}: expected {}, found {}", expected_words(expected), found_words(found))
        };
        (fallback, msg, None)
    } else if message.contains("more than one document") {
        (fallback, "this file holds more than one YAML document".into(), Some("put one journey per file".into()))
    } else {
        past_the_end(ctx, fallback, message)
    };
    ctx.push(Severity::Error, at, message, hint);
}

/// The line and column of the byte offset in "… at position N" (found by the fuzz tests: without it, a
/// control character anywhere was reported at 1:1).
fn offset_pos(text: &str, message: &str) -> Option<Pos> {
    let n: usize = message.rsplit_once("at position ")?.1.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    let mut end = n.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some(Pos { line, col })
}

/// Nothing but blank lines, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.lines().map(str::trim).all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

/// A syntax error found at the end of the file ("did not find expected ']'") is about something opened
/// earlier: point at where that starts, which libyaml names as "while parsing … at line L column C".
fn past_the_end(ctx: &FileCtx, at: Pos, message: String) -> (Pos, String, Option<String>) {
    let lines = ctx.text.lines().count();
    let at_end = at.line > lines || ctx.text.lines().nth(at.line - 1).is_some_and(|l| l.trim().is_empty());
    let Some(i) = message.find(" at line ").filter(|_| at_end) else {
        return (at, message, None);
    };
    let numbers: Vec<usize> =
        message[i..].split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    match numbers.as_slice() {
        [line, col, ..] if *line >= 1 && *line <= lines => {
            let start = Pos { line: *line, col: *col };
            let hint = Some("the file ends before this is closed".to_string());
            (start, message[..i].to_string(), hint)
        }
        _ => (at, message, None),
    }
}

/// Secret values a file would resolve, found without the strict types (the file did not parse), so
/// snippets can still be redacted.
pub fn lenient_secrets(text: &str, dir: &std::path::Path, opts: &super::LoadOptions) -> Vec<String> {
    let Ok(serde_yaml::Value::Mapping(doc)) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Vec::new();
    };
    let Some(serde_yaml::Value::Mapping(secrets)) = doc.get("secrets") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (_, spec) in secrets {
        if let Some(var) = spec.get("env").and_then(|v| v.as_str()) {
            out.extend(opts.lookup_env(var));
        }
        if let Some(file) = spec.get("file").and_then(|v| v.as_str()) {
            out.extend(super::data::read_secret_file(&dir.join(file)).ok());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_expected_lists() {
        assert_eq!(expected_names("unknown field `psot`, expected one of `name`, `get`"), ["name", "get"]);
        assert_eq!(expected_names("unknown variant `x`, expected `a` or `b`"), ["a", "b"]);
        assert!(expected_names("unknown field `a`, there are no fields").is_empty());
    }

    #[test]
    fn splits_path_and_location() {
        let e = serde_yaml::from_str::<super::super::raw::RawJourney>("name: x\nusers: many\nsteps: []\n").unwrap_err();
        assert_eq!(split(&e), ("users".to_string(), "invalid type: string \"many\", expected u32".to_string()));
    }
}
