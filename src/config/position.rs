//! Where each YAML node is, by path (`steps[2].expect[1]`), so semantic errors found after serde has done
//! its work can still point at `file:line:col`.
//!
//! Built from yaml-rust2's event parser, which reports a marker for every scalar and collection. It also
//! finds duplicate mapping keys, which serde reports without a useful location.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, col: 1 };
}

/// How a scalar was written: needed to map an offset inside its value to a source column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// The key's position when the node is a mapping value.
    pub key: Option<Pos>,
    pub value: Pos,
    /// `Some` for scalars.
    pub style: Option<Style>,
}

/// A key that appears twice in one mapping.
#[derive(Debug, Clone)]
pub struct DuplicateKey {
    pub path: String,
    pub first: Pos,
    pub second: Pos,
}

#[derive(Debug, Default)]
pub struct PosIndex {
    nodes: HashMap<String, Node>,
    pub duplicates: Vec<DuplicateKey>,
}

/// Joins a mapping key onto a path: `steps[0]` + `name` → `steps[0].name`.
pub fn key_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Joins a sequence index onto a path: `steps` + 2 → `steps[2]`.
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

impl PosIndex {
    /// Indexes `text`. A YAML syntax error stops indexing where it occurs (serde reports the error itself).
    pub fn build(text: &str) -> PosIndex {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut builder, false);
        PosIndex { nodes: builder.nodes, duplicates: builder.duplicates }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// The value's position, or that of the nearest indexed ancestor, or the start of the file.
    pub fn value(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(n) = self.nodes.get(p) {
                return n.value;
            }
            match parent(p) {
                Some(up) => p = up,
                None => return Pos::START,
            }
        }
    }

    /// The key's position for a mapping value, else the value's.
    pub fn key(&self, path: &str) -> Pos {
        match self.nodes.get(path) {
            Some(Node { key: Some(k), .. }) => *k,
            _ => self.value(path),
        }
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → "".
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

enum Frame {
    Map {
        path: String,
        key: Option<(String, Pos)>,
        seen: HashMap<String, Pos>,
        first: bool,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// A collection used as a mapping key: its contents are not indexed.
    Skip {
        depth: usize,
    },
}

#[derive(Default)]
struct Builder {
    nodes: HashMap<String, Node>,
    duplicates: Vec<DuplicateKey>,
    stack: Vec<Frame>,
    reported: HashSet<String>,
}

fn pos(m: &Marker) -> Pos {
    Pos { line: m.line(), col: m.col() + 1 }
}

impl Builder {
    /// Where the next node goes: `Some((path, key_pos))` for a value, `None` when the node is a key.
    fn place(&mut self, scalar_key: Option<&str>, at: Pos) -> Option<(String, Option<Pos>)> {
        match self.stack.last_mut() {
            None => Some((String::new(), None)),
            Some(Frame::Skip { .. }) => None,
            Some(Frame::Seq { path, next }) => {
                let p = index_path(path, *next);
                *next += 1;
                Some((p, None))
            }
            Some(Frame::Map { path, key, seen, first }) => match key.take() {
                Some((k, key_pos)) => Some((key_path(path, &k), Some(key_pos))),
                None => {
                    let k = scalar_key.unwrap_or("?").to_string();
                    if let Some(first_pos) = seen.get(&k) {
                        let dup_path = key_path(path, &k);
                        if self.reported.insert(format!("{dup_path}@{}:{}", at.line, at.col)) {
                            self.duplicates.push(DuplicateKey { path: dup_path, first: *first_pos, second: at });
                        }
                    } else {
                        seen.insert(k.clone(), at);
                    }
                    // A block mapping's start marker points past its first key; the first key is where
                    // the mapping visibly begins.
                    if *first {
                        *first = false;
                        if let Some(node) = self.nodes.get_mut(path.as_str()) {
                            if at < node.value {
                                node.value = at;
                            }
                        }
                    }
                    *key = Some((k, at));
                    None
                }
            },
        }
    }

    fn push_collection(&mut self, at: Pos, is_map: bool) {
        if let Some(Frame::Skip { depth }) = self.stack.last_mut() {
            *depth += 1;
            return;
        }
        match self.place(None, at) {
            Some((path, key)) => {
                self.nodes.insert(path.clone(), Node { key, value: at, style: None });
                self.stack.push(if is_map {
                    Frame::Map { path, key: None, seen: HashMap::new(), first: true }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
            None => self.stack.push(Frame::Skip { depth: 1 }),
        }
    }

    fn pop_collection(&mut self) {
        if let Some(Frame::Skip { depth }) = self.stack.last_mut() {
            *depth -= 1;
            if *depth > 0 {
                return;
            }
        }
        self.stack.pop();
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = pos(&mark);
        match ev {
            Event::Scalar(value, style, ..) => {
                let style = match style {
                    TScalarStyle::Plain => Style::Plain,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Style::Quoted,
                    TScalarStyle::Literal | TScalarStyle::Folded => Style::Block,
                };
                if let Some((path, key)) = self.place(Some(&value), at) {
                    self.nodes.insert(path, Node { key, value: at, style: Some(style) });
                }
            }
            Event::Alias(_) => {
                if let Some((path, key)) = self.place(Some("*"), at) {
                    self.nodes.insert(path, Node { key, value: at, style: None });
                }
            }
            Event::MappingStart(..) => self.push_collection(at, true),
            Event::SequenceStart(..) => self.push_collection(at, false),
            Event::MappingEnd | Event::SequenceEnd => self.pop_collection(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "name: x\nsteps:\n  - name: a\n    psot: \"/x\"\n  - { name: 'b', expect: [status == 200, body exists] }\n";

    #[test]
    fn indexes_keys_and_values() {
        let idx = PosIndex::build(TEXT);
        assert_eq!(idx.value("name"), Pos { line: 1, col: 7 });
        assert_eq!(idx.key("name"), Pos { line: 1, col: 1 });
        assert_eq!(idx.value("steps[0]"), Pos { line: 3, col: 5 });
        assert_eq!(idx.key("steps[0].psot"), Pos { line: 4, col: 5 });
        assert_eq!(idx.value("steps[0].psot"), Pos { line: 4, col: 11 });
        assert_eq!(idx.get("steps[0].psot").unwrap().style, Some(Style::Quoted));
        assert_eq!(idx.value("steps[1]"), Pos { line: 5, col: 5 });
        assert_eq!(idx.value("steps[1].expect[1]"), Pos { line: 5, col: 42 });
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let idx = PosIndex::build(TEXT);
        assert_eq!(idx.value("steps[0].nothing.deeper"), Pos { line: 3, col: 5 });
        assert_eq!(idx.value("absent"), Pos { line: 1, col: 1 });
    }

    #[test]
    fn finds_duplicate_keys() {
        let idx = PosIndex::build("name: a\nsteps:\n  - name: x\n    name: y\nname: b\n");
        let dups: Vec<_> = idx.duplicates.iter().map(|d| (d.path.as_str(), d.first.line, d.second)).collect();
        assert_eq!(dups, vec![("steps[0].name", 3, Pos { line: 4, col: 5 }), ("name", 1, Pos { line: 5, col: 1 })]);
    }
}
