//! `/admin/v1/deploy/*`: services, tasks and deploy history on Swarm
//! (docs/deployments.md), over `engine::swarm::Deployments`.

use super::Door;
use crate::error::{ApiError, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use engine::swarm::Deployments;
use model::deploy::{
    ServiceDetail, ServicePage, ServiceQuery, SpecDiff, SpecDiffQuery, SpecHistory,
};
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![
        ("deploy.services", routes!(services)),
        ("deploy.service", routes!(service)),
        ("deploy.history", routes!(history)),
        ("deploy.diff", routes!(diff)),
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
