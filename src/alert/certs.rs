//! Certificate expiry for one journey's alerts: per step, the certificate its server presents, and what
//! JourneyCertExpiring (ticket) and JourneyCertExpiringSoon (page) say about the one that expires first.
//!
//! Plain data fed by outcomes, judged at a wall time the engine passes in (its pausable clock). A journey's
//! certificate alerts change only with its outcomes: expiry moves by days, and a monitored journey runs far
//! more often than that, so the once-a-second tick does not look at them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::notify::AlertName;
use crate::model::Journey;
use crate::outcome::{CertNews, CertSeen, RunOutcome};
use crate::units::{format_duration, format_span, rfc3339_unix};

/// What one step's server presents, as far as its alerts are concerned.
#[derive(Debug, Clone)]
struct StepCert {
    /// The certificate the step is judged on: the one with the earliest expiry among those seen lately.
    current: Arc<CertSeen>,
    /// A certificate with a later expiry seen since, and how many fresh handshakes in a row presented it.
    /// It replaces `current` after the journey's `success_threshold` of them: during a rollout a load
    /// balancer serves old and new certificates by turns, and the alert must not resolve and fire on each.
    candidate: Option<(Arc<CertSeen>, u32)>,
}

impl StepCert {
    fn seen(&mut self, cert: &Arc<CertSeen>, to_replace: u32) {
        if cert.fingerprint_sha256 == self.current.fingerprint_sha256 {
            // The current certificate again: any replacement has to start over.
            self.candidate = None;
            return;
        }
        if cert.earliest_expiry <= self.current.earliest_expiry {
            // Earlier expiry is worse news, and believed at once.
            self.current = Arc::clone(cert);
            self.candidate = None;
            return;
        }
        let streak = match &self.candidate {
            Some((c, n)) if c.fingerprint_sha256 == cert.fingerprint_sha256 => n + 1,
            _ => 1,
        };
        if streak >= to_replace {
            self.current = Arc::clone(cert);
            self.candidate = None;
        } else {
            self.candidate = Some((Arc::clone(cert), streak));
        }
    }
}

/// The certificates of one journey's steps, indexed like its steps.
#[derive(Debug, Clone)]
pub struct CertWatch {
    steps: Vec<Option<StepCert>>,
}

/// The step whose certificate expires first, with it.
pub struct Earliest<'a> {
    pub step: usize,
    pub cert: &'a CertSeen,
}

impl CertWatch {
    pub fn new(steps: usize) -> CertWatch {
        CertWatch { steps: vec![None; steps] }
    }

    /// Feeds the steps of one completed run; `to_replace` is how many fresh handshakes in a row must present
    /// a later-expiring certificate before it replaces the current one.
    pub fn record(&mut self, o: &RunOutcome, to_replace: u32) {
        for so in &o.steps {
            let Some(slot) = self.steps.get_mut(so.index) else { continue };
            match (so.cert_news(), slot.as_mut()) {
                (CertNews::Presented(cert), Some(sc)) => sc.seen(cert, to_replace),
                (CertNews::Presented(cert), None) => {
                    *slot = Some(StepCert { current: Arc::clone(cert), candidate: None });
                }
                (CertNews::Plain, _) => *slot = None,
                (CertNews::Unchanged, _) => {}
            }
        }
    }

    /// The step whose certificate expires first (ties by step order), found without allocating: every
    /// outcome of an https journey asks, and almost always the answer is "far from its thresholds".
    pub fn earliest(&self) -> Option<Earliest<'_>> {
        self.steps
            .iter()
            .enumerate()
            .filter_map(|(step, sc)| sc.as_ref().map(|sc| Earliest { step, cert: &sc.current }))
            .min_by_key(|e| (e.cert.earliest_expiry, e.step))
    }

    /// Every step with a certificate, earliest expiry first (ties by step order).
    pub fn by_expiry(&self) -> Vec<Earliest<'_>> {
        let mut out: Vec<Earliest<'_>> = self
            .steps
            .iter()
            .enumerate()
            .filter_map(|(step, sc)| sc.as_ref().map(|sc| Earliest { step, cert: &sc.current }))
            .collect();
        out.sort_by_key(|e| (e.cert.earliest_expiry, e.step));
        out
    }
}

/// The time left at which each certificate alert fires, resolved from the journey and the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertThresholds {
    pub ticket: Duration,
    pub page: Duration,
}

/// The certificate alerts that should fire for `journey` at `now` (Unix seconds), with their annotations
/// (the same for both): the step whose chain expires first, its leaf and date, and any other step under the
/// ticket threshold. `to_replace` is said in the description: it is what resolving takes.
pub fn wanted(
    journey: &Journey,
    watch: &CertWatch,
    limits: CertThresholds,
    to_replace: u32,
    now: i64,
) -> BTreeMap<AlertName, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let under = |e: &Earliest<'_>| e.cert.earliest_expiry.saturating_sub(now) < secs(limits.ticket);
    if !watch.earliest().is_some_and(|e| under(&e)) {
        return out;
    }
    let steps = watch.by_expiry();
    let Some(first) = steps.first().filter(|e| under(e)) else { return out };
    let left = first.cert.earliest_expiry.saturating_sub(now);
    let ann = annotations(journey, first, &steps, limits, to_replace, now);
    if left < secs(limits.page) {
        out.insert(AlertName::CertExpiringSoon, ann.clone());
    }
    out.insert(AlertName::CertExpiring, ann);
    out
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn step_name(journey: &Journey, step: usize) -> &str {
    journey.steps.get(step).map_or("?", |s| s.name.as_str())
}

/// `expires on DATE (N days left)` or `expired on DATE (N days ago)`.
fn when(expiry: i64, now: i64) -> String {
    let left = expiry.saturating_sub(now);
    if left > 0 {
        format!("expires on {} ({} left)", rfc3339_unix(expiry), format_span(left))
    } else {
        format!("expired on {} ({} ago)", rfc3339_unix(expiry), format_span(left.saturating_neg()))
    }
}

fn annotations(
    journey: &Journey,
    first: &Earliest<'_>,
    steps: &[Earliest<'_>],
    limits: CertThresholds,
    to_replace: u32,
    now: i64,
) -> BTreeMap<String, String> {
    let c = first.cert;
    let step = step_name(journey, first.step);
    let subject = CertSeen::clip(&c.subject);
    let mut description = format!(
        "The TLS certificate chain step {step:?} was last presented (leaf {subject}, issued by {}) {}.",
        CertSeen::clip(&c.issuer),
        when(c.earliest_expiry, now)
    );
    if c.earliest_expiry < c.leaf_expiry {
        let leaf = rfc3339_unix(c.leaf_expiry);
        description.push_str(&format!(
            " A certificate of the chain above the leaf expires first; the leaf expires on {leaf}."
        ));
    }
    for other in steps.iter().skip(1).filter(|e| e.cert.earliest_expiry.saturating_sub(now) < secs(limits.ticket)) {
        description.push_str(&format!(
            "\nStep {:?} too: {} {}.",
            step_name(journey, other.step),
            CertSeen::clip(&other.cert.subject),
            when(other.cert.earliest_expiry, now)
        ));
    }
    description.push_str(&format!(
        "\nRenew it: the alert resolves once a certificate that expires later is presented on {to_replace} fresh \
         connection(s) in a row. Ticket with less than {} left, page with less than {}.",
        format_duration(limits.ticket),
        format_duration(limits.page)
    ));
    let mut ann = BTreeMap::new();
    ann.insert(
        "summary".into(),
        format!(
            "journey {}: the TLS certificate of step {step:?} ({subject}) {}",
            journey.name,
            when(c.earliest_expiry, now)
        ),
    );
    ann.insert("description".into(), description);
    ann.insert("step".into(), step.to_string());
    ann.insert("subject".into(), subject.to_string());
    ann.insert("issuer".into(), CertSeen::clip(&c.issuer).to_string());
    ann.insert("fingerprint_sha256".into(), CertSeen::clip(&c.fingerprint_sha256).to_string());
    ann.insert("serial".into(), CertSeen::clip(&c.serial).to_string());
    ann.insert("expires_at".into(), rfc3339_unix(c.earliest_expiry));
    ann
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{RunStatus, StepOutcome};
    use std::time::Instant;

    fn cert(n: u64, expiry: i64) -> Arc<CertSeen> {
        Arc::new(CertSeen {
            version: "TLS 1.3",
            earliest_expiry: expiry,
            leaf_expiry: expiry,
            fingerprint_sha256: format!("{n:064x}"),
            serial: format!("{n:x}"),
            subject: format!("CN=n{n}"),
            issuer: "CN=ca".into(),
        })
    }

    fn run(certs: &[Option<Arc<CertSeen>>]) -> RunOutcome {
        RunOutcome {
            journey: Arc::from("j"),
            intended_start: Instant::now(),
            start_delay: Duration::ZERO,
            wall_start: std::time::UNIX_EPOCH,
            duration: Duration::ZERO,
            service_time: Duration::ZERO,
            status: RunStatus::Passed,
            steps: certs
                .iter()
                .enumerate()
                .map(|(index, c)| StepOutcome {
                    index,
                    status: Some(200),
                    tls: c.clone(),
                    passed: true,
                    ..Default::default()
                })
                .collect(),
            soft_failures: Vec::new(),
            trace_id: 0,
            user: 0,
            target: None,
        }
    }

    fn current(w: &CertWatch) -> Vec<u64> {
        w.by_expiry().iter().map(|e| u64::from_str_radix(&e.cert.serial, 16).unwrap()).collect()
    }

    #[test]
    fn a_later_certificate_replaces_the_current_one_only_when_it_is_presented_n_times_in_a_row() {
        let mut w = CertWatch::new(1);
        let (old, new) = (cert(1, 100), cert(2, 900));
        w.record(&run(&[Some(Arc::clone(&old))]), 2);
        w.record(&run(&[Some(Arc::clone(&new))]), 2);
        assert_eq!(current(&w), [1], "once is not enough");
        w.record(&run(&[Some(Arc::clone(&old))]), 2);
        w.record(&run(&[Some(Arc::clone(&new))]), 2);
        assert_eq!(current(&w), [1], "the old one in between starts the count over (a rollout behind a balancer)");
        w.record(&run(&[Some(Arc::clone(&new))]), 2);
        assert_eq!(current(&w), [2]);
        w.record(&run(&[Some(cert(3, 50))]), 2);
        assert_eq!(current(&w), [3], "an earlier expiry is believed at once");
        w.record(&run(&[None]), 2);
        assert!(current(&w).is_empty(), "plain http on a new connection: no certificate any more");
    }
}
