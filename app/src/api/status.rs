use crate::error::AppError;
use leptos::prelude::*;
use model::ServerStatus;

/// This control plane's build, mode, store and readiness.
#[server(client = crate::client::IdClient, endpoint = "status/get_server_status")]
pub async fn get_server_status() -> Result<ServerStatus, AppError> {
    let cp = use_context::<std::sync::Arc<engine::ControlPlane>>()
        .ok_or_else(|| AppError::new(model::ErrorCode::Internal, "internal error"))?;
    Ok(cp.status().await)
}
