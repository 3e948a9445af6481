//! The value at one JSON path of a response body, read without building the rest of the document.
//!
//! A check such as `json.token exists` needs one value of the body. Building the whole document as a
//! `serde_json::Value` (a map and a string per field) and dropping it again costs more than walking the text
//! to the path and building only the value found there: on a 4-step checkout journey in `verify` (six
//! lookups in four small bodies; callgrind) 117k → 112k instructions per journey. Everything off the path is still parsed (as `IgnoredAny`), so a body that is not JSON
//! fails the same way, with the same message, as it did when the whole document was built.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::model::PathSeg;

/// The value at `path` in `body` (`Ok(None)`: the path leads nowhere), or the parse error of a body that is
/// not one JSON document. Lookups match [`super::checks::select`] on the built document: a key on an array
/// is an index (`items.0`), and of a key given twice the last one counts.
pub fn json_at(body: &[u8], path: &[PathSeg]) -> Result<Option<Value>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = At { path }.deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// Finds the rest of the path inside the next value.
struct At<'p> {
    path: &'p [PathSeg],
}

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        match self.path.first() {
            None => Value::deserialize(d).map(Some),
            // Only a container can hold the rest; a scalar is parsed and gives nothing.
            Some(_) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let (first, rest) = self.path.split_first().expect("a path left to walk");
        let PathSeg::Key(key) = first else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut found = None;
        while let Some(is_key) = map.next_key_seed(KeyIs(key))? {
            if is_key {
                found = map.next_value_seed(At { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let (first, rest) = self.path.split_first().expect("a path left to walk");
        let wanted = match first {
            PathSeg::Index(i) => Some(*i),
            PathSeg::Key(k) => k.parse::<usize>().ok(),
        };
        let mut found = None;
        let mut i = 0;
        loop {
            if Some(i) == wanted {
                match seq.next_element_seed(At { path: rest })? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
}

/// Whether the next key is `.0`, compared where it lies in the body (no copy unless it has escapes).
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::checks::select;

    fn path(text: &str) -> Vec<PathSeg> {
        text.split('.')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map(PathSeg::Index).unwrap_or_else(|_| PathSeg::Key(s.to_string())))
            .collect()
    }

    /// Every lookup agrees with building the document and walking it.
    #[test]
    fn finds_what_the_built_document_holds() {
        let body = br#" {"token":"t-1","n":1.5,"items":[{"sku":"A","q":1},{"sku":"B","tags":[true,null]}],
            "esc\u0061ped":"x\"y","dup":1,"dup":2,"empty":{},"nested":{"a":{"b":[0,[1,2]]}}} "#;
        let root: Value = serde_json::from_slice(body).unwrap();
        for p in [
            "",
            "token",
            "n",
            "items",
            "items.0",
            "items.1.sku",
            "items.1.tags.0",
            "items.1.tags.1",
            "items.2",
            "items.x",
            "escaped",
            "dup",
            "empty",
            "nested.a.b.1.1",
            "nested.a.b.1.5",
            "token.x",
            "n.0",
            "missing",
            "missing.deeper",
            "items.0.sku.0",
        ] {
            let segs = path(p);
            let expected = select(&root, &segs).cloned();
            assert_eq!(json_at(body, &segs).unwrap(), expected, "path {p:?}");
        }
    }

    #[test]
    fn a_body_that_is_not_one_document_fails_as_the_full_parse_does() {
        for body in [&b""[..], b"{", b"{\"a\":1} x", b"[1,,2]", b"{\"a\":tru}", b"{\"token\":\"t\",\"b\":[1,}"] {
            let full = serde_json::from_slice::<Value>(body).unwrap_err().to_string();
            let at = json_at(body, &path("token")).unwrap_err().to_string();
            assert_eq!(at, full, "body {:?}", String::from_utf8_lossy(body));
        }
    }
}
