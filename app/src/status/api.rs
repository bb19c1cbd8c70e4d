use crate::error::AppError;
use leptos::prelude::*;
use model::ServerStatus;

/// This control plane's build, mode, store and readiness.
#[server(client = crate::support::client::IdClient, endpoint = "status/get_server_status")]
pub async fn get_server_status() -> Result<ServerStatus, AppError> {
    crate::support::guard::guard(<GetServerStatus as server_fn::ServerFn>::PATH).await?;
    let cp = crate::support::guard::engine()?.control;
    Ok(cp.status().await)
}
