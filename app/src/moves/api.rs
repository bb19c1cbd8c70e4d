//! The moves' server functions (the engine calls behind
//! `/admin/v1/plans/{kind}` and `/admin/v1/jobs/{kind}`). The input travels
//! as JSON text (it is a different shape per kind); the create is scoped
//! like the REST door's (same route), so a retry never makes two jobs.

use crate::error::AppError;
use leptos::prelude::*;
use model::jobs::JobKind;
use model::moves::Plan;

#[server(client = crate::support::client::IdClient, endpoint = "moves/plan")]
pub async fn plan_move(kind: JobKind, input: String) -> Result<Plan, AppError> {
    use crate::support::guard::{engine, guard};
    let caller = guard(<PlanMove as server_fn::ServerFn>::PATH).await?;
    let input = parse(&input)?;
    Ok(engine()?.jobs.plan(&caller, kind, &input).await?)
}

/// Creates the job of a plan the operator saw; answers its id.
#[server(client = crate::support::client::IdClient, endpoint = "moves/create")]
pub async fn create_move(
    kind: JobKind,
    input: String,
    plan_hash: String,
    idempotency_key: String,
    reason: String,
) -> Result<String, AppError> {
    use crate::support::guard::{engine, guard};
    use model::jobs::CreateJob;
    let caller = guard(<CreateMove as server_fn::ServerFn>::PATH).await?;
    let body = CreateJob {
        reason,
        input: parse(&input)?,
        plan_hash: Some(plan_hash),
    };
    let created = engine()?
        .jobs
        .create_at_door(&caller, kind, Some(&idempotency_key), body)
        .await?;
    Ok(created.job_id.to_string())
}

#[cfg(feature = "ssr")]
fn parse(input: &str) -> Result<serde_json::Value, AppError> {
    serde_json::from_str(input).map_err(|e| {
        AppError(model::ErrorBody::new(
            model::ErrorCode::BadRequest,
            format!("input: {}", model::error::safe_serde_detail(&e.to_string())),
        ))
    })
}
