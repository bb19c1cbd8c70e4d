//! `GET /admin/v1/status`: the control plane's own build, mode and health
//! (the Settings page shows the same through its server function).

use super::Door;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::Json;
use model::ServerStatus;

pub fn doors() -> Vec<Door> {
    vec![("status.get", get(status))]
}

pub async fn status(State(state): State<AppState>) -> Json<ServerStatus> {
    Json(state.engine.control.status().await)
}
