//! `/admin/v1/config/*` and the config jobs' plans and creates
//! (docs/config.md), over `engine::config::Registry` and the job engine.

use super::jobs::create;
use super::Door;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use engine::config::Registry;
use engine::identity::Caller;
use model::config::{
    ConfigDiff, ConfigDocument, ConfigHistory, ConfigList, DefinitionList, DiffQuery, DocQuery,
    Domain, ListQuery, Scope, UnpinRequest, ValidateRequest, Validation,
};
use model::jobs::{CreateJob, JobKind};
use model::moves::{Plan, PlanRequest};
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![
        ("config.list", routes!(list)),
        ("config.validate", routes!(validate)),
        ("config.definitions", routes!(definitions)),
        ("config.schema", routes!(schema)),
        ("config.get", routes!(get)),
        ("config.history", routes!(history)),
        ("config.diff", routes!(diff)),
        ("config.unpin", routes!(unpin)),
        ("plans.config.apply", routes!(plan_apply)),
        ("jobs.config.apply", routes!(create_apply)),
        ("plans.config.rollback", routes!(plan_rollback)),
        ("jobs.config.rollback", routes!(create_rollback)),
    ]
}

/// Every document the registry manages, with its revision and metadata.
#[utoipa::path(get, path = "/config", operation_id = "config.list", tag = "config",
    params(ListQuery),
    responses((status = 200, description = "The documents", body = ConfigList),
        (status = 400, description = "A malformed scope", body = model::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ConfigList>, ApiError> {
    let scope = q
        .scope
        .as_deref()
        .map(Scope::parse)
        .transpose()
        .map_err(|m| ApiError::new(model::ErrorCode::BadRequest, m))?;
    Ok(Json(s.engine.config.list(q.domain, scope.as_ref()).await?))
}

/// Validates a document (its schema and semantic rules) without writing
/// anything; every issue has a stable code, a JSON pointer and, for a
/// `text`, its line.
#[utoipa::path(post, path = "/config/validate", operation_id = "config.validate", tag = "config",
    request_body = ValidateRequest,
    responses((status = 200, description = "The verdict with every issue", body = Validation),
        (status = 400, description = "Not a document identity, or neither/both of text and document", body = model::ErrorBody)))]
pub async fn validate(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<ValidateRequest>,
) -> Result<Json<Validation>, ApiError> {
    Ok(Json(s.engine.config.validate(&body).await?))
}

/// The runner definitions, each with the activation documents naming it.
#[utoipa::path(get, path = "/config/definitions", operation_id = "config.definitions", tag = "config",
    responses((status = 200, description = "The definitions", body = DefinitionList)))]
pub async fn definitions(State(s): State<AppState>) -> Result<Json<DefinitionList>, ApiError> {
    Ok(Json(DefinitionList {
        items: s.engine.config.definitions().await?,
    }))
}

/// The JSON Schema (2020-12) a domain's documents must pass.
#[utoipa::path(get, path = "/config/schemas/{domain}", operation_id = "config.schema", tag = "config",
    params(("domain" = Domain, Path, description = "A config domain")),
    responses((status = 200, description = "The schema", body = Object),
        (status = 404, description = "No such domain", body = model::ErrorBody)))]
pub async fn schema(Path(domain): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let d = Domain::parse(&domain)
        .ok_or_else(|| ApiError::new(model::ErrorCode::NotFound, "no such config domain"))?;
    Ok(Json(engine::config::schema::schema(d)))
}

/// A document: the current revision, or `?revision=` for an older one.
#[utoipa::path(get, path = "/config/{domain}/{name}", operation_id = "config.get", tag = "config",
    params(("domain" = Domain, Path, description = "A config domain"),
        ("name" = String, Path, description = "The document's name", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$"),
        DocQuery),
    responses((status = 200, description = "The document with its metadata", body = ConfigDocument),
        (status = 400, description = "A malformed name or scope", body = model::ErrorBody),
        (status = 404, description = "No such document or revision", body = model::ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    Path((domain, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DocQuery>,
) -> Result<Json<ConfigDocument>, ApiError> {
    let id = Registry::id(&domain, &name, q.scope.as_deref())?;
    Ok(Json(s.engine.config.get(&id, q.revision).await?))
}

/// Every known revision of a document, newest first.
#[utoipa::path(get, path = "/config/{domain}/{name}/history", operation_id = "config.history", tag = "config",
    params(("domain" = Domain, Path, description = "A config domain"),
        ("name" = String, Path, description = "The document's name", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$"),
        DocQuery),
    responses((status = 200, description = "The revisions", body = ConfigHistory),
        (status = 400, description = "A malformed name or scope", body = model::ErrorBody),
        (status = 404, description = "No such document", body = model::ErrorBody)))]
pub async fn history(
    State(s): State<AppState>,
    Path((domain, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DocQuery>,
) -> Result<Json<ConfigHistory>, ApiError> {
    let id = Registry::id(&domain, &name, q.scope.as_deref())?;
    Ok(Json(s.engine.config.history(&id).await?))
}

/// Two revisions compared: JSON Patch operations and a line diff.
#[utoipa::path(get, path = "/config/{domain}/{name}/diff", operation_id = "config.diff", tag = "config",
    params(("domain" = Domain, Path, description = "A config domain"),
        ("name" = String, Path, description = "The document's name", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$"),
        DiffQuery),
    responses((status = 200, description = "The diff", body = ConfigDiff),
        (status = 400, description = "A malformed name or scope", body = model::ErrorBody),
        (status = 404, description = "No such document or revision", body = model::ErrorBody)))]
pub async fn diff(
    State(s): State<AppState>,
    Path((domain, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<ConfigDiff>, ApiError> {
    let id = Registry::id(&domain, &name, q.scope.as_deref())?;
    Ok(Json(s.engine.config.diff(&id, q.from, q.to).await?))
}

/// Lifts the pin a rollback left (audited; a reason is required).
#[utoipa::path(post, path = "/config/{domain}/{name}/unpin", operation_id = "config.unpin", tag = "config",
    params(("domain" = Domain, Path, description = "A config domain"),
        ("name" = String, Path, description = "The document's name", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$"),
        DocQuery),
    request_body = UnpinRequest,
    responses((status = 200, description = "The document, unpinned", body = ConfigDocument),
        (status = 400, description = "A malformed name, scope or reason", body = model::ErrorBody),
        (status = 404, description = "No such document, or it is not pinned", body = model::ErrorBody)))]
pub async fn unpin(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((domain, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DocQuery>,
    ApiJson(body): ApiJson<UnpinRequest>,
) -> Result<Json<ConfigDocument>, ApiError> {
    let id = Registry::id(&domain, &name, q.scope.as_deref())?;
    s.engine.config.unpin(&c, &id, &body.reason).await?;
    Ok(Json(s.engine.config.get(&id, None).await?))
}

/// Plans `config.apply`: the diff, the impact, the gates and the steps.
/// Reads only.
#[utoipa::path(post, path = "/plans/config.apply", operation_id = "plans.config.apply", tag = "config",
    request_body(content = PlanRequest, description = "`input`: an `ApplyInput`"),
    responses((status = 200, description = "The plan; `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `ApplyInput`", body = model::ErrorBody),
        (status = 409, description = "`plan_stale`: `base_revision` is not the current revision", body = model::ErrorBody)))]
pub async fn plan_apply(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(
        s.engine
            .jobs
            .plan(&c, JobKind::ConfigApply, &body.input)
            .await?,
    ))
}

/// Creates a `config.apply` job with the hash of the plan the client was shown.
#[utoipa::path(post, path = "/jobs/config.apply", operation_id = "jobs.config.apply", tag = "config",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: an `ApplyInput`; `plan_hash`: from `POST /plans/config.apply`"),
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = model::jobs::Job),
        (status = 409, description = "`plan_stale` (ask for a new plan), `gate_failed` (invalid, pinned or too wide: nothing was done), `locked`, or a key in flight", body = model::ErrorBody),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_apply(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::ConfigApply, body).await
}

/// Plans `config.rollback` (to `to_revision`, default the previous one).
#[utoipa::path(post, path = "/plans/config.rollback", operation_id = "plans.config.rollback", tag = "config",
    request_body(content = PlanRequest, description = "`input`: a `RollbackInput`"),
    responses((status = 200, description = "The plan; `blocked` when a gate failed", body = Plan),
        (status = 400, description = "The input is not a valid `RollbackInput`, or the revision is not kept", body = model::ErrorBody),
        (status = 404, description = "No such document", body = model::ErrorBody),
        (status = 409, description = "`plan_stale`: `base_revision` is not the current revision", body = model::ErrorBody)))]
pub async fn plan_rollback(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(
        s.engine
            .jobs
            .plan(&c, JobKind::ConfigRollback, &body.input)
            .await?,
    ))
}

/// Creates a `config.rollback` job; it pins the document when it is done.
#[utoipa::path(post, path = "/jobs/config.rollback", operation_id = "jobs.config.rollback", tag = "config",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body(content = CreateJob, description = "`input`: a `RollbackInput`; `plan_hash`: from `POST /plans/config.rollback`"),
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
    create(s, c, headers, JobKind::ConfigRollback, body).await
}
