//! `[jobs]`: the job engine's timings (docs/jobs.md).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How long a runner's lease on a job lasts without renewal; another
    /// replica takes the job over after it. Renewed every third of it.
    pub lease_ms: u64,
    /// How often a runner looks for work besides the change feed.
    pub poll_ms: u64,
    /// How long an Idempotency-Key is remembered; at least 24.
    pub key_retention_hours: u64,
    /// The deadline of a whole job.
    pub deadline_secs: u64,
    /// Jobs one replica runs at once.
    pub max_running: usize,
    /// How long one gateway may take to report a reloaded routing revision.
    pub reload_timeout_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            lease_ms: 15_000,
            poll_ms: 500,
            key_retention_hours: 24,
            deadline_secs: 900,
            max_running: 64,
            reload_timeout_ms: 10_000,
        }
    }
}
