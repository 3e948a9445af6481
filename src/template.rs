//! `{{ … }}` interpolation, compiled once at load time.
//!
//! A template is a list of literal and expression parts. Names are resolved when the journey is loaded:
//! `vars.x` and `env.X` become literals, `secrets.x` an index into the journey's secrets, `<source>.<column>`
//! a (source, column) pair, and a capture name the slot it will be stored in. So rendering does no lookups by
//! name, and a template with no expressions renders without allocating.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::secret::Secret;

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The text as written (secrets are references here, never values), for messages.
    pub source: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Index into `Journey::secrets`.
    Secret(usize),
    /// A column of the virtual user's current row of a data source.
    Data { source: usize, column: usize },
    /// A value captured by an earlier step.
    Capture(usize),
    /// A fresh random UUID v4.
    Uuid,
    /// A random integer in `[min, max]`.
    RandomInt { min: i64, max: i64 },
    /// The current time.
    Timestamp(TimestampFormat),
    /// Percent-encode the inner value (RFC 3986 unreserved characters stay).
    UrlEncode(Box<Expr>),
    /// A literal used as a helper argument (`urlencode("a b")`).
    Lit(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// Seconds since the Unix epoch.
    Unix,
    /// Milliseconds since the Unix epoch.
    UnixMillis,
    /// RFC 3339 in UTC, e.g. `2026-11-29T16:27:20Z`.
    Rfc3339,
}

/// What a render can read: the values that vary per virtual user and per run.
pub struct Scope<'a> {
    pub secrets: &'a [Secret],
    /// The current row of each data source (empty for sources the user holds no row of).
    pub rows: &'a [&'a [String]],
    pub captures: &'a [Option<String>],
}

impl Template {
    /// A template that is only literal text.
    pub fn literal(text: impl Into<String>) -> Template {
        let text = text.into();
        Template { source: text.clone(), parts: vec![Part::Lit(text)] }
    }

    /// True when rendering does not depend on the scope (no allocation needed).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// True when a secret can appear in the output, so the result must be redacted in evidence.
    pub fn uses_secret(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Expr(e) if e.uses_secret()))
    }

    /// Capture slots this template reads.
    pub fn capture_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => e.capture_slot(),
            Part::Lit(_) => None,
        })
    }

    pub fn render<'s>(&'s self, scope: &Scope<'_>) -> Cow<'s, str> {
        match self.parts.as_slice() {
            [] => Cow::Borrowed(""),
            [Part::Lit(s)] => Cow::Borrowed(s.as_str()),
            parts => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        Part::Lit(s) => out.push_str(s),
                        Part::Expr(e) => e.render_into(scope, &mut out),
                    }
                }
                Cow::Owned(out)
            }
        }
    }
}

impl Expr {
    fn uses_secret(&self) -> bool {
        match self {
            Expr::Secret(_) => true,
            Expr::UrlEncode(inner) => inner.uses_secret(),
            _ => false,
        }
    }

    fn capture_slot(&self) -> Option<usize> {
        match self {
            Expr::Capture(slot) => Some(*slot),
            Expr::UrlEncode(inner) => inner.capture_slot(),
            _ => None,
        }
    }

    fn render_into(&self, scope: &Scope<'_>, out: &mut String) {
        match self {
            Expr::Secret(i) => out.push_str(scope.secrets.get(*i).map_or("", |s| s.value.as_str())),
            Expr::Data { source, column } => {
                let value = scope.rows.get(*source).and_then(|row| row.get(*column));
                out.push_str(value.map_or("", String::as_str));
            }
            Expr::Capture(slot) => {
                if let Some(Some(v)) = scope.captures.get(*slot) {
                    out.push_str(v);
                }
            }
            Expr::Uuid => {
                let _ = write!(out, "{}", uuid::Uuid::new_v4());
            }
            Expr::RandomInt { min, max } => {
                let n = rand::random_range(*min..=*max);
                let _ = write!(out, "{n}");
            }
            Expr::Timestamp(format) => render_timestamp(*format, std::time::SystemTime::now(), out),
            Expr::UrlEncode(inner) => {
                let mut raw = String::new();
                inner.render_into(scope, &mut raw);
                url_encode_into(&raw, out);
            }
            Expr::Lit(s) => out.push_str(s),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn url_encode_into(raw: &str, out: &mut String) {
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn render_timestamp(format: TimestampFormat, now: std::time::SystemTime, out: &mut String) {
    let since = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    match format {
        TimestampFormat::Unix => {
            let _ = write!(out, "{}", since.as_secs());
        }
        TimestampFormat::UnixMillis => {
            let _ = write!(out, "{}", since.as_millis());
        }
        TimestampFormat::Rfc3339 => out.push_str(&crate::units::rfc3339(now)),
    }
}

/// A JSON body with templates in its string values (keys are literal).
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    pub fn uses_secret(&self) -> bool {
        match self {
            JsonTemplate::String(t) => t.uses_secret(),
            JsonTemplate::Array(items) => items.iter().any(JsonTemplate::uses_secret),
            JsonTemplate::Object(fields) => fields.iter().any(|(_, v)| v.uses_secret()),
            _ => false,
        }
    }

    pub fn templates(&self) -> Vec<&Template> {
        let mut out = Vec::new();
        self.collect_templates(&mut out);
        out
    }

    fn collect_templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            JsonTemplate::String(t) => out.push(t),
            JsonTemplate::Array(items) => items.iter().for_each(|i| i.collect_templates(out)),
            JsonTemplate::Object(fields) => fields.iter().for_each(|(_, v)| v.collect_templates(out)),
            _ => {}
        }
    }

    /// Serialises the rendered document.
    pub fn render(&self, scope: &Scope<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.render_into(scope, &mut out);
        out
    }

    fn render_into(&self, scope: &Scope<'_>, out: &mut Vec<u8>) {
        match self {
            JsonTemplate::Null => out.extend_from_slice(b"null"),
            JsonTemplate::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            JsonTemplate::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            JsonTemplate::String(t) => write_json_string(&t.render(scope), out),
            JsonTemplate::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.render_into(scope, out);
                }
                out.push(b']');
            }
            JsonTemplate::Object(fields) => {
                out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_string(k, out);
                    out.push(b':');
                    v.render_into(scope, out);
                }
                out.push(b'}');
            }
        }
    }
}

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is exactly right and cannot fail on a &str.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_unreserved() {
        let mut out = String::new();
        url_encode_into("a b&c=d/é~", &mut out);
        assert_eq!(out, "a%20b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn literal_template_renders_borrowed() {
        let t = Template::literal("/api/x");
        let scope = Scope { secrets: &[], rows: &[], captures: &[] };
        assert!(matches!(t.render(&scope), Cow::Borrowed("/api/x")));
    }
}
