//! Certificates on the status page and in `/api/v1/journeys`: per step, the leaf its server presents; per
//! journey, the chain that expires first, with its date, the days left, and whether fewer days are left
//! than the journey's ticket threshold (the page's warning colour, the moment JourneyCertExpiring fires).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::outcome::CertSeen;
use crate::units::{days_left, rfc3339_unix};

/// What a step's latest fresh TLS handshake presented.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTlsView {
    /// `TLS 1.2` or `TLS 1.3`.
    pub version: &'static str,
    /// The leaf's subject and issuer (RFC 4514), SHA-256 fingerprint and serial number (hex).
    pub subject: String,
    pub issuer: String,
    pub fingerprint_sha256: String,
    pub serial: String,
    /// When the chain's first certificate expires (RFC 3339), and the whole days left until then (negative
    /// once it has passed).
    pub expires_at: String,
    pub days_left: i64,
    /// When the leaf expires: later than `expires_at` when an intermediate expires first.
    pub leaf_expires_at: String,
    #[serde(skip)]
    pub expires_unix: i64,
}

impl StepTlsView {
    pub fn of(cert: &Arc<CertSeen>, now: i64) -> StepTlsView {
        StepTlsView {
            version: cert.version,
            subject: CertSeen::clip(&cert.subject).to_string(),
            issuer: CertSeen::clip(&cert.issuer).to_string(),
            fingerprint_sha256: CertSeen::clip(&cert.fingerprint_sha256).to_string(),
            serial: CertSeen::clip(&cert.serial).to_string(),
            expires_at: rfc3339_unix(cert.earliest_expiry),
            days_left: days_left(cert.earliest_expiry, now),
            leaf_expires_at: rfc3339_unix(cert.leaf_expiry),
            expires_unix: cert.earliest_expiry,
        }
    }
}

/// The journey's certificate that expires first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertExpiryView {
    /// The step whose server presented it.
    pub step: String,
    pub subject: String,
    pub expires_at: String,
    /// Whole days left, rounded down: 0 is less than a day, negative has expired.
    pub days_left: i64,
    /// Less than the journey's ticket threshold is left (`alerts.cert_expiry.ticket`, 21d by default).
    pub warning: bool,
    #[serde(skip)]
    pub expires_unix: i64,
}

/// The earliest-expiring of the steps' certificates (named with their steps); `warning` is set later, once
/// the journey's threshold is known.
pub fn earliest<'a>(steps: impl Iterator<Item = (&'a str, Option<&'a StepTlsView>)>) -> Option<CertExpiryView> {
    let (step, tls) = steps.filter_map(|(s, t)| t.map(|t| (s, t))).min_by_key(|(_, t)| t.expires_unix)?;
    Some(CertExpiryView {
        step: step.to_string(),
        subject: tls.subject.clone(),
        expires_at: tls.expires_at.clone(),
        days_left: tls.days_left,
        warning: false,
        expires_unix: tls.expires_unix,
    })
}

/// Whether less than `ticket` is left at `now` (Unix seconds).
pub fn warn(view: &CertExpiryView, ticket: Duration, now: i64) -> bool {
    view.expires_unix.saturating_sub(now) < i64::try_from(ticket.as_secs()).unwrap_or(i64::MAX)
}
