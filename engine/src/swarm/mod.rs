//! Docker Swarm through the Engine API (docs/deployments.md): one `Swarm`
//! trait with the bollard implementation (`DockerSwarm`, tested against a
//! real dockerd) and a deterministic in-memory one (`MemorySwarm`) for
//! everything above it; the `Deployments` facade both doors call
//! (observation, deploy history, "what changed", deploy events).

mod annotations;
mod deployments;
mod docker;
mod history;
mod memory;
mod normalize;
mod rollback;

pub use annotations::{Annotation, Grafana};
pub use deployments::{DeployError, DeploySettings, Deployments, Snapshot};
pub use docker::{DockerSwarm, SwarmConnect, MIN_API_VERSION};
pub use history::History;
pub use memory::MemorySwarm;
pub use normalize::{date_ms, fingerprint, node_view, service_view, summary, task_view};
pub use rollback::{workflow, RollbackSettings};

use async_trait::async_trait;
use bollard::models::{Node, Service, ServiceSpec, Task};
use futures::stream::BoxStream;
use model::deploy::UpdateState;

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The daemon cannot be reached (socket missing, connection refused,
    /// timeout) or is not a Swarm manager.
    #[error("docker engine unavailable: {0}")]
    Unavailable(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// An update fenced by a `Version.Index` that moved meanwhile.
    #[error("the service changed meanwhile: {0}")]
    Conflict(String),
    /// Any other refusal of the daemon, with its message.
    #[error("docker engine refused: {0}")]
    Engine(String),
}

/// The key of the fingerprints of secret-looking environment values,
/// derived from a shared secret (the audit chain key), so every replica
/// fingerprints alike and the key itself is not reused as is.
pub fn fingerprint_key(secret: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"cloudlysis/deploy/env-fingerprint");
    mac.finalize().into_bytes().to_vec()
}

/// A service event of the daemon, reduced to what observation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmEvent {
    /// `create`, `update` or `remove`.
    pub action: String,
    pub service_id: Option<String>,
    pub service: Option<String>,
    /// `updatestate.new`, when the event carries one.
    pub update_state: Option<UpdateState>,
    pub time_ms: u64,
}

/// What the control plane needs of a Swarm manager.
#[async_trait]
pub trait Swarm: Send + Sync {
    /// The daemon's Engine API version (`1.41`…).
    async fn api_version(&self) -> Result<String, SwarmError>;
    /// Every service, with running/desired task counts.
    async fn services(&self) -> Result<Vec<Service>, SwarmError>;
    /// One service by name or id.
    async fn service(&self, name_or_id: &str) -> Result<Option<Service>, SwarmError>;
    /// Tasks of one service, or of all.
    async fn tasks(&self, service_id: Option<&str>) -> Result<Vec<Task>, SwarmError>;
    async fn nodes(&self) -> Result<Vec<Node>, SwarmError>;
    /// Whether the manager's engine has the image (a rollback's gate; the
    /// Engine API of a manager cannot see the other nodes' images).
    async fn image_present(&self, image: &str) -> Result<bool, SwarmError>;
    /// Replaces a service's spec, fenced by the `Version.Index` the caller
    /// read: a service changed meanwhile is a `Conflict`.
    async fn update_service(
        &self,
        id: &str,
        spec: ServiceSpec,
        version: u64,
    ) -> Result<(), SwarmError>;
    /// Service events since `since_ms` (the daemon replays the ones
    /// between then and the subscription, so a read just before opening
    /// the stream misses none). The stream ends when the connection does;
    /// the caller re-opens it (events are a hint, state is re-read).
    fn events(&self, since_ms: u64) -> BoxStream<'static, Result<SwarmEvent, SwarmError>>;
}
