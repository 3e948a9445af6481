//! Credentials out of the file: pending secret fields, URL credentials and what is left literal in an
//! `Authorization`-like header become `secrets:` read from `JOURNEY_*` variables, and every other copy of
//! a secret's value anywhere in the journey is replaced by its reference too. The generated file never
//! holds a recorded credential.

use super::draft::{Draft, Piece, Text};
use super::rules;

/// One secret of the generated journey.
#[derive(Debug, Clone)]
pub struct Secret {
    /// `password`: `{{ secrets.password }}`.
    pub name: String,
    /// `JOURNEY_PASSWORD`.
    pub env: String,
    /// For the person setting the variable: "the `password` field of POST /api/login".
    pub what: String,
    /// The recorded value, only to find its other copies; never written.
    value: String,
}

#[derive(Debug, Default)]
pub struct Registry {
    pub secrets: Vec<Secret>,
}

impl Registry {
    /// The secret holding `value`, made when new; named after `field`.
    fn name_for(&mut self, field: &str, value: &str, what: impl FnOnce() -> String) -> String {
        if let Some(s) = self.secrets.iter().find(|s| s.value == value) {
            return s.name.clone();
        }
        let mut base = rules::slug(field, '_');
        if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
            base = format!("secret_{base}").trim_end_matches('_').to_string();
        }
        let taken: Vec<String> = self.secrets.iter().map(|s| s.name.clone()).collect();
        let name = super::draft::unique(&base, &taken, '_');
        let env = format!("JOURNEY_{}", name.to_ascii_uppercase());
        self.secrets.push(Secret { name: name.clone(), env, what: what(), value: value.to_string() });
        name
    }

    /// `(variable, what it holds)` for each secret, in order of first use.
    pub fn notes(&self) -> Vec<(String, String)> {
        self.secrets.iter().map(|s| (s.env.clone(), s.what.clone())).collect()
    }

    /// Whether `text` contains a recorded secret value (tests and the final check of `emit`).
    pub fn leaks(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| s.value.len() >= 3 && text.contains(&s.value))
    }
}

/// Turns every pending field and literal credential header into a secret reference, then replaces the
/// other copies of each secret value.
pub fn extract(drafts: &mut [Draft]) -> Registry {
    let mut reg = Registry::default();
    for d in drafts.iter_mut() {
        let request = format!("{} {}", d.method, d.url.render());
        for (text, secret_header) in d.texts_mut() {
            resolve_pending(text, &mut reg, &request);
            if let Some(header) = secret_header {
                literal_credential(text, header, &mut reg, &request);
            }
        }
    }
    let found: Vec<(String, String)> = reg.secrets.iter().map(|s| (s.value.clone(), s.name.clone())).collect();
    for (value, name) in found.iter().filter(|(v, _)| v.len() >= 3) {
        for d in drafts.iter_mut() {
            for (text, _) in d.texts_mut() {
                substitute_anywhere(text, value, &format!("secrets.{name}"));
            }
        }
    }
    reg
}

fn resolve_pending(text: &mut Text, reg: &mut Registry, request: &str) {
    for piece in text.0.iter_mut() {
        if let Piece::Pending { field, value, in_url } = piece {
            let name = reg.name_for(field, value, || format!("the `{field}` field of {request}"));
            let expr = if *in_url { format!("urlencode(secrets.{name})") } else { format!("secrets.{name}") };
            *piece = Piece::Expr(expr);
        }
    }
}

/// A header value that is still wholly literal after correlation: `Bearer abc…` → `Bearer {{
/// secrets.bearer_token }}`, `Basic …` → `basic_auth`, anything else is named after its header
/// (`X-Api-Key` → `x_api_key`). A value that already refers to a capture (`Bearer {{ token }}`) is left as
/// it is.
fn literal_credential(text: &mut Text, header: &str, reg: &mut Registry, request: &str) {
    let [Piece::Lit(s)] = text.0.as_slice() else { return };
    if s.trim().is_empty() {
        return;
    }
    let (scheme, value) = match s.split_once(' ') {
        Some((scheme, v)) if !v.trim().is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) => {
            (format!("{scheme} "), v.to_string())
        }
        _ => (String::new(), s.clone()),
    };
    let field = match scheme.trim().to_ascii_lowercase().as_str() {
        "bearer" => "bearer_token",
        "basic" => "basic_auth",
        _ => header,
    };
    let name = reg.name_for(field, &value, || format!("the credential sent by {request}"));
    let mut pieces = Vec::new();
    if !scheme.is_empty() {
        pieces.push(Piece::Lit(scheme));
    }
    pieces.push(Piece::Expr(format!("secrets.{name}")));
    text.0 = pieces;
}

/// Replaces `value` wherever it occurs in literal pieces, even inside a word: a copy of a credential must
/// not survive because a letter touches it.
fn substitute_anywhere(text: &mut Text, value: &str, expr: &str) {
    let mut out = Vec::new();
    for piece in text.0.drain(..) {
        match piece {
            Piece::Lit(s) if s.contains(value) => {
                let parts: Vec<&str> = s.split(value).collect();
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push(Piece::Expr(expr.to_string()));
                    }
                    if !part.is_empty() {
                        out.push(Piece::Lit(part.to_string()));
                    }
                }
            }
            other => out.push(other),
        }
    }
    text.0 = out;
}
