//! Small scanners shared by templates, checks and captures: the `{{ }}` tokenizer, JSON paths, number
//! literals, and regex errors with their position.

use crate::model::{JsonPath, PathSeg};

/// Characters before byte `byte` of `text`: diagnostics count columns in characters.
pub fn char_offset(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count()
}

/// A token of a `{{ }}` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Int(i64),
    Str(String),
    Punct(char),
}

pub fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Int(n) => format!("`{n}`"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Punct(c) => format!("`{c}`"),
    }
}

/// Splits an expression body into tokens with their byte offsets in the whole template.
pub fn lex(inner: &str, base: usize) -> Result<Vec<(Tok, usize)>, (usize, String)> {
    let mut out = Vec::new();
    let mut chars = inner.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        let at = base + i;
        if c.is_whitespace() {
            chars.next();
        } else if matches!(c, '(' | ')' | ',' | '.' | '~' | '=') {
            chars.next();
            out.push((Tok::Punct(c), at));
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some((_, d)) = chars.next() {
                if d == c {
                    closed = true;
                    break;
                }
                if d == '\\' {
                    if let Some((_, e)) = chars.next() {
                        s.push(e);
                    }
                } else {
                    s.push(d);
                }
            }
            if !closed {
                return Err((at, "unterminated string".into()));
            }
            out.push((Tok::Str(s), at));
        } else if c.is_ascii_digit() || c == '-' {
            chars.next();
            let mut s = String::from(c);
            while let Some(&(_, d)) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                s.push(d);
                chars.next();
            }
            let n = s.parse::<i64>().map_err(|_| (at, format!("invalid number `{s}`")))?;
            out.push((Tok::Int(n), at));
        } else if c.is_alphabetic() || c == '_' {
            let mut s = String::new();
            while let Some(&(_, d)) = chars.peek() {
                if !(d.is_alphanumeric() || d == '_' || d == '-') {
                    break;
                }
                s.push(d);
                chars.next();
            }
            out.push((Tok::Ident(s), at));
        } else {
            return Err((at, format!("unexpected character `{c}` in `{{{{ }}}}`")));
        }
    }
    Ok(out)
}

/// Parses a JSON path as written after `json.`: `a.b[0].c`, `items.0`; empty is the whole document.
pub fn parse_json_path(path: &str) -> Result<JsonPath, (usize, String)> {
    let mut segs = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    let mut expect_key = true;
    while i < b.len() {
        match b[i] {
            b'[' => {
                let close = path[i..].find(']').map(|c| i + c).ok_or((i, "`[` without a closing `]`".to_string()))?;
                let inner = &path[i + 1..close];
                let n = inner
                    .parse::<usize>()
                    .map_err(|_| (i + 1, format!("array index `{inner}` is not a number; write items[0]")))?;
                segs.push(PathSeg::Index(n));
                i = close + 1;
                expect_key = false;
            }
            b'.' if !expect_key => {
                i += 1;
                expect_key = true;
                if i == b.len() {
                    return Err((i, "path ends with `.`".into()));
                }
            }
            b']' => return Err((i, "`]` without an opening `[`".into())),
            _ if expect_key || segs.is_empty() => {
                let end = path[i..].find(['.', '[', ']']).map_or(path.len(), |e| i + e);
                let key = &path[i..end];
                if key.is_empty() {
                    return Err((i, "empty key in path".into()));
                }
                segs.push(match key.parse::<usize>() {
                    Ok(n) => PathSeg::Index(n),
                    Err(_) => PathSeg::Key(key.to_string()),
                });
                i = end;
                expect_key = false;
            }
            _ => return Err((i, "expected `.` or `[` in path".into())),
        }
    }
    if expect_key && !segs.is_empty() {
        return Err((path.len(), "path ends with `.`".into()));
    }
    Ok(JsonPath(segs))
}

/// The message and byte offset in the pattern of a regex error.
pub fn regex_error(pattern: &str, e: &regex::Error) -> (String, usize) {
    match regex_syntax::Parser::new().parse(pattern) {
        Err(regex_syntax::Error::Parse(p)) => (p.kind().to_string(), p.span().start.offset),
        Err(regex_syntax::Error::Translate(t)) => (t.kind().to_string(), t.span().start.offset),
        _ => {
            let text = e.to_string();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid regex");
            (last.trim().trim_start_matches("error: ").to_string(), 0)
        }
    }
}

/// A number literal: digits with an optional sign, fraction and exponent (not `inf` or `NaN`).
pub fn number(tok: &str) -> Option<f64> {
    let body = tok.strip_prefix(['-', '+']).unwrap_or(tok);
    let starts_numeric = body.starts_with(|c: char| c.is_ascii_digit())
        || (body.starts_with('.') && body[1..].starts_with(|c: char| c.is_ascii_digit()));
    if !starts_numeric {
        return None;
    }
    tok.parse::<f64>().ok().filter(|n| n.is_finite())
}
