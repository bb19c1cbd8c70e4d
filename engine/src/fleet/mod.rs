//! The fleet: placement and routing documents (from the dev files or the
//! substrate's KV), the tenant index built from them, and the health poller.

pub mod docs;
pub mod health;
pub mod query;
pub mod writer;

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
    DocMeta, FleetHealthPage, FleetPulse, FleetSnapshot, InstanceQuery, PlacementOverview,
    RoutingView, TenantDetail, TenantPage, TenantQuery,
};
use std::sync::Arc;

/// Bad input to a fleet read, with what is allowed (never the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    #[error("{0}")]
    BadTenant(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
}

/// A worker kind (the Gateway has no placement map).
fn worker_kind(kind: &str) -> Result<ServiceKind, FleetError> {
    ServiceKind::parse(kind)
        .filter(|k| *k != ServiceKind::Gateway)
        .ok_or_else(|| {
            FleetError::BadRequest(
                "kind: unknown service kind; one of aggregate, projection, runner".into(),
            )
        })
}

/// The fleet reads behind both doors (REST and server functions).
#[derive(Clone)]
pub struct FleetService {
    pub docs: FleetDocs,
    pub health: HealthPoller,
}

impl FleetService {
    /// One kind's placement map; `kind` as the caller gave it.
    pub fn placement(&self, kind: &str) -> Result<PlacementOverview, FleetError> {
        let kind = worker_kind(kind)?;
        query::placement_overview(&self.docs.current(), &self.health.snapshot(), kind)
            .ok_or_else(|| FleetError::NotFound(format!("no placement map for {kind}")))
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

    /// The routing directory with its metadata and what is wrong with it.
    pub fn routing_view(&self) -> RoutingView {
        let (routing, meta) = self.routing();
        RoutingView {
            issues: routing.validate(),
            routing: (*routing).clone(),
            meta,
        }
    }

    pub fn tenants(&self, q: &TenantQuery) -> TenantPage {
        query::tenant_page(&self.docs.current(), &self.health.snapshot(), q)
    }

    /// Where a tenant resolves per kind; `tenant` as the caller gave it.
    pub fn tenant(&self, tenant: &str) -> Result<TenantDetail, FleetError> {
        let t = TenantId::parse(tenant).map_err(|e| FleetError::BadTenant(e.message))?;
        Ok(query::tenant_detail(&self.docs.current(), &t))
    }

    pub fn health(&self) -> Arc<FleetSnapshot> {
        self.health.snapshot()
    }

    pub fn health_page(&self, q: &InstanceQuery) -> FleetHealthPage {
        self.health.snapshot().page(q)
    }

    pub fn pulse(&self) -> FleetPulse {
        let (st, snap) = (self.docs.current(), self.health.snapshot());
        FleetPulse {
            generated_at_ms: snap.generated_at_ms,
            summary: snap.summary(),
            placement_revisions: st
                .placements
                .iter()
                .map(|(k, (_, m))| (*k, m.revision))
                .collect(),
            routing_revision: st.routing.1.revision,
        }
    }

    /// Pulses: one now, then one whenever health or the documents change.
    pub fn pulses(&self) -> futures::stream::BoxStream<'static, FleetPulse> {
        use futures::StreamExt;
        let this = self.clone();
        let (h, d) = (self.health.subscribe(), self.docs.subscribe());
        futures::stream::unfold(
            (this, h, d, true),
            |(this, mut h, mut d, first)| async move {
                if !first {
                    tokio::select! {
                        r = h.changed() => r.ok()?,
                        r = d.changed() => r.ok()?,
                    }
                    h.borrow_and_update();
                    d.borrow_and_update();
                }
                Some((this.pulse(), (this, h, d, false)))
            },
        )
        .boxed()
    }
}
