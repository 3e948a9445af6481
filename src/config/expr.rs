//! The check-expression parser: `<subject> <op> [<literal>]` into `model::{Subject, Predicate}`.
//!
//! Subjects: `status`, `json` / `json.a.b[0].c`, `header.<Name>`, `cookie.<name>`, `body`, `duration`,
//! `graphql.errors` (a count, compared with a number); in browser steps `url`, `title`, `text("<selector>")`,
//! `element("<selector>")`, `count("<selector>")`, `visible("<selector>")`, `attr("<selector>", "<name>")`
//! (selectors checked by `selector`; which subjects a step may use is checked by the step builder).
//! Operators: `== != < <= > >=`, `exists`, `not exists`, `contains`, `matches "<regex>"`,
//! `length <cmp> <n>`, and for status `in [..]` / `not in [..]` and classes like `2xx`. Every error carries
//! the character offset it is about, so the diagnostic points into the expression.

use regex::Regex;

use super::scan::{char_offset, number, parse_json_path, regex_error};
use super::selector::parse_selector;
use super::suggest;
use super::templates::{self, Env, Names, Problem};
use crate::model::{CmpOp, Literal, Predicate, StatusPattern, Subject};
use crate::units::parse_duration;

const SUBJECTS: [&str; 14] = [
    "status",
    "json",
    "header",
    "cookie",
    "body",
    "duration",
    "graphql.errors",
    "url",
    "title",
    "text",
    "element",
    "count",
    "visible",
    "attr",
];
const SYMBOL_OPS: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];
const WORD_OPS: [&str; 6] = ["exists", "not", "contains", "matches", "length", "in"];
const OPS_HINT: &str = "operators: ==, !=, <, <=, >, >=, exists, not exists, contains, matches, length, in, not in";

/// Parses a check; problems (with offsets into `text`) are appended. `None` when any is an error.
pub fn parse_check(
    text: &str,
    names: &Names,
    env: &mut Env,
    problems: &mut Vec<Problem>,
) -> Option<(Subject, Predicate)> {
    let mut p = Parser { s: text, i: 0, names, env, problems };
    p.check().ok()
}

/// Parses a capture shorthand (`json.items[0].sku`, `header.Location`, `cookie.session`, `status`).
pub fn parse_subject_only(text: &str) -> Result<Subject, Problem> {
    let mut problems = Vec::new();
    let opts = super::LoadOptions::default();
    let mut env = Env::new(&opts);
    let names = Names::default();
    let mut p = Parser { s: text, i: 0, names: &names, env: &mut env, problems: &mut problems };
    let subject = p.subject();
    if subject.is_ok() {
        p.skip_ws();
        if !p.at_end() {
            let at = p.i;
            let msg = format!("unexpected `{}` after the capture source", p.rest().trim());
            p.fail(at, msg, None);
        }
    }
    match problems.into_iter().next() {
        Some(problem) => Err(problem),
        None => subject.map_err(|_| Problem::error(0, "invalid capture source", None)),
    }
}

struct Parser<'s, 'n, 'e, 'o, 'p> {
    s: &'s str,
    /// Byte position.
    i: usize,
    names: &'n Names<'n>,
    env: &'e mut Env<'o>,
    problems: &'p mut Vec<Problem>,
}

/// An error already recorded in `problems`.
struct Failed;

type R<T> = Result<T, Failed>;

impl<'s> Parser<'s, '_, '_, '_, '_> {
    fn fail(&mut self, byte: usize, message: impl Into<String>, hint: Option<String>) -> Failed {
        self.problems.push(Problem::error(char_offset(self.s, byte), message, hint));
        Failed
    }

    fn rest(&self) -> &'s str {
        &self.s[self.i..]
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.i = self.s.len() - trimmed.len();
    }

    /// Consumes characters while `f` holds; returns (start, text).
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> (usize, &'s str) {
        let start = self.i;
        let len = self.rest().find(|c: char| !f(c)).unwrap_or(self.rest().len());
        self.i += len;
        (start, &self.s[start..self.i])
    }

    fn check(&mut self) -> R<(Subject, Predicate)> {
        self.skip_ws();
        if self.at_end() {
            return Err(self.fail(0, "empty check", Some("write one like `status == 200`".into())));
        }
        let subject = self.subject()?;
        self.skip_ws();
        let predicate_at = self.i;
        let predicate = self.predicate(&subject)?;
        if subject == Subject::GraphqlErrors && !matches!(predicate, Predicate::Compare(_, Literal::Number(_))) {
            let msg = "graphql.errors is a count: compare it with a number";
            return Err(self.fail(predicate_at, msg, Some("graphql.errors == 0".into())));
        }
        self.skip_ws();
        if !self.at_end() {
            let at = self.i;
            let extra = self.rest().trim_end().to_string();
            return Err(self.fail(
                at,
                format!("unexpected `{extra}` after the check"),
                Some("quote text that contains spaces: json.name == \"Ada Lovelace\"".into()),
            ));
        }
        Ok((subject, predicate))
    }

    fn subject(&mut self) -> R<Subject> {
        let (start, word) = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        let word = word.to_string();
        let field = matches!(self.peek(), Some('.' | '['));
        let subject = match word.as_str() {
            "json" => {
                let (path_start, path) = self.take_while(|c| !c.is_whitespace() && !"=!<>".contains(c));
                let path = path.strip_prefix('.').unwrap_or(path);
                let skip = usize::from(self.s[path_start..].starts_with('.'));
                let path = path.to_string();
                Subject::Json(parse_json_path(&path).map_err(|(at, msg)| self.fail(path_start + skip + at, msg, None))?)
            }
            "header" | "cookie" if self.peek() == Some('.') => {
                self.i += 1;
                let (at, name) = self.take_while(|c| !c.is_whitespace() && !"=!<>;,".contains(c));
                if name.is_empty() {
                    return Err(self.fail(at, format!("`{word}.` needs a name, e.g. {word}.session"), None));
                }
                let name = name.to_string();
                if word == "header" {
                    Subject::Header(name)
                } else {
                    Subject::Cookie(name)
                }
            }
            "header" | "cookie" => {
                let at = self.i;
                return Err(self.fail(at, format!("`{word}` needs a name: {word}.<name>"), None));
            }
            "graphql" => {
                let (at, rest) = self.take_while(|c| !c.is_whitespace() && !"=!<>".contains(c));
                if rest != ".errors" {
                    let msg = "`graphql` has one subject: graphql.errors, the number of errors in the response";
                    return Err(self.fail(at, msg, Some("graphql.errors == 0".into())));
                }
                Subject::GraphqlErrors
            }
            "text" | "element" | "count" | "visible" | "attr" => {
                let args = self.call_args(&word, if word == "attr" { 2 } else { 1 })?;
                let (sel_at, sel_text) = &args[0];
                let selector = parse_selector(sel_text).map_err(|(at, msg)| self.fail(sel_at + at, msg, None))?;
                match word.as_str() {
                    "text" => Subject::Text(selector),
                    "element" => Subject::Element(selector),
                    "count" => Subject::Count(selector),
                    "visible" => Subject::Visible(selector),
                    _ => Subject::Attr(selector, args[1].1.clone()),
                }
            }
            "url" | "title" if field => {
                let at = self.i;
                return Err(self.fail(at, format!("`{word}` has no fields"), None));
            }
            "url" => Subject::Url,
            "title" => Subject::Title,
            "status" | "body" | "duration" if field => {
                let at = self.i;
                return Err(self.fail(at, format!("`{word}` has no fields"), None));
            }
            "status" => Subject::Status,
            "body" => Subject::Body,
            "duration" => Subject::Duration,
            _ => {
                let shown = if word.is_empty() { self.rest().split_whitespace().next().unwrap_or("") } else { &word };
                let shown = shown.to_string();
                let mut hint = suggest::hint(&shown, SUBJECTS).map(|h| format!("{h} ")).unwrap_or_default();
                hint.push_str(
                    "a check starts with status, json.<path>, header.<name>, cookie.<name>, body, duration or \
                     graphql.errors; in a browser step with url, title, text(\"<selector>\"), element(…), count(…), \
                     visible(…), attr(\"<selector>\", \"<name>\"), cookie.<name> or duration",
                );
                return Err(self.fail(start, format!("unknown check subject `{shown}`"), Some(hint)));
            }
        };
        Ok(subject)
    }

    /// `("a", "b")` after a page subject's name: `n` quoted strings, each with the byte offset of its text.
    fn call_args(&mut self, name: &str, n: usize) -> R<Vec<(usize, String)>> {
        let usage = if n == 2 { format!("{name}(\"#link\", \"href\")") } else { format!("{name}(\"#price\")") };
        if self.peek() != Some('(') {
            let at = self.i;
            return Err(self.fail(at, format!("`{name}` takes a quoted selector: {usage}"), None));
        }
        self.i += 1;
        let mut args = Vec::new();
        for k in 0..n {
            self.skip_ws();
            if k > 0 {
                if self.peek() != Some(',') {
                    let at = self.i;
                    return Err(self.fail(at, format!("`{name}` takes {n} arguments: {usage}"), None));
                }
                self.i += 1;
                self.skip_ws();
            }
            let at = self.i;
            let Some(quote) = self.peek().filter(|c| *c == '"' || *c == '\'') else {
                return Err(self.fail(at, format!("quote the argument: {usage}"), None));
            };
            let body = &self.s[at + 1..];
            let Some(len) = body.find(quote) else {
                return Err(self.fail(at, format!("the quote {quote} is never closed"), None));
            };
            args.push((at + 1, body[..len].to_string()));
            self.i = at + 1 + len + 1;
        }
        self.skip_ws();
        if self.peek() != Some(')') {
            let at = self.i;
            return Err(self.fail(at, format!("expected `)`: {usage}"), None));
        }
        self.i += 1;
        Ok(args)
    }

    fn predicate(&mut self, subject: &Subject) -> R<Predicate> {
        let at = self.i;
        match self.peek() {
            None => Err(self.fail(at, "missing operator", Some(OPS_HINT.into()))),
            Some(c) if "=!<>~".contains(c) => {
                let op = self.symbol_op()?;
                self.skip_ws();
                self.compare(subject, op, at)
            }
            Some(_) => {
                let (start, word) = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
                let word = word.to_string();
                match word.as_str() {
                    "exists" => self.no_status_or_duration(subject, start, &word).map(|_| Predicate::Exists),
                    "not" => {
                        self.skip_ws();
                        let (at2, next) = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
                        match next {
                            "exists" => {
                                self.no_status_or_duration(subject, start, "not exists").map(|_| Predicate::NotExists)
                            }
                            "in" => self.status_list(subject, start, "not in").map(Predicate::StatusNotIn),
                            other => {
                                let msg = format!("unknown operator \"not {other}\"");
                                Err(self.fail(at2, msg, Some("use `not exists`, or `not in [..]` for status".into())))
                            }
                        }
                    }
                    "in" => self.status_list(subject, start, "in").map(Predicate::StatusIn),
                    "contains" => {
                        self.no_status_or_duration(subject, start, &word)?;
                        self.skip_ws();
                        Ok(Predicate::Contains(self.literal()?))
                    }
                    "matches" => {
                        if *subject == Subject::Duration {
                            return Err(self.fail(start, "`duration` cannot use `matches`", None));
                        }
                        self.skip_ws();
                        self.regex().map(Predicate::Matches)
                    }
                    "length" => {
                        self.no_status_or_duration(subject, start, &word)?;
                        self.skip_ws();
                        let op = self.symbol_op()?;
                        self.skip_ws();
                        let (n_at, n) = self.take_while(|c| !c.is_whitespace());
                        match number(n).filter(|n| *n >= 0.0) {
                            Some(n) => Ok(Predicate::Length(op, n)),
                            None => Err(self.fail(
                                n_at,
                                "length compares with a number, e.g. `json.items length >= 1`",
                                None,
                            )),
                        }
                    }
                    _ => {
                        let shown = if word.is_empty() {
                            self.rest().split_whitespace().next().unwrap_or("").to_string()
                        } else {
                            word
                        };
                        Err(self.unknown_op(start, &shown))
                    }
                }
            }
        }
    }

    fn unknown_op(&mut self, at: usize, op: &str) -> Failed {
        let special = match op {
            "=" | "===" => Some("=="),
            "<>" | "=!" | "!==" => Some("!="),
            "=<" => Some("<="),
            "=>" => Some(">="),
            _ => None,
        };
        let candidates = SYMBOL_OPS.iter().chain(WORD_OPS.iter()).copied();
        match special.or_else(|| suggest::did_you_mean(op, candidates)) {
            Some(s) => self.fail(at, format!("unknown operator \"{op}\"; did you mean \"{s}\"?"), None),
            None => self.fail(at, format!("unknown operator \"{op}\""), Some(OPS_HINT.into())),
        }
    }

    fn symbol_op(&mut self) -> R<CmpOp> {
        let (at, op) = self.take_while(|c| "=!<>~".contains(c));
        Ok(match op {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            "" => return Err(self.fail(at, "expected a comparison operator (==, !=, <, <=, >, >=)", None)),
            other => {
                let other = other.to_string();
                return Err(self.unknown_op(at, &other));
            }
        })
    }

    fn no_status_or_duration(&mut self, subject: &Subject, at: usize, op: &str) -> R<()> {
        let name = match subject {
            Subject::Status => "status",
            Subject::Duration => "duration",
            _ => return Ok(()),
        };
        Err(self.fail(
            at,
            format!("`{name}` cannot use `{op}`"),
            Some(format!("compare it: {name} {}", example(subject))),
        ))
    }

    fn compare(&mut self, subject: &Subject, op: CmpOp, op_at: usize) -> R<Predicate> {
        match subject {
            Subject::Duration => {
                if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.fail(
                        op_at,
                        "duration checks use <, <=, > or >=",
                        Some("duration < 300ms".into()),
                    ));
                }
                let (at, tok) = self.take_while(|c| !c.is_whitespace());
                match parse_duration(tok) {
                    Ok(d) => Ok(Predicate::Compare(op, Literal::Duration(d))),
                    Err(e) => Err(self.fail(at, "duration checks compare with a duration like 300ms", Some(e))),
                }
            }
            Subject::Status => {
                let at = self.i;
                if self.rest().starts_with("{{") {
                    return Ok(Predicate::Compare(op, self.literal()?));
                }
                let (_, tok) = self.take_while(|c| !c.is_whitespace());
                let tok = tok.to_string();
                let pattern = self.status_pattern(&tok, at)?;
                match (op, pattern) {
                    (CmpOp::Eq, p) => Ok(Predicate::StatusIn(vec![p])),
                    (CmpOp::Ne, p) => Ok(Predicate::StatusNotIn(vec![p])),
                    (_, StatusPattern::Code(c)) => Ok(Predicate::Compare(op, Literal::Number(f64::from(c)))),
                    (_, StatusPattern::Class(_)) => {
                        let msg = format!("`{}` cannot compare with a status class", op.symbol());
                        Err(self.fail(at, msg, Some("use status == 2xx, or a code: status < 400".into())))
                    }
                }
            }
            _ => Ok(Predicate::Compare(op, self.literal()?)),
        }
    }

    fn status_pattern(&mut self, tok: &str, at: usize) -> R<StatusPattern> {
        let b = tok.as_bytes();
        if let Ok(code) = tok.parse::<u16>() {
            if (100..=599).contains(&code) {
                return Ok(StatusPattern::Code(code));
            }
        } else if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].eq_ignore_ascii_case(b"xx") {
            return Ok(StatusPattern::Class(b[0] - b'0'));
        }
        let shown = if tok.is_empty() { "nothing".to_string() } else { format!("`{tok}`") };
        Err(self.fail(
            at,
            format!("{shown} is not a status code or class"),
            Some("use a code from 100 to 599 (200) or a class from 1xx to 5xx (2xx)".into()),
        ))
    }

    fn status_list(&mut self, subject: &Subject, op_at: usize, op: &str) -> R<Vec<StatusPattern>> {
        if *subject != Subject::Status {
            return Err(self.fail(
                op_at,
                format!("`{op}` only works with status"),
                Some("status in [200, 201, 3xx]".into()),
            ));
        }
        self.skip_ws();
        if self.peek() != Some('[') {
            let at = self.i;
            return Err(self.fail(at, format!("`{op}` needs a list: status {op} [200, 3xx]"), None));
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            let (at, tok) = self.take_while(|c| !c.is_whitespace() && c != ',' && c != ']');
            let tok = tok.to_string();
            if tok.is_empty() && self.peek() == Some(']') && out.is_empty() {
                return Err(self.fail(at, "empty status list", None));
            }
            out.push(self.status_pattern(&tok, at)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(']') => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => {
                    let at = self.i;
                    return Err(self.fail(at, "expected `,` or `]` in the status list", None));
                }
            }
        }
    }

    /// A literal: quoted string (a template if it contains `{{`), `{{ … }}`, true/false/null, a number,
    /// or a bare word.
    fn literal(&mut self) -> R<Literal> {
        let at = self.i;
        match self.peek() {
            None => Err(self.fail(at, "missing value to compare with", None)),
            Some(q @ ('"' | '\'')) => {
                let (value, _) = self.quoted(q)?;
                if value.contains("{{") {
                    return self.template(&value, at + 1);
                }
                Ok(Literal::String(value))
            }
            Some(_) if self.rest().contains("{{") => {
                let text = self.rest().trim_end().to_string();
                self.i = self.s.len();
                self.template(&text, at)
            }
            Some(_) => {
                let (_, tok) = self.take_while(|c| !c.is_whitespace());
                Ok(match tok {
                    "true" => Literal::Bool(true),
                    "false" => Literal::Bool(false),
                    "null" => Literal::Null,
                    _ => match number(tok) {
                        Some(n) => Literal::Number(n),
                        None => Literal::String(tok.to_string()),
                    },
                })
            }
        }
    }

    fn template(&mut self, text: &str, at: usize) -> R<Literal> {
        let mut sub = Vec::new();
        let compiled = templates::compile(text, self.names, self.env, &mut sub);
        let base = char_offset(self.s, at);
        self.problems.extend(sub.into_iter().map(|mut p| {
            p.offset += base;
            p
        }));
        compiled.map(Literal::Template).ok_or(Failed)
    }

    /// A quoted string; `\"` (or `\'`) and `\\` are escapes, other backslashes are kept (regexes).
    /// Returns the value and, per character, its byte position in the expression.
    fn quoted(&mut self, q: char) -> R<(String, Vec<usize>)> {
        let open = self.i;
        let mut value = String::new();
        let mut positions = Vec::new();
        let mut it = self.s[open + 1..].char_indices().map(|(i, c)| (open + 1 + i, c)).peekable();
        while let Some((i, c)) = it.next() {
            if c == q {
                self.i = i + c.len_utf8();
                return Ok((value, positions));
            }
            if c == '\\' {
                if let Some(&(j, d)) = it.peek() {
                    if d == q || d == '\\' {
                        it.next();
                        value.push(d);
                        positions.push(j);
                        continue;
                    }
                }
            }
            value.push(c);
            positions.push(i);
        }
        Err(self.fail(open, "unterminated string", Some(format!("close it with {q}"))))
    }

    fn regex(&mut self) -> R<Regex> {
        let at = self.i;
        let q = match self.peek() {
            Some(q @ ('"' | '\'')) => q,
            _ => {
                return Err(self.fail(
                    at,
                    "`matches` needs a quoted regex",
                    Some("body matches \"order-[0-9]+\"".into()),
                ))
            }
        };
        let (pattern, positions) = self.quoted(q)?;
        match Regex::new(&pattern) {
            Ok(re) => Ok(re),
            Err(e) => {
                let (msg, offset) = regex_error(&pattern, &e);
                let ci = pattern[..offset.min(pattern.len())].chars().count();
                let byte = positions.get(ci).copied().unwrap_or(self.i - 1);
                Err(self.fail(byte, format!("regex: {msg}"), None))
            }
        }
    }
}

fn example(subject: &Subject) -> &'static str {
    match subject {
        Subject::Duration => "< 300ms",
        _ => "== 200",
    }
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
