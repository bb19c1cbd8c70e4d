//! IAM pages' server functions: passed through to the Gateway by
//! `engine::iam::IamService` (same calls as /admin/v1/iam/...).

use crate::error::AppError;
use leptos::prelude::*;
use model::iam::{IamRole, IamSession, IamUser};

#[cfg(feature = "ssr")]
use crate::support::guard::guard;

#[cfg(feature = "ssr")]
fn iam() -> Result<std::sync::Arc<engine::iam::IamService>, AppError> {
    Ok(crate::support::guard::engine()?.iam)
}

#[server(client = crate::support::client::IdClient, endpoint = "iam/users")]
pub async fn list_users() -> Result<Vec<IamUser>, AppError> {
    let c = guard(<ListUsers as server_fn::ServerFn>::PATH).await?;
    Ok(iam()?.users(&c).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "iam/sessions")]
pub async fn list_sessions(user: Option<String>) -> Result<Vec<IamSession>, AppError> {
    let c = guard(<ListSessions as server_fn::ServerFn>::PATH).await?;
    Ok(iam()?.sessions(&c, user.as_deref()).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "iam/roles")]
pub async fn list_roles() -> Result<Vec<IamRole>, AppError> {
    let c = guard(<ListRoles as server_fn::ServerFn>::PATH).await?;
    Ok(iam()?.roles(&c).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "iam/revoke_session")]
pub async fn revoke_session(session: String, reason: String) -> Result<(), AppError> {
    let c = guard(<RevokeSession as server_fn::ServerFn>::PATH).await?;
    Ok(iam()?.revoke_session(&c, &session, &reason).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "iam/assign_role")]
pub async fn assign_role(user: String, role: String, reason: String) -> Result<(), AppError> {
    let c = guard(<AssignRole as server_fn::ServerFn>::PATH).await?;
    Ok(iam()?.assign_role(&c, &user, &role, &reason).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "iam/unassign_role")]
pub async fn unassign_role(user: String, role: String, reason: String) -> Result<(), AppError> {
    let c = guard(<UnassignRole as server_fn::ServerFn>::PATH).await?;
    Ok(iam()?.unassign_role(&c, &user, &role, &reason).await?)
}
