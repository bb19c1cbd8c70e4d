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

use model::fleet::{RoutingConfig, ServiceKind, TenantId};
use model::views::{
    DocMeta, FleetSnapshot, PlacementOverview, TenantDetail, TenantPage, TenantQuery,
};
use std::sync::Arc;

/// The fleet reads behind both doors (REST and server functions).
#[derive(Clone)]
pub struct FleetService {
    pub docs: FleetDocs,
    pub health: HealthPoller,
}

impl FleetService {
    pub fn placement(&self, kind: ServiceKind) -> Option<PlacementOverview> {
        query::placement_overview(&self.docs.current(), &self.health.snapshot(), kind)
    }

    pub fn placements(&self) -> Vec<PlacementOverview> {
        let (st, snap) = (self.docs.current(), self.health.snapshot());
        ServiceKind::WORKERS
            .into_iter()
            .filter_map(|k| query::placement_overview(&st, &snap, k))
            .collect()
    }

    pub fn routing(&self) -> (Arc<RoutingConfig>, DocMeta) {
        self.docs.current().routing.clone()
    }

    pub fn tenants(&self, q: &TenantQuery) -> TenantPage {
        query::tenant_page(&self.docs.current(), &self.health.snapshot(), q)
    }

    pub fn tenant(&self, t: &TenantId) -> TenantDetail {
        query::tenant_detail(&self.docs.current(), t)
    }

    pub fn health(&self) -> Arc<FleetSnapshot> {
        self.health.snapshot()
    }
}
