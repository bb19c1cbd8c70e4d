//! `GET /admin/v1/status`: the control plane's own build, mode and health
//! (the Settings page shows the same through its server function).

use super::Door;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use model::ServerStatus;
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![("status.get", routes!(status))]
}

/// The control plane's own status: build, uptime, checks.
#[utoipa::path(get, path = "/status", operation_id = "status.get", tag = "status",
    responses((status = 200, description = "Status of this replica", body = ServerStatus)))]
pub async fn status(State(state): State<AppState>) -> Json<ServerStatus> {
    Json(state.engine.control.status().await)
}
