//! What recent handshakes established, kept so the next handshake presenting the same bytes does not
//! establish it again: chains the verifier accepted ([`Verified`]), and what a chain says ([`super::seen`]).
//!
//! A monitor run is a full handshake every time (resumption is off: see [`super`]), and most runs of a
//! journey meet the chain of the run before, byte for byte. Measured on 2026-12-07 (callgrind, 410 monitor
//! runs against nginx with an RSA 2048 leaf under a private CA): verifying the chain was 427k of the 2.12M
//! instructions a run cost, one of the two RSA signature checks of the handshake plus webpki's path
//! building; reading the certificate facts (DER parse, SHA-256 fingerprint, the strings) some 20k more.
//!
//! Entries are keyed by the exact bytes (compared whole, never by a hash alone), so a different chain,
//! server name or stapled response is always verified afresh. Only successes are kept: a failing chain is
//! verified, and explained, on every handshake.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::cert::Cert;

/// Entries one table keeps before it starts over: far more distinct chains than a suite's targets
/// present, and at a few KiB of DER each, a bound on memory (a table full of one-off chains is dropped
/// whole, the next handshakes refill it).
const CAPACITY: usize = 4096;

/// The bytes an entry is keyed by: length-prefixed parts, so two different splits of the same bytes
/// never compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainKey(Box<[u8]>);

impl ChainKey {
    /// The key of `parts`, in order.
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> ChainKey {
        let mut bytes = Vec::with_capacity(4096);
        for part in parts {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
        ChainKey(bytes.into_boxed_slice())
    }
}

/// Hashes the length and the last 64 bytes only: a chain ends in its last certificate's signature, which
/// differs between any two certificates, and hashing kilobytes per lookup would cost more than it saves.
/// Equality still compares every byte.
impl Hash for ChainKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.0.len());
        state.write(&self.0[self.0.len().saturating_sub(64)..]);
    }
}

/// A bounded map from chain bytes to what was established about them.
#[derive(Debug)]
pub struct Recent<V> {
    map: Mutex<HashMap<ChainKey, V>>,
}

impl<V> Default for Recent<V> {
    fn default() -> Recent<V> {
        Recent { map: Mutex::new(HashMap::new()) }
    }
}

impl<V: Clone> Recent<V> {
    pub fn get(&self, key: &ChainKey) -> Option<V> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    pub fn insert(&self, key: ChainKey, value: V) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CAPACITY && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, value);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// When a verified chain stays acceptable: from the latest `notBefore` to the earliest `notAfter` of
/// every certificate presented, in Unix seconds, inclusive as webpki checks them. Narrower than or equal to
/// what webpki requires (it checks only the certificates on the path it builds), so outside it the chain
/// is simply verified again, and fails with webpki's own error if it must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    not_before: i64,
    not_after: i64,
}

impl Window {
    /// The window of a chain, or `None` when a certificate cannot be read (then nothing is kept).
    fn of(end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> Option<Window> {
        let mut window = Window { not_before: i64::MIN, not_after: i64::MAX };
        for der in std::iter::once(end_entity).chain(intermediates) {
            let cert = Cert::parse(der).ok()?;
            window.not_before = window.not_before.max(cert.not_before);
            window.not_after = window.not_after.min(cert.not_after);
        }
        Some(window)
    }

    fn holds(&self, now: UnixTime) -> bool {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        self.not_before <= now && now <= self.not_after
    }
}

/// Chains one verifier accepted, with their validity window. A verifier has one set of roots and one
/// policy, so its own table needs no key for them: a journey with another `tls_ca` has another verifier.
#[derive(Debug, Default)]
pub struct Verified {
    chains: Recent<Window>,
}

impl Verified {
    /// The key of a verification: the chain as presented, the name asked for, and any stapled OCSP
    /// response (verifiers with revocation checking read it; this one does not, but the key does not rely on that).
    pub fn key(
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
    ) -> ChainKey {
        let name = server_name.to_str();
        let certs = std::iter::once(end_entity).chain(intermediates).map(|c| c.as_ref());
        ChainKey::of([name.as_bytes(), ocsp_response].into_iter().chain(certs))
    }

    /// Whether this exact verification succeeded before and every certificate is still valid at `now`.
    pub fn accepted(&self, key: &ChainKey, now: UnixTime) -> bool {
        self.chains.get(key).is_some_and(|w| w.holds(now))
    }

    /// Remembers a verification that succeeded.
    pub fn remember(&self, key: ChainKey, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) {
        if let Some(window) = Window::of(end_entity, intermediates) {
            self.chains.insert(key, window);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.chains.len()
    }
}
