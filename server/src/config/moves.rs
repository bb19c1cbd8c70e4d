//! `[moves]` and `[gates]`: the timings of tenant moves and the thresholds
//! of the safety gates (docs/moves.md, docs/gates.md).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MovesConfig {
    /// How long one instance may take to drain a tenant to inflight 0.
    pub drain_timeout_ms: u64,
    /// How long an instance may take to report a new revision loaded.
    pub load_timeout_ms: u64,
    /// How often instances are asked while a step waits.
    pub poll_ms: u64,
    /// The window of the post-check on the tenant's error ratio.
    pub error_window_ms: u64,
}

impl Default for MovesConfig {
    fn default() -> Self {
        Self {
            drain_timeout_ms: 60_000,
            load_timeout_ms: 30_000,
            poll_ms: 200,
            error_window_ms: 2_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatesConfig {
    /// A tenant lagging more than this on its source is not moved.
    pub max_source_lag: u64,
    /// A tenant with more inflight work on its source is not moved.
    pub max_source_inflight: u64,
    /// A shard whose instances drain more tenants takes no more moves.
    pub max_draining_tenants: u64,
    /// The largest share (0..=1) of 5xx answers a target may have.
    pub max_error_ratio: f64,
    /// How long an instance may stay behind the current revisions before
    /// it refuses moves.
    pub reload_grace_ms: u64,
}

impl Default for GatesConfig {
    fn default() -> Self {
        let t = engine::gates::Thresholds::default();
        Self {
            max_source_lag: t.max_source_lag,
            max_source_inflight: t.max_source_inflight,
            max_draining_tenants: t.max_draining_tenants as u64,
            max_error_ratio: t.max_error_ratio,
            reload_grace_ms: t.reload_grace.as_millis() as u64,
        }
    }
}

impl GatesConfig {
    pub fn thresholds(&self) -> engine::gates::Thresholds {
        engine::gates::Thresholds {
            max_source_lag: self.max_source_lag,
            max_source_inflight: self.max_source_inflight,
            max_draining_tenants: self.max_draining_tenants as usize,
            max_error_ratio: self.max_error_ratio,
            reload_grace: std::time::Duration::from_millis(self.reload_grace_ms),
        }
    }
}
