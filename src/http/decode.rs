//! Response content codings, shared by both client paths so that they decode the same bodies the same way.
//!
//! journeyd asks for [`ACCEPT_ENCODING`] only, and decodes exactly those: gzip, and deflate in both forms
//! servers send — zlib-wrapped, as RFC 9110 §8.4.1.2 says, and raw (no zlib header), which browsers accept
//! because old servers sent it. The cap applies to the decoded bytes, so a bomb costs at most the cap. Any
//! other coding (`br`, `zstd`, a stack of codings) is refused with a message naming it: checks must never
//! run against compressed bytes.

use std::io::Read;

/// The `Accept-Encoding` sent when the step sets none: only what [`decode`] can undo.
pub const ACCEPT_ENCODING: &str = "gzip, deflate";

/// A content coding journeyd can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coding {
    #[default]
    Identity,
    Gzip,
    /// zlib-wrapped or raw deflate (told apart by the first bytes).
    Deflate,
}

/// A coding neither client decodes; the text is the header's value as sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("response body has Content-Encoding {0:?}, which journeyd cannot decode (it asks for {ACCEPT_ENCODING})")]
pub struct UnsupportedCoding(pub String);

/// The coding a `Content-Encoding` value names. Empty and `identity` are no coding.
pub fn coding_of(value: &[u8]) -> Result<Coding, UnsupportedCoding> {
    let v = value.trim_ascii();
    if v.is_empty() || v.eq_ignore_ascii_case(b"identity") {
        Ok(Coding::Identity)
    } else if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
        Ok(Coding::Gzip)
    } else if v.eq_ignore_ascii_case(b"deflate") {
        Ok(Coding::Deflate)
    } else {
        Err(UnsupportedCoding(String::from_utf8_lossy(v).into_owned()))
    }
}

/// Decodes `compressed`, stopping past `cap` decoded bytes. `Err` carries the message and what was decoded
/// (at most `cap` bytes), for evidence.
pub fn decode(coding: Coding, compressed: &[u8], cap: usize) -> Result<Vec<u8>, (String, Vec<u8>)> {
    match coding {
        Coding::Identity => Ok(compressed.to_vec()),
        Coding::Gzip => read_capped(flate2::read::GzDecoder::new(compressed), compressed.len(), cap),
        // A zlib stream starts with a header whose first two bytes, big-endian, are a multiple of 31 with
        // method 8 (RFC 1950 §2.2); anything else is taken as raw deflate.
        Coding::Deflate if is_zlib(compressed) => {
            read_capped(flate2::read::ZlibDecoder::new(compressed), compressed.len(), cap)
        }
        Coding::Deflate => read_capped(flate2::read::DeflateDecoder::new(compressed), compressed.len(), cap),
    }
}

fn is_zlib(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

fn read_capped(decoder: impl Read, compressed: usize, cap: usize) -> Result<Vec<u8>, (String, Vec<u8>)> {
    let mut out = Vec::with_capacity((compressed * 4).min(cap).min(1 << 20));
    match decoder.take(cap as u64 + 1).read_to_end(&mut out) {
        Ok(_) if out.len() > cap => {
            out.truncate(cap);
            Err((crate::http::body_cap_message(cap), out))
        }
        Ok(_) => Ok(out),
        Err(e) => Err((format!("error decoding the response body: {e}"), out)),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn compress<W: Write>(mut enc: W, data: &[u8]) -> W {
        enc.write_all(data).unwrap();
        enc
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        compress(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()), data).finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        compress(flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default()), data).finish().unwrap()
    }

    fn raw(data: &[u8]) -> Vec<u8> {
        let enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        compress(enc, data).finish().unwrap()
    }

    #[test]
    fn codings_are_named_case_insensitively_and_unknown_ones_are_refused() {
        assert_eq!(coding_of(b" GZIP "), Ok(Coding::Gzip));
        assert_eq!(coding_of(b"x-gzip"), Ok(Coding::Gzip));
        assert_eq!(coding_of(b"Deflate"), Ok(Coding::Deflate));
        assert_eq!(coding_of(b"identity"), Ok(Coding::Identity));
        let e = coding_of(b"br").unwrap_err();
        assert_eq!(
            e.to_string(),
            "response body has Content-Encoding \"br\", which journeyd cannot decode (it asks for gzip, deflate)"
        );
        assert_eq!(coding_of(b"gzip, br"), Err(UnsupportedCoding("gzip, br".into())));
    }

    #[test]
    fn every_form_decodes_and_stops_at_the_cap() {
        let data = vec![b'a'; 100_000];
        for (name, body, coding) in [
            ("gzip", gzip(&data), Coding::Gzip),
            ("zlib", zlib(&data), Coding::Deflate),
            ("raw", raw(&data), Coding::Deflate),
        ] {
            assert_eq!(decode(coding, &body, 200_000).unwrap(), data, "{name}");
            let (message, partial) = decode(coding, &body, 1024).unwrap_err();
            assert!(message.contains("1KiB cap"), "{name}: {message}");
            assert_eq!(partial.len(), 1024, "{name}");
        }
        assert!(decode(Coding::Gzip, b"not gzip", 1024).unwrap_err().0.contains("decoding"));
        assert!(decode(Coding::Deflate, b"\x78\x9cnot zlib", 1024).unwrap_err().0.contains("decoding"));
    }
}
