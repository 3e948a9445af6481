//! Selectors as written in browser steps: `text=Check out` (by visible text) or CSS, whose syntax is checked
//! here so a typo is a `journeyd check` error at its column instead of a step that times out at 3 a.m.
//!
//! A small checker, not a CSS parser: it finds what people get wrong when they type selectors — nothing
//! written, brackets, parentheses and quotes that do not close, a combinator or comma with nothing on one
//! side, two combinators in a row — and leaves the rest to Chromium (an unknown pseudo-class still fails
//! the step with the browser's own message). A full parser crate would be a large dependency for that.

use crate::model::Selector;

/// The selector, or the byte offset of the problem and what it is.
pub fn parse_selector(text: &str) -> Result<Selector, (usize, String)> {
    if let Some(t) = text.strip_prefix("text=") {
        if t.trim().is_empty() {
            return Err((5, "`text=` needs the text to find, e.g. text=Check out".into()));
        }
        return Ok(Selector::Text(t.to_string()));
    }
    check_css(text)?;
    Ok(Selector::Css(text.to_string()))
}

/// What the last significant thing was, to tell `a > b` from `a > > b` and `> b`.
#[derive(Clone, Copy, PartialEq)]
enum Last {
    /// Start of the selector or just after a comma: a compound must come next.
    Start,
    /// A combinator (`>`, `+`, `~`): a compound must come next.
    Combinator,
    /// Part of a compound selector.
    Compound,
}

fn check_css(text: &str) -> Result<(), (usize, String)> {
    if text.trim().is_empty() {
        return Err((0, "empty selector".into()));
    }
    // Open brackets and parentheses, with where they opened.
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut last = Last::Start;
    let mut last_at = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                // An escape: the next character is part of a name, whatever it is.
                chars.next();
                last = Last::Compound;
            }
            '"' | '\'' => {
                let closed = chars.by_ref().find(|&(_, q)| q == c).is_some();
                if !closed {
                    return Err((i, format!("the quote {c} is never closed")));
                }
                last = Last::Compound;
            }
            '[' | '(' => {
                open.push((c, i));
                last = Last::Compound;
            }
            ']' | ')' => {
                let want = if c == ']' { '[' } else { '(' };
                match open.pop() {
                    Some((o, _)) if o == want => {}
                    Some((o, at)) => {
                        let close = if o == '[' { ']' } else { ')' };
                        return Err((at, format!("`{o}` is closed by `{c}`; close it with `{close}`")));
                    }
                    None => return Err((i, format!("`{c}` closes nothing"))),
                }
                last = Last::Compound;
            }
            // Inside brackets and parentheses (`[href~=x]`, `:not(a > b)`, `:nth-child(2n+1)`) these are
            // operators or arguments, checked by the browser.
            _ if !open.is_empty() => {}
            '>' | '+' | '~' | ',' => {
                if last != Last::Compound {
                    let msg = match (last, c) {
                        (Last::Start, ',') => "a comma with no selector before it".to_string(),
                        (Last::Start, _) => format!("`{c}` with no selector before it"),
                        (_, _) => format!("`{c}` right after another combinator"),
                    };
                    return Err((i, msg));
                }
                last = if c == ',' { Last::Start } else { Last::Combinator };
                last_at = i;
            }
            c if c.is_whitespace() => {}
            _ => last = Last::Compound,
        }
    }
    if let Some((o, at)) = open.pop() {
        let close = if o == '[' { ']' } else { ')' };
        return Err((at, format!("`{o}` is never closed with `{close}`")));
    }
    match last {
        Last::Compound => Ok(()),
        Last::Combinator => Err((last_at, "the selector ends with a combinator: what should it match?".into())),
        Last::Start => Err((last_at, "the selector ends with a comma".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_people_write() {
        for ok in [
            "#price",
            ".cart-item",
            "button#checkout:not([disabled])",
            "ul.products > li:nth-child(2n+1) a",
            "a[href^=\"/store/\"], a[href*='cart']",
            "h1 + p ~ span",
            "input[name=email]",
            "#weird\\]id",
            "div:has(> img)",
        ] {
            assert_eq!(parse_selector(ok), Ok(Selector::Css(ok.into())), "{ok}");
        }
        assert_eq!(parse_selector("text=Check out"), Ok(Selector::Text("Check out".into())));
    }

    #[test]
    fn rejects_typos_with_their_offset() {
        let cases = [
            ("", 0, "empty selector"),
            ("   ", 0, "empty selector"),
            ("text=", 5, "needs the text"),
            ("a[href", 1, "never closed with `]`"),
            ("a]", 1, "closes nothing"),
            ("a[x)", 1, "closed by `)`"),
            ("a[title=\"x]", 8, "quote \" is never closed"),
            ("> a", 0, "no selector before it"),
            ("a > > b", 4, "right after another combinator"),
            ("a >", 2, "ends with a combinator"),
            ("a,,b", 2, "comma with no selector before it"),
            ("a,", 1, "ends with a comma"),
            (":not(a", 4, "never closed with `)`"),
        ];
        for (text, at, want) in cases {
            let (got_at, msg) = parse_selector(text).expect_err(text);
            assert!(msg.contains(want), "{text:?}: {msg}");
            assert_eq!(got_at, at, "{text:?}: {msg}");
        }
    }
}
