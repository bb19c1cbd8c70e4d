//! Every engine service, bundled once: the server builds one `Services`
//! and hands the same value to the REST state and to the server functions'
//! context, so a new service is added here and nowhere else.

use crate::audit::AuditLog;
use crate::fleet::FleetService;
use crate::iam::IamService;
use crate::identity::Authenticator;
use crate::jobs::Jobs;
use crate::store::Substrate;
use crate::ControlPlane;
use std::sync::Arc;

#[derive(Clone)]
pub struct Services {
    pub control: Arc<ControlPlane>,
    pub store: Arc<dyn Substrate>,
    pub fleet: FleetService,
    pub auth: Arc<Authenticator>,
    pub iam: Arc<IamService>,
    pub audit: Arc<AuditLog>,
    pub jobs: Jobs,
    pub config: crate::config::Registry,
    pub deploy: crate::swarm::Deployments,
    pub drift: crate::drift::Drift,
}

impl Services {
    /// Adds every engine family to the control plane's registry: the
    /// audit log's, the fleet sweep's, the job engine's and the Swarm
    /// observer's (each kept where its data lives).
    pub fn register_metrics(&self, r: &mut prometheus_client::registry::Registry) {
        self.audit.register_metrics(r);
        self.fleet.health.register_metrics(r);
        self.jobs.metrics().register(r);
        self.deploy.register_metrics(r);
    }

    /// A page of tenants, each with its unfinished job (if any).
    pub fn tenants(&self, q: &model::views::TenantQuery) -> model::views::TenantPage {
        let mut page = self.fleet.tenants(q);
        for row in &mut page.items {
            row.job = self.jobs.active_on(&model::jobs::Target::Tenant {
                tenant: row.tenant.clone(),
            });
        }
        page
    }

    /// Every placement map, each shard with the tenants moving off or onto it.
    pub fn placements(&self) -> Vec<model::views::PlacementOverview> {
        let mut all = self.fleet.placements();
        for p in &mut all {
            let moving = self.jobs.moving(p.kind);
            for s in &mut p.shards {
                s.moving = moving
                    .iter()
                    .filter(|m| m.from == s.shard || m.to == s.shard)
                    .cloned()
                    .collect();
            }
        }
        all
    }
}
