//! The Audit Log page's server functions (same engine calls as
//! `GET /admin/v1/audit` and `/audit/verify`).

use crate::error::AppError;
use leptos::prelude::*;
use model::audit::{AuditPage, AuditQuery, Verdict};

#[server(client = crate::support::client::IdClient, endpoint = "audit/list")]
pub async fn list_audit(query: AuditQuery) -> Result<AuditPage, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<ListAudit as server_fn::ServerFn>::PATH).await?;
    Ok(engine()?.audit.query(&query).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "audit/verify")]
pub async fn verify_audit() -> Result<Verdict, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<VerifyAudit as server_fn::ServerFn>::PATH).await?;
    engine()?.audit.verify().await.map_err(AppError::from)
}
