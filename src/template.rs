//! `{{ … }}` interpolation, compiled once at load time.
//!
//! A template is a list of literal and expression parts. Names are resolved when the journey is loaded:
//! `vars.x` and `env.X` become literals, `secrets.x` an index into the journey's secrets, `<source>.<column>`
//! a (source, column) pair, and a capture name the slot it will be stored in. So rendering does no lookups by
//! name, and a template with no expressions renders without allocating.
//!
//! `totp(…)` and `base64(…)` of a secret make new credentials (a 2FA code, a Basic token of `user:password`)
//! that no redactor knows yet: [`Template::try_render`] hands them back to the caller, which registers them
//! before any evidence of the request is written. A `totp` seed from a secret or a capture is decoded when
//! rendered, so it is the one render that can fail: [`RenderError`].

pub mod totp;

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;

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
    /// `a ~ b ~ …`: the parts' text one after the other.
    Concat(Vec<Expr>),
    /// `base64(x)`: standard alphabet, padded (what `Authorization: Basic` takes).
    Base64(Box<Expr>),
    /// `totp(seed, …)`: the RFC 6238 code for now.
    Totp { seed: TotpSeed, params: totp::Params },
    /// `oauth.<name>`: the access token of the journey's token source with this index, fetched by the
    /// runner before the step renders.
    OAuth(usize),
}

/// Where a `totp` key comes from.
#[derive(Clone, PartialEq)]
pub enum TotpSeed {
    /// A seed written in the file (or in `vars`/`env`), decoded and checked at load.
    Key(Vec<u8>),
    /// A secret, data column or capture: its text is decoded each time a code is made.
    Expr(Box<Expr>),
}

impl std::fmt::Debug for TotpSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // A decoded key is as good as the secret it came from: never printed.
            TotpSeed::Key(_) => f.write_str("Key(***)"),
            TotpSeed::Expr(e) => f.debug_tuple("Expr").field(e).finish(),
        }
    }
}

/// Why a template could not be rendered: a `totp` seed that is not base32. Never carries a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RenderError {
    pub message: String,
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
    /// The access token of each `oauth` source the step uses (`None`: not fetched for this step).
    pub tokens: &'a [Option<std::sync::Arc<str>>],
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
        let mut slots = Vec::new();
        for p in &self.parts {
            if let Part::Expr(e) = p {
                e.capture_slots(&mut slots);
            }
        }
        slots.into_iter()
    }

    /// Renders, leaving out what cannot be rendered (a `totp` whose seed is not base32): for targets and
    /// check values. Requests use [`Template::try_render`], which says why and reports new credentials.
    pub fn render<'s>(&'s self, scope: &Scope<'s>) -> Cow<'s, str> {
        self.try_render(scope, &mut Vec::new()).unwrap_or_default()
    }

    /// Renders; values derived from a credential (`totp` codes, `base64` of a secret) are appended to
    /// `derived` for the caller's redactor. A template that is one literal, or one value already in the
    /// scope (`{{ accounts.email }}`, `{{ cart }}`), is borrowed, not copied; otherwise the text is built in
    /// one allocation sized from its parts.
    pub fn try_render<'s>(&'s self, scope: &Scope<'s>, derived: &mut Vec<String>) -> Result<Cow<'s, str>, RenderError> {
        match self.parts.as_slice() {
            [] => Ok(Cow::Borrowed("")),
            [Part::Lit(s)] => Ok(Cow::Borrowed(s.as_str())),
            parts => {
                if let [Part::Expr(e)] = parts {
                    if let Some(value) = e.in_scope(scope) {
                        return Ok(Cow::Borrowed(value));
                    }
                }
                let known = |p: &Part| match p {
                    Part::Lit(s) => s.len(),
                    Part::Expr(e) => e.in_scope(scope).map_or(0, str::len),
                };
                let mut out = String::with_capacity(parts.iter().map(known).sum());
                for p in parts {
                    match p {
                        Part::Lit(s) => out.push_str(s),
                        Part::Expr(e) => e.render_into(scope, &mut out, derived)?,
                    }
                }
                Ok(Cow::Owned(out))
            }
        }
    }
}

impl Expr {
    /// True when the value is a credential: a secret, or a code made from any seed.
    fn uses_secret(&self) -> bool {
        match self {
            Expr::Secret(_) | Expr::Totp { .. } | Expr::OAuth(_) => true,
            Expr::UrlEncode(inner) | Expr::Base64(inner) => inner.uses_secret(),
            Expr::Concat(parts) => parts.iter().any(Expr::uses_secret),
            _ => false,
        }
    }

    /// The `oauth` sources this expression reads (indexes, maybe repeated).
    pub fn oauth_sources(&self, out: &mut Vec<usize>) {
        match self {
            Expr::OAuth(i) => out.push(*i),
            Expr::UrlEncode(inner) | Expr::Base64(inner) => inner.oauth_sources(out),
            Expr::Concat(parts) => parts.iter().for_each(|p| p.oauth_sources(out)),
            _ => {}
        }
    }

    fn capture_slots(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Capture(slot) => out.push(*slot),
            Expr::UrlEncode(inner) | Expr::Base64(inner) => inner.capture_slots(out),
            Expr::Totp { seed: TotpSeed::Expr(inner), .. } => inner.capture_slots(out),
            Expr::Concat(parts) => parts.iter().for_each(|p| p.capture_slots(out)),
            _ => {}
        }
    }

    /// The value, when the expression only reads one that lies in the scope (a secret, a data column, a
    /// capture, a token; empty when unset): rendering it needs no copy.
    fn in_scope<'v>(&self, scope: &Scope<'v>) -> Option<&'v str> {
        Some(match self {
            Expr::Secret(i) => scope.secrets.get(*i).map_or("", |s| s.value.as_str()),
            Expr::Data { source, column } => {
                scope.rows.get(*source).and_then(|row| row.get(*column)).map_or("", String::as_str)
            }
            Expr::Capture(slot) => scope.captures.get(*slot).and_then(Option::as_deref).unwrap_or_default(),
            Expr::OAuth(i) => scope.tokens.get(*i).and_then(Option::as_deref).unwrap_or_default(),
            _ => return None,
        })
    }

    fn render_into(&self, scope: &Scope<'_>, out: &mut String, derived: &mut Vec<String>) -> Result<(), RenderError> {
        if let Some(value) = self.in_scope(scope) {
            out.push_str(value);
            return Ok(());
        }
        match self {
            Expr::Secret(_) | Expr::Data { .. } | Expr::Capture(_) | Expr::OAuth(_) => {}
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
                inner.render_into(scope, &mut raw, derived)?;
                url_encode_into(&raw, out);
            }
            Expr::Lit(s) => out.push_str(s),
            Expr::Concat(parts) => {
                for p in parts {
                    p.render_into(scope, out, derived)?;
                }
            }
            Expr::Base64(inner) => {
                let mut raw = String::new();
                inner.render_into(scope, &mut raw, derived)?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
                if inner.uses_secret() {
                    derived.push(encoded.clone());
                }
                out.push_str(&encoded);
            }
            Expr::Totp { seed, params } => {
                let code = match seed {
                    TotpSeed::Key(key) => totp::code_now(key, params),
                    TotpSeed::Expr(inner) => {
                        let mut text = String::new();
                        inner.render_into(scope, &mut text, derived)?;
                        let key = totp::decode_base32(&text)
                            .map_err(|e| RenderError { message: format!("totp({}): {e}", inner.describe(scope)) })?;
                        totp::code_now(&key, params)
                    }
                };
                derived.push(code.clone());
                out.push_str(&code);
            }
        }
        Ok(())
    }

    /// What a seed expression is, for messages: never its value.
    fn describe(&self, scope: &Scope<'_>) -> String {
        match self {
            Expr::Secret(i) => format!("secrets.{}", scope.secrets.get(*i).map_or("?", |s| s.name.as_str())),
            Expr::Data { .. } => "a data column".to_string(),
            Expr::Capture(_) => "a capture".to_string(),
            _ => "its seed".to_string(),
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

    /// Serialises the rendered document; credentials made while rendering go to `derived`
    /// ([`Template::try_render`]).
    pub fn try_render(&self, scope: &Scope<'_>, derived: &mut Vec<String>) -> Result<Vec<u8>, RenderError> {
        let mut out = Vec::with_capacity(128);
        self.render_into(scope, &mut out, derived)?;
        Ok(out)
    }

    /// Appends the rendered document to `out`.
    pub fn render_into(
        &self,
        scope: &Scope<'_>,
        out: &mut Vec<u8>,
        derived: &mut Vec<String>,
    ) -> Result<(), RenderError> {
        match self {
            JsonTemplate::Null => out.extend_from_slice(b"null"),
            JsonTemplate::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            JsonTemplate::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            JsonTemplate::String(t) => write_json_string(&t.try_render(scope, derived)?, out),
            JsonTemplate::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.render_into(scope, out, derived)?;
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
                    v.render_into(scope, out, derived)?;
                }
                out.push(b'}');
            }
        }
        Ok(())
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
        let scope = Scope { secrets: &[], rows: &[], captures: &[], tokens: &[] };
        assert!(matches!(t.render(&scope), Cow::Borrowed("/api/x")));
    }
}
