//! The TLS series of each journey step, in the shapes blackbox_exporter users already alert on
//! (`probe_ssl_earliest_cert_expiry`, `probe_tls_version_info`, `probe_ssl_last_chain_info`), fed from the
//! certificate a step's fresh TLS handshake presented.
//!
//! A step has these series only once it has presented a certificate. Its info series keep exactly one label
//! set each: when the version or the certificate changes, the old series is removed before the new one is
//! set, so a rotation shows as a label change and the label values stay bounded by the steps in the files
//! (the values come from the server, so they are clipped to `CertSeen::MAX_TEXT` too).

use std::collections::HashMap;

use prometheus::{GaugeVec, IntGaugeVec};

use crate::metrics::{gauge, int_gauge, Metrics};
use crate::outcome::{CertNews, CertSeen};

/// What one step's TLS series were last set to: the label values a change must remove.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exported {
    version: &'static str,
    /// `fingerprint_sha256`, `serialnumber`, `subject`, `issuer`, clipped: the chain info's label values.
    chain: [String; 4],
    earliest_expiry: i64,
}

impl Exported {
    fn of(cert: &CertSeen) -> Exported {
        Exported {
            version: cert.version,
            chain: [&cert.fingerprint_sha256, &cert.serial, &cert.subject, &cert.issuer]
                .map(|s| CertSeen::clip(s).to_string()),
            earliest_expiry: cert.earliest_expiry,
        }
    }

    /// Whether `cert` is what these series show already (the common case: the same certificate every run),
    /// compared without allocating.
    fn shows(&self, cert: &CertSeen) -> bool {
        self.version == cert.version
            && self.earliest_expiry == cert.earliest_expiry
            && [&cert.fingerprint_sha256, &cert.serial, &cert.subject, &cert.issuer]
                .iter()
                .zip(&self.chain)
                .all(|(now, shown)| CertSeen::clip(now) == shown)
    }
}

/// The label values exported per journey and step name, so that a rotation, a removed step or a removed
/// journey can remove exactly the series it set (a gauge vector cannot be asked for its children by label).
#[derive(Debug, Default)]
pub(crate) struct CertSeries {
    steps: HashMap<String, HashMap<String, Exported>>,
}

impl CertSeries {
    /// What one step's outcome says about its certificate, applied to its series.
    pub fn record(&mut self, m: &Metrics, journey: &str, step: &str, news: CertNews<'_>) {
        match news {
            CertNews::Presented(cert) => self.presented(m, journey, step, cert),
            CertNews::Plain => self.forget_step(m, journey, step),
            CertNews::Unchanged => {}
        }
    }

    fn presented(&mut self, m: &Metrics, journey: &str, step: &str, cert: &CertSeen) {
        let old = self.steps.get(journey).and_then(|s| s.get(step));
        if old.is_some_and(|o| o.shows(cert)) {
            return;
        }
        let new = Exported::of(cert);
        if let Some(old) = old {
            if old.version != new.version {
                let _ = m.tls_version.remove_label_values(&[journey, step, old.version]);
            }
            if old.chain != new.chain {
                let _ = m.cert_chain.remove_label_values(&chain_labels(journey, step, &old.chain));
            }
        }
        m.cert_expiry.with_label_values(&[journey, step]).set(new.earliest_expiry as f64);
        m.tls_version.with_label_values(&[journey, step, new.version]).set(1);
        m.cert_chain.with_label_values(&chain_labels(journey, step, &new.chain)).set(1);
        self.steps.entry(journey.to_string()).or_default().insert(step.to_string(), new);
    }

    /// Removes a step's series (a removed step, or one that no longer speaks TLS).
    pub fn forget_step(&mut self, m: &Metrics, journey: &str, step: &str) {
        let Some(steps) = self.steps.get_mut(journey) else { return };
        let Some(old) = steps.remove(step) else { return };
        let _ = m.cert_expiry.remove_label_values(&[journey, step]);
        let _ = m.tls_version.remove_label_values(&[journey, step, old.version]);
        let _ = m.cert_chain.remove_label_values(&chain_labels(journey, step, &old.chain));
        if steps.is_empty() {
            self.steps.remove(journey);
        }
    }

    /// Removes every step's series of a journey removed by a reload.
    pub fn forget_journey(&mut self, m: &Metrics, journey: &str) {
        let steps: Vec<String> = self.steps.get(journey).map(|s| s.keys().cloned().collect()).unwrap_or_default();
        for step in steps {
            self.forget_step(m, journey, &step);
        }
    }
}

/// `journey_ssl_earliest_cert_expiry`, `journey_tls_version_info` and `journey_ssl_last_chain_info`.
pub(crate) fn families() -> (GaugeVec, IntGaugeVec, IntGaugeVec) {
    (
        gauge(
            "journey_ssl_earliest_cert_expiry",
            "Unix time when the first certificate of the chain the step's server last presented expires \
             (from the step's latest fresh TLS handshake).",
            &["journey", "step"],
        ),
        int_gauge(
            "journey_tls_version_info",
            "1 for the TLS version the step's latest fresh TLS handshake negotiated (TLS 1.2 or TLS 1.3).",
            &["journey", "step", "version"],
        ),
        int_gauge(
            "journey_ssl_last_chain_info",
            "1 for the leaf certificate the step's server last presented; a new certificate replaces the \
             series, so a rotation shows as a change of labels.",
            &["journey", "step", "fingerprint_sha256", "serialnumber", "subject", "issuer"],
        ),
    )
}

fn chain_labels<'a>(journey: &'a str, step: &'a str, chain: &'a [String; 4]) -> [&'a str; 6] {
    [journey, step, &chain[0], &chain[1], &chain[2], &chain[3]]
}
