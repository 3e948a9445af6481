//! A step's request body, rendered: the bytes and the Content-Type that goes with them.

use reqwest::header::HeaderValue;

use crate::model::Body;
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
        Some(Body::Raw { text, content_type }) => {
            let ct = content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
                .unwrap_or_else(|| HeaderValue::from_static("text/plain; charset=utf-8"));
            (Some(text.try_render(scope, derived)?.into_owned().into_bytes()), Some(ct))
        }
    })
}
