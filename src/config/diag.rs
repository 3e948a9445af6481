//! Building located diagnostics for one file, and printing them rustc-style.

use std::fmt;
use std::path::{Path, PathBuf};

use super::position::{Pos, PosIndex, Style};
use super::{Diagnostic, Diagnostics, Severity};
use crate::redact::Redactor;

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// ```text
/// journeys/checkout.yml:14:13: error: unknown field `psot`
///    |
/// 14 |     psot: /api/login
///    |     ^
///    = hint: did you mean `post`?
/// ```
/// A diagnostic about a whole file (line 0) prints `file: error: message` and the hint.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        if self.line == 0 {
            write!(f, "{file}: {}: {}", self.severity, self.message)?;
            if let Some(hint) = &self.hint {
                write!(f, "\n  = hint: {hint}")?;
            }
            return Ok(());
        }
        write!(f, "{file}:{}:{}: {}: {}", self.line, self.column, self.severity, self.message)?;
        let pad = " ".repeat(self.line.to_string().len());
        if let Some(snippet) = &self.snippet {
            let (snippet, column) = window(snippet, self.column);
            let caret: String =
                snippet.chars().take(column.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            write!(f, "\n{pad} |\n{} | {snippet}\n{pad} | {caret}^", self.line)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n{pad} = hint: {hint}")?;
        }
        Ok(())
    }
}

/// Longest snippet printed whole. A file refused for nesting or size may be one line of megabytes.
const SNIPPET_CHARS: usize = 200;

/// The part of `line` around 1-based `column` that is printed, and the column within it.
fn window(line: &str, column: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= SNIPPET_CHARS {
        return (line.to_string(), column);
    }
    let at = column.saturating_sub(1).min(chars.len());
    let end = (at.saturating_sub(SNIPPET_CHARS / 2) + SNIPPET_CHARS).min(chars.len());
    let start = end - SNIPPET_CHARS;
    let mut shown: String = if start > 0 { "…".into() } else { String::new() };
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    (shown, at - start + 1 + usize::from(start > 0))
}

/// Every diagnostic, separated by blank lines (the text `journeyd check` prints, less its final newline).
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
}

/// The exact text `journeyd check` prints for a list of diagnostics: each one followed by a newline, with a
/// blank line between them. Empty for no diagnostics.
pub fn render(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("{d}\n")).collect::<Vec<_>>().join("\n")
}

/// Collects the diagnostics of one file, located through its position index.
pub(crate) struct FileCtx {
    pub file: PathBuf,
    pub text: String,
    pub index: PosIndex,
    pub diags: Vec<Diagnostic>,
    /// Values to mask in snippets and messages (resolved secrets).
    pub secrets: Vec<String>,
}

impl FileCtx {
    pub fn new(file: &Path, text: &str) -> FileCtx {
        FileCtx {
            file: file.to_path_buf(),
            text: text.to_string(),
            index: PosIndex::build(text),
            diags: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Without a position index, for text refused before it is parsed (`limits`).
    pub fn unindexed(file: &Path, text: &str) -> FileCtx {
        FileCtx {
            file: file.to_path_buf(),
            text: text.to_string(),
            index: PosIndex::default(),
            diags: Vec::new(),
            secrets: Vec::new(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }

    fn line_text(&self, line: usize) -> Option<String> {
        let l = self.text.lines().nth(line.checked_sub(1)?)?;
        Some(l.trim_end_matches('\r').to_string())
    }

    /// A diagnostic at an explicit position.
    pub fn push(&mut self, severity: Severity, at: Pos, message: impl Into<String>, hint: Option<String>) {
        let snippet = self.line_text(at.line);
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: at.line,
            column: at.col,
            severity,
            message: message.into(),
            snippet,
            hint,
        });
    }

    /// An error at the value of `path`.
    pub fn error(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let at = self.index.value(path);
        self.push(Severity::Error, at, message, hint);
    }

    /// An error at the key of `path` (unknown or duplicate keys).
    pub fn error_key(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let at = self.index.key(path);
        self.push(Severity::Error, at, message, hint);
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let at = self.index.value(path);
        self.push(Severity::Warning, at, message, hint);
    }

    /// A diagnostic pointing `offset` characters into the scalar at `path` whose value is `value`, when the
    /// value is written on one line without escapes; otherwise at the scalar itself.
    pub fn push_in(
        &mut self,
        severity: Severity,
        path: &str,
        value: &str,
        offset: usize,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let at = self.scalar_pos(path, value, offset);
        self.push(severity, at, message, hint);
    }

    fn scalar_pos(&self, path: &str, value: &str, offset: usize) -> Pos {
        let Some(node) = self.index.get(path) else {
            return self.index.value(path);
        };
        let start = match node.style {
            Some(Style::Plain) => node.value.col,
            Some(Style::Quoted) => node.value.col + 1,
            _ => return node.value,
        };
        let Some(line) = self.line_text(node.value.line) else {
            return node.value;
        };
        let written: Vec<char> = line.chars().skip(start - 1).collect();
        let wanted: Vec<char> = value.chars().take(offset + 1).collect();
        if written.len() >= wanted.len() && written[..wanted.len()] == wanted[..] {
            Pos { line: node.value.line, col: start + offset }
        } else {
            node.value
        }
    }

    /// The diagnostics, with known secret values masked. When a secret masked in the snippet stood before
    /// the column, the column moves with it, so the caret still points at the problem in the line shown.
    pub fn finish(self) -> Vec<Diagnostic> {
        let redactor = Redactor::new(self.secrets.iter());
        if redactor.is_empty() {
            return self.diags;
        }
        self.diags
            .into_iter()
            .map(|mut d| {
                d.message = redactor.redact_owned(d.message);
                d.hint = d.hint.map(|h| redactor.redact_owned(h));
                if let Some(snippet) = d.snippet.take() {
                    let split =
                        snippet.char_indices().nth(d.column.saturating_sub(1)).map_or(snippet.len(), |(i, _)| i);
                    let before = redactor.redact(&snippet[..split]).into_owned();
                    let whole = redactor.redact_owned(snippet.clone());
                    if before != snippet[..split] && whole.starts_with(&before) {
                        d.column = before.chars().count() + 1;
                    }
                    d.snippet = Some(whole);
                }
                d
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: usize, column: usize, snippet: Option<&str>, hint: Option<&str>) -> Diagnostic {
        Diagnostic {
            file: PathBuf::from("journeys/checkout.yml"),
            line,
            column,
            severity: Severity::Error,
            message: "unknown field `psot`".into(),
            snippet: snippet.map(String::from),
            hint: hint.map(String::from),
        }
    }

    #[test]
    fn displays_like_rustc() {
        let d = diag(14, 5, Some("    psot: /api/login"), Some("did you mean `post`?"));
        assert_eq!(
            d.to_string(),
            "journeys/checkout.yml:14:5: error: unknown field `psot`\n   |\n14 |     psot: /api/login\n   |     ^\n   = hint: did you mean `post`?"
        );
    }

    #[test]
    fn a_long_line_is_shown_around_the_column() {
        let line = format!("x: {}{}", "[".repeat(300), "]".repeat(300));
        let d = diag(2, 259, Some(&line), None);
        let text = d.to_string();
        let shown = text.lines().nth(2).unwrap();
        assert!(shown.starts_with("2 | …[[[") && shown.ends_with("]]]…"), "{shown}");
        assert_eq!(shown.chars().count(), "2 | ".len() + SNIPPET_CHARS + 2);
        let caret = text.lines().nth(3).unwrap();
        assert_eq!(caret.chars().count(), "  | ".len() + 1 + SNIPPET_CHARS / 2 + 1, "{caret}");
        assert_eq!(window("short", 3), ("short".to_string(), 3));
    }

    #[test]
    fn file_level_diagnostics_have_no_snippet() {
        let d = diag(0, 0, None, Some("check the path"));
        assert_eq!(d.to_string(), "journeys/checkout.yml: error: unknown field `psot`\n  = hint: check the path");
    }

    #[test]
    fn render_separates_with_blank_lines() {
        let a = diag(0, 0, None, None);
        assert_eq!(render(&[a.clone(), a]), format!("{0}\n\n{0}\n", diag(0, 0, None, None)));
        assert_eq!(render(&[]), "");
    }

    #[test]
    fn column_inside_a_scalar() {
        let mut ctx = FileCtx::new(Path::new("f.yml"), "a: 'x == {{ y }}'\nb: \"it''s\"\n");
        ctx.push_in(Severity::Error, "a", "x == {{ y }}", 5, "m", None);
        assert_eq!((ctx.diags[0].line, ctx.diags[0].column), (1, 10));
        ctx.push_in(Severity::Error, "b", "it's", 3, "m", None);
        assert_eq!((ctx.diags[1].line, ctx.diags[1].column), (2, 4));
    }

    #[test]
    fn secrets_are_masked_in_snippets() {
        let mut ctx = FileCtx::new(Path::new("f.yml"), "password: hunter22\n");
        ctx.error("password", "bad value hunter22", None);
        ctx.secrets.push("hunter22".into());
        let d = ctx.finish().remove(0);
        assert_eq!(d.snippet.as_deref(), Some("password: [REDACTED]"));
        assert_eq!(d.message, "bad value [REDACTED]");
    }
}
