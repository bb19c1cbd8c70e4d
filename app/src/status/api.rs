use crate::error::AppError;
use leptos::prelude::*;
use model::ServerStatus;

/// This control plane's build, mode, store and readiness.
#[server(client = crate::client::IdClient, endpoint = "status/get_server_status")]
pub async fn get_server_status() -> Result<ServerStatus, AppError> {
    super::guard::guard(<GetServerStatus as server_fn::ServerFn>::PATH).await?;
    let cp = super::guard::service::<std::sync::Arc<engine::ControlPlane>>()?;
    Ok(cp.status().await)
}
