//! A step's request body, rendered: the bytes and the Content-Type that goes with them. A multipart body
//! gets a new random boundary per request (RFC 7578), so no field value or file can contain it by design.

use reqwest::header::HeaderValue;

use crate::model::{Body, GraphqlBody, MultipartPart, PartValue};
use crate::template::{RenderError, Scope};

/// A rendered body and its Content-Type (the step's own `Content-Type` header wins over it).
pub(crate) type Rendered = (Option<Vec<u8>>, Option<HeaderValue>);

/// Renders `body`; credentials made while rendering (`totp`, `base64` of a secret) go to `derived`.
pub(crate) fn render_body(
    body: Option<&Body>,
    scope: &Scope<'_>,
    derived: &mut Vec<String>,
) -> Result<Rendered, RenderError> {
    Ok(match body {
        None => (None, None),
        Some(Body::Json(t)) => {
            (Some(t.try_render(scope, derived)?), Some(HeaderValue::from_static("application/json")))
        }
        Some(Body::Form(fields)) => {
            let mut out = String::new();
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push('&');
                }
                crate::template::url_encode_into(k, &mut out);
                out.push('=');
                crate::template::url_encode_into(&v.try_render(scope, derived)?, &mut out);
            }
            (Some(out.into_bytes()), Some(HeaderValue::from_static("application/x-www-form-urlencoded")))
        }
        Some(Body::Multipart(parts)) => {
            let boundary = format!("journeyd-{:032x}", rand::random::<u128>());
            let body = multipart(parts, &boundary, scope, derived)?;
            let ct = format!("multipart/form-data; boundary={boundary}");
            // The boundary is hex and the rest is fixed text: always a valid header value.
            (Some(body), HeaderValue::from_str(&ct).ok())
        }
        Some(Body::Graphql(g)) => {
            (Some(graphql(g, scope, derived)?), Some(HeaderValue::from_static("application/json")))
        }
        Some(Body::Raw { text, content_type }) => {
            let ct = content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
                .unwrap_or_else(|| HeaderValue::from_static("text/plain; charset=utf-8"));
            (Some(text.try_render(scope, derived)?.into_owned().into_bytes()), Some(ct))
        }
    })
}

/// `multipart/form-data` with `boundary`: each part's headers, a blank line, its bytes.
fn multipart(
    parts: &[MultipartPart],
    boundary: &str,
    scope: &Scope<'_>,
    derived: &mut Vec<String>,
) -> Result<Vec<u8>, RenderError> {
    let size: usize = parts.iter().map(|p| if let PartValue::File(f) = &p.value { f.bytes.len() } else { 64 }).sum();
    let mut out = Vec::with_capacity(size + 160 * parts.len());
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"").as_bytes());
        quote_into(&part.name, &mut out);
        match &part.value {
            PartValue::Field(t) => {
                out.extend_from_slice(b"\"\r\n\r\n");
                out.extend_from_slice(t.try_render(scope, derived)?.as_bytes());
            }
            PartValue::File(f) => {
                out.extend_from_slice(b"\"; filename=\"");
                quote_into(&f.filename, &mut out);
                out.extend_from_slice(b"\"\r\nContent-Type: ");
                out.extend_from_slice(f.content_type.as_bytes());
                out.extend_from_slice(b"\r\n\r\n");
                out.extend_from_slice(&f.bytes);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(out)
}

/// A name or filename inside `"…"` of a Content-Disposition, escaped as browsers do (WHATWG HTML: `"` as
/// `%22`, CR and LF as `%0D` and `%0A`), so no name can end the header or start a new one.
fn quote_into(text: &str, out: &mut Vec<u8>) {
    for b in text.bytes() {
        match b {
            b'"' => out.extend_from_slice(b"%22"),
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            _ => out.push(b),
        }
    }
}

/// `{"query": …, "variables": …, "operationName": …}`, as GraphQL over HTTP servers take a POST.
fn graphql(g: &GraphqlBody, scope: &Scope<'_>, derived: &mut Vec<String>) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::with_capacity(g.query.source.len() + 64);
    out.extend_from_slice(b"{\"query\":");
    // serde_json's string escaping is exactly right and cannot fail on a &str.
    let _ = serde_json::to_writer(&mut out, g.query.try_render(scope, derived)?.as_ref());
    if let Some(variables) = &g.variables {
        out.extend_from_slice(b",\"variables\":");
        variables.render_into(scope, &mut out, derived)?;
    }
    if let Some(name) = &g.operation_name {
        out.extend_from_slice(b",\"operationName\":");
        let _ = serde_json::to_writer(&mut out, name);
    }
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FilePart;
    use crate::template::Template;

    #[test]
    fn names_cannot_break_out_of_their_header() {
        let scope = Scope { secrets: &[], rows: &[], captures: &[], tokens: &[] };
        let file = FilePart {
            bytes: bytes::Bytes::from_static(b"\x00\xff"),
            filename: "a\"b\r\nX: y.bin".into(),
            content_type: HeaderValue::from_static("image/png"),
        };
        let parts = vec![
            MultipartPart { name: "f\"x".into(), value: PartValue::Field(Template::literal("v")) },
            MultipartPart { name: "up".into(), value: PartValue::File(file) },
        ];
        let body = multipart(&parts, "B", &scope, &mut Vec::new()).unwrap();
        let expected: &[u8] = b"--B\r\nContent-Disposition: form-data; name=\"f%22x\"\r\n\r\nv\r\n\
            --B\r\nContent-Disposition: form-data; name=\"up\"; filename=\"a%22b%0D%0AX: y.bin\"\r\n\
            Content-Type: image/png\r\n\r\n\x00\xff\r\n--B--\r\n";
        assert_eq!(body, expected, "{}", String::from_utf8_lossy(&body));
    }
}
