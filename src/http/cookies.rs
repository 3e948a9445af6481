//! A virtual user's cookie jar: RFC 6265's storage model (§5.3) and `Cookie` header (§5.4), with the
//! `Secure` rule of its successor draft (a secure cookie is only set and sent over https or wss).
//!
//! Why not reqwest's `Jar` (cookie_store): its lookups normalise every stored domain through IDNA, walk three
//! levels of hash maps behind a lock and re-parse the header they made. A user's jar lives for one iteration
//! and holds a handful of cookies, so a list scanned in place does the same job: on a 4-step checkout journey
//! in `verify` (one cookie set at login, three lookups; callgrind) 132k → 117k instructions per journey. Set-Cookie headers are still parsed by the `cookie` crate (dates in their historical
//! formats, attribute quirks); what is ours is the storage and matching below, which the tests pin to the RFC.
//!
//! Not implemented, as in the jar it replaces: the public suffix list (a site may set `Domain=example.co.uk`
//! for itself; journeys only talk to the sites they test) and `SameSite`, which is about browsers' cross-site
//! requests and has no meaning for scripted steps.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use reqwest::Url;

use crate::http::headers::value_str;

/// Most cookies a jar keeps; the oldest goes first. Browsers keep about 180 per site: a site that sets more
/// in one iteration is misbehaving, and the jar must not grow without bound with it.
const MAX_COOKIES: usize = 180;

/// One user's cookies, for one iteration (a fresh jar per iteration, like a fresh browser profile).
#[derive(Debug, Default)]
pub struct CookieJar {
    // A lock, not `&mut`: the jar is shared by a step's exchange, its checks and its redirects, which borrow it
    // at once. Never contended (one user's steps run one at a time).
    cookies: Mutex<Vec<Stored>>,
}

#[derive(Debug, Clone)]
struct Stored {
    name: String,
    value: String,
    /// Lowercase, without a leading dot.
    domain: String,
    /// Set without a `Domain` attribute: sent to that exact host only.
    host_only: bool,
    path: String,
    secure: bool,
    /// `None`: a session cookie (lives as long as the jar).
    expires: Option<SystemTime>,
}

impl CookieJar {
    /// Stores the cookies of a response's `Set-Cookie` headers, received from `url`. Headers that are not
    /// valid cookies, or that a site may not set for `url`, are ignored, as a browser ignores them.
    pub fn set_cookies<'h>(&self, headers: impl Iterator<Item = &'h [u8]>, url: &Url) {
        let Some(host) = url.host_str() else { return };
        let now = SystemTime::now();
        let mut stored = self.lock();
        for header in headers {
            let Some(cookie) = value_str(header).and_then(|h| cookie::Cookie::parse(h).ok()) else { continue };
            let Some(c) = accept(&cookie, url, host, now) else { continue };
            let same = stored.iter().position(|s| s.name == c.name && s.domain == c.domain && s.path == c.path);
            // Replacing keeps the old one's place, so the order of equal-length paths stays creation order.
            match (same, c.expires.is_some_and(|t| t <= now)) {
                (Some(i), true) => {
                    stored.remove(i);
                }
                (Some(i), false) => stored[i] = c,
                (None, true) => {}
                (None, false) => {
                    if stored.len() == MAX_COOKIES {
                        stored.remove(0);
                    }
                    stored.push(c);
                }
            }
        }
    }

    /// The `Cookie` header for a request to `url`, or `None` when no cookie goes there.
    pub fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        let mut header = Vec::new();
        if !self.write_cookies(url, &mut header) {
            return None;
        }
        HeaderValue::from_maybe_shared(bytes::Bytes::from(header)).ok()
    }

    /// Appends the `Cookie` header's value for a request to `url` to `out` (`a=1; b=2`); `false`, with
    /// `out` as it was, when no cookie goes there or the value would not be a valid header. The own client
    /// writes it straight into the request head: no list, string or header value per request.
    pub fn write_cookies(&self, url: &Url, out: &mut Vec<u8>) -> bool {
        let Some(host) = url.host_str() else { return false };
        let secure = matches!(url.scheme(), "https" | "wss");
        let path = url.path();
        let mut stored = self.lock();
        // The clock only when some cookie can expire: most are session cookies.
        if stored.iter().any(|c| c.expires.is_some()) {
            let now = SystemTime::now();
            stored.retain(|c| !matches!(c.expires, Some(t) if t <= now));
        }
        // Which cookies go (a bit each: the jar holds at most MAX_COOKIES), matched once.
        let mut sent = [0u64; MAX_COOKIES.div_ceil(64)];
        for (i, c) in stored.iter().enumerate() {
            if (secure || !c.secure) && domain_matches(c, host) && path_matches(path, &c.path) {
                sent[i / 64] |= 1 << (i % 64);
            }
        }
        let sent = || stored.iter().enumerate().filter(|(i, _)| sent[i / 64] & (1 << (i % 64)) != 0).map(|(_, c)| c);
        let start = out.len();
        // Longer paths first, equal ones in creation order: one pass per path length, longest first (a jar
        // holds a handful of cookies, of one or two path lengths).
        let mut below = usize::MAX;
        while let Some(len) = sent().map(|c| c.path.len()).filter(|&l| l < below).max() {
            for c in sent().filter(|c| c.path.len() == len) {
                if out.len() > start {
                    out.extend_from_slice(b"; ");
                }
                out.extend_from_slice(c.name.as_bytes());
                out.push(b'=');
                out.extend_from_slice(c.value.as_bytes());
            }
            below = len;
        }
        // What `HeaderValue::from_str` accepts: visible ASCII, spaces and tabs.
        let valid = out[start..].iter().all(|&b| (b' '..0x7f).contains(&b) || b == b'\t');
        if out.len() == start || !valid {
            out.truncate(start);
            return false;
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Stored>> {
        // A panic elsewhere while holding it leaves a list that is still a list.
        self.cookies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cookie as stored, or `None` when `url` may not set it (RFC 6265 §5.3).
fn accept(cookie: &cookie::Cookie<'_>, url: &Url, host: &str, now: SystemTime) -> Option<Stored> {
    if cookie.name().is_empty() {
        return None;
    }
    let secure = cookie.secure().unwrap_or(false);
    if secure && !matches!(url.scheme(), "https" | "wss") {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let (domain, host_only) = match cookie.domain().map(|d| d.trim_start_matches('.').to_ascii_lowercase()) {
        Some(d) if !d.is_empty() => {
            // A site may set a cookie for itself or a parent domain, never for another site; an IP address
            // has no parent domains.
            if !(host == d || (!is_ip(&host) && host.ends_with(&d) && host[..host.len() - d.len()].ends_with('.'))) {
                return None;
            }
            (d, false)
        }
        _ => (host, true),
    };
    let path = match cookie.path() {
        Some(p) if p.starts_with('/') => p.to_string(),
        _ => default_path(url.path()).to_string(),
    };
    // Max-Age wins over Expires; zero or less means "delete".
    let expires = match (cookie.max_age(), cookie.expires_datetime()) {
        (Some(age), _) => Some(if age.is_positive() {
            now + Duration::from_secs(u64::try_from(age.whole_seconds()).unwrap_or(u64::MAX).min(u32::MAX.into()))
        } else {
            SystemTime::UNIX_EPOCH
        }),
        (None, Some(at)) => Some(SystemTime::from(at)),
        (None, None) => None,
    };
    Some(Stored {
        name: cookie.name().to_string(),
        value: cookie.value().to_string(),
        domain,
        host_only,
        path,
        secure,
        expires,
    })
}

fn is_ip(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// RFC 6265 §5.4: the host must be the cookie's domain, or (unless host-only) a subdomain of it.
fn domain_matches(c: &Stored, host: &str) -> bool {
    if host.eq_ignore_ascii_case(&c.domain) {
        return true;
    }
    !c.host_only
        && !is_ip(host)
        && host.len() > c.domain.len()
        && host[host.len() - c.domain.len()..].eq_ignore_ascii_case(&c.domain)
        && host.as_bytes()[host.len() - c.domain.len() - 1] == b'.'
}

/// RFC 6265 §5.1.4: `/a/b` matches `/a/b`, `/a/b/c`, and `/a/` matches `/a/c`; `/a/b` does not match `/a/bc`.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

/// RFC 6265 §5.1.4: the directory of the request's path (`/a/b` → `/a`, `/a` → `/`).
fn default_path(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(jar: &CookieJar, url: &str, headers: &[&str]) {
        jar.set_cookies(headers.iter().map(|h| h.as_bytes()), &Url::parse(url).unwrap());
    }

    fn get(jar: &CookieJar, url: &str) -> Option<String> {
        jar.cookies(&Url::parse(url).unwrap()).map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn host_only_cookies_go_to_their_host_on_any_port_and_scheme_only() {
        let jar = CookieJar::default();
        set(&jar, "http://shop.example:8080/login", &["sid=1; Path=/"]);
        assert_eq!(get(&jar, "http://shop.example:8080/cart").as_deref(), Some("sid=1"));
        assert_eq!(get(&jar, "https://shop.example/").as_deref(), Some("sid=1"));
        assert_eq!(get(&jar, "http://www.shop.example/"), None);
        assert_eq!(get(&jar, "http://example/"), None);
    }

    #[test]
    fn domain_cookies_go_to_subdomains_and_a_site_cannot_set_one_for_another() {
        let jar = CookieJar::default();
        set(&jar, "https://www.shop.example/", &["a=1; Domain=.Shop.Example; Path=/", "b=2; Domain=other.example"]);
        assert_eq!(get(&jar, "https://api.shop.example/x").as_deref(), Some("a=1"));
        assert_eq!(get(&jar, "https://shop.example/").as_deref(), Some("a=1"));
        assert_eq!(get(&jar, "https://evilshop.example/"), None);
        assert_eq!(get(&jar, "https://other.example/"), None);
        // An IP address has no parent domain.
        set(&jar, "http://127.0.0.1/", &["c=3; Domain=0.0.1"]);
        assert_eq!(get(&jar, "http://127.0.0.1/"), None);
        set(&jar, "http://127.0.0.1/", &["d=4; Domain=127.0.0.1"]);
        assert_eq!(get(&jar, "http://127.0.0.1/").as_deref(), Some("d=4"));
    }

    #[test]
    fn paths_match_by_segment_with_the_default_path_from_the_request() {
        let jar = CookieJar::default();
        set(&jar, "http://h/app/login", &["root=r; Path=/", "app=a", "deep=d; Path=/app/admin"]);
        assert_eq!(get(&jar, "http://h/").as_deref(), Some("root=r"));
        assert_eq!(get(&jar, "http://h/app").as_deref(), Some("app=a; root=r"));
        assert_eq!(get(&jar, "http://h/app/admin/x").as_deref(), Some("deep=d; app=a; root=r"));
        assert_eq!(get(&jar, "http://h/apple").as_deref(), Some("root=r"));
        assert_eq!(get(&jar, "http://h/app/administrator").as_deref(), Some("app=a; root=r"));
    }

    #[test]
    fn secure_cookies_are_only_set_and_sent_over_https() {
        let jar = CookieJar::default();
        set(&jar, "http://h/", &["s=1; Secure; Path=/"]);
        assert_eq!(get(&jar, "https://h/"), None, "an http response set a secure cookie");
        set(&jar, "https://h/", &["s=2; Secure; HttpOnly; Path=/"]);
        assert_eq!(get(&jar, "https://h/").as_deref(), Some("s=2"));
        assert_eq!(get(&jar, "wss://h/").as_deref(), Some("s=2"));
        assert_eq!(get(&jar, "http://h/"), None);
    }

    #[test]
    fn a_cookie_is_replaced_by_name_domain_and_path_and_deleted_by_max_age_or_a_past_date() {
        let jar = CookieJar::default();
        set(&jar, "http://h/", &["a=1; Path=/", "b=1; Path=/", "a=1; Path=/x"]);
        set(&jar, "http://h/", &["a=2; Path=/"]);
        assert_eq!(get(&jar, "http://h/").as_deref(), Some("a=2; b=1"));
        set(&jar, "http://h/", &["a=; Max-Age=0; Path=/"]);
        assert_eq!(get(&jar, "http://h/").as_deref(), Some("b=1"));
        set(&jar, "http://h/", &["b=gone; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT"]);
        assert_eq!(get(&jar, "http://h/"), None);
        assert_eq!(get(&jar, "http://h/x").as_deref(), Some("a=1"));
        // Max-Age wins over Expires; a future date keeps it.
        set(&jar, "http://h/", &["c=1; Path=/; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:01 GMT"]);
        set(&jar, "http://h/", &["d=1; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT"]);
        assert_eq!(get(&jar, "http://h/").as_deref(), Some("c=1; d=1"));
    }

    #[test]
    fn a_cookie_that_has_expired_is_no_longer_sent() {
        let jar = CookieJar::default();
        set(&jar, "http://h/", &["short=1; Path=/; Max-Age=1", "long=1; Path=/"]);
        jar.lock()[0].expires = Some(SystemTime::now() - Duration::from_secs(1));
        assert_eq!(get(&jar, "http://h/").as_deref(), Some("long=1"));
        assert_eq!(jar.lock().len(), 1, "the expired cookie is dropped");
    }

    #[test]
    fn malformed_headers_are_ignored_and_the_jar_is_bounded() {
        let jar = CookieJar::default();
        set(&jar, "http://h/", &["no-equals-sign", "=nameless", "ok=1"]);
        assert_eq!(get(&jar, "http://h/").as_deref(), Some("ok=1"));
        let many: Vec<String> = (0..MAX_COOKIES + 20).map(|i| format!("c{i}=v; Path=/")).collect();
        set(&jar, "http://h/", &many.iter().map(String::as_str).collect::<Vec<_>>());
        let header = get(&jar, "http://h/").unwrap();
        assert_eq!(header.split("; ").count(), MAX_COOKIES);
        assert!(header.ends_with(&format!("c{}=v", MAX_COOKIES + 19)), "the newest are kept");
        assert!(!header.contains("ok=1"), "the oldest went first");
    }
}
