//! `--location NAME`: where this replica runs its journeys from (a region, a data centre, an office).
//!
//! A short label-safe name, checked once when the flag is parsed, so every place that shows it (the
//! `location` label of journeyd's own alerts, `journeyd_location_info`, the status page, `/api/v1/*`,
//! verify reports) can use it as is. Replicas in different locations never talk to each other: each probes
//! and alerts on its own, and Prometheus (an "N of M locations" rule) or Alertmanager (grouping by
//! `location`) compares them.

use std::fmt;
use std::str::FromStr;

/// The longest name: a Prometheus label value has no limit, but people read this one on pages and in
/// alert titles, and 63 characters is the DNS label limit, so a location can also name a host or a pod.
const MAX_LEN: usize = 63;

/// What `report merge` writes as the location of reports from several locations; reserved so it never
/// names one.
pub const MIXED: &str = "mixed";

/// A validated location name: `[a-z0-9][a-z0-9_-]{0,62}`, and not `mixed`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location(String);

impl Location {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a location name was refused: the text clap prints after `invalid value … for '--location <NAME>'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("a location name cannot be empty; use a short name such as `eu-west` or `fra1`")]
    Empty,
    #[error("{0:?} is longer than {MAX_LEN} characters; use a short name such as `eu-west` or `fra1`")]
    TooLong(String),
    #[error(
        "{0:?} is not a location name: use lowercase letters, digits, `-` and `_`, starting with a letter \
         or digit ([a-z0-9][a-z0-9_-]{{0,62}}), e.g. `eu-west` or `fra1`"
    )]
    Invalid(String),
    #[error("`mixed` is reserved: `report merge` uses it for reports from several locations; pick another name")]
    Reserved,
}

impl FromStr for Location {
    type Err = LocationError;

    fn from_str(s: &str) -> Result<Location, LocationError> {
        let first_ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        if s.is_empty() {
            Err(LocationError::Empty)
        } else if s.len() > MAX_LEN {
            Err(LocationError::TooLong(s.to_string()))
        } else if !s.starts_with(first_ok) || !s.chars().all(|c| first_ok(c) || c == '-' || c == '_') {
            Err(LocationError::Invalid(s.to_string()))
        } else if s == MIXED {
            Err(LocationError::Reserved)
        } else {
            Ok(Location(s.to_string()))
        }
    }
}

/// The label name journeyd puts the location under, on its alerts and on `journeyd_location_info`; the
/// scrape config uses the same name for the `journey_*` series (docs/operations.md).
pub const LABEL: &str = "location";

/// `journeyd_location_info{location="…"} 1`, registered only when a location is set: which location this
/// replica probes from, for joins (`* on (instance) group_left (location)`) where the scrape config does not
/// add the label.
pub fn register_info(registry: &prometheus::Registry, location: &Location) -> prometheus::Result<()> {
    let info = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "journeyd_location_info",
            "The location this replica runs its journeys from (--location); the value is always 1.",
        ),
        &[LABEL],
    )?;
    info.with_label_values(&[location.as_str()]).set(1);
    registry.register(Box::new(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_label_safe_names() {
        for ok in ["eu", "us-east-1", "fra1", "0", "a_b", &"a".repeat(63)] {
            assert_eq!(ok.parse::<Location>().unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_everything_else_saying_why() {
        assert_eq!("".parse::<Location>(), Err(LocationError::Empty));
        assert_eq!("a".repeat(64).parse::<Location>(), Err(LocationError::TooLong("a".repeat(64))));
        for bad in ["EU", "-eu", "_eu", "eu west", "eu.west", "eu/1", "é", "eu\"", "eu\n"] {
            assert_eq!(bad.parse::<Location>(), Err(LocationError::Invalid(bad.into())), "{bad:?}");
        }
        assert_eq!("mixed".parse::<Location>(), Err(LocationError::Reserved));
        let msg = "EU".parse::<Location>().unwrap_err().to_string();
        assert!(msg.contains("[a-z0-9][a-z0-9_-]{0,62}") && msg.contains("\"EU\""), "{msg}");
    }

    #[test]
    fn the_info_metric_names_the_location() {
        let registry = prometheus::Registry::new();
        register_info(&registry, &"eu".parse().unwrap()).unwrap();
        let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
        assert!(text.contains("journeyd_location_info{location=\"eu\"} 1"), "{text}");
    }
}
