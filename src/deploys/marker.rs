//! What `POST /api/v1/deploys` accepts: the request as sent, and the validated marker it becomes. Every
//! field is bounded, so a pipeline (or anyone with admin access) cannot make the daemon keep megabytes.

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::model::Journey;

/// Longest `version`: it becomes the `version` label of `journeyd_deploy_info`.
pub const MAX_VERSION: usize = 128;
/// Longest `by` and each tag.
pub const MAX_TEXT: usize = 128;
/// Longest `description`.
pub const MAX_DESCRIPTION: usize = 1024;
/// Most journeys or tags one marker may name.
pub const MAX_SCOPE: usize = 256;

/// The request body. Only `version` is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerRequest {
    /// What was deployed: a version, a tag, a commit (`v1.4.2`).
    pub version: String,
    /// Only these journeys are compared; with `tags`, journeys named here or carrying a tag. Both
    /// absent: every journey.
    #[serde(default)]
    pub journeys: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Who or what sent the marker (`github-actions run 812`, `flagger`, `alice`).
    #[serde(default)]
    pub by: String,
    /// Free text for people (a change title, a link).
    #[serde(default)]
    pub description: String,
}

/// A validated marker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    pub version: String,
    /// The journeys the request named (empty: not narrowed by name).
    pub journeys: Vec<String>,
    pub tags: Vec<String>,
    pub by: String,
    pub description: String,
    #[serde(skip)]
    pub at: SystemTime,
}

/// Why a marker was refused: the message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    #[error("`{field}` is {len} bytes; at most {max} are accepted")]
    TooLong { field: &'static str, len: usize, max: usize },
    #[error("`{field}` has {len} entries; at most {max} are accepted")]
    TooMany { field: &'static str, len: usize, max: usize },
    #[error("`version` is empty or has control characters; send the deployed version, e.g. \"v1.4.2\"")]
    BadVersion,
    #[error("unknown journey `{0}`; GET /api/v1/journeys lists the journeys this replica runs")]
    UnknownJourney(String),
    #[error("no journey this replica runs matches the marker's journeys and tags")]
    EmptyScope,
}

fn bounded(field: &'static str, text: &str, max: usize) -> Result<(), MarkerError> {
    if text.len() > max {
        return Err(MarkerError::TooLong { field, len: text.len(), max });
    }
    Ok(())
}

impl MarkerRequest {
    /// Checks the request against the journeys running now; returns the marker and the journeys in its
    /// scope.
    pub fn validate<'a>(
        self,
        journeys: impl Iterator<Item = &'a Journey> + Clone,
        at: SystemTime,
    ) -> Result<(Marker, Vec<String>), MarkerError> {
        let version = self.version.trim().to_string();
        bounded("version", &version, MAX_VERSION)?;
        if version.is_empty() || version.chars().any(char::is_control) {
            return Err(MarkerError::BadVersion);
        }
        bounded("by", &self.by, MAX_TEXT)?;
        bounded("description", &self.description, MAX_DESCRIPTION)?;
        for (field, list) in [("journeys", &self.journeys), ("tags", &self.tags)] {
            if list.len() > MAX_SCOPE {
                return Err(MarkerError::TooMany { field, len: list.len(), max: MAX_SCOPE });
            }
            for item in list {
                bounded(field, item, MAX_TEXT)?;
            }
        }
        let names: BTreeSet<&str> = self.journeys.iter().map(String::as_str).collect();
        if let Some(unknown) = names.iter().find(|n| !journeys.clone().any(|j| j.name == **n)) {
            return Err(MarkerError::UnknownJourney(unknown.to_string()));
        }
        let everything = names.is_empty() && self.tags.is_empty();
        let scope: Vec<String> = journeys
            .filter(|j| everything || names.contains(j.name.as_str()) || j.tags.iter().any(|t| self.tags.contains(t)))
            .map(|j| j.name.clone())
            .collect();
        if scope.is_empty() {
            return Err(MarkerError::EmptyScope);
        }
        let marker = Marker {
            version,
            journeys: self.journeys,
            tags: self.tags,
            by: self.by,
            description: self.description,
            at,
        };
        Ok((marker, scope))
    }
}
