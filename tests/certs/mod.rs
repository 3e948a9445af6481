//! Helpers for the certificate tests: what a fresh TLS handshake presents (`CertSeen`), and outcomes whose
//! steps carry it, as journeyd's https client fills them in. Until that client lands, these are the only
//! outcomes with certificates; every consumer is fed them through its real sink.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use journeyd::outcome::{CertSeen, Failure, Phases, Reason, RunOutcome, RunStatus, StepOutcome};

pub const DAY: i64 = 86_400;

/// A chain whose leaf is certificate number `n` (fingerprint, serial and subject follow from it), expiring
/// at `expiry` (Unix seconds), leaf and chain alike.
pub fn cert(n: u64, expiry: i64) -> Arc<CertSeen> {
    Arc::new(CertSeen {
        version: "TLS 1.3",
        earliest_expiry: expiry,
        leaf_expiry: expiry,
        fingerprint_sha256: format!("{:064x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        serial: format!("{n:x}"),
        subject: format!("CN=shop-{n}.example"),
        issuer: "CN=Test CA,O=journeyd".into(),
    })
}

/// What a step did on its last request: presented a certificate, spoke plain http, or reused a connection.
#[derive(Clone)]
pub enum Seen {
    Tls(Arc<CertSeen>),
    Plain,
    Reused,
}

/// One step outcome that passed with a 200 and `seen` on its last request.
pub fn step(index: usize, seen: &Seen) -> StepOutcome {
    let (tls, reused) = match seen {
        Seen::Tls(c) => (Some(Arc::clone(c)), false),
        Seen::Plain => (None, false),
        Seen::Reused => (None, true),
    };
    StepOutcome {
        index,
        status: Some(200),
        response_time: Duration::from_millis(12),
        service_time: Duration::from_millis(10),
        phases: Phases { reused, ..Phases::default() },
        passed: true,
        tls,
        ..StepOutcome::default()
    }
}

/// A passed run of `journey` that started at `wall` (Unix seconds), its steps in order.
pub fn run(journey: &str, wall: i64, steps: &[Seen]) -> RunOutcome {
    RunOutcome {
        journey: Arc::from(journey),
        intended_start: Instant::now(),
        start_delay: Duration::ZERO,
        wall_start: UNIX_EPOCH + Duration::from_secs(wall as u64),
        duration: Duration::from_millis(12 * steps.len() as u64),
        service_time: Duration::from_millis(10 * steps.len() as u64),
        status: RunStatus::Passed,
        steps: steps.iter().enumerate().map(|(i, s)| step(i, s)).collect(),
        soft_failures: Vec::new(),
        trace_id: 0,
        user: 0,
        target: None,
    }
}

/// The same run, failed at its last step (a status check after the handshake).
pub fn failed(journey: &str, wall: i64, steps: &[Seen]) -> RunOutcome {
    let mut o = run(journey, wall, steps);
    let last = steps.len() - 1;
    o.steps[last].passed = false;
    o.steps[last].status = Some(503);
    o.status = RunStatus::Failed(Box::new(Failure::new(last, "pay", Reason::Status, "expected status == 200")));
    o
}

/// Unix seconds of a `SystemTime`.
pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Pipes `text` through `promtool check metrics`; `None` when promtool is not installed (the lint is then
/// skipped with a line saying how to run it), else its complaints (empty when clean).
pub fn promtool_check_metrics(text: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            eprintln!("promtool not installed ({e}): lint skipped; apt-get install prometheus to run it");
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Some(if out.status.success() { said.trim().to_string() } else { format!("exit {}: {said}", out.status) })
}
