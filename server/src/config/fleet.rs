//! `[fleet]`: where placement and routing come from, and the health poller.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetSource {
    /// The store's `placement` and `routing` buckets (NATS in production).
    Kv,
    /// The dev files named by `placement_file` and `routing_file`.
    File,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    pub source: FleetSource,
    pub placement_file: PathBuf,
    pub routing_file: PathBuf,
    pub poll_interval_ms: u64,
    /// Deadline for one endpoint's /health, /ready and /metrics together.
    pub probe_timeout_ms: u64,
    pub poll_concurrency: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            source: FleetSource::Kv,
            placement_file: PathBuf::from("config/placement/dev.json"),
            routing_file: PathBuf::from("config/routing/dev.json"),
            poll_interval_ms: 5_000,
            probe_timeout_ms: 1_000,
            poll_concurrency: 64,
        }
    }
}
