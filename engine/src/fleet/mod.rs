//! The fleet: placement and routing documents (from the dev files or the
//! substrate's KV), the tenant index built from them, and the health poller.

pub mod docs;
pub mod health;
pub mod query;

pub use docs::{FleetDocs, FleetState};
pub use health::{HealthPoller, PollerConfig};

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
