//! The journey as YAML text, laid out like the bundled journeys. Written by hand rather than through
//! serde_yaml so that the file opens with comments for the person who imported it and keeps short lists
//! on one line (`expect: [ status == 200 ]`); every scalar goes through [`scalar`], which quotes whatever
//! YAML could read as something else.

use super::draft::{Body, CaptureSource, Draft, Node};
use super::secrets::Registry;
use std::fmt::Write;

/// The journey-level facts.
pub struct Journey<'a> {
    pub name: &'a str,
    pub command: &'a str,
    /// The main origin, the journey's `target`.
    pub target: &'a str,
    /// curl's `-k`: the recorded server's certificate was not verified.
    pub insecure: bool,
}

/// Method keys of docs/journeys.md; any other method is written as `method:` with `url:`.
const METHOD_KEYS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options"];

pub fn journey(j: &Journey, drafts: &[Draft], secrets: &Registry) -> String {
    let mut out = String::new();
    if !j.command.is_empty() {
        let _ = writeln!(out, "# Imported by `{}`.", j.command.replace('\n', " "));
    }
    out.push_str("# Review it: each step checks only the recorded status; add checks on what matters.\n");
    if !secrets.secrets.is_empty() {
        let vars: Vec<&str> = secrets.secrets.iter().map(|s| s.env.as_str()).collect();
        let _ = writeln!(out, "# Set before running: {}.", vars.join(", "));
    }
    let _ = writeln!(out, "name: {}", scalar(j.name));
    let _ = writeln!(out, "target: {}", scalar(j.target));
    if j.insecure {
        out.push_str("defaults:\n  tls_skip_verify: true   # curl -k\n");
    }
    if !secrets.secrets.is_empty() {
        out.push_str("secrets:\n");
        for s in &secrets.secrets {
            let _ = writeln!(out, "  {}: {{ env: {} }}", s.name, s.env);
        }
    }
    out.push_str("steps:\n");
    for d in drafts {
        step(&mut out, d);
    }
    out
}

fn step(out: &mut String, d: &Draft) {
    let _ = writeln!(out, "  - name: {}", scalar(&d.name));
    let method = d.method.to_ascii_lowercase();
    let url = scalar(&d.url.render());
    if METHOD_KEYS.contains(&method.as_str()) {
        let _ = writeln!(out, "    {method}: {url}");
    } else {
        let _ = writeln!(out, "    method: {}\n    url: {url}", scalar(&d.method));
    }
    if !d.headers.is_empty() {
        out.push_str("    headers:\n");
        for (name, value) in &d.headers {
            let _ = writeln!(out, "      {}: {}", scalar(name), scalar(&value.render()));
        }
    }
    match &d.body {
        Body::None => {}
        Body::Json(node) => {
            out.push_str("    json:");
            node_value(out, node, 6);
        }
        Body::Form(fields) if fields.is_empty() => out.push_str("    form: {}\n"),
        Body::Form(fields) => {
            out.push_str("    form:\n");
            for (k, v) in fields {
                let _ = writeln!(out, "      {}: {}", scalar(k), scalar(&v.render()));
            }
        }
        Body::Raw { content_type, text } => {
            let _ = writeln!(out, "    body: {}", scalar(&text.render()));
            if let Some(ct) = content_type {
                let _ = writeln!(out, "    content_type: {}", scalar(ct));
            }
        }
    }
    if d.status.is_some_and(|s| (300..400).contains(&s)) {
        // A redirect the recording did not follow (its target was left out): stop at it, as recorded.
        out.push_str("    redirects: false\n");
    }
    match d.status {
        Some(code) => {
            let _ = writeln!(out, "    expect: [ status == {code} ]");
        }
        None => out.push_str("    expect: [ status < 400 ]\n"),
    }
    if !d.captures.is_empty() {
        out.push_str("    capture:\n");
        for c in &d.captures {
            let (kind, what) = match &c.source {
                CaptureSource::Json(path) => ("json", path),
                CaptureSource::Header(name) => ("header", name),
            };
            let secret = if c.secret { ", secret: true" } else { "" };
            let _ = writeln!(out, "      {}: {{ {kind}: {}{secret} }}", c.name, scalar(what));
        }
    }
}

/// Writes a node after `key:` — a scalar on the same line, a collection on the next lines at `indent`.
fn node_value(out: &mut String, node: &Node, indent: usize) {
    match node {
        Node::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Node::Seq(s) if s.is_empty() => out.push_str(" []\n"),
        Node::Map(_) | Node::Seq(_) => {
            out.push('\n');
            block(out, node, indent, false);
        }
        Node::Str(t) => {
            let _ = writeln!(out, " {}", scalar(&t.render()));
        }
        Node::Scalar(s) => {
            let _ = writeln!(out, " {s}");
        }
    }
}

/// A block collection at `indent`; `inline_first`: the first line continues a `- ` already written.
fn block(out: &mut String, node: &Node, indent: usize, inline_first: bool) {
    let pad = " ".repeat(indent);
    let mut first = inline_first;
    let mut lead = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push_str(&pad);
        }
    };
    match node {
        Node::Map(m) => {
            for (k, v) in m {
                lead(out);
                let _ = write!(out, "{}:", scalar(k));
                node_value(out, v, indent + 2);
            }
        }
        Node::Seq(s) => {
            for item in s {
                lead(out);
                out.push('-');
                match item {
                    Node::Map(m) if !m.is_empty() => {
                        out.push(' ');
                        block(out, item, indent + 2, true);
                    }
                    Node::Seq(s) if !s.is_empty() => {
                        out.push(' ');
                        block(out, item, indent + 2, true);
                    }
                    _ => node_value(out, item, indent + 2),
                }
            }
        }
        Node::Str(_) | Node::Scalar(_) => node_value(out, node, indent),
    }
}

/// A string as a YAML scalar: plain when it can only be read back as that same string, else double
/// quoted with JSON escapes (a JSON string is a valid YAML double-quoted scalar).
pub fn scalar(s: &str) -> String {
    // Indicators YAML reads only at the start of a scalar (`?`, `&`, `%`) are safe after the first letter.
    let plain_char = |c: char| c.is_ascii_alphanumeric() || "_./-@ ?=&%+".contains(c);
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '_')
        && !s.ends_with(' ')
        && s.chars().all(plain_char)
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::draft::Text;

    #[test]
    fn scalars_quote_what_yaml_would_misread() {
        assert_eq!(scalar("/api/login"), "/api/login");
        assert_eq!(scalar("customer01@shop.test"), "customer01@shop.test");
        assert_eq!(scalar("/search?q=a+b&n=1%2C2"), "/search?q=a+b&n=1%2C2");
        for s in ["/search?q=a+b&n=1%2C2", "Test Customer 01", "a b"] {
            assert_eq!(serde_yaml::from_str::<String>(&scalar(s)).unwrap(), s);
        }
        for s in ["yes", "1.5", "007", "a: b", "{{ x }}", "#x", "", "- x", "http://h:1", "x ", "'q'"] {
            assert!(scalar(s).starts_with('"'), "{s:?} → {}", scalar(s));
        }
        assert_eq!(scalar("say \"hi\"\n"), r#""say \"hi\"\n""#);
    }

    #[test]
    fn nested_json_is_block_yaml() {
        let node = Node::Map(vec![
            (
                "a".into(),
                Node::Seq(vec![Node::Map(vec![
                    ("b".into(), Node::Scalar("1".into())),
                    ("c".into(), Node::Str(Text::lit("x"))),
                ])]),
            ),
            ("d".into(), Node::Map(vec![])),
            ("e".into(), Node::Seq(vec![Node::Seq(vec![Node::Scalar("true".into())])])),
        ]);
        let mut out = String::from("json:");
        node_value(&mut out, &node, 2);
        assert_eq!(out, "json:\n  a:\n    - b: 1\n      c: x\n  d: {}\n  e:\n    - - true\n");
        let back: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(back["json"]["a"][0]["c"], serde_yaml::Value::from("x"));
    }
}
