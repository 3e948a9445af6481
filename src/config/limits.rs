//! Input limits for every file journeyd reads as configuration: a size cap when reading, and for YAML a
//! depth and expanded-size check that runs before serde_yaml sees the text.
//!
//! Why before serde_yaml: serde_yaml 0.9 loads the whole event stream before it deserializes, so its own
//! recursion limit (128) applies too late. Measured on the debug build (issue 17): a 0.98 MB journey whose
//! anchor of 9,500 strings is aliased 300 times passed `journeyd check` after 12.4 s at 1.7 GB peak RSS
//! (every alias is a full copy once deserialized), and 10,000 nested `[` took 2.5 s, 100,000 more than two
//! minutes — libyaml's scanner re-checks every open flow level on every token, quadratic in depth. The scan
//! here is one pass of yaml-rust2's event parser (already used for positions) that stops at the first limit
//! crossed; an alias counts the full size of its anchor each time it is used, without expanding anything.

use std::io::Read;
use std::path::Path;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

use super::position::Pos;

/// Journey, settings and web-config files: the largest journey in the repository is 3 KiB and a settings
/// file with a hundred receivers is under 20 KiB, so 1 MiB leaves room for large inline JSON bodies while
/// bounding what one reload can cost.
pub const MAX_YAML_BYTES: u64 = 1 << 20;
/// CSV data sources are held in memory whole (rows are leased to virtual users); 64 MiB is a million rows
/// of typical test accounts and still a bounded share of a small container.
pub const MAX_CSV_BYTES: u64 = 64 << 20;
/// A secret file holds one token, password or key; 64 KiB fits an RSA-8192 PEM key several times and
/// stops `file: /dev/zero` or a log file pointed at by mistake from being read whole.
pub const MAX_SECRET_BYTES: u64 = 64 << 10;
/// A PEM bundle (`tls_ca`, web-config certificates and keys): Mozilla's whole CA bundle is about 220 KiB.
pub const MAX_PEM_BYTES: u64 = 1 << 20;
/// Nesting levels in one YAML document, aliases included. A journey needs about 8 (steps, a step, a JSON
/// body, its objects); 64 is generous for JSON bodies and keeps libyaml's quadratic scan under 1 ms.
pub const MAX_DEPTH: usize = 64;
/// Nodes (scalars and collections) in one file after alias expansion. A large journey is a few thousand;
/// 100,000 bounds the deserialized size at tens of MB whatever the aliases do.
pub const MAX_NODES: usize = 100_000;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// `at` is where the limit is crossed, for text files that report a location.
    #[error("is larger than {}, the most journeyd reads from one", format_size(*limit))]
    TooLarge { limit: u64, at: Pos },
}

/// Reads at most `limit` bytes of `path`; more is an error (a special file such as `/dev/zero` stops
/// at the limit too: the length in its metadata is not trusted).
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        bytes.truncate(limit as usize);
        return Err(ReadError::TooLarge { limit, at: pos_at_end(&bytes) });
    }
    Ok(bytes)
}

/// `1 MiB`, `64 KiB`.
pub fn format_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The position just past `bytes` (1-based line, column in characters).
fn pos_at_end(bytes: &[u8]) -> Pos {
    let line_start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
    Pos { line, col: 1 + String::from_utf8_lossy(&bytes[line_start..]).chars().count() }
}

/// A YAML limit crossed, where it was crossed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlLimit {
    pub at: Pos,
    pub kind: LimitKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKind {
    /// Collections nested deeper than `MAX_DEPTH` as written.
    Depth,
    /// An alias whose anchor would put the expanded document deeper than `MAX_DEPTH`.
    AliasDepth,
    /// More than `MAX_NODES` nodes written out.
    Nodes,
    /// An alias that takes the expanded document past `MAX_NODES`.
    AliasNodes,
    /// yaml-rust2 found a syntax error that serde_yaml accepts (the parsers disagree): its message.
    Syntax(String),
}

impl YamlLimit {
    pub fn message(&self) -> String {
        match &self.kind {
            LimitKind::Depth => format!("YAML nested deeper than {MAX_DEPTH} levels"),
            LimitKind::AliasDepth => format!("this alias nests the file deeper than {MAX_DEPTH} levels"),
            LimitKind::Nodes => format!("more than {MAX_NODES} YAML values in one file"),
            LimitKind::AliasNodes => format!("aliases expand this file past {MAX_NODES} nodes"),
            LimitKind::Syntax(message) => message.clone(),
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match &self.kind {
            LimitKind::Depth | LimitKind::AliasDepth => "journeyd refuses YAML nested this deep before parsing \
                                                          it (deep nesting makes the parser slow); flatten the \
                                                          value: journeyd's files need fewer than 10 levels"
                .into(),
            LimitKind::Nodes => "split the file, or move bulk test data into a CSV data source".into(),
            LimitKind::AliasNodes => "journeyd refuses YAML that amplifies (billion laughs); write the values out \
                                      or use fewer aliases"
                .into(),
            LimitKind::Syntax(_) => return None,
        })
    }
}

impl std::fmt::Display for YamlLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.hint() {
            Some(hint) => write!(f, "{}; {hint}", self.message()),
            None => f.write_str(&self.message()),
        }
    }
}

/// One open collection during the scan.
struct Open {
    /// Its anchor id (0: none), so its size and height can be recorded when it closes.
    anchor: usize,
    /// Nodes inside it so far, itself included, aliases counted at their anchor's full size.
    size: usize,
    /// Levels below it so far, aliases counted at their anchor's height.
    height: usize,
}

/// Why YAML text was not deserialized.
#[derive(Debug)]
pub enum YamlError {
    Limit(YamlLimit),
    Serde(serde_yaml::Error),
}

/// Deserializes `text` with serde_yaml once `check_yaml` has passed it. On a syntax error serde_yaml reads
/// no further than the line yaml-rust2 stopped at, and reports the error in its own words.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let checked = check_yaml(text).map_err(YamlError::Limit)?;
    let value = serde_yaml::from_str(checked.text).map_err(YamlError::Serde)?;
    match checked.syntax {
        None => Ok(value),
        Some(limit) => Err(YamlError::Limit(limit)),
    }
}

/// What `check_yaml` let through.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked<'a> {
    /// The text up to where the scan ended: all of it, or up to the end of the line with a syntax error.
    pub text: &'a str,
    /// The syntax error yaml-rust2 stopped at.
    pub syntax: Option<YamlLimit>,
}

/// Checks `text` against `MAX_DEPTH` and `MAX_NODES` in one pass, stopping at the first limit crossed.
///
/// A syntax error ends the scan: what follows it was not checked, so only the text up to the end of that
/// line is returned for serde_yaml (which then reports the error itself). yaml-rust2 refuses flow
/// collections nested more than 255 deep before it emits their events; that is reported as too deep.
pub fn check_yaml(text: &str) -> Result<Checked<'_>, YamlLimit> {
    let mut parser = Parser::new_from_str(text);
    // Anchor id → (expanded size, height). Ids are per definition, so a redefined anchor name is a new id.
    let mut anchors: Vec<(usize, usize)> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut total = 0usize;
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            Err(e) => {
                let at = pos(e.marker());
                if e.info() == "recursion limit exceeded" {
                    return Err(YamlLimit { at, kind: LimitKind::Depth });
                }
                let end = line_end(text, at.line);
                let syntax = YamlLimit { at, kind: LimitKind::Syntax(e.info().to_string()) };
                return Ok(Checked { text: &text[..end], syntax: Some(syntax) });
            }
        };
        let at = pos(&mark);
        // The node just completed: its anchor, expanded size and height (1 for a scalar).
        let (anchor, size, height) = match event {
            Event::StreamEnd => return Ok(Checked { text, syntax: None }),
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlLimit { at, kind: LimitKind::Depth });
                }
                total += 1;
                if total > MAX_NODES {
                    return Err(YamlLimit { at, kind: LimitKind::Nodes });
                }
                stack.push(Open { anchor, size: 1, height: 1 });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(done) = stack.pop() else { continue };
                (done.anchor, done.size, done.height)
            }
            Event::Scalar(_, _, anchor, _) => {
                total += 1;
                if total > MAX_NODES {
                    return Err(YamlLimit { at, kind: LimitKind::Nodes });
                }
                (anchor, 1, 1)
            }
            Event::Alias(id) => {
                // An alias of an anchor still open (a recursive alias) is not recorded yet: serde_yaml
                // rejects those; count it as one node.
                let (size, height) = anchors.get(id).copied().unwrap_or((1, 1));
                if stack.len() + height > MAX_DEPTH {
                    return Err(YamlLimit { at, kind: LimitKind::AliasDepth });
                }
                total = total.saturating_add(size);
                if total > MAX_NODES {
                    return Err(YamlLimit { at, kind: LimitKind::AliasNodes });
                }
                (0, size, height)
            }
            _ => continue,
        };
        if anchor > 0 {
            if anchors.len() <= anchor {
                anchors.resize(anchor + 1, (1, 1));
            }
            anchors[anchor] = (size, height);
        }
        if let Some(parent) = stack.last_mut() {
            parent.size = parent.size.saturating_add(size);
            parent.height = parent.height.max(height + 1);
        }
    }
}

/// The byte offset just past line `line` (1-based), newline included.
fn line_end(text: &str, line: usize) -> usize {
    text.match_indices('\n').nth(line.saturating_sub(1)).map_or(text.len(), |(i, _)| i + 1)
}

fn pos(m: &Marker) -> Pos {
    Pos { line: m.line(), col: m.col() + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laughs(levels: usize) -> String {
        let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..levels {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        s
    }

    #[test]
    fn ordinary_yaml_passes() {
        for text in ["name: x\nsteps:\n  - name: a\n    get: /\n", "d: &d {a: 1}\nx: *d\ny: *d\n", ""] {
            assert_eq!(check_yaml(text), Ok(Checked { text, syntax: None }));
        }
    }

    #[test]
    fn billion_laughs_stops_at_the_alias_that_crosses() {
        // a0..a3 expand to 11 + 111 + 1,111 + 11,111 nodes; a4 would be 111,111.
        assert!(check_yaml(&laughs(4)).is_ok());
        let err = check_yaml(&laughs(5)).unwrap_err();
        assert_eq!(err.kind, LimitKind::AliasNodes);
        assert_eq!(err.at.line, 5);
        let err = check_yaml(&laughs(9)).unwrap_err();
        assert_eq!(err.at.line, 5);
    }

    #[test]
    fn an_alias_counts_its_anchor_in_full_each_time() {
        let big = vec!["x"; 1000].join(", ");
        let mut text = format!("big: &big [{big}]\nuses:\n");
        // 1,005 nodes around it, 1,001 per alias: 98 fit.
        for _ in 0..98 {
            text.push_str("  - *big\n");
        }
        assert!(check_yaml(&text).is_ok());
        text.push_str("  - *big\n");
        let err = check_yaml(&text).unwrap_err();
        assert_eq!((err.kind, err.at), (LimitKind::AliasNodes, Pos { line: 101, col: 5 }));
    }

    #[test]
    fn depth_is_checked_as_written_and_through_aliases() {
        let ok = format!("x: {}{}\n", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(check_yaml(&ok).is_ok());
        let deep = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        // Flow collections on one line are reported where yaml-rust2's own limit stops it, the 256th `[`.
        assert_eq!(check_yaml(&deep), Err(YamlLimit { at: Pos { line: 1, col: 259 }, kind: LimitKind::Depth }));
        let block = "x:\n".to_string() + &(1..=100).map(|i| format!("{}- \n", "  ".repeat(i))).collect::<String>();
        assert_eq!(check_yaml(&block), Err(YamlLimit { at: Pos { line: 65, col: 129 }, kind: LimitKind::Depth }));
        let half = MAX_DEPTH / 2 + 1;
        let via_alias =
            format!("a: &a {}{}\nb: {}*a{}\n", "[".repeat(half), "]".repeat(half), "[".repeat(half), "]".repeat(half));
        assert_eq!(check_yaml(&via_alias).unwrap_err().kind, LimitKind::AliasDepth);
    }

    #[test]
    fn flow_nesting_past_what_yaml_rust2_scans_is_too_deep() {
        // yaml-rust2 buffers the tokens of a flow collection that could be a key, so 300 `[` on one line
        // fail its own flow-level limit (255) before the 65th event arrives.
        let deep = format!("x: {}{}\n", "[".repeat(300), "]".repeat(300));
        assert_eq!(check_yaml(&deep).unwrap_err().kind, LimitKind::Depth);
    }

    #[test]
    fn a_syntax_error_stops_what_serde_yaml_reads_at_its_line() {
        let text = "a: [1, 2\nb: &x [3]\nc: *x\n";
        let checked = check_yaml(text).unwrap();
        assert!(matches!(checked.syntax, Some(YamlLimit { kind: LimitKind::Syntax(_), .. })));
        assert!(text.starts_with(checked.text) && checked.text.len() < text.len(), "{checked:?}");
        assert!(matches!(from_str::<serde_yaml::Value>(text), Err(YamlError::Serde(_))));
    }

    #[test]
    fn too_many_values_written_out() {
        let text = format!("[{}]\n", vec!["1"; MAX_NODES].join(","));
        assert_eq!(check_yaml(&text).unwrap_err().kind, LimitKind::Nodes);
    }

    #[test]
    fn reading_stops_at_the_limit() {
        // A fixed directory whose file every run overwrites with the same text: nothing piles up in /tmp.
        let dir = std::env::temp_dir().join("journeyd-unit-tests").join("limits");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big.yml");
        std::fs::write(&p, "ab\ncdef\n").unwrap();
        assert_eq!(read_capped(&p, 8).unwrap().len(), 8);
        match read_capped(&p, 5) {
            Err(ReadError::TooLarge { limit: 5, at }) => assert_eq!(at, Pos { line: 2, col: 3 }),
            other => panic!("{other:?}"),
        }
        match read_capped(Path::new("/dev/zero"), 1 << 10) {
            Err(ReadError::TooLarge { limit, .. }) => assert_eq!(format_size(limit), "1 KiB"),
            other => panic!("{other:?}"),
        }
    }
}
