//! The Jobs pages' server functions (the same engine calls as
//! `/admin/v1/jobs/...`). A create carries the Idempotency-Key the dialog
//! generated once, scoped like the REST door's (same route), so a double
//! click or a retry never creates two jobs.

use crate::error::AppError;
use leptos::prelude::*;
use model::jobs::{Job, JobPage, JobQuery};

#[server(client = crate::support::client::IdClient, endpoint = "jobs/list")]
pub async fn list_jobs(query: JobQuery) -> Result<JobPage, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<ListJobs as server_fn::ServerFn>::PATH).await?;
    Ok(engine()?.jobs.list(&query).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "jobs/get")]
pub async fn get_job(id: String) -> Result<Job, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<GetJob as server_fn::ServerFn>::PATH).await?;
    let id = engine::jobs::Jobs::parse_id(&id)?;
    Ok(engine()?.jobs.get(&id).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "jobs/cancel")]
pub async fn cancel_job(id: String, reason: String) -> Result<Job, AppError> {
    use crate::support::guard::{engine, guard};
    let caller = guard(<CancelJob as server_fn::ServerFn>::PATH).await?;
    let id = engine::jobs::Jobs::parse_id(&id)?;
    Ok(engine()?.jobs.cancel(&caller, &id, &reason).await?)
}

/// Creates a `routing.reload` job; answers its id.
#[server(client = crate::support::client::IdClient, endpoint = "jobs/routing_reload")]
pub async fn reload_routing(idempotency_key: String, reason: String) -> Result<String, AppError> {
    use crate::support::guard::{engine, guard};
    use model::jobs::{CreateJob, JobKind};
    let caller = guard(<ReloadRouting as server_fn::ServerFn>::PATH).await?;
    let kind = JobKind::RoutingReload;
    let body = CreateJob {
        reason,
        input: serde_json::Value::Null,
        plan_hash: None,
    };
    let created = engine()?
        .jobs
        .create_at_door(&caller, kind, Some(&idempotency_key), body)
        .await?;
    Ok(created.job_id.to_string())
}
