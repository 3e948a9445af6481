//! Splits pasted shell text into commands and words, the way bash would for what "Copy as cURL" and
//! people write: `'…'`, `"…"`, `$'…'` (Chrome's copy quotes bodies with control characters this way),
//! backslash escapes, `\` line continuations, and `;`, `&&`, `||` or a newline between commands; a command
//! after a single `|` (`| jq .`) reads curl's output and is dropped.
//! Our own rather than the `shlex` crate in the lock file: that one is only a transitive dependency, and it
//! knows neither `$'…'` nor command separators. Nothing is expanded: `$VAR` and globs stay as written.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("a {0} quote is never closed")]
    Unterminated(&'static str),
}

/// The commands of `text`, each a list of words; empty commands are left out.
pub fn split(text: &str) -> Result<Vec<Vec<String>>, SplitError> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    // After a single `|` the next command reads curl's output (`| jq .`): it is no request, so it is dropped.
    let mut piped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some('\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                }
                Some(other) => word.get_or_insert_with(String::new).push(other),
                None => {}
            },
            '\'' => word.get_or_insert_with(String::new).push_str(&single(&mut chars)?),
            '"' => word.get_or_insert_with(String::new).push_str(&double(&mut chars)?),
            '$' if chars.peek() == Some(&'\'') => {
                chars.next();
                word.get_or_insert_with(String::new).push_str(&ansi_c(&mut chars)?);
            }
            '#' if word.is_none() => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            ' ' | '\t' | '\r' => words.extend(word.take()),
            '\n' | ';' | '&' | '|' => {
                let doubled = matches!(c, '&' | '|') && chars.peek() == Some(&c);
                if doubled {
                    chars.next();
                }
                words.extend(word.take());
                if !words.is_empty() {
                    let command = std::mem::take(&mut words);
                    if !std::mem::take(&mut piped) {
                        commands.push(command);
                    }
                }
                piped |= c == '|' && !doubled;
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    words.extend(word.take());
    if !words.is_empty() && !piped {
        commands.push(words);
    }
    Ok(commands)
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn single(chars: &mut Chars) -> Result<String, SplitError> {
    let mut s = String::new();
    for c in chars.by_ref() {
        if c == '\'' {
            return Ok(s);
        }
        s.push(c);
    }
    Err(SplitError::Unterminated("single"))
}

/// Inside `"…"` a backslash escapes only `$`, `` ` ``, `"`, `\` and a newline; before anything else it
/// is kept.
fn double(chars: &mut Chars) -> Result<String, SplitError> {
    let mut s = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(s),
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(e @ ('$' | '`' | '"' | '\\')) => s.push(e),
                Some(other) => {
                    s.push('\\');
                    s.push(other);
                }
                None => break,
            },
            other => s.push(other),
        }
    }
    Err(SplitError::Unterminated("double"))
}

/// `$'…'`: C escapes (`\n`, `\t`, `\r`, `\\`, `\'`, `\"`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`).
fn ansi_c(chars: &mut Chars) -> Result<String, SplitError> {
    let mut s = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\'' => return Ok(s),
            '\\' => match chars.next() {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some('r') => s.push('\r'),
                Some('0') => s.push('\0'),
                Some(e @ ('\\' | '\'' | '"' | '?')) => s.push(e),
                Some(k @ ('x' | 'u' | 'U')) => {
                    let max = match k {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut hex = String::new();
                    while hex.len() < max && chars.peek().is_some_and(char::is_ascii_hexdigit) {
                        hex.extend(chars.next());
                    }
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) => s.push(ch),
                        None => {
                            s.push('\\');
                            s.push(k);
                            s.push_str(&hex);
                        }
                    }
                }
                Some(other) => {
                    s.push('\\');
                    s.push(other);
                }
                None => break,
            },
            other => s.push(other),
        }
    }
    Err(SplitError::Unterminated("$'…'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Vec<String> {
        let mut c = split(text).unwrap();
        assert_eq!(c.len(), 1, "{c:?}");
        c.remove(0)
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(one(r#"curl 'a b' "c \"d\" \x" e\ f"#), ["curl", "a b", r#"c "d" \x"#, "e f"]);
        assert_eq!(one(r#"x 'it'\''s' "$HOME""#), ["x", "it's", "$HOME"]);
        assert_eq!(one(r#"x $'a\nb\'c\x41\u00e9'"#), ["x", "a\nb'cAé"]);
        assert_eq!(one("x ''"), ["x", ""]);
    }

    #[test]
    fn continuations_and_separators() {
        let text = "curl https://a.test/ \\\n  -H 'A: b' \\\r\n  --compressed\n\
                    curl b.test && curl c.test; curl d.test | jq . | less\ncurl e.test | jq";
        let cmds = split(text).unwrap();
        assert_eq!(cmds[0], ["curl", "https://a.test/", "-H", "A: b", "--compressed"]);
        assert_eq!(
            cmds[1..].iter().map(|c| c.join(" ")).collect::<Vec<_>>(),
            ["curl b.test", "curl c.test", "curl d.test", "curl e.test"]
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        assert_eq!(split("# login\n\ncurl a#b\n").unwrap(), vec![vec!["curl".to_string(), "a#b".to_string()]]);
    }

    #[test]
    fn unterminated_quotes() {
        assert_eq!(split("curl 'abc"), Err(SplitError::Unterminated("single")));
        assert_eq!(split("curl \"abc"), Err(SplitError::Unterminated("double")));
        assert_eq!(split("curl $'abc"), Err(SplitError::Unterminated("$'…'")));
    }
}
