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
}
