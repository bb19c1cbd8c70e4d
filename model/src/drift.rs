//! Drift: where the platform differs from what it should be. Desired is the
//! platform's stack file plus the config registry's current revisions;
//! observed is Swarm's services and tasks and what each instance reports
//! loaded. Items are computed level-based from both, every time.

use crate::jobs::JobKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DriftCategory {
    /// Desired by the stack file, not running.
    Missing,
    /// Running in a desired stack, not in its stack file.
    Extra,
    /// The image (repository or tag) differs from the stack file's.
    VersionMismatch,
    /// The spec differs from the stack file in env, replicas, constraints,
    /// labels, resources, secrets, update/rollback config or healthcheck.
    ConfigMismatch,
    /// Tasks failing, crash-looping, fewer running than desired, or an
    /// instance not ready by its probes.
    Unhealthy,
    /// An instance runs an older placement/routing revision than the
    /// registry's current one.
    NotReloaded,
}

impl DriftCategory {
    pub const ALL: [DriftCategory; 6] = [
        Self::Missing,
        Self::Extra,
        Self::VersionMismatch,
        Self::ConfigMismatch,
        Self::Unhealthy,
        Self::NotReloaded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Extra => "extra",
            Self::VersionMismatch => "version_mismatch",
            Self::ConfigMismatch => "config_mismatch",
            Self::Unhealthy => "unhealthy",
            Self::NotReloaded => "not_reloaded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "Missing",
            Self::Extra => "Extra",
            Self::VersionMismatch => "Version mismatch",
            Self::ConfigMismatch => "Config mismatch",
            Self::Unhealthy => "Unhealthy",
            Self::NotReloaded => "Not reloaded",
        }
    }
}

/// What fixes an item: a job (started through the confirmation flow, from
/// the page `href` points at), or a command for what the control plane
/// does not do itself. Never applied automatically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Remediation {
    pub label: String,
    /// The job that fixes it, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobKind>,
    /// That job's input (planned first, like every job).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    /// The UI page where the job is started (with its plan) or the subject
    /// is shown.
    pub href: String,
    /// A command to run by hand, when no job does it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftItem {
    pub category: DriftCategory,
    /// A Swarm service name, or `<kind>/<shard> <endpoint>` for an instance.
    pub subject: String,
    /// The stack the subject belongs to (services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    pub desired: String,
    pub observed: String,
    /// The fields that differ (config mismatch), with both values; secret
    /// values appear as fingerprints only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<crate::deploy::SpecChange>,
    /// Unix ms since this item has been seen without a break (kept by the
    /// control plane replica serving it; the state's own time when known).
    pub since_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
}

impl DriftItem {
    /// Identity across computations: the same difference keeps its `since`.
    pub fn key(&self) -> (DriftCategory, &str) {
        (self.category, &self.subject)
    }
}

/// `GET /admin/v1/platform/drift`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct DriftQuery {
    /// One category (`missing`, `extra`, `version_mismatch`,
    /// `config_mismatch`, `unhealthy`, `not_reloaded`).
    pub category: Option<DriftCategory>,
    pub stack: Option<String>,
    /// A substring of the subject.
    pub q: Option<String>,
}

impl DriftQuery {
    pub fn matches(&self, i: &DriftItem) -> bool {
        self.category.is_none_or(|c| c == i.category)
            && self
                .stack
                .as_deref()
                .is_none_or(|s| i.stack.as_deref() == Some(s))
            && self
                .q
                .as_deref()
                .is_none_or(|q| i.subject.to_lowercase().contains(&q.to_lowercase()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftCount {
    pub category: DriftCategory,
    pub count: usize,
}

/// The summary counts every item (before the filters); `items` are the
/// filtered ones, most urgent category first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftReport {
    pub summary: Vec<DriftCount>,
    pub total: usize,
    pub items: Vec<DriftItem>,
    /// The stacks the desired state declares.
    pub stacks: Vec<String>,
    /// Where the desired state was read (the stack files).
    pub desired_sources: Vec<String>,
    /// Stack files that could not be read or parsed: their stacks are left
    /// out of the items (not reported as all missing or all extra).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// When Swarm was last read (Unix ms).
    pub observed_ms: u64,
    /// The Swarm read is older than it should be (the daemon is
    /// unreachable): items from the last good read.
    pub stale: bool,
    pub computed_ms: u64,
}

impl DriftReport {
    pub fn count(&self, c: DriftCategory) -> usize {
        self.summary
            .iter()
            .find(|s| s.category == c)
            .map_or(0, |s| s.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_through_their_names() {
        for c in DriftCategory::ALL {
            assert_eq!(DriftCategory::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert_eq!(DriftCategory::parse("nope"), None);
    }

    #[test]
    fn unknown_query_keys_and_categories_are_refused() {
        assert!(serde_json::from_str::<DriftQuery>(r#"{"category":"bogus"}"#).is_err());
        assert!(serde_json::from_str::<DriftQuery>(r#"{"colour":"red"}"#).is_err());
        let q: DriftQuery = serde_json::from_str(r#"{"category":"extra","q":"GW"}"#).unwrap();
        let item = DriftItem {
            category: DriftCategory::Extra,
            subject: "cloudlysis_gw".into(),
            stack: Some("cloudlysis".into()),
            desired: String::new(),
            observed: String::new(),
            fields: vec![],
            since_ms: 0,
            remediation: None,
        };
        assert!(q.matches(&item));
        let other = DriftQuery {
            stack: Some("obs".into()),
            ..q
        };
        assert!(!other.matches(&item));
    }
}
