use crate::config::Config;
use crate::metrics::HttpMetrics;
use axum::extract::FromRef;
use engine::fleet::FleetService;
use engine::store::Substrate;
use engine::ControlPlane;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

/// The one state shared by axum routes and Leptos (server functions read
/// the engine services from it through context).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    pub control: Arc<ControlPlane>,
    pub store: Arc<dyn Substrate>,
    pub fleet: FleetService,
    pub metrics: Arc<HttpMetrics>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}
