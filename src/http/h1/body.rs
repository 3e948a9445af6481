//! The response body: how it is delimited (RFC 9112 §6.3, from one pass over the head's fields), reading it
//! under the cap for each framing (content-length, chunked with trailers, read-to-close). Decoding (gzip,
//! deflate) is [`crate::http::decode`], shared with the reqwest path.

use std::io;

use bytes::Buf;
use reqwest::{Method, StatusCode};
use tokio::io::AsyncReadExt;

use super::{Client, Error, Stream, HEAD_LIMIT};
use crate::http::decode::{coding_of, Coding};
use crate::http::headers::is;

/// How the body is delimited.
pub(super) enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

impl Client {
    pub(super) async fn read_length(
        &mut self,
        stream: &mut Stream,
        length: u64,
        cap: usize,
        status: StatusCode,
    ) -> Result<Vec<u8>, Error> {
        let want = usize::try_from(length).unwrap_or(usize::MAX);
        let mut body = Vec::with_capacity(want.min(cap).min(64 * 1024));
        let take = self.read.len().min(want);
        body.extend_from_slice(&self.read[..take]);
        self.read.advance(take);
        while body.len() < want {
            if body.len() >= cap {
                return Err(too_large(status, cap, body));
            }
            body.reserve((want - body.len()).min(cap - body.len()).min(64 * 1024));
            let room = (want - body.len()).min(body.capacity() - body.len());
            match (&mut *stream).take(room as u64).read_buf(&mut body).await {
                Ok(0) => {
                    let message = format!("reading the body: connection closed after {} of {want} bytes", body.len());
                    return Err(Error::Body { status, message, partial: body });
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    let message = format!(
                        "reading the body: connection closed after {} of {want} bytes{WITHOUT_NOTIFY}",
                        body.len()
                    );
                    return Err(Error::Body { status, message, partial: body });
                }
                Err(e) => return Err(body_error(status, e, body)),
            }
        }
        if body.len() > cap {
            return Err(too_large(status, cap, body));
        }
        Ok(body)
    }

    pub(super) async fn read_to_close(
        &mut self,
        stream: &mut Stream,
        cap: usize,
        status: StatusCode,
    ) -> Result<Vec<u8>, Error> {
        let mut body = Vec::with_capacity(self.read.len().max(8 * 1024).min(cap));
        body.extend_from_slice(&self.read);
        self.read.clear();
        loop {
            if body.len() > cap {
                return Err(too_large(status, cap, body));
            }
            body.reserve(8 * 1024);
            match stream.read_buf(&mut body).await {
                Ok(0) => return Ok(body),
                Ok(_) => {}
                // Over TLS the close is the body's only end, and without close_notify it cannot be told from
                // a cut: the response is incomplete (RFC 9112 §9.8).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    let message = format!(
                        "reading the body: connection closed{WITHOUT_NOTIFY}, and the body had neither \
                         content-length nor chunked framing to show it was complete"
                    );
                    return Err(Error::Body { status, message, partial: body });
                }
                Err(e) => return Err(body_error(status, e, body)),
            }
        }
    }

    pub(super) async fn read_chunked(
        &mut self,
        stream: &mut Stream,
        cap: usize,
        status: StatusCode,
    ) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        loop {
            // The chunk-size line.
            let size = loop {
                match httparse::parse_chunk_size(&self.read) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.read.advance(used);
                        break size;
                    }
                    Ok(httparse::Status::Partial) => {
                        if let Err(e) = self.fill(stream).await {
                            return Err(body_error(status, e, body));
                        }
                    }
                    Err(_) => {
                        let message = "reading the body: invalid chunk size line".to_string();
                        return Err(Error::Body { status, message, partial: body });
                    }
                }
            };
            if size == 0 {
                break;
            }
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if body.len().saturating_add(size) > cap {
                // Keep what fits as evidence, then stop: a larger body is the failure.
                let fits = cap - body.len();
                let from_buffer = self.read.len().min(fits);
                body.extend_from_slice(&self.read[..from_buffer]);
                return Err(too_large(status, cap, body));
            }
            // The chunk's data, then its CRLF.
            let mut left = size;
            while left > 0 {
                if self.read.is_empty() {
                    if let Err(e) = self.fill(stream).await {
                        return Err(body_error(status, e, body));
                    }
                }
                let n = self.read.len().min(left);
                body.extend_from_slice(&self.read[..n]);
                self.read.advance(n);
                left -= n;
            }
            while self.read.len() < 2 {
                if let Err(e) = self.fill(stream).await {
                    return Err(body_error(status, e, body));
                }
            }
            if &self.read[..2] != b"\r\n" {
                let message = "reading the body: chunk data longer than its size".to_string();
                return Err(Error::Body { status, message, partial: body });
            }
            self.read.advance(2);
        }
        // Trailers (usually none), up to the empty line.
        loop {
            let mut slots = [httparse::EMPTY_HEADER; 16];
            match httparse::parse_headers(&self.read, &mut slots) {
                Ok(httparse::Status::Complete((used, _))) => {
                    self.read.advance(used);
                    return Ok(body);
                }
                Ok(httparse::Status::Partial) if self.read.len() <= HEAD_LIMIT => {
                    if let Err(e) = self.fill(stream).await {
                        return Err(body_error(status, e, body));
                    }
                }
                _ => {
                    let message = "reading the body: invalid chunked trailer".to_string();
                    return Err(Error::Body { status, message, partial: body });
                }
            }
        }
    }

    /// Reads more into the buffer; end of stream is an error here (the message is not complete).
    async fn fill(&mut self, stream: &mut Stream) -> io::Result<()> {
        self.read.reserve(8 * 1024);
        let closed = |how: &str| {
            io::Error::new(io::ErrorKind::UnexpectedEof, format!("connection closed in the middle of the body{how}"))
        };
        match stream.read_buf(&mut self.read).await {
            Ok(0) => Err(closed("")),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(closed(WITHOUT_NOTIFY)),
            Err(e) => Err(e),
        }
    }
}

/// rustls reports a TLS stream that ends without close_notify as an `UnexpectedEof` error (whose text is a
/// link to its manual) where plain TCP reads 0 bytes: the same close, said the same way, with this added.
pub(super) const WITHOUT_NOTIFY: &str = " without TLS close_notify";

/// What the response head says about framing and the connection, gathered in one pass over its fields.
#[derive(Debug, Default)]
pub(super) struct Head {
    /// `connection: close` (or HTTP/1.0 without keep-alive, added by the caller).
    pub(super) close: bool,
    pub(super) keep_alive: bool,
    /// `content-encoding`, when it names a coding journeyd decodes. An unknown one is left in the headers
    /// (and the body as sent) for the runner to refuse, the same way on both client paths.
    pub(super) coding: Coding,
    /// `transfer-encoding` was sent; `true` when its final coding is `chunked`.
    pub(super) chunked: Option<bool>,
    /// `content-length`, when sent (several must agree).
    pub(super) length: Option<u64>,
}

impl Head {
    /// Over the names as sent: each is compared by length first, so most names cost one comparison of
    /// lengths per header of interest, and only a name of the same length is compared without case.
    pub(super) fn scan<'a>(fields: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Result<Head, Error> {
        let mut head = Head::default();
        for (name, value) in fields {
            if is(name, "transfer-encoding") {
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                head.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if is(name, "content-length") {
                let n: u64 = std::str::from_utf8(value).ok().and_then(|t| t.trim().parse().ok()).ok_or_else(|| {
                    Error::Invalid(format!("invalid content-length {:?}", String::from_utf8_lossy(value)))
                })?;
                if head.length.is_some_and(|m| m != n) {
                    return Err(Error::Invalid("conflicting content-length headers".into()));
                }
                head.length = Some(n);
            } else if is(name, "connection") {
                head.close |= has_token(value, "close");
                head.keep_alive |= has_token(value, "keep-alive");
            } else if is(name, "content-encoding") {
                head.coding = coding_of(value).unwrap_or(Coding::Identity);
            }
        }
        Ok(head)
    }
}

/// RFC 9112 §6.3: how the body of a response to `method` with `status` and `head` is delimited.
pub(super) fn framing(method: &Method, status: StatusCode, head: &Head) -> Result<Framing, Error> {
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::None);
    }
    Ok(match (head.chunked, head.length) {
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => Framing::Close,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::Close,
    })
}

/// A comma-separated header value contains `token` (case-insensitive).
pub(super) fn has_token(value: &[u8], token: &str) -> bool {
    value.split(|&b| b == b',').any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

pub(super) fn too_large(status: StatusCode, cap: usize, mut partial: Vec<u8>) -> Error {
    partial.truncate(cap);
    Error::Body { status, message: crate::http::body_cap_message(cap), partial }
}

pub(super) fn body_error(status: StatusCode, e: io::Error, partial: Vec<u8>) -> Error {
    Error::Body { status, message: format!("reading the body: {e}"), partial }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> Result<Head, Error> {
        Head::scan(pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
    }

    fn frame(method: Method, status: StatusCode, pairs: &[(&str, &str)]) -> Result<Framing, Error> {
        framing(&method, status, &head(pairs)?)
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let ok = StatusCode::OK;
        assert!(matches!(frame(Method::HEAD, ok, &[("content-length", "5")]), Ok(Framing::None)));
        assert!(matches!(frame(Method::GET, StatusCode::NO_CONTENT, &[]), Ok(Framing::None)));
        assert!(matches!(frame(Method::GET, StatusCode::NOT_MODIFIED, &[]), Ok(Framing::None)));
        assert!(matches!(frame(Method::GET, ok, &[("Content-Length", "5")]), Ok(Framing::Length(5))));
        let chunked = [("transfer-encoding", "gzip, chunked"), ("content-length", "5")];
        assert!(matches!(frame(Method::GET, ok, &chunked), Ok(Framing::Chunked)));
        assert!(matches!(frame(Method::GET, ok, &[("transfer-encoding", "gzip")]), Ok(Framing::Close)));
        assert!(matches!(frame(Method::GET, ok, &[]), Ok(Framing::Close)));
        assert!(frame(Method::GET, ok, &[("content-length", "x")]).is_err());
        assert!(frame(Method::GET, ok, &[("content-length", "5"), ("content-length", "6")]).is_err());
        assert!(matches!(
            frame(Method::GET, ok, &[("content-length", "5"), ("content-length", "5")]),
            Ok(Framing::Length(5))
        ));
    }

    #[test]
    fn connection_and_encoding_tokens_are_case_insensitive() {
        let h = head(&[("Connection", "Upgrade, Close"), ("Content-Encoding", " GZIP ")]).unwrap();
        assert!(h.close && !h.keep_alive && h.coding == Coding::Gzip);
        let h = head(&[("connection", "Keep-Alive"), ("content-encoding", "br")]).unwrap();
        assert!(!h.close && h.keep_alive && h.coding == Coding::Identity);
        assert_eq!(head(&[("content-encoding", "Deflate")]).unwrap().coding, Coding::Deflate);
    }
}
