//! `/admin/v1/deploy/*`: services, tasks and deploy history on Swarm
//! (docs/deployments.md), over `engine::swarm::Deployments`.

use super::jobs::create;
use super::Door;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use engine::identity::Caller;
use engine::swarm::Deployments;
use model::deploy::{
    ServiceDetail, ServicePage, ServiceQuery, SpecDiff, SpecDiffQuery, SpecHistory, UnpinRequest,
};
use model::jobs::{CreateJob, JobKind};
use model::moves::{Plan, PlanRequest};
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![
        ("deploy.services", routes!(services)),
        ("deploy.events", routes!(events)),
        ("deploy.service", routes!(service)),
        ("deploy.history", routes!(history)),
        ("deploy.diff", routes!(diff)),
        ("deploy.unpin", routes!(unpin)),
        ("plans.deploy.rollback", routes!(plan_rollback)),
        ("jobs.deploy.rollback", routes!(create_rollback)),
    ]
}

/// The Swarm's services, by stack then name, paged and filtered.
#[utoipa::path(get, path = "/deploy/services", operation_id = "deploy.services", tag = "deploy",
    params(ServiceQuery),
    responses((status = 200, description = "A page of services", body = ServicePage),
        (status = 400, description = "A malformed filter", body = model::ErrorBody),
        (status = 503, description = "The Docker Engine is unavailable and nothing was read yet (`swarm_unavailable`)", body = model::ErrorBody)))]
pub async fn services(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ServiceQuery>,
) -> Result<Json<ServicePage>, ApiError> {
    Ok(Json(s.engine.deploy.services(&q).await?))
}

/// Server-sent events (`change`): a `DeployPulse` now, then whenever a
/// service's spec, status, replicas or update state changes. Pages
/// refetch what they show.
#[utoipa::path(get, path = "/deploy/events", operation_id = "deploy.events", tag = "deploy",
    responses((status = 200, description = "Server-sent events `change`, each a `DeployPulse` as JSON",
        content_type = "text/event-stream", body = String)))]
pub async fn events(
    State(s): State<AppState>,
) -> axum::response::sse::Sse<
    impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;
    // A first read if the observer has none yet (the stream follows it).
    let deploy = s.engine.deploy.clone();
    tokio::spawn(async move {
        let _ = deploy.current().await;
    });
    let stream = s.engine.deploy.changes().map(|p| {
        Ok(Event::default()
            .event("change")
            .data(serde_json::to_string(&p).unwrap_or_default()))
    });
    Sse::new(s.metrics.sse(crate::metrics::SseStream::Deploy, stream))
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
}

/// One service: its tasks (newest first), the spec running now, and its
/// latest recorded specs.
#[utoipa::path(get, path = "/deploy/services/{service}", operation_id = "deploy.service", tag = "deploy",
    params(("service" = String, Path, description = "The service's name", pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")),
    responses((status = 200, description = "The service", body = ServiceDetail),
        (status = 400, description = "Not a service name", body = model::ErrorBody),
        (status = 404, description = "No such service", body = model::ErrorBody),
        (status = 503, description = "The Docker Engine is unavailable (`swarm_unavailable`)", body = model::ErrorBody)))]
pub async fn service(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceDetail>, ApiError> {
    let name = Deployments::parse_name(&name)?;
    Ok(Json(s.engine.deploy.service(&name).await?))
}

/// Every recorded spec of a service, newest first (kept after the service
/// is removed).
#[utoipa::path(get, path = "/deploy/services/{service}/history", operation_id = "deploy.history", tag = "deploy",
    params(("service" = String, Path, description = "The service's name", pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")),
    responses((status = 200, description = "The recorded specs", body = SpecHistory),
        (status = 400, description = "Not a service name", body = model::ErrorBody),
        (status = 404, description = "No such service and no history", body = model::ErrorBody),
        (status = 503, description = "The Docker Engine is unavailable (`swarm_unavailable`)", body = model::ErrorBody)))]
pub async fn history(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SpecHistory>, ApiError> {
    let name = Deployments::parse_name(&name)?;
    Ok(Json(s.engine.deploy.history(&name).await?))
}

/// What changed between two recorded specs (`seq`s); by default the
/// newest and the one before it.
#[utoipa::path(get, path = "/deploy/services/{service}/diff", operation_id = "deploy.diff", tag = "deploy",
    params(("service" = String, Path, description = "The service's name", pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$"),
        SpecDiffQuery),
    responses((status = 200, description = "The changes, field by field", body = SpecDiff),
        (status = 400, description = "Not a service name, or a malformed query", body = model::ErrorBody),
        (status = 404, description = "No such recorded spec", body = model::ErrorBody),
        (status = 503, description = "The store is unavailable", body = model::ErrorBody)))]
pub async fn diff(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<SpecDiffQuery>,
) -> Result<Json<SpecDiff>, ApiError> {
    let name = Deployments::parse_name(&name)?;
    Ok(Json(s.engine.deploy.diff(&name, &q).await?))
}

/// Lifts the pin a rollback left, with a reason (audited `deploy.unpin`).
#[utoipa::path(post, path = "/deploy/services/{service}/unpin", operation_id = "deploy.unpin", tag = "deploy",
    params(("service" = String, Path, description = "The service's name", pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")),
    request_body = UnpinRequest,
    responses((status = 204, description = "Unpinned"),
        (status = 400, description = "Not a service name, or no reason", body = model::ErrorBody),
        (status = 404, description = "The service is not pinned", body = model::ErrorBody),
        (status = 503, description = "The Docker Engine or the audit log is unavailable", body = model::ErrorBody)))]
pub async fn unpin(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<UnpinRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let name = Deployments::parse_name(&name)?;
    s.engine.deploy.unpin(&c, &name, &body.reason).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Plans `deploy.rollback`: the target spec (`to_seq`, default the one
/// before the running spec), what changes, the gates, the steps. Reads only.
#[utoipa::path(post, path = "/plans/deploy.rollback", operation_id = "plans.deploy.rollback", tag = "deploy",
    request_body(content = PlanRequest, description = "`input`: a `RollbackInput` (`service`, optional `to_seq`)"),
    responses((status = 200, description = "The plan (`deploy`: from/to records and their changes); `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `RollbackInput`, or there is nothing to roll back to", body = model::ErrorBody),
        (status = 404, description = "No such service", body = model::ErrorBody),
        (status = 409, description = "`plan_stale`: `base_version` is not the service's version", body = model::ErrorBody),
        (status = 503, description = "The Docker Engine is unavailable (`swarm_unavailable`)", body = model::ErrorBody)))]
pub async fn plan_rollback(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(
        s.engine
            .jobs
            .plan(&c, JobKind::DeployRollback, &body.input)
            .await?,
    ))
}

/// Creates a `deploy.rollback` job; it pins the service when it is done.
#[utoipa::path(post, path = "/jobs/deploy.rollback", operation_id = "jobs.deploy.rollback", tag = "deploy",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: a `RollbackInput`; `plan_hash`: from `POST /plans/deploy.rollback`"),
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = model::jobs::Job),
        (status = 409, description = "`plan_stale`, `gate_failed`, `locked`, or a key in flight", body = model::ErrorBody),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_rollback(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::DeployRollback, body).await
}
