//! Basic auth against the web-config's bcrypt hashes, with the verdicts cached as in Prometheus's
//! exporter-toolkit.
//!
//! bcrypt is slow on purpose (~60 ms a check at cost 10). Checked on every request, it let clients with
//! wrong passwords starve `/metrics` for the right ones (measured: 64 such clients took a scrape from
//! 61 ms to 2.1 s). So a verdict is remembered per presented user and password, and at most one bcrypt
//! check runs at a time: a flood of wrong passwords queues behind itself, while credentials already checked
//! are answered from the cache without waiting.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::hmac;
use tokio::sync::Semaphore;

/// Verdicts remembered per kind. Accepted and refused credentials are kept apart so that a flood of
/// wrong passwords, which fills the refused set, can never push out a scraper's accepted entry.
const CACHE_ENTRIES: usize = 128;

/// bcrypt checks at once: exporter-toolkit serialises them with a mutex for the same reason.
const BCRYPT_SLOTS: usize = 1;

/// A cache key: HMAC-SHA-256 of the presented user and password under a key made per configuration, so
/// the cache holds neither a password nor a digest anyone could test guesses against offline.
type Key = [u8; 32];

/// The users of one web configuration and what was learnt about presented credentials. A reload builds a
/// new one, which is how the cache is cleared when passwords change.
pub(super) struct Auth {
    pub(super) users: Arc<BTreeMap<String, String>>,
    /// Checked for unknown users, at the cost of the configured hashes, so a wrong user name takes as long
    /// as a wrong password and response times do not reveal which user names exist. Made on first use.
    decoy: OnceLock<String>,
    hmac: hmac::Key,
    accepted: Mutex<HashSet<Key>>,
    refused: Mutex<HashSet<Key>>,
    /// Bounds the CPU a flood of unknown credentials can take (see the module doc).
    bcrypt_slots: Semaphore,
    /// bcrypt checks run so far: the tests' way to see the cache work without timing anything.
    bcrypt_calls: AtomicU64,
}

impl Default for Auth {
    fn default() -> Auth {
        Auth::new(Arc::default())
    }
}

impl Auth {
    pub(super) fn new(users: Arc<BTreeMap<String, String>>) -> Auth {
        let secret: [u8; 32] = rand::random();
        Auth {
            users,
            decoy: OnceLock::new(),
            hmac: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            accepted: Mutex::default(),
            refused: Mutex::default(),
            bcrypt_slots: Semaphore::new(BCRYPT_SLOTS),
            bcrypt_calls: AtomicU64::new(0),
        }
    }

    fn decoy(&self) -> &str {
        self.decoy.get_or_init(|| {
            let cost = self
                .users
                .values()
                .next()
                .and_then(|h| h.get(4..6))
                .and_then(|c| c.parse().ok())
                .unwrap_or(bcrypt::DEFAULT_COST);
            bcrypt::hash("journeyd: no such user", cost).unwrap_or_default()
        })
    }

    fn key(&self, user: &str, password: &str) -> Key {
        let mut ctx = hmac::Context::with_key(&self.hmac);
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        ctx.update(&(user.len() as u64).to_be_bytes());
        ctx.update(user.as_bytes());
        ctx.update(password.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.sign().as_ref());
        key
    }

    fn cached(&self, key: &Key) -> Option<bool> {
        let lock = |m: &Mutex<HashSet<Key>>| m.lock().unwrap_or_else(|e| e.into_inner()).contains(key);
        if lock(&self.accepted) {
            Some(true)
        } else if lock(&self.refused) {
            Some(false)
        } else {
            None
        }
    }

    fn remember(&self, key: Key, ok: bool) {
        let set = if ok { &self.accepted } else { &self.refused };
        let mut set = set.lock().unwrap_or_else(|e| e.into_inner());
        if set.len() >= CACHE_ENTRIES {
            // Any entry: the evicted credentials are simply checked with bcrypt again next time.
            if let Some(old) = set.iter().next().copied() {
                set.remove(&old);
            }
        }
        set.insert(key);
    }

    fn bcrypt(&self, user: &str, password: &str) -> bool {
        self.bcrypt_calls.fetch_add(1, Ordering::Relaxed);
        match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, self.decoy());
                false
            }
        }
    }

    /// Whether `user` with `password` may in: from the cache, or from bcrypt (one check at a time).
    pub(super) async fn verify(self: &Arc<Self>, user: &str, password: &str) -> bool {
        let key = self.key(user, password);
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        let Ok(_slot) = self.bcrypt_slots.acquire().await else { return false };
        // The same credentials may have been checked while this request waited for the slot.
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        let (auth, user, password) = (Arc::clone(self), user.to_string(), password.to_string());
        // bcrypt is deliberately slow (tens of ms): keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || auth.bcrypt(&user, &password)).await.unwrap_or(false);
        self.remember(key, ok);
        ok
    }

    #[cfg(test)]
    fn bcrypt_calls(&self) -> u64 {
        self.bcrypt_calls.load(Ordering::Relaxed)
    }
}

pub(super) async fn basic_auth(auth: Arc<Auth>, req: Request, next: Next) -> Response {
    let creds = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b64| base64_decode(b64.trim()))
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let ok = match creds.as_deref().and_then(|c| c.split_once(':')) {
        Some((user, password)) => auth.verify(user, password).await,
        None => false,
    };
    if ok {
        next.run(req).await
    } else {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic")], "Unauthorized\n").into_response()
    }
}

/// Standard base64 (RFC 4648, with or without padding); `None` on anything else.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_the_basic_auth_alphabet() {
        assert_eq!(base64_decode("YWxpY2U6c2VjcmV0").unwrap(), b"alice:secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert!(base64_decode("!!!!").is_none());
        assert!(base64_decode("Y").is_none());
    }

    #[tokio::test]
    async fn verdicts_are_cached_per_credentials_so_bcrypt_runs_once_for_each() {
        // Cost 4, the lowest: the test is about how often bcrypt runs, not how long it takes.
        let users = BTreeMap::from([("alice".to_string(), bcrypt::hash("s3cret", 4).unwrap())]);
        let auth = Arc::new(Auth::new(Arc::new(users)));
        assert!(auth.verify("alice", "s3cret").await);
        assert_eq!(auth.bcrypt_calls(), 1);
        assert!(auth.verify("alice", "s3cret").await, "the cached verdict");
        assert_eq!(auth.bcrypt_calls(), 1, "good credentials checked once");
        assert!(!auth.verify("alice", "wrong").await);
        assert!(!auth.verify("alice", "wrong").await);
        assert!(!auth.verify("mallory", "s3cret").await, "a cached password does not open another user");
        assert_eq!(auth.bcrypt_calls(), 3, "each wrong pair checked once");
        // A flood of distinct wrong passwords fills only the refused set: alice stays cached.
        for i in 0..(2 * CACHE_ENTRIES) {
            assert!(!auth.verify("alice", &format!("guess-{i}")).await);
        }
        let before = auth.bcrypt_calls();
        assert!(auth.verify("alice", "s3cret").await);
        assert_eq!(auth.bcrypt_calls(), before, "good credentials survive the flood in the cache");
        assert!(auth.refused.lock().unwrap().len() <= CACHE_ENTRIES, "the cache is bounded");
    }

    #[test]
    fn cache_keys_separate_user_from_password_and_differ_per_configuration() {
        let auth = Auth::default();
        let key = auth.key("ab", "c");
        assert_ne!(key, auth.key("a", "bc"));
        assert_ne!(key, Auth::default().key("ab", "c"), "keys differ per configuration");
    }
}
