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

/// `[gates]`: the boot defaults of the gates' thresholds; the config
/// registry's `gates/thresholds` document replaces them while it exists.
pub type GatesConfig = model::gates::Thresholds;
