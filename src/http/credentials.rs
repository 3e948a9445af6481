//! Credentials stay with their origin: what the runner strips when a redirect leaves it, and URL userinfo.
//!
//! The runner follows redirects itself (on both client paths), so this is the one policy for both. A step's
//! credentials are meant for the origin (scheme, host, port) of its URL: on a hop to any other origin the
//! headers that carry them are not sent — [`ALWAYS_SENSITIVE`] plus the headers whose value renders from a
//! secret or a secret capture (known at load time from the template). They are sent again on a hop back to
//! the step's origin, which is where they were meant to go (curl does the same). The per-user cookie jar is
//! not affected: it applies cookies by their own domain rules.
//!
//! URL userinfo (`https://user:pass@host/`) becomes `Authorization: Basic …` (unless the step sets
//! `Authorization` itself) and is removed from the URL: neither client sends it as such, and no request line,
//! redirect chain or message can print it.

use base64::Engine as _;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use reqwest::Url;

use crate::http::HeaderList;

/// Headers never sent to another origin, whatever their value.
pub const ALWAYS_SENSITIVE: [HeaderName; 3] = [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION];

/// Same scheme, host and port (the default port of the scheme when none is written).
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port_or_known_default() == b.port_or_known_default()
}

/// `https` to plain `http`: refused unless the journey allows it.
pub fn is_downgrade(from: &Url, to: &Url) -> bool {
    from.scheme() == "https" && to.scheme() == "http"
}

/// `scheme://host:port`, for messages.
pub fn origin_text(url: &Url) -> String {
    match url.port_or_known_default() {
        Some(port) => format!("{}://{}:{port}", url.scheme(), url.host_str().unwrap_or_default()),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
    }
}

/// The headers for a hop to another origin: `headers` without the sensitive ones.
pub fn for_other_origin(headers: &[(HeaderName, HeaderValue)], sensitive: &[HeaderName]) -> HeaderList {
    let kept = headers.iter().filter(|(name, _)| !ALWAYS_SENSITIVE.contains(name) && !sensitive.contains(name));
    kept.cloned().collect()
}

/// True when the URL carries a user name or password.
pub fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `Authorization: Basic base64(user:password)` from the URL's userinfo, percent-decoded as RFC 3986 writes
/// it (what reqwest sends); `None` without userinfo.
pub fn userinfo_authorization(url: &Url) -> Option<HeaderValue> {
    if !has_userinfo(url) {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut plain = decode(url.username());
    plain.push(b':');
    plain.extend(decode(url.password().unwrap_or_default()));
    let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(plain));
    let mut value = HeaderValue::from_str(&value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Removes the userinfo (both parts) from `url`.
pub fn strip_userinfo(url: &mut Url) {
    // Only fails for URLs that cannot have userinfo, which then have none.
    let _ = url.set_password(None);
    let _ = url.set_username("");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn origin_is_scheme_host_and_port() {
        assert!(same_origin(&url("https://a.example/x"), &url("https://a.example:443/y?z")));
        assert!(!same_origin(&url("https://a.example/"), &url("http://a.example/")));
        assert!(!same_origin(&url("http://127.0.0.1:1/"), &url("http://127.0.0.1:2/")));
        assert!(!same_origin(&url("http://a.example/"), &url("http://b.example/")));
        assert!(is_downgrade(&url("https://a/"), &url("http://a/")));
        assert!(!is_downgrade(&url("http://a/"), &url("https://a/")));
        assert_eq!(origin_text(&url("https://a.example/x")), "https://a.example:443");
    }

    #[test]
    fn userinfo_becomes_basic_auth_percent_decoded_and_leaves_the_url() {
        let mut u = url("http://us%20er:p%40ss:w@host/x");
        let v = userinfo_authorization(&u).unwrap();
        // base64("us er:p@ss:w")
        assert_eq!(v.to_str().unwrap(), "Basic dXMgZXI6cEBzczp3");
        strip_userinfo(&mut u);
        assert_eq!(u.as_str(), "http://host/x");
        assert!(userinfo_authorization(&u).is_none());
        assert_eq!(userinfo_authorization(&url("http://only@host/")).unwrap().to_str().unwrap(), "Basic b25seTo=");
    }

    #[test]
    fn other_origins_get_no_credentials() {
        let names = ["authorization", "cookie", "proxy-authorization", "x-api-key", "accept"];
        let h: HeaderList =
            names.iter().map(|name| (HeaderName::from_static(name), HeaderValue::from_static("v"))).collect();
        let out = for_other_origin(&h, &[HeaderName::from_static("x-api-key")]);
        assert_eq!(out.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["accept"]);
    }
}
