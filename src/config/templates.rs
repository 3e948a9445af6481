//! Compiles `{{ … }}` templates into `crate::template::Template`, resolving every name at load time.
//!
//! Scopes: `env.NAME` and `vars.name` become literal text; `secrets.name` an index; `<source>.<column>` a
//! data-source column; a bare identifier a capture slot of an earlier step. Helpers (`template_helpers`):
//! `uuid()`, `random_int(a, b)`, `timestamp()`, `timestamp_ms()`, `now_rfc3339()`, `urlencode(x)`,
//! `base64(x)`, `totp(seed, …)`. A quoted string is a literal, so `{{ "{{" }}` writes two braces; `a ~ b`
//! joins values (`base64(secrets.user ~ ":" ~ secrets.password)`).

use std::collections::{BTreeMap, HashSet};

use super::scan::{char_offset, describe, lex, Tok};
use super::suggest;
use super::{LoadOptions, Severity};
use crate::template::{Expr, Part, Template};

/// What a template may refer to at the point where it appears.
#[derive(Debug, Default, Clone, Copy)]
pub struct Names<'a> {
    /// `vars` entries may only use `env`.
    pub env_only: bool,
    pub vars: &'a [(String, String)],
    pub secrets: &'a [String],
    /// `oauth` token sources, by index.
    pub oauth: &'a [String],
    /// In `target` and token sources, which are rendered before any token is fetched: `oauth.x` is refused.
    pub no_oauth: bool,
    pub data: &'a [DataNames],
    /// Data sources whose file could not be read (already reported): their columns resolve quietly.
    pub broken_data: &'a [String],
    /// Captures defined by earlier steps: name and slot.
    pub captures: &'a [(String, usize)],
    /// Captures defined by the current step (not usable yet).
    pub this_step: &'a [String],
    /// Captures first defined by a later step: name and that step's name.
    pub later: &'a [(String, String)],
}

/// A data source as templates see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataNames {
    pub name: String,
    /// The CSV path as written, for hints. Hints name this file, never its content: `csv:` may point at a
    /// file that is not data (`/etc/shadow`), whose first row would otherwise be printed as column names.
    pub csv: String,
    pub columns: Vec<String>,
}

pub use helpers::HELPERS;

/// Resolves `env.NAME` and remembers what was used (for the fingerprint) and what was missing.
pub struct Env<'a> {
    opts: &'a LoadOptions,
    /// Every variable looked up, with its value: part of the journey's fingerprint.
    pub used: BTreeMap<String, Option<String>>,
    /// Missing variables already warned about (one warning per variable per file).
    warned: HashSet<String>,
}

impl<'a> Env<'a> {
    pub fn new(opts: &'a LoadOptions) -> Env<'a> {
        Env { opts, used: BTreeMap::new(), warned: HashSet::new() }
    }

    pub fn strict(&self) -> bool {
        self.opts.strict_env
    }

    pub fn lookup(&mut self, name: &str) -> Option<String> {
        let v = self.opts.lookup_env(name);
        self.used.insert(name.to_string(), v.clone());
        v
    }

    /// True the first time a missing variable is reported (later uses stay quiet in non-strict mode).
    pub fn first_warning(&mut self, name: &str) -> bool {
        self.warned.insert(name.to_string())
    }
}

/// A problem in a template or check expression, `offset` characters into its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub offset: usize,
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn error(offset: usize, message: impl Into<String>, hint: Option<String>) -> Problem {
        Problem { offset, severity: Severity::Error, message: message.into(), hint }
    }
}

/// Compiles `text`; problems are appended to `problems`. `None` when any of them is an error.
pub fn compile(text: &str, names: &Names, env: &mut Env, problems: &mut Vec<Problem>) -> Option<Template> {
    let mut parts: Vec<Part> = Vec::new();
    let mut ok = true;
    let mut rest = 0usize;
    while let Some(found) = text[rest..].find("{{") {
        let open = rest + found;
        push_lit(&mut parts, &text[rest..open]);
        let Some(close) = find_close(text, open + 2) else {
            problems.push(Problem::error(
                char_offset(text, open),
                "unbalanced braces: `{{` is never closed",
                Some("close it with `}}`; to write literal braces use {{ \"{{\" }}".to_string()),
            ));
            return None;
        };
        let inner = &text[open + 2..close];
        let mut cx = Cx { text, names, env, problems, ok: true };
        if let Some(value) = cx.expression(inner, open + 2) {
            match value {
                Value::Lit(s) => push_lit(&mut parts, &s),
                Value::Expr(e) => parts.push(Part::Expr(e)),
            }
        }
        ok &= cx.ok;
        rest = close + 2;
    }
    push_lit(&mut parts, &text[rest..]);
    if !ok {
        return None;
    }
    if parts.is_empty() {
        parts.push(Part::Lit(String::new()));
    }
    Some(Template { source: text.to_string(), parts })
}

fn push_lit(parts: &mut Vec<Part>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Part::Lit(prev)) = parts.last_mut() {
        prev.push_str(s);
    } else {
        parts.push(Part::Lit(s.to_string()));
    }
}

/// The byte index of the `}}` closing an expression that starts at `from`, skipping quoted strings.
fn find_close(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            b'{' if bytes.get(i + 1) == Some(&b'{') => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

enum Value {
    Lit(String),
    Expr(Expr),
}

impl Value {
    fn into_expr(self) -> Expr {
        match self {
            Value::Lit(s) => Expr::Lit(s),
            Value::Expr(e) => e,
        }
    }
}

struct Cx<'t, 'n, 'e, 'o, 'p> {
    /// The whole template, for offsets.
    text: &'t str,
    names: &'n Names<'n>,
    env: &'e mut Env<'o>,
    problems: &'p mut Vec<Problem>,
    ok: bool,
}

impl Cx<'_, '_, '_, '_, '_> {
    fn err(&mut self, byte: usize, message: impl Into<String>, hint: Option<String>) {
        self.ok = false;
        self.problems.push(Problem::error(char_offset(self.text, byte), message, hint));
    }

    /// Parses and resolves one `{{ … }}` body starting at byte `base` of the template.
    fn expression(&mut self, inner: &str, base: usize) -> Option<Value> {
        let toks = match lex(inner, base) {
            Ok(t) => t,
            Err((at, msg)) => {
                self.err(at, msg, None);
                return None;
            }
        };
        if toks.is_empty() {
            self.err(base, "empty `{{ }}` expression", Some(self.available()));
            return None;
        }
        let mut pos = 0;
        let value = self.concat(&toks, &mut pos, base + inner.len())?;
        if let Some((t, at)) = toks.get(pos) {
            self.err(*at, format!("unexpected {} after the expression", describe(t)), None);
            return None;
        }
        Some(value)
    }

    /// `a ~ b ~ …`: values joined; parts known at load are joined at load.
    fn concat(&mut self, toks: &[(Tok, usize)], pos: &mut usize, end: usize) -> Option<Value> {
        let mut value = self.parse_value(toks, pos, end)?;
        while matches!(toks.get(*pos), Some((Tok::Punct('~'), _))) {
            *pos += 1;
            if matches!(toks.get(*pos), None | Some((Tok::Punct(_), _))) {
                let at = toks.get(*pos).map_or(end, |t| t.1);
                let hint = "`~` joins two values: secrets.user ~ \":\" ~ secrets.password";
                self.err(at, "expected a value after `~`", Some(hint.into()));
                return None;
            }
            let next = self.parse_value(toks, pos, end)?;
            value = match (value, next) {
                (Value::Lit(mut a), Value::Lit(b)) => {
                    a.push_str(&b);
                    Value::Lit(a)
                }
                (Value::Expr(Expr::Concat(mut parts)), next) => {
                    match (parts.last_mut(), next) {
                        (Some(Expr::Lit(a)), Value::Lit(b)) => a.push_str(&b),
                        (_, next) => parts.push(next.into_expr()),
                    }
                    Value::Expr(Expr::Concat(parts))
                }
                (a, b) => Value::Expr(Expr::Concat(vec![a.into_expr(), b.into_expr()])),
            };
        }
        Some(value)
    }

    fn parse_value(&mut self, toks: &[(Tok, usize)], pos: &mut usize, end: usize) -> Option<Value> {
        let Some((tok, at)) = toks.get(*pos).cloned() else {
            self.err(end, "expected a name, helper call or quoted string", None);
            return None;
        };
        *pos += 1;
        match tok {
            Tok::Str(s) => Some(Value::Lit(s)),
            Tok::Int(n) => Some(Value::Lit(n.to_string())),
            Tok::Punct(c) => {
                self.err(at, format!("unexpected `{c}`"), None);
                None
            }
            Tok::Ident(first) => {
                if matches!(toks.get(*pos), Some((Tok::Punct('('), _))) {
                    *pos += 1;
                    return self.call(&first, at, toks, pos, end);
                }
                let mut segs = vec![first];
                while matches!(toks.get(*pos), Some((Tok::Punct('.'), _))) {
                    match toks.get(*pos + 1) {
                        Some((Tok::Ident(s), _)) => segs.push(s.clone()),
                        Some((Tok::Int(n), _)) if *n >= 0 => segs.push(n.to_string()),
                        _ => {
                            self.err(toks[*pos].1, "expected a name after `.`", None);
                            return None;
                        }
                    }
                    *pos += 2;
                }
                self.resolve(&segs, at)
            }
        }
    }

    fn resolve(&mut self, segs: &[String], at: usize) -> Option<Value> {
        let names = *self.names;
        let joined = segs.join(".");
        match segs {
            [scope, name] if scope == "env" => {
                if let Some(v) = self.env.lookup(name) {
                    return Some(Value::Lit(v));
                }
                if self.env.strict() {
                    let hint = format!("set {name} in the environment journeyd runs in");
                    self.err(at, format!("environment variable `{name}` is not set"), Some(hint));
                    return None;
                }
                if self.env.first_warning(name) {
                    self.problems.push(Problem {
                        offset: char_offset(self.text, at),
                        severity: Severity::Warning,
                        message: format!("environment variable `{name}` is not set; using an empty value"),
                        hint: Some("`run` and `verify` refuse to start without it".into()),
                    });
                }
                Some(Value::Lit(String::new()))
            }
            [scope, ..] if scope == "env" => {
                self.err(
                    at,
                    format!("`{joined}` is not an environment variable reference"),
                    Some("write env.NAME".into()),
                );
                None
            }
            _ if names.env_only => {
                self.err(at, format!("`{joined}` cannot be used in `vars`"), Some("vars may only use env.NAME".into()));
                None
            }
            [scope, name] if scope == "vars" => {
                if let Some((_, v)) = names.vars.iter().find(|(k, _)| k == name) {
                    return Some(Value::Lit(v.clone()));
                }
                self.unknown(at, &format!("unknown var `{name}`"), &joined);
                None
            }
            [scope, name] if scope == "secrets" => {
                if let Some(i) = names.secrets.iter().position(|s| s == name) {
                    return Some(Value::Expr(Expr::Secret(i)));
                }
                self.unknown(at, &format!("unknown secret `{name}`"), &joined);
                None
            }
            [scope, _] if scope == "oauth" && names.no_oauth => {
                let msg = format!(
                    "`{joined}` cannot be used here: `target` and token sources render before any token is fetched"
                );
                self.err(at, msg, Some("use env, vars or secrets here".into()));
                None
            }
            [scope, name] if scope == "oauth" => {
                if let Some(i) = names.oauth.iter().position(|s| s == name) {
                    return Some(Value::Expr(Expr::OAuth(i)));
                }
                self.unknown(at, &format!("unknown oauth token source `{name}`"), &joined);
                None
            }
            [source, _] if names.broken_data.contains(source) => Some(Value::Lit(String::new())),
            [source, column] if names.data.iter().any(|d| &d.name == source) => {
                let (si, d) = names.data.iter().enumerate().find(|(_, d)| &d.name == source)?;
                if let Some(ci) = d.columns.iter().position(|c| c == column) {
                    return Some(Value::Expr(Expr::Data { source: si, column: ci }));
                }
                // A close match only: it tells no more than what was written.
                let mut hint = suggest::hint(column, d.columns.iter().map(String::as_str))
                    .map(|h| format!("{h} "))
                    .unwrap_or_default();
                hint.push_str(&format!(
                    "`{source}` has the columns named in the first row of {}; add `{column}` there or use one of them",
                    d.csv
                ));
                self.err(at, format!("data source `{source}` has no column `{column}`"), Some(hint));
                None
            }
            [name] => {
                if let Some((_, slot)) = names.captures.iter().rev().find(|(n, _)| n == name) {
                    return Some(Value::Expr(Expr::Capture(*slot)));
                }
                if names.this_step.iter().any(|n| n == name) {
                    let msg =
                        format!("`{name}` is captured by this step, so it can only be used from the next step on");
                    self.err(at, msg, Some(self.available()));
                } else if let Some((_, step)) = names.later.iter().find(|(n, _)| n == name) {
                    let msg = format!("`{name}` is used before it is captured (by step `{step}`)");
                    self.err(at, msg, Some(self.available()));
                } else if HELPERS.contains(&name.as_str()) {
                    self.err(at, format!("`{name}` is a helper"), Some(format!("call it: {name}()")));
                } else {
                    self.unknown(at, &format!("unknown name `{name}`"), name);
                }
                None
            }
            _ => {
                self.unknown(at, &format!("unknown name `{joined}`"), &joined);
                None
            }
        }
    }

    fn unknown(&mut self, at: usize, message: &str, written: &str) {
        let all = self.defined();
        let mut hint =
            suggest::hint(written, all.iter().map(String::as_str)).map(|h| format!("{h} ")).unwrap_or_default();
        hint.push_str(&self.available());
        self.err(at, message, Some(hint));
    }

    /// Every name a template can use here, in a stable order.
    fn defined(&self) -> Vec<String> {
        let n = self.names;
        let mut out: Vec<String> = Vec::new();
        if n.env_only {
            return out;
        }
        out.extend(n.vars.iter().map(|(k, _)| format!("vars.{k}")));
        out.extend(n.secrets.iter().map(|s| format!("secrets.{s}")));
        out.extend(n.oauth.iter().map(|s| format!("oauth.{s}")));
        for d in n.data {
            out.extend(d.columns.iter().map(|c| format!("{}.{c}", d.name)));
        }
        let mut seen = HashSet::new();
        out.extend(n.captures.iter().filter(|(c, _)| seen.insert(c.clone())).map(|(c, _)| c.clone()));
        out
    }

    fn available(&self) -> String {
        if self.names.env_only {
            return "vars may only use env.NAME".to_string();
        }
        let mut all = vec!["env.NAME".to_string()];
        // Data columns as `source.COLUMN`, like `env.NAME`: the names come from a file's first row.
        let columns: HashSet<String> =
            self.names.data.iter().flat_map(|d| d.columns.iter().map(|c| format!("{}.{c}", d.name))).collect();
        all.extend(self.defined().into_iter().filter(|n| !columns.contains(n)));
        let sources = self.names.data.iter().map(|d| format!("{}.COLUMN", d.name));
        let at = all.len().min(1 + self.names.vars.len() + self.names.secrets.len());
        all.splice(at..at, sources);
        format!("defined here: {}", suggest::quoted_list(all.iter().map(String::as_str)))
    }
}

#[path = "template_helpers.rs"]
mod helpers;

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;
