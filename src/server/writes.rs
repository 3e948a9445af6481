//! The one gate in front of every state-changing route: off unless a flag switched it on, JSON bodies only,
//! no cross-site browser requests, and a body size limit.
//!
//! A request is a write by its method (anything but GET, HEAD and OPTIONS), not by a list of routes, so a
//! write route added later is behind the gate without anyone remembering to put it there. Writes under
//! `/-/` (reload) belong to the lifecycle API and need `--enable-lifecycle`; every other write (maintenance
//! windows and whatever follows) belongs to the admin API and needs `--enable-admin-api`, as in Prometheus
//! (`--web.enable-lifecycle`, `--web.enable-admin-api`).

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

/// Largest request body a write route reads. A maintenance request is under 2 KiB even with the longest
/// reason allowed; without a limit one request could make the daemon buffer (axum's default) 2 MB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Which groups of write routes are served. Both off by default: the port is often reachable by more
/// than the people who should be able to silence the pager.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteAccess {
    /// `POST|PUT /-/reload` (`--enable-lifecycle`). SIGHUP reloads regardless: it needs local access.
    pub lifecycle: bool,
    /// `POST /api/v1/maintenance`, `DELETE /api/v1/maintenance/{id}` and any later write API
    /// (`--enable-admin-api`).
    pub admin: bool,
}

/// Wraps `app` (every route of the daemon) with the write gate and the body limit.
pub fn guard(app: Router, access: WriteAccess) -> Router {
    app.layer(axum::middleware::from_fn_with_state(access, gate)).layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn gate(State(access): State<WriteAccess>, req: Request, next: Next) -> Response {
    if !is_write(req.method()) {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let lifecycle = path.starts_with("/-/");
    if lifecycle && !access.lifecycle {
        return refuse(
            path,
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled: start journeyd with --enable-lifecycle (JOURNEYD_ENABLE_LIFECYCLE=true) \
             to reload over HTTP, or send the process SIGHUP",
        );
    }
    if !lifecycle && !access.admin {
        return refuse(
            path,
            StatusCode::FORBIDDEN,
            "Admin API is not enabled: start journeyd with --enable-admin-api (JOURNEYD_ENABLE_ADMIN_API=true), \
             together with a --web-config that sets basic_auth_users",
        );
    }
    if let Some(origin) = cross_site(req.headers()) {
        return refuse(
            path,
            StatusCode::FORBIDDEN,
            &format!(
                "cross-site request refused ({origin}): write endpoints accept requests from scripts (curl) or \
                 from journeyd's own pages only"
            ),
        );
    }
    if has_body(req.headers()) && !is_json(req.headers()) {
        return refuse(
            path,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "write endpoints take JSON: send the body with Content-Type: application/json",
        );
    }
    next.run(req).await
}

/// Why a request comes from another site's page, following Go's `net/http.CrossOriginProtection`: a
/// browser says so in `Sec-Fetch-Site`; older browsers send an `Origin` that is not this host. Clients that
/// send neither (curl, scripts, config reloaders) are not browsers and pass.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return match site.as_str() {
            "same-origin" | "none" => None,
            other => Some(format!("Sec-Fetch-Site: {other}")),
        };
    }
    let origin = text(header::ORIGIN)?;
    let host = text(header::HOST).unwrap_or_default();
    let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    match authority {
        Some(a) if !host.is_empty() && a.eq_ignore_ascii_case(&host) => None,
        _ => Some(format!("Origin {origin} is not {host}")),
    }
}

/// A body is coming: a non-zero length or a chunked one. An empty POST (`curl -X POST`) has none.
fn has_body(headers: &HeaderMap) -> bool {
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::trim);
    headers.contains_key(header::TRANSFER_ENCODING) || length.is_some_and(|l| l != "0")
}

fn is_json(headers: &HeaderMap) -> bool {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// The answer to a write route's body that is not the JSON it takes: 413 over the body limit and 415
/// without the JSON content type say more than 400; every other rejection (syntax, unknown or missing
/// fields) is 400. The error names what went wrong, then `hint` (what to send).
pub fn bad_json(e: &axum::extract::rejection::JsonRejection, hint: &str) -> Response {
    let status = match e.status() {
        s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => s,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({ "error": format!("{}; {hint}", e.body_text()) }))).into_response()
}

/// Refusals in the shape of the API they guard: JSON under `/api/`, text for the `/-/` endpoints.
fn refuse(path: &str, status: StatusCode, message: &str) -> Response {
    if path.starts_with("/api/") {
        (status, Json(json!({ "error": message }))).into_response()
    } else {
        (status, format!("{message}\n")).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn browsers_from_other_sites_are_told_apart_from_scripts_and_own_pages() {
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:9898")])), None);
        assert_eq!(cross_site(&headers(&[("host", "jd:9898"), ("origin", "http://jd:9898")])), None);
        assert_eq!(cross_site(&headers(&[("sec-fetch-site", "same-origin")])), None);
        assert!(cross_site(&headers(&[("host", "jd:9898"), ("origin", "http://evil.example")])).is_some());
        assert!(cross_site(&headers(&[("host", "jd:9898"), ("origin", "null")])).is_some());
        let spoofed = headers(&[("host", "jd:9898"), ("origin", "http://jd:9898"), ("sec-fetch-site", "cross-site")]);
        assert!(cross_site(&spoofed).is_some(), "the browser's own word wins");
    }

    #[test]
    fn only_json_bodies_count_as_json_and_empty_posts_have_no_body() {
        assert!(is_json(&headers(&[("content-type", "application/json; charset=utf-8")])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!has_body(&headers(&[("content-length", "0")])));
        assert!(has_body(&headers(&[("content-length", "12")])));
        assert!(has_body(&headers(&[("transfer-encoding", "chunked")])));
    }
}
