//! Which recorded requests become steps, and each step as a draft: texts made of literal pieces and
//! template expressions, so later stages can swap a recorded value for `{{ capture }}` or a secret.

use super::ordered::Json;
use super::rules::{self, Dropped};
use super::Exchange;
use base64::Engine;
use percent_encoding::percent_decode_str;

/// A piece of a template text.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Recorded text, written with any `{{` escaped.
    Lit(String),
    /// A template expression: `token`, `secrets.password`.
    Expr(String),
    /// A credential by its field's name, waiting for `secrets::extract` — unless `correlate` finds that an
    /// earlier response returned it, which makes it a capture instead. `in_url`: the value is
    /// percent-decoded from a query, so its reference is written `urlencode(…)`.
    Pending { field: String, value: String, in_url: bool },
}

/// A template text: URL, header value, body string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Text(pub Vec<Piece>);

impl Text {
    pub fn lit(s: impl Into<String>) -> Text {
        Text(vec![Piece::Lit(s.into())])
    }

    /// The literal pieces and pending values, each followed by a NUL (which no value holds): what a search
    /// for recorded values looks through.
    pub fn searchable(&self) -> String {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(v) | Piece::Pending { value: v, .. } => {
                    s.push_str(v);
                    s.push('\0');
                }
                Piece::Expr(_) => s.push('\0'),
            }
        }
        s
    }

    /// Whether `value` occurs in a literal piece or is a pending secret's value.
    pub fn mentions(&self, value: &str) -> bool {
        self.0.iter().any(|p| match p {
            Piece::Lit(s) => s.contains(value),
            Piece::Pending { value: v, .. } => v == value,
            Piece::Expr(_) => false,
        })
    }

    /// Replaces every occurrence of `value` in literal pieces (not touching a letter or digit on either
    /// side, so `1234` is not found in `12345`) and every pending secret equal to it by `expr`. Returns how
    /// many were replaced.
    pub fn substitute(&mut self, value: &str, expr: &str) -> usize {
        if !self.mentions(value) {
            return 0;
        }
        let mut count = 0;
        let mut out = Vec::with_capacity(self.0.len());
        for piece in self.0.drain(..) {
            match piece {
                Piece::Lit(s) => count += split_lit(&s, value, expr, &mut out),
                Piece::Pending { value: v, in_url, .. } if v == value => {
                    count += 1;
                    out.push(Piece::Expr(if in_url { format!("urlencode({expr})") } else { expr.to_string() }));
                }
                other => out.push(other),
            }
        }
        self.0 = out;
        count
    }

    /// The template text: literal `{{` written as `{{ "{{" }}`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Lit(s) => out.push_str(&s.replace("{{", "{{ \"{{\" }}")),
                Piece::Expr(e) => out.push_str(&format!("{{{{ {e} }}}}")),
                // `secrets::extract` turns every pending piece into an expression before emitting; never
                // write the value.
                Piece::Pending { field, .. } => out.push_str(&format!("{{{{ secrets.{field} }}}}")),
            }
        }
        out
    }
}

fn split_lit(s: &str, value: &str, expr: &str, out: &mut Vec<Piece>) -> usize {
    let mut count = 0;
    let mut rest = 0;
    let mut from = 0;
    while let Some(found) = s[from..].find(value) {
        let at = from + found;
        let end = at + value.len();
        let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if alnum(s[..at].chars().next_back()) || alnum(s[end..].chars().next()) {
            from = at + s[at..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        if at > rest {
            out.push(Piece::Lit(s[rest..at].to_string()));
        }
        out.push(Piece::Expr(expr.to_string()));
        count += 1;
        rest = end;
        from = end;
    }
    if rest < s.len() || (rest == 0 && s.is_empty()) {
        out.push(Piece::Lit(s[rest..].to_string()));
    }
    count
}

/// A JSON body as YAML: strings are templates, everything else is written as it was recorded.
#[derive(Debug, Clone)]
pub enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Str(Text),
    /// A number, boolean or null, in its JSON spelling (which YAML reads the same).
    Scalar(String),
}

impl Node {
    fn from_json(v: Json, key: Option<&str>) -> Node {
        match v {
            Json::Object(m) => {
                Node::Map(m.into_iter().map(|(k, v)| (k.clone(), Node::from_json(v, Some(&k)))).collect())
            }
            Json::Array(a) => Node::Seq(a.into_iter().map(|v| Node::from_json(v, key)).collect()),
            Json::String(s) => Node::Str(field_text(key, s, false)),
            Json::Other(s) => Node::Scalar(s),
        }
    }

    pub fn texts_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Text>) {
        match self {
            Node::Map(m) => m.iter_mut().for_each(|(_, n)| n.texts_mut(out)),
            Node::Seq(s) => s.iter_mut().for_each(|n| n.texts_mut(out)),
            Node::Str(t) => out.push(t),
            Node::Scalar(_) => {}
        }
    }
}

/// A field's value: pending as a secret when its name says it is one.
fn field_text(key: Option<&str>, value: String, in_url: bool) -> Text {
    match key {
        Some(k) if rules::is_secret_field(k) && !value.is_empty() => {
            Text(vec![Piece::Pending { field: k.to_string(), value, in_url }])
        }
        _ => Text::lit(value),
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Node),
    Form(Vec<(String, Text)>),
    Raw { content_type: Option<String>, text: Text },
}

#[derive(Debug, Clone, PartialEq)]
pub enum CaptureSource {
    /// A path inside the JSON body: `token`, `items[0].id`.
    Json(String),
    /// A response header: `Location`, `X-CSRF-Token`.
    Header(String),
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub source: CaptureSource,
    /// Marked `secret: true`: a credential by its name, or sent as one.
    pub secret: bool,
}

/// One step before it is written.
#[derive(Debug, Clone)]
pub struct Draft {
    pub name: String,
    pub method: String,
    pub url: Text,
    pub headers: Vec<(String, Text)>,
    pub body: Body,
    /// The recorded status; `None` for curl, which records no response.
    pub status: Option<u16>,
    pub captures: Vec<Capture>,
}

impl Draft {
    /// Every text the step sends, with the header's name when it is a credential header's value.
    pub fn texts_mut(&mut self) -> Vec<(&mut Text, Option<&str>)> {
        let mut out: Vec<(&mut Text, Option<&str>)> = vec![(&mut self.url, None)];
        for (name, t) in &mut self.headers {
            let name: &str = name;
            out.push((t, rules::is_secret_header(name).then_some(name)));
        }
        let mut body = Vec::new();
        match &mut self.body {
            Body::None => {}
            Body::Json(n) => n.texts_mut(&mut body),
            Body::Form(f) => body.extend(f.iter_mut().map(|(_, t)| t)),
            Body::Raw { text, .. } => body.push(text),
        }
        out.extend(body.into_iter().map(|t| (t, None)));
        out
    }
}

/// The requests that become steps, the main origin, and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub kept: Vec<Exchange>,
    /// `scheme://host[:port]`; `None` when nothing was kept.
    pub origin: Option<String>,
    pub dropped: Vec<(Dropped, usize)>,
}

fn origin_of(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// Applies the rules: assets, analytics, preflights and non-http(s) are left out first; the main origin is
/// the origin of the first HTML page among the rest, else their most frequent origin (the first on a tie);
/// a recorded request to another origin stays only when it is an API call (curl commands all stay).
pub fn select(exchanges: Vec<Exchange>) -> Selection {
    let mut dropped = std::collections::BTreeMap::<Dropped, usize>::new();
    let mut rest = Vec::new();
    for ex in exchanges {
        let mime = ex.response.as_ref().and_then(|r| r.mime.as_deref());
        let reason = if !matches!(ex.url.scheme(), "http" | "https") {
            Some(Dropped::NotHttp)
        } else if ex.response.as_ref().is_some_and(|r| r.status == 0) {
            Some(Dropped::NoResponse)
        } else if ex.method == "OPTIONS" && header(&ex.headers, "access-control-request-method").is_some() {
            Some(Dropped::Preflight)
        } else if rules::is_analytics(&ex.url) {
            Some(Dropped::Analytics)
        } else if rules::is_asset(&ex.url, mime) {
            Some(Dropped::Asset)
        } else {
            None
        };
        match reason {
            Some(r) => *dropped.entry(r).or_default() += 1,
            None => rest.push(ex),
        }
    }
    let origin = main_origin(&rest);
    let mut kept = Vec::new();
    for ex in rest {
        let mime = ex.response.as_ref().and_then(|r| r.mime.as_deref());
        let auth = header(&ex.headers, "authorization").is_some();
        let same = origin.as_deref() == Some(origin_of(&ex.url).as_str());
        if same || ex.response.is_none() || rules::is_api_call(&ex.method, mime, auth) {
            kept.push(ex);
        } else {
            *dropped.entry(Dropped::OtherOrigin).or_default() += 1;
        }
    }
    let kept = follow_redirects(kept, &mut dropped);
    Selection { kept, origin, dropped: dropped.into_iter().collect() }
}

/// A recorded redirect and the request that followed it become one step: steps follow redirects
/// themselves, so the step expects the final status and captures from the final body.
fn follow_redirects(kept: Vec<Exchange>, dropped: &mut std::collections::BTreeMap<Dropped, usize>) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for ex in kept {
        if let Some(prev) = out.last_mut().filter(|prev| redirects_to(prev, &ex)) {
            prev.response = ex.response;
            *dropped.entry(Dropped::Redirect).or_default() += 1;
            continue;
        }
        out.push(ex);
    }
    out
}

fn redirects_to(prev: &Exchange, next: &Exchange) -> bool {
    let Some(r) = &prev.response else { return false };
    let Some(location) = header(&r.headers, "location") else { return false };
    matches!(r.status, 301 | 302 | 303 | 307 | 308)
        && prev.url.join(location).is_ok_and(|mut u| {
            u.set_fragment(None);
            u == next.url
        })
}

fn main_origin(exchanges: &[Exchange]) -> Option<String> {
    let page = exchanges.iter().find(|ex| {
        let mime = ex.response.as_ref().and_then(|r| r.mime.as_deref()).map(rules::essence);
        mime.as_deref() == Some("text/html")
    });
    if let Some(ex) = page {
        return Some(origin_of(&ex.url));
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for ex in exchanges {
        let o = origin_of(&ex.url);
        match counts.iter_mut().find(|(c, _)| *c == o) {
            Some((_, n)) => *n += 1,
            None => counts.push((o, 1)),
        }
    }
    // `max_by_key` keeps the last maximum; reversing keeps the first seen on a tie.
    counts.into_iter().rev().max_by_key(|(_, n)| *n).map(|(o, _)| o)
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// One draft per kept request, still unnamed (see [`name_steps`]).
pub fn drafts(selection: &Selection, origin: &str, warnings: &mut Vec<String>) -> Vec<Draft> {
    selection.kept.iter().map(|ex| draft(ex, origin, warnings)).collect()
}

/// Names each step from its method and URL path as finally written (`GET /orders/{{ order_id }}` →
/// `get-orders-order-id`, `GET /` → `get-root`): a recorded id or credential in a path never ends up in a
/// name. Unique by `-2`, `-3`… suffixes.
pub fn name_steps(drafts: &mut [Draft]) {
    let mut names: Vec<String> = Vec::new();
    for d in drafts.iter_mut() {
        let url = d.url.render();
        let path = url.split('?').next().unwrap_or("");
        let path = path.split_once("://").map_or(path, |(_, rest)| rest);
        let path = if path == "/" { "root" } else { path };
        let base = Some(rules::slug(&format!("{} {path}", d.method), '-')).filter(|s| !s.is_empty());
        d.name = unique(&base.unwrap_or_else(|| "step".into()), &names, '-');
        names.push(d.name.clone());
    }
}

/// `base`, or `base-2`, `base-3`… whichever is not taken yet.
pub fn unique(base: &str, taken: &[String], sep: char) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}{sep}{n}");
        n += 1;
    }
    name
}

fn draft(ex: &Exchange, origin: &str, warnings: &mut Vec<String>) -> Draft {
    // A name recorded twice (any case) is one header with the values joined, as HTTP allows: a mapping
    // cannot hold the same key twice.
    let mut merged: Vec<(String, String)> = Vec::new();
    for (n, v) in ex.headers.iter().filter(|(n, _)| !rules::is_volatile_header(n)) {
        match merged.iter_mut().find(|(m, _)| m.eq_ignore_ascii_case(n)) {
            Some((_, joined)) => *joined = format!("{joined}, {v}"),
            None => merged.push((n.clone(), v.clone())),
        }
    }
    let mut headers: Vec<(String, Text)> = merged.into_iter().map(|(n, v)| (n, Text::lit(v))).collect();
    if !ex.url.username().is_empty() && header(&ex.headers, "authorization").is_none() {
        let user = percent_decode_str(ex.url.username()).decode_utf8_lossy();
        let pass = percent_decode_str(ex.url.password().unwrap_or("")).decode_utf8_lossy();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let pending = Piece::Pending { field: "basic_auth".into(), value: basic, in_url: false };
        headers.push(("Authorization".into(), Text(vec![Piece::Lit("Basic ".into()), pending])));
        warnings.push(format!("{} {}: URL credentials became an Authorization header", ex.method, ex.url.path()));
    }
    Draft {
        name: String::new(),
        method: ex.method.clone(),
        url: url_text(&ex.url, origin),
        headers,
        body: body(ex),
        status: ex.response.as_ref().map(|r| r.status),
        captures: Vec::new(),
    }
}

/// Relative to the main origin when on it, else absolute; userinfo and fragment left out; secret-looking
/// query values pending.
fn url_text(url: &url::Url, origin: &str) -> Text {
    let mut pieces = Vec::new();
    let mut head = if origin_of(url) == origin { String::new() } else { origin_of(url) };
    head.push_str(url.path());
    let Some(query) = url.query() else {
        return Text::lit(head);
    };
    head.push('?');
    for (i, seg) in query.split('&').enumerate() {
        if i > 0 {
            head.push('&');
        }
        match seg.split_once('=') {
            Some((k, v)) if rules::is_secret_field(&percent_decode_str(k).decode_utf8_lossy()) && !v.is_empty() => {
                head.push_str(k);
                head.push('=');
                pieces.push(Piece::Lit(std::mem::take(&mut head)));
                let value = percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned();
                pieces.push(Piece::Pending { field: k.to_string(), value, in_url: true });
            }
            _ => head.push_str(seg),
        }
    }
    if !head.is_empty() {
        pieces.push(Piece::Lit(head));
    }
    Text(pieces)
}

fn body(ex: &Exchange) -> Body {
    let Some(b) = &ex.body else { return Body::None };
    let mime =
        if b.mime.is_empty() { header(&ex.headers, "content-type").unwrap_or("").to_string() } else { b.mime.clone() };
    match rules::essence(&mime).as_str() {
        "application/json" => {
            if let Ok(v) = serde_json::from_str::<Json>(&b.text) {
                return Body::Json(Node::from_json(v, None));
            }
        }
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, Text)> = url::form_urlencoded::parse(b.text.as_bytes())
                .map(|(k, v)| (k.to_string(), field_text(Some(&k), v.into_owned(), false)))
                .collect();
            // `form:` is a mapping: a field sent twice (`item=1&item=2`) stays a raw body.
            let unique = pairs.iter().enumerate().all(|(i, (k, _))| pairs[..i].iter().all(|(p, _)| p != k));
            if unique {
                return Body::Form(pairs);
            }
        }
        _ => {}
    }
    Body::Raw { content_type: Some(mime).filter(|m| !m.is_empty()), text: Text::lit(b.text.clone()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitute_respects_word_edges_and_pending_values() {
        let mut t = Text::lit("/orders/12345/items?ref=1234&x=1234");
        assert_eq!(t.substitute("1234", "id"), 2);
        assert_eq!(t.render(), "/orders/12345/items?ref={{ id }}&x={{ id }}");
        let mut t = Text(vec![
            Piece::Lit("k=".into()),
            Piece::Pending { field: "token".into(), value: "abc def".into(), in_url: true },
        ]);
        assert_eq!(t.substitute("abc def", "tok"), 1);
        assert_eq!(t.render(), "k={{ urlencode(tok) }}");
    }

    #[test]
    fn literal_braces_are_escaped() {
        assert_eq!(Text::lit("a {{ b }}").render(), "a {{ \"{{\" }} b }}");
    }

    #[test]
    fn unique_names() {
        let taken = vec!["get-api".to_string(), "get-api-2".to_string()];
        assert_eq!(unique("get-api", &taken, '-'), "get-api-3");
        assert_eq!(unique("post", &taken, '-'), "post");
    }
}
