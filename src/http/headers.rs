//! A response's headers as they arrived: the head's bytes and where each field lies in them.
//!
//! Why not `http::HeaderMap`: for every response the own client made a map (two allocations), parsed each
//! name into a `HeaderName`, checked each value again and hashed every field into the map — and the step then
//! read at most a few of them (`Set-Cookie`, `Location`, `Content-Encoding`, a check's header). For the
//! handful of fields a response has, scanning them with a case-insensitive comparison of names is cheaper
//! than all of that (callgrind numbers in bench/RESULTS.md §7, 7 Dec 2026). The own client's fields are
//! slices of the head it read; reqwest's and a WebSocket handshake's maps are copied in
//! ([`ResponseHeaders::from_map`]).

use std::ops::Range;

use bytes::Bytes;
use reqwest::header::HeaderMap;

/// A response's header fields, in the order they arrived.
#[derive(Debug, Clone, Default)]
pub struct ResponseHeaders {
    /// The bytes the fields lie in: the response head as read (shared, not copied).
    bytes: Bytes,
    /// Each field's name and value, as ranges of `bytes`.
    fields: Vec<(Range<usize>, Range<usize>)>,
}

impl ResponseHeaders {
    /// Fields that lie in `bytes` at the given ranges.
    pub(crate) fn from_parts(bytes: Bytes, fields: Vec<(Range<usize>, Range<usize>)>) -> ResponseHeaders {
        ResponseHeaders { bytes, fields }
    }

    /// The fields of a map (the reqwest path, a WebSocket handshake), copied.
    pub fn from_map(map: &HeaderMap) -> ResponseHeaders {
        let mut bytes = Vec::new();
        let mut fields = Vec::with_capacity(map.len());
        let mut put = |b: &[u8]| {
            bytes.extend_from_slice(b);
            bytes.len() - b.len()..bytes.len()
        };
        for (name, value) in map {
            fields.push((put(name.as_str().as_bytes()), put(value.as_bytes())));
        }
        ResponseHeaders { bytes: Bytes::from(bytes), fields }
    }

    /// Every field as (name as sent, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|(name, value)| (&self.bytes[name.clone()], &self.bytes[value.clone()]))
    }

    /// The values of the fields named `name` (compared without case), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter(move |(n, _)| is(n, name)).map(|(_, value)| value)
    }

    /// The first value of the fields named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter().find(|(n, _)| is(n, name)).map(|(_, value)| value)
    }

    /// Forgets the fields named `name` (a decoded body's `Content-Encoding` and `Content-Length`).
    pub fn remove(&mut self, name: &str) {
        let bytes = &self.bytes;
        self.fields.retain(|(n, _)| !is(&bytes[n.clone()], name));
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Whether a field's name is `name`, without case (the length first: most names differ in it).
pub fn is(field: &[u8], name: &str) -> bool {
    field.len() == name.len() && field.eq_ignore_ascii_case(name.as_bytes())
}

/// A value as text when it is visible ASCII, spaces and tabs: what `HeaderValue::to_str` accepts.
pub fn value_str(value: &[u8]) -> Option<&str> {
    if value.iter().all(|&b| (b' '..0x7f).contains(&b) || b == b'\t') {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn fields_are_found_without_case_in_order_and_removed() {
        let head = Bytes::from_static(b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nLocation: /x\r\n");
        let fields = vec![(0..10, 12..15), (17..27, 29..32), (34..42, 44..46)];
        let mut h = ResponseHeaders::from_parts(head, fields);
        assert_eq!(h.get_all("set-cookie").collect::<Vec<_>>(), [&b"a=1"[..], b"b=2"]);
        assert_eq!(h.get("LOCATION"), Some(&b"/x"[..]));
        assert_eq!(h.get("locatio"), None);
        h.remove("Set-Cookie");
        assert_eq!(h.len(), 1);
        assert_eq!(h.iter().collect::<Vec<_>>(), [(&b"Location"[..], &b"/x"[..])]);

        let mut map = HeaderMap::new();
        map.append("x-a", HeaderValue::from_static("1"));
        map.append("x-a", HeaderValue::from_static("2"));
        map.append("content-type", HeaderValue::from_static("text/plain"));
        let h = ResponseHeaders::from_map(&map);
        assert_eq!(h.get_all("X-A").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
        assert_eq!(h.get("content-type"), Some(&b"text/plain"[..]));
    }

    #[test]
    fn text_follows_header_values_to_str() {
        assert_eq!(value_str(b"a b\tc"), Some("a b\tc"));
        assert_eq!(value_str("caf\u{e9}".as_bytes()), None);
        for b in 0..=255u8 {
            assert_eq!(value_str(&[b]).is_some(), HeaderValue::from_bytes(&[b]).is_ok_and(|v| v.to_str().is_ok()));
        }
    }
}
