//! A JSON request body read in the order it was written, so `json:` shows the fields as the client sent
//! them (`email` before `password`); serde_json's own `Value` sorts keys without its `preserve_order`
//! feature, which would change key order for every other use of serde_json in journeyd.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// Keys in written order; a key written twice keeps its last value, as serde_json does.
    Object(Vec<(String, Json)>),
    Array(Vec<Json>),
    String(String),
    /// A number, boolean or null in its JSON spelling.
    Other(String),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Other(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Other(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Other(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Other(serde_json::Number::from_f64(v).map_or_else(|| "null".into(), |n| n.to_string())))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Other("null".into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            match entries.iter_mut().find(|(e, _)| *e == k) {
                Some((_, old)) => *old = v,
                None => entries.push((k, v)),
            }
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_spelling_and_the_last_duplicate() {
        let j: Json = serde_json::from_str(r#"{"z": 1, "a": [true, null, 2.50, -3], "m": "x", "z": "last"}"#).unwrap();
        let Json::Object(entries) = j else { panic!("{j:?}") };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(entries[0].1, Json::String("last".into()));
        let other = |s: &str| Json::Other(s.into());
        assert_eq!(entries[1].1, Json::Array(vec![other("true"), other("null"), other("2.5"), other("-3")]));
    }
}
