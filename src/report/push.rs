//! `--pushgateway URL --deploy LABEL`: the run's verdict as gauges in the Prometheus text format, sent with
//! `PUT /metrics/job/journeyd_verify/deploy/<label>` so a dashboard shows the gate beside the live monitor.
//! PUT replaces the group: a journey removed since the last push does not linger. A report with a
//! `location` (`verify --location`) adds `/location/<name>` to the group, so runs of one deploy from several
//! locations sit side by side instead of replacing each other.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::report::formats::seconds;
use crate::report::Report;

/// The Pushgateway job name.
pub const JOB: &str = "journeyd_verify";

/// Escapes a label value for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The text-format body: per journey `journey_verify_passed`, `journey_verify_availability_ratio` and
/// `journey_verify_latency_seconds{quantile}`, plus when it ran.
pub fn body(r: &Report) -> String {
    let mut s = String::new();
    let _ =
        writeln!(s, "# HELP journey_verify_passed 1 when the journey passed every threshold and showed no regression.");
    let _ = writeln!(s, "# TYPE journey_verify_passed gauge");
    for name in r.journeys.keys() {
        let _ =
            writeln!(s, "journey_verify_passed{{journey=\"{}\"}} {}", label(name), u8::from(r.journey_passed(name)));
    }
    let _ = writeln!(s, "# HELP journey_verify_availability_ratio Passed runs / completed runs of the verify run.");
    let _ = writeln!(s, "# TYPE journey_verify_availability_ratio gauge");
    for (name, j) in &r.journeys {
        if let Some(a) = j.availability() {
            let _ = writeln!(s, "journey_verify_availability_ratio{{journey=\"{}\"}} {a}", label(name));
        }
    }
    let _ = writeln!(s, "# HELP journey_verify_latency_seconds Iteration response time quantiles of the verify run.");
    let _ = writeln!(s, "# TYPE journey_verify_latency_seconds gauge");
    for (name, j) in &r.journeys {
        if j.duration.is_empty() {
            continue;
        }
        for q in ["0.5", "0.9", "0.99"] {
            let v = j.duration.quantile(q.parse().unwrap_or(0.5));
            let _ = writeln!(
                s,
                "journey_verify_latency_seconds{{journey=\"{}\",quantile=\"{q}\"}} {}",
                label(name),
                seconds(v)
            );
        }
    }
    let _ = writeln!(s, "# HELP journey_verify_timestamp_seconds When the verify run finished (Unix time).");
    let _ = writeln!(s, "# TYPE journey_verify_timestamp_seconds gauge");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let _ = writeln!(s, "journey_verify_timestamp_seconds {now}");
    s
}

/// The grouping path for `deploy`: plain when it is safe in a URL path, else `deploy@base64/…`
/// (the Pushgateway's encoding for values with `/` or other special characters).
pub fn group_path(deploy: &str) -> String {
    let plain =
        !deploy.is_empty() && deploy.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'));
    if plain {
        format!("/metrics/job/{JOB}/deploy/{deploy}")
    } else {
        format!("/metrics/job/{JOB}/deploy@base64/{}", base64url(deploy.as_bytes()))
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("cannot push to the Pushgateway at {url}: {reason}")]
    Send { url: String, reason: String },
    #[error("the Pushgateway at {url} answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
}

/// The grouping path of a report: [`group_path`], then its location when it has one (label-safe by
/// construction, so plain in the path).
pub fn report_group_path(deploy: &str, r: &Report) -> String {
    match &r.location {
        Some(l) => format!("{}/location/{l}", group_path(deploy)),
        None => group_path(deploy),
    }
}

/// PUTs the report's gauges to `base` (the Pushgateway's URL) under `deploy` (and its location).
pub async fn push(client: &reqwest::Client, base: &str, deploy: &str, r: &Report) -> Result<(), PushError> {
    let url = format!("{}{}", base.trim_end_matches('/'), report_group_path(deploy, r));
    let resp = client
        .put(&url)
        .header("content-type", "text/plain; version=0.0.4")
        .body(body(r))
        .send()
        .await
        .map_err(|e| PushError::Send { url: url.clone(), reason: crate::http::error_chain(&e) })?;
    let status = resp.status();
    if !status.is_success() {
        let body: String = resp.text().await.unwrap_or_default().chars().take(300).collect();
        return Err(PushError::Status { url, status: status.as_u16(), body });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_labels_with_slashes_use_base64() {
        assert_eq!(group_path("v1.2.3"), "/metrics/job/journeyd_verify/deploy/v1.2.3");
        assert_eq!(group_path("a/b"), "/metrics/job/journeyd_verify/deploy@base64/YS9i");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(b"fo"), "Zm8=");
    }

    #[test]
    fn a_located_report_groups_under_its_location_too() {
        let mut r = Report::empty(0);
        assert_eq!(report_group_path("v1", &r), "/metrics/job/journeyd_verify/deploy/v1");
        r.location = Some("eu-west".into());
        assert_eq!(report_group_path("v1", &r), "/metrics/job/journeyd_verify/deploy/v1/location/eu-west");
    }
}
