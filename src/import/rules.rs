//! What an import keeps and what it leaves out: static assets, analytics, requests to other origins,
//! volatile headers, and the names that mark a value as a secret. Every rule is a small pure function so
//! the docs (docs/import.md) and the unit tests below can name it.

use url::Url;

/// URL path extensions of static assets: images, fonts, styles, scripts, media and source maps. A
/// journey checks what a user does, not that the CDN serves files.
const ASSET_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "bmp", "woff", "woff2", "ttf", "otf", "eot", "css",
    "js", "mjs", "map", "mp4", "webm", "mp3", "ogg", "wav", "m4a", "mov",
];

/// Hosts (and their subdomains) of analytics, advertising, session recording and error ingestion:
/// third-party beacons a browser fires on its own, never part of what the user did.
pub const ANALYTICS_HOSTS: &[&str] = &[
    "google-analytics.com",
    "analytics.google.com",
    "googletagmanager.com",
    "doubleclick.net",
    "googlesyndication.com",
    "googleadservices.com",
    "segment.io",
    "segment.com",
    "hotjar.com",
    "hotjar.io",
    "ingest.sentry.io",
    "mixpanel.com",
    "amplitude.com",
    "heapanalytics.com",
    "fullstory.com",
    "clarity.ms",
    "nr-data.net",
    "browser-intake-datadoghq.com",
    "connect.facebook.net",
    "bat.bing.com",
    "plausible.io",
];

/// Request headers a journey must not replay: the cookie jar, the client and the connection set them, or
/// they change on every request (caches, tracing), or they name the recorded origin.
const VOLATILE_HEADERS: &[&str] = &[
    "cookie",
    "content-length",
    "content-type", // set by `json:`/`form:`, or written as `content_type:`
    "host",
    "connection",
    "keep-alive",
    "te",
    "upgrade",
    "upgrade-insecure-requests",
    "accept-encoding",
    "user-agent",
    "pragma",
    "cache-control",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
    "b3",
    "x-request-id",
    "x-correlation-id",
    "x-amzn-trace-id",
    "x-client-data",
    "referer",
    "origin",
    "priority",
    "purpose",
    "dnt",
];

/// Why a recorded request was left out; counted and reported on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dropped {
    /// Image, font, style, script, media or source map (by response MIME type or URL extension).
    Asset,
    /// A known analytics or tracking host.
    Analytics,
    /// Another origin than the main one, and not an API call.
    OtherOrigin,
    /// A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`), sent by the browser itself.
    Preflight,
    /// Not http(s): `data:`, `blob:`, extensions, websockets.
    NotHttp,
    /// The request a recorded redirect led to: the step before follows it itself.
    Redirect,
    /// Recorded without a response (status 0: blocked, cancelled, failed): nothing to expect of it.
    NoResponse,
}

impl Dropped {
    pub fn describe(self) -> &'static str {
        match self {
            Dropped::Asset => "static assets",
            Dropped::Analytics => "analytics",
            Dropped::OtherOrigin => "other origins",
            Dropped::Preflight => "CORS preflights",
            Dropped::NotHttp => "not http(s)",
            Dropped::Redirect => "redirects followed by the step before",
            Dropped::NoResponse => "without a response (blocked or cancelled)",
        }
    }
}

/// The MIME type without parameters, lower-cased: `application/json; charset=utf-8` → `application/json`.
pub fn essence(mime: &str) -> String {
    mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// A static asset by its response MIME type or its URL's extension.
pub fn is_asset(url: &Url, response_mime: Option<&str>) -> bool {
    if let Some(m) = response_mime.map(essence) {
        let asset_type = ["image/", "font/", "audio/", "video/"].iter().any(|p| m.starts_with(p))
            || matches!(
                m.as_str(),
                "text/css"
                    | "text/javascript"
                    | "application/javascript"
                    | "application/x-javascript"
                    | "application/ecmascript"
                    | "application/font-woff"
                    | "application/vnd.ms-fontobject"
            );
        if asset_type {
            return true;
        }
    }
    let last = url.path().rsplit('/').next().unwrap_or("");
    match last.rsplit_once('.') {
        Some((_, ext)) => ASSET_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
        None => false,
    }
}

/// A host in [`ANALYTICS_HOSTS`] or a subdomain of one.
pub fn is_analytics(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    ANALYTICS_HOSTS.iter().any(|h| host == *h || host.ends_with(&format!(".{h}")))
}

/// A request to another origin is kept when it looks like an API call: a method other than GET/HEAD, a
/// JSON or XML response, or credentials sent with it. A page, a redirect or a CDN file is left out.
pub fn is_api_call(method: &str, response_mime: Option<&str>, has_authorization: bool) -> bool {
    let mime = response_mime.map(essence).unwrap_or_default();
    !matches!(method, "GET" | "HEAD")
        || mime == "application/json"
        || mime.ends_with("+json")
        || mime.ends_with("/xml")
        || mime.ends_with("+xml")
        || has_authorization
}

/// A header the journey does not send: [`VOLATILE_HEADERS`], any `sec-*` header, HTTP/2 pseudo-headers.
pub fn is_volatile_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with(':') || n.starts_with("sec-") || VOLATILE_HEADERS.contains(&n.as_str())
}

/// Headers whose whole value is a credential.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(n.as_str(), "authorization" | "proxy-authorization" | "x-api-key" | "api-key" | "x-auth-token")
}

/// A JSON, form or query field whose value is a credential: password, passwd, secret, token, api key,
/// access key, client secret — by name, any case, `_`, `-` or nothing between the words.
pub fn is_secret_field(name: &str) -> bool {
    let n: String = name.to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    ["password", "passwd", "pwd", "secret", "token", "apikey", "accesskey", "privatekey", "credential"]
        .iter()
        .any(|w| n.contains(w))
}

/// Whether a value seen in a response is distinctive enough to be looked for in later requests:
/// strings of at least 6 characters (not `true`/`false`), integers of at least 4 digits. Short and
/// common values would turn coincidences into captures.
pub fn is_distinctive(value: &str) -> bool {
    let v = value.trim();
    if v != value || v.is_empty() || v.contains('\n') {
        return false;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v.len() >= 4;
    }
    v.chars().count() >= 6 && !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false")
}

/// A step, capture or secret name from free text: `POST /api/cart/items` → `post-api-cart-items` with
/// `sep` `-`; lower-case ASCII letters, digits and `sep`, starting with a letter or digit, at most 60
/// characters. Empty when nothing usable is left.
pub fn slug(text: &str, sep: char) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with(sep) {
            out.push(sep);
        }
        if out.len() >= 60 {
            break;
        }
    }
    out.trim_end_matches(sep).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn assets_by_mime_or_extension() {
        assert!(is_asset(&url("https://a.test/x"), Some("image/png")));
        assert!(is_asset(&url("https://a.test/x"), Some("text/css; charset=utf-8")));
        assert!(is_asset(&url("https://a.test/app.JS?v=3"), Some("text/plain")));
        assert!(is_asset(&url("https://a.test/app.js.map"), None));
        assert!(is_asset(&url("https://a.test/f/Inter.woff2"), None));
        assert!(!is_asset(&url("https://a.test/api/products"), Some("application/json")));
        assert!(!is_asset(&url("https://a.test/v1.2/cart"), None));
    }

    #[test]
    fn analytics_hosts_and_subdomains() {
        assert!(is_analytics(&url("https://www.google-analytics.com/g/collect?v=2")));
        assert!(is_analytics(&url("https://o123.ingest.sentry.io/api/1/envelope/")));
        assert!(is_analytics(&url("https://api.segment.io/v1/t")));
        assert!(!is_analytics(&url("https://sentry.io/login")));
        assert!(!is_analytics(&url("https://notsegment.io/")));
    }

    #[test]
    fn api_calls_on_other_origins() {
        assert!(is_api_call("POST", Some("text/html"), false));
        assert!(is_api_call("GET", Some("application/problem+json"), false));
        assert!(is_api_call("GET", None, true));
        assert!(!is_api_call("GET", Some("text/html"), false));
    }

    #[test]
    fn volatile_and_secret_headers() {
        for h in ["Cookie", ":authority", "sec-ch-ua", "User-Agent", "traceparent", "Content-Length"] {
            assert!(is_volatile_header(h), "{h}");
        }
        for h in ["Accept", "Authorization", "X-CSRF-Token", "Accept-Language"] {
            assert!(!is_volatile_header(h), "{h}");
        }
        assert!(is_secret_header("Authorization") && is_secret_header("x-api-key") && !is_secret_header("Accept"));
    }

    #[test]
    fn secret_fields_by_name() {
        for f in ["password", "new_password", "Passwd", "client_secret", "api-key", "apiKey", "refreshToken"] {
            assert!(is_secret_field(f), "{f}");
        }
        for f in ["email", "sku", "qty", "cart_id", "username"] {
            assert!(!is_secret_field(f), "{f}");
        }
    }

    #[test]
    fn distinctive_values() {
        assert!(is_distinctive("cart-1") && is_distinctive("1234") && is_distinctive("9f86d081884c7d65"));
        for v in ["123", "true", "FALSE", "abcde", "", " padded "] {
            assert!(!is_distinctive(v), "{v:?}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("POST /api/cart/items", '-'), "post-api-cart-items");
        assert_eq!(slug("GET /", '-'), "get");
        assert_eq!(slug("cartId", '_'), "cartid");
        assert_eq!(slug("--", '-'), "");
        assert!(slug(&"x/".repeat(100), '-').len() <= 60);
    }
}
