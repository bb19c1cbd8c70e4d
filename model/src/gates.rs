//! Safety gates: one check a mutation must pass before it changes anything
//! (docs/gates.md). A gate reports what it observed against its threshold,
//! so an operator sees why a job was refused, not only that it was.

use serde::{Deserialize, Serialize};

/// The stable codes of the gates the engine knows. A refused job's error
/// carries one of them; clients match on these strings.
pub mod code {
    /// The target shard exists and is `active` in routing.
    pub const TARGET_SHARD_ACTIVE: &str = "gate_target_shard_active";
    /// Every instance of the target is healthy and ready.
    pub const TARGET_HEALTHY: &str = "gate_target_healthy";
    /// Every instance of the source answers (drain needs them).
    pub const SOURCE_REACHABLE: &str = "gate_source_reachable";
    /// Source and target are not draining more than N tenants already.
    pub const DRAINING_LIMIT: &str = "gate_draining_limit";
    /// The tenant's lag on the source is within the threshold.
    pub const SOURCE_LAG: &str = "gate_source_lag";
    /// The tenant's inflight work on the source is within the threshold.
    pub const SOURCE_INFLIGHT: &str = "gate_source_inflight";
    /// No instance is behind the current placement/routing revisions.
    pub const ROUTING_LOADED: &str = "gate_routing_loaded";
    /// No other unfinished job holds the tenant or a shard involved.
    pub const NO_CONFLICTING_JOB: &str = "gate_no_conflicting_job";
    /// The target's error ratio is within the threshold.
    pub const TARGET_ERROR_RATE: &str = "gate_target_error_rate";
    /// The tenant is placed where the plan says (nobody moved it since).
    pub const PLACEMENT_UNCHANGED: &str = "gate_placement_unchanged";
    /// A shard keeps at least one active shard besides it for its kind.
    pub const ACTIVE_SHARD_REMAINS: &str = "gate_active_shard_remains";
    /// The document passes its schema and semantic rules.
    pub const CONFIG_VALID: &str = "gate_config_valid";
    /// The change moves no more tenants than the threshold.
    pub const IMPACT_TENANTS: &str = "gate_impact_tenants";
    /// The change moves no larger share of any shard than the threshold.
    pub const IMPACT_SHARD_FRACTION: &str = "gate_impact_shard_fraction";
    /// The document is not pinned by a rollback.
    pub const NOT_PINNED: &str = "gate_not_pinned";
    /// The Swarm service exists.
    pub const SERVICE_EXISTS: &str = "gate_service_exists";
    /// No update or rollback of the service is in progress.
    pub const NO_UPDATE_IN_PROGRESS: &str = "gate_no_update_in_progress";
    /// The target image is present on the manager's engine.
    pub const IMAGE_PRESENT: &str = "gate_image_present";
    /// The service is not pinned by an earlier rollback.
    pub const SERVICE_NOT_PINNED: &str = "gate_service_not_pinned";

    pub const ALL: [&str; 19] = [
        TARGET_SHARD_ACTIVE,
        TARGET_HEALTHY,
        SOURCE_REACHABLE,
        DRAINING_LIMIT,
        SOURCE_LAG,
        SOURCE_INFLIGHT,
        ROUTING_LOADED,
        NO_CONFLICTING_JOB,
        TARGET_ERROR_RATE,
        PLACEMENT_UNCHANGED,
        ACTIVE_SHARD_REMAINS,
        CONFIG_VALID,
        IMPACT_TENANTS,
        IMPACT_SHARD_FRACTION,
        NOT_PINNED,
        SERVICE_EXISTS,
        NO_UPDATE_IN_PROGRESS,
        IMAGE_PRESENT,
        SERVICE_NOT_PINNED,
    ];
}

/// The gates' thresholds: boot defaults from config `[gates]`, replaced
/// live by the config registry's `gates/thresholds` document.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// A tenant's lag on the source above this refuses a move.
    pub max_source_lag: u64,
    /// A tenant's inflight work on the source above this refuses a move.
    pub max_source_inflight: u64,
    /// A shard whose instances already drain more tenants refuses more.
    pub max_draining_tenants: u64,
    /// A target whose 5xx share (0..=1) is above this refuses a move (and
    /// fails the post-check of the tenant's own requests).
    pub max_error_ratio: f64,
    /// An instance behind the current revisions for longer than this
    /// refuses moves (shorter: it is loading a write that just happened).
    pub reload_grace_ms: u64,
    /// A config change that moves more tenants than this is refused.
    pub max_tenants_moved: u64,
    /// A config change that moves a larger share (0..=1) of one shard's
    /// tenants is refused.
    pub max_shard_fraction: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            max_source_lag: 1_000,
            max_source_inflight: 100,
            max_draining_tenants: 10,
            max_error_ratio: 0.05,
            reload_grace_ms: 10_000,
            max_tenants_moved: 1_000,
            max_shard_fraction: 0.5,
        }
    }
}

/// One gate's verdict on one subject (a shard, an instance, a tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateCheck {
    pub code: String,
    /// What was checked: `aggregate/a-2`, an endpoint, `tenant:acme`.
    pub subject: String,
    pub pass: bool,
    /// What the gate saw (a number, a state, a list); `null` when it could
    /// not see anything (then it fails).
    pub observed: serde_json::Value,
    /// What it had to be (from config where there is a number).
    pub threshold: serde_json::Value,
    /// One sentence for the operator.
    pub message: String,
}

impl GateCheck {
    pub fn new(
        code: &str,
        subject: impl Into<String>,
        pass: bool,
        observed: impl Serialize,
        threshold: impl Serialize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: code.to_owned(),
            subject: subject.into(),
            pass,
            observed: serde_json::to_value(observed).unwrap_or(serde_json::Value::Null),
            threshold: serde_json::to_value(threshold).unwrap_or(serde_json::Value::Null),
            message: message.into(),
        }
    }

    /// `code (subject): message; observed …, threshold …`, the form a job
    /// error and a refused create carry.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}): {}; observed {}, threshold {}",
            self.code, self.subject, self.message, self.observed, self.threshold
        )
    }
}

/// The first failing check, if any: what refuses the job.
pub fn first_failure(checks: &[GateCheck]) -> Option<&GateCheck> {
    checks.iter().find(|c| !c.pass)
}
