//! The certificate a verify run saw expire first, per journey and per step: what `cert_expiry` thresholds
//! judge. A field of the report that only runs against https sites fill in; absent otherwise, so reports
//! written before it read as they always did.

use serde::{Deserialize, Serialize};

use crate::outcome::CertSeen;
use crate::units::rfc3339_unix;

/// The earliest `notAfter` of the chains the journey's (or step's) fresh TLS handshakes presented, with the
/// leaf of that chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarliestCert {
    /// RFC 3339 UTC, for people.
    pub expires_at: String,
    /// The same instant in Unix seconds, for ordering and merges.
    pub expires_unix: i64,
    /// The leaf's subject, issuer and SHA-256 fingerprint (clipped like every view of them).
    pub subject: String,
    pub issuer: String,
    pub fingerprint_sha256: String,
}

impl EarliestCert {
    pub fn of(cert: &CertSeen) -> EarliestCert {
        EarliestCert {
            expires_at: rfc3339_unix(cert.earliest_expiry),
            expires_unix: cert.earliest_expiry,
            subject: CertSeen::clip(&cert.subject).to_string(),
            issuer: CertSeen::clip(&cert.issuer).to_string(),
            fingerprint_sha256: CertSeen::clip(&cert.fingerprint_sha256).to_string(),
        }
    }

    /// Earliest first; ties broken by the certificate, so every merge order keeps the same one.
    fn key(&self) -> (i64, &str, &str) {
        (self.expires_unix, &self.fingerprint_sha256, &self.subject)
    }
}

/// Keeps in `slot` whichever of it and `cert` expires first.
pub(crate) fn keep_earliest(slot: &mut Option<EarliestCert>, cert: &EarliestCert) {
    if slot.as_ref().map_or(true, |s| cert.key() < s.key()) {
        *slot = Some(cert.clone());
    }
}

/// Whether `cert` would replace what `slot` holds: checked before building an [`EarliestCert`], since most
/// handshakes of a run present the certificate already kept.
pub(crate) fn is_earlier(slot: &Option<EarliestCert>, cert: &CertSeen) -> bool {
    slot.as_ref().map_or(true, |s| {
        (cert.earliest_expiry, CertSeen::clip(&cert.fingerprint_sha256))
            < (s.expires_unix, s.fingerprint_sha256.as_str())
    })
}
