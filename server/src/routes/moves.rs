//! `/admin/v1/plans/{kind}` and `/admin/v1/jobs/{kind}` for the moves
//! (docs/moves.md): a plan first (steps, gates with observed values,
//! revisions, point of no return, reverse, hash), then the job carrying
//! the plan's hash. Both over `engine::jobs::Jobs`.

use super::jobs::create;
use super::Door;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use engine::identity::Caller;
use model::jobs::{CreateJob, JobKind};
use model::moves::{Plan, PlanRequest};
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![
        ("plans.tenants.drain", routes!(plan_tenants_drain)),
        ("jobs.tenants.drain", routes!(create_tenants_drain)),
        ("plans.tenants.resume", routes!(plan_tenants_resume)),
        ("jobs.tenants.resume", routes!(create_tenants_resume)),
        ("plans.tenants.migrate", routes!(plan_tenants_migrate)),
        ("jobs.tenants.migrate", routes!(create_tenants_migrate)),
        ("plans.shards.evacuate", routes!(plan_shards_evacuate)),
        ("jobs.shards.evacuate", routes!(create_shards_evacuate)),
        (
            "plans.placement.set_default",
            routes!(plan_placement_set_default),
        ),
        (
            "jobs.placement.set_default",
            routes!(create_placement_set_default),
        ),
        ("plans.shards.set_state", routes!(plan_shards_set_state)),
        ("jobs.shards.set_state", routes!(create_shards_set_state)),
    ]
}

async fn plan(
    s: AppState,
    c: Caller,
    kind: JobKind,
    body: PlanRequest,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(s.engine.jobs.plan(&c, kind, &body.input).await?))
}

/// Plans `tenants.drain`: Drains a tenant on every instance of its shard (per kind), waiting for inflight 0. Reads only.
#[utoipa::path(post, path = "/plans/tenants.drain", operation_id = "plans.tenants.drain", tag = "moves",
    request_body(content = PlanRequest, description = "`input`: a `DrainInput`"),
    responses((status = 200, description = "The plan; `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `DrainInput`", body = model::ErrorBody)))]
pub async fn plan_tenants_drain(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    plan(s, c, JobKind::TenantsDrain, body).await
}

/// Creates a `tenants.drain` job with the hash of the plan the client was shown.
#[utoipa::path(post, path = "/jobs/tenants.drain", operation_id = "jobs.tenants.drain", tag = "moves",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: a `DrainInput`; `plan_hash`: from `POST /plans/tenants.drain`"),
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = model::jobs::Job),
        (status = 409, description = "`plan_stale` (ask for a new plan), `gate_failed` (nothing was done), `locked`, or a key in flight", body = model::ErrorBody),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_tenants_drain(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::TenantsDrain, body).await
}

/// Plans `tenants.resume`: Resumes a drained tenant on every instance of its shard. Reads only.
#[utoipa::path(post, path = "/plans/tenants.resume", operation_id = "plans.tenants.resume", tag = "moves",
    request_body(content = PlanRequest, description = "`input`: a `DrainInput`"),
    responses((status = 200, description = "The plan; `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `DrainInput`", body = model::ErrorBody)))]
pub async fn plan_tenants_resume(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    plan(s, c, JobKind::TenantsResume, body).await
}

/// Creates a `tenants.resume` job with the hash of the plan the client was shown.
#[utoipa::path(post, path = "/jobs/tenants.resume", operation_id = "jobs.tenants.resume", tag = "moves",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: a `DrainInput`; `plan_hash`: from `POST /plans/tenants.resume`"),
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = model::jobs::Job),
        (status = 409, description = "`plan_stale` (ask for a new plan), `gate_failed` (nothing was done), `locked`, or a key in flight", body = model::ErrorBody),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_tenants_resume(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::TenantsResume, body).await
}

/// Plans `tenants.migrate`: Moves a tenant of one kind to another shard: drain, placement CAS, reload, resume, post-checks. Reads only.
#[utoipa::path(post, path = "/plans/tenants.migrate", operation_id = "plans.tenants.migrate", tag = "moves",
    request_body(content = PlanRequest, description = "`input`: a `MigrateInput`"),
    responses((status = 200, description = "The plan; `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `MigrateInput`", body = model::ErrorBody)))]
pub async fn plan_tenants_migrate(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    plan(s, c, JobKind::TenantsMigrate, body).await
}

/// Creates a `tenants.migrate` job with the hash of the plan the client was shown.
#[utoipa::path(post, path = "/jobs/tenants.migrate", operation_id = "jobs.tenants.migrate", tag = "moves",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: a `MigrateInput`; `plan_hash`: from `POST /plans/tenants.migrate`"),
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = model::jobs::Job),
        (status = 409, description = "`plan_stale` (ask for a new plan), `gate_failed` (nothing was done), `locked`, or a key in flight", body = model::ErrorBody),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_tenants_migrate(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::TenantsMigrate, body).await
}

/// Plans `shards.evacuate`: Moves every tenant of a shard to the targets, as one parent job of tenant moves. Reads only.
#[utoipa::path(post, path = "/plans/shards.evacuate", operation_id = "plans.shards.evacuate", tag = "moves",
    request_body(content = PlanRequest, description = "`input`: a `EvacuateInput`"),
    responses((status = 200, description = "The plan; `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `EvacuateInput`", body = model::ErrorBody)))]
pub async fn plan_shards_evacuate(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    plan(s, c, JobKind::ShardsEvacuate, body).await
}

/// Creates a `shards.evacuate` job with the hash of the plan the client was shown.
#[utoipa::path(post, path = "/jobs/shards.evacuate", operation_id = "jobs.shards.evacuate", tag = "moves",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: a `EvacuateInput`; `plan_hash`: from `POST /plans/shards.evacuate`"),
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = model::jobs::Job),
        (status = 409, description = "`plan_stale` (ask for a new plan), `gate_failed` (nothing was done), `locked`, or a key in flight", body = model::ErrorBody),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_shards_evacuate(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::ShardsEvacuate, body).await
}

/// Plans `placement.set_default`: Sets the shard of every tenant a kind's placement map does not name. Reads only.
#[utoipa::path(post, path = "/plans/placement.set_default", operation_id = "plans.placement.set_default", tag = "moves",
    request_body(content = PlanRequest, description = "`input`: a `SetDefaultInput`"),
    responses((status = 200, description = "The plan; `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `SetDefaultInput`", body = model::ErrorBody)))]
pub async fn plan_placement_set_default(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    plan(s, c, JobKind::PlacementSetDefault, body).await
}

/// Creates a `placement.set_default` job with the hash of the plan the client was shown.
#[utoipa::path(post, path = "/jobs/placement.set_default", operation_id = "jobs.placement.set_default", tag = "moves",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: a `SetDefaultInput`; `plan_hash`: from `POST /plans/placement.set_default`"),
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = model::jobs::Job),
        (status = 409, description = "`plan_stale` (ask for a new plan), `gate_failed` (nothing was done), `locked`, or a key in flight", body = model::ErrorBody),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_placement_set_default(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::PlacementSetDefault, body).await
}

/// Plans `shards.set_state`: Marks a shard active, draining or disabled in routing. Reads only.
#[utoipa::path(post, path = "/plans/shards.set_state", operation_id = "plans.shards.set_state", tag = "moves",
    request_body(content = PlanRequest, description = "`input`: a `ShardStateInput`"),
    responses((status = 200, description = "The plan; `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `ShardStateInput`", body = model::ErrorBody)))]
pub async fn plan_shards_set_state(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    plan(s, c, JobKind::ShardsSetState, body).await
}

/// Creates a `shards.set_state` job with the hash of the plan the client was shown.
#[utoipa::path(post, path = "/jobs/shards.set_state", operation_id = "jobs.shards.set_state", tag = "moves",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: a `ShardStateInput`; `plan_hash`: from `POST /plans/shards.set_state`"),
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = model::jobs::Job),
        (status = 409, description = "`plan_stale` (ask for a new plan), `gate_failed` (nothing was done), `locked`, or a key in flight", body = model::ErrorBody),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_shards_set_state(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::ShardsSetState, body).await
}
