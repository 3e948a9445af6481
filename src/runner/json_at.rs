//! The values at a step's JSON paths in a response body, read in one pass without building the rest of the
//! document.
//!
//! A check such as `json.token exists` needs one value of the body. Building the whole document as a
//! `serde_json::Value` (a map and a string per field) and dropping it again costs more than walking the text
//! to the path and building only the value found there: on a 4-step checkout journey in `verify` (six
//! lookups in four small bodies; callgrind) 117k → 112k instructions per journey. A step's checks and
//! captures often read more than one value (`json.token exists` and `capture: json.token`; `json.items` and
//! `json.cart_id`): the paths a step reads are known at load time, so all of them are read in the same pass
//! ([`json_at_many`]) instead of one pass per read. Everything off the paths is still parsed (as
//! `IgnoredAny`), so a body that is not JSON fails the same way, with the same message, as it did when the
//! whole document was built.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::checks::select;
use crate::model::PathSeg;

/// Most paths read in one pass: which of them a key leads to is a bit set in a `u64`. More (a step with
/// dozens of JSON checks) build the document once and walk it.
const MAX_PATHS: usize = 64;

/// The value at `path` in `body` (`Ok(None)`: the path leads nowhere), or the parse error of a body that is
/// not one JSON document. Lookups match [`select`] on the built document: a key on an array is an index
/// (`items.0`), and of a key given twice the last one counts.
pub fn json_at(body: &[u8], path: &[PathSeg]) -> Result<Option<Value>, serde_json::Error> {
    Ok(json_at_many(body, &[path])?.pop().flatten())
}

/// The values at each of `paths` in `body`, in the same order, read in one pass: as [`json_at`] for each.
pub fn json_at_many<P: AsRef<[PathSeg]>>(body: &[u8], paths: &[P]) -> Result<Vec<Option<Value>>, serde_json::Error> {
    let mut found = vec![None; paths.len()];
    if paths.len() > MAX_PATHS {
        let root: Value = serde_json::from_slice(body)?;
        for (slot, path) in found.iter_mut().zip(paths) {
            *slot = select(&root, path.as_ref()).cloned();
        }
        return Ok(found);
    }
    let all = if paths.len() == MAX_PATHS { u64::MAX } else { (1u64 << paths.len()) - 1 };
    let mut de = serde_json::Deserializer::from_slice(body);
    At { paths, mask: all, depth: 0, found: &mut found }.deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// Finds the rest of some of the paths inside the next value, writing what they lead to into `found`: the
/// paths of the bit set `mask`, each `depth` segments down already (no list is made per level).
struct At<'a, P> {
    paths: &'a [P],
    mask: u64,
    depth: usize,
    found: &'a mut [Option<Value>],
}

impl<P: AsRef<[PathSeg]>> At<'_, P> {
    /// The remaining segments of each path in the set, with its slot.
    fn wanted(&self) -> impl Iterator<Item = (usize, &[PathSeg])> + '_ {
        let mask = self.mask;
        let rests = self.paths.iter().enumerate().filter(move |(i, _)| mask & (1u64 << i) != 0);
        rests.map(|(i, p)| (i, &p.as_ref()[self.depth..]))
    }

    /// The paths for which `pick` holds of their next segment, as a bit set.
    fn bits(&self, pick: impl Fn(&PathSeg) -> bool) -> u64 {
        let picked = self.wanted().filter(|(_, rest)| rest.first().is_some_and(&pick));
        picked.fold(0, |mask, (i, _)| mask | (1u64 << i))
    }

    /// One segment down, for the paths of `mask`; their slots are cleared first, so of a key given twice
    /// the last one counts (as in the built document).
    fn below(&mut self, mask: u64) -> At<'_, P> {
        for (i, slot) in self.found.iter_mut().enumerate() {
            if mask & (1u64 << i) != 0 {
                *slot = None;
            }
        }
        At { paths: self.paths, mask, depth: self.depth + 1, found: &mut *self.found }
    }
}

impl<'de, P: AsRef<[PathSeg]>> DeserializeSeed<'de> for At<'_, P> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // A path ends here: this value is built, and any longer path through it is read from it.
        let ending = self.wanted().filter(|(_, rest)| rest.is_empty()).map(|(i, _)| i).last();
        let Some(last) = ending else {
            // Only a container can hold the rest; a scalar is parsed and gives nothing.
            return d.deserialize_any(self);
        };
        let value = Value::deserialize(d)?;
        let At { paths, mask, depth, found } = self;
        for (i, (path, slot)) in paths.iter().zip(found.iter_mut()).enumerate() {
            if mask & (1u64 << i) != 0 && i != last {
                *slot = select(&value, &path.as_ref()[depth..]).cloned();
            }
        }
        // The value itself goes to the last path that ends here, without a copy.
        found[last] = Some(value);
        Ok(())
    }
}

impl<'de, P: AsRef<[PathSeg]>> Visitor<'de> for At<'_, P> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(mask) = map.next_key_seed(KeyIn(&self))? {
            if mask == 0 {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(self.below(mask))?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            // An index, or a key that reads as one (`items.0`).
            let mask = self.bits(|seg| match seg {
                PathSeg::Index(n) => *n == i,
                PathSeg::Key(k) => k.parse::<usize>().ok() == Some(i),
            });
            let more = if mask == 0 {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                seq.next_element_seed(self.below(mask))?.is_some()
            };
            if !more {
                break;
            }
            i += 1;
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Which of the paths the next key continues (a bit set), compared where the key lies in the body (no copy
/// unless it has escapes). An index never names an object's member.
struct KeyIn<'k, 'a, P>(&'k At<'a, P>);

impl<'de, P: AsRef<[PathSeg]>> DeserializeSeed<'de> for KeyIn<'_, '_, P> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, P: AsRef<[PathSeg]>> Visitor<'de> for KeyIn<'_, '_, P> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<u64, E> {
        Ok(self.0.bits(|seg| matches!(seg, PathSeg::Key(k) if k == key)))
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
        let paths = [
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
        ];
        for p in paths {
            let segs = path(p);
            let expected = select(&root, &segs).cloned();
            assert_eq!(json_at(body, &segs).unwrap(), expected, "path {p:?}");
        }
        // All at once, in one pass (paths through the same values, prefixes of each other, repeated), and
        // past the bit set's size, where the document is built.
        let mut all: Vec<Vec<PathSeg>> = paths.iter().map(|p| path(p)).collect();
        all.push(path("items.1.sku"));
        let expected: Vec<Option<Value>> = all.iter().map(|segs| select(&root, segs).cloned()).collect();
        assert_eq!(json_at_many(body, &all).unwrap(), expected);
        let streamed: Vec<Vec<PathSeg>> = all.iter().filter(|p| !p.is_empty()).cloned().collect();
        let expected: Vec<Option<Value>> = streamed.iter().map(|segs| select(&root, segs).cloned()).collect();
        assert_eq!(json_at_many(body, &streamed).unwrap(), expected);
        let many: Vec<Vec<PathSeg>> = all.iter().cycle().take(MAX_PATHS + 5).cloned().collect();
        let expected: Vec<Option<Value>> = many.iter().map(|segs| select(&root, segs).cloned()).collect();
        assert_eq!(json_at_many(body, &many).unwrap(), expected);
    }

    #[test]
    fn a_body_that_is_not_one_document_fails_as_the_full_parse_does() {
        for body in [&b""[..], b"{", b"{\"a\":1} x", b"[1,,2]", b"{\"a\":tru}", b"{\"token\":\"t\",\"b\":[1,}"] {
            let full = serde_json::from_slice::<Value>(body).unwrap_err().to_string();
            let at = json_at(body, &path("token")).unwrap_err().to_string();
            assert_eq!(at, full, "body {:?}", String::from_utf8_lossy(body));
            let many = json_at_many(body, &[path("token"), path("b.0")]).unwrap_err().to_string();
            assert_eq!(many, full, "body {:?}", String::from_utf8_lossy(body));
        }
    }
}
