//! `/admin/v1/platform/drift`: where the platform differs from its stack
//! files and the registry (docs/drift.md), over `engine::drift::Drift`.

use super::Door;
use crate::error::{ApiError, ApiQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use model::drift::{DriftQuery, DriftReport};
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![("platform.drift", routes!(drift))]
}

/// Drift items computed now from desired and observed: a summary over
/// every item, and the items the filters keep, each with a remediation
/// (a job to plan, or a command), never applied automatically.
#[utoipa::path(get, path = "/platform/drift", operation_id = "platform.drift", tag = "deploy",
    params(DriftQuery),
    responses((status = 200, description = "The drift report", body = DriftReport),
        (status = 400, description = "A malformed filter (an unknown category or key)", body = model::ErrorBody),
        (status = 503, description = "The Docker Engine is unavailable and nothing was read yet (`swarm_unavailable`)", body = model::ErrorBody)))]
pub async fn drift(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<DriftQuery>,
) -> Result<Json<DriftReport>, ApiError> {
    Ok(Json(s.engine.drift.report(&q).await?))
}
