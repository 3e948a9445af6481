//! Checks and captures: what a step's `expect` and `capture` entries became at load time — the subject
//! looked at (status, header, JSON path, body, browser element…), the predicate and the capture's source.

use std::time::Duration;

use regex::Regex;

use super::{CmpOp, Selector, Template};

/// One `expect` entry.
#[derive(Debug, Clone)]
pub struct Check {
    /// The expression as written, for evidence (`json.price > 0`).
    pub text: String,
    pub subject: Subject,
    pub predicate: Predicate,
    /// A soft check records a failure (degraded) but does not stop the journey.
    pub soft: bool,
}

/// What a check or capture looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Status,
    /// A JSON path into the response body; an empty path is the whole document.
    Json(JsonPath),
    /// A response header, case-insensitive.
    Header(String),
    /// A cookie set by the response (or held in the user's jar).
    Cookie(String),
    /// The response body as text.
    Body,
    /// The step's response time.
    Duration,
    /// The number of entries in a GraphQL response's `errors` array (0 when it has none).
    GraphqlErrors,
    /// Browser steps: the page's URL after the step's actions.
    Url,
    /// Browser steps: the page's title.
    Title,
    /// Browser steps: the visible text (`innerText`) of the first match; absent when nothing matches.
    Text(Selector),
    /// Browser steps: present when the selector matches something.
    Element(Selector),
    /// Browser steps: the number of matches.
    Count(Selector),
    /// Browser steps: `true` when the first match is visible.
    Visible(Selector),
    /// Browser steps: an attribute of the first match.
    Attr(Selector, String),
}

impl Subject {
    /// Subjects a browser step can check (HTTP steps: every other one, plus `cookie` and `duration`).
    pub fn in_browser(&self) -> bool {
        !matches!(
            self,
            Subject::Status | Subject::Json(_) | Subject::Header(_) | Subject::Body | Subject::GraphqlErrors
        )
    }

    /// Subjects an HTTP or WebSocket step can check.
    pub fn in_http(&self) -> bool {
        !matches!(
            self,
            Subject::Url
                | Subject::Title
                | Subject::Text(_)
                | Subject::Element(_)
                | Subject::Count(_)
                | Subject::Visible(_)
                | Subject::Attr(..)
        )
    }
}

/// A parsed JSON path: `items[0].sku` is `[Key("items"), Index(0), Key("sku")]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonPath(pub Vec<PathSeg>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl AsRef<[PathSeg]> for JsonPath {
    fn as_ref(&self) -> &[PathSeg] {
        &self.0
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub enum Predicate {
    /// Compare the subject with a literal.
    Compare(CmpOp, Literal),
    /// The subject is present (JSON path resolves, header or cookie set).
    Exists,
    /// The subject is absent.
    NotExists,
    /// String contains, or array contains an element equal to the literal.
    Contains(Literal),
    /// The subject (as text) matches a regex.
    Matches(Regex),
    /// Length of a string, array or object compared with a number.
    Length(CmpOp, f64),
    /// Status in a list of codes or classes (`[200, 201]`, `2xx`).
    StatusIn(Vec<StatusPattern>),
    /// Status not in a list of codes or classes.
    StatusNotIn(Vec<StatusPattern>),
}

/// A literal in a check expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// Only with `duration`: compared against the step's response time.
    Duration(Duration),
    /// A value rendered at run time (`json.price == {{ page_price }}`); compared as a number when both
    /// sides are numbers, else as text.
    Template(Template),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Code(u16),
    /// `2xx` is `Class(2)`.
    Class(u8),
}

impl StatusPattern {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusPattern::Code(c) => c == status,
            StatusPattern::Class(c) => status / 100 == u16::from(c),
        }
    }
}

/// One `capture` entry: a value taken from the response into a slot for later templates.
#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub slot: usize,
    pub source: CaptureSource,
    /// Redact this value like a secret (session tokens).
    pub secret: bool,
}

#[derive(Debug, Clone)]
pub enum CaptureSource {
    Json(JsonPath),
    Header(String),
    Cookie(String),
    Status,
    /// A regex on the body; the value is capture group `group` (1 when the regex has groups, else 0).
    Regex {
        regex: Regex,
        group: usize,
    },
    /// Browser steps: the page's URL.
    Url,
    /// Browser steps: the page's title.
    Title,
    /// Browser steps: the visible text of the first match.
    Text(Selector),
    /// Browser steps: an attribute of the first match.
    Attr(Selector, String),
}

impl CaptureSource {
    /// Sources a browser step can capture from (`cookie` is the page's cookie there).
    pub fn in_browser(&self) -> bool {
        matches!(
            self,
            CaptureSource::Url
                | CaptureSource::Title
                | CaptureSource::Text(_)
                | CaptureSource::Attr(..)
                | CaptureSource::Cookie(_)
        )
    }
}
