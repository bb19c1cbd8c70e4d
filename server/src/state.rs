use crate::config::Config;
use crate::metrics::Metrics;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

/// The one state shared by axum routes and Leptos (server functions read
/// the engine services from it through context).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    /// Every engine service; the same value is in the server functions'
    /// context.
    pub engine: engine::Services,
    /// `/metrics`: this crate's families and the engine's, in one registry.
    pub metrics: Arc<Metrics>,
    /// Browser session settings the login/logout server functions need.
    pub session: app::shell::api::SessionSettings,
    /// Origins besides the request's own host allowed to change state.
    pub auth_origins: Arc<Vec<String>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}
