//! `/admin/v1/*`: the REST door into the same engine services the UI uses.

use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use model::search::{recognise, SearchQuery};
use model::{ErrorCode, ServerStatus};
use serde::Deserialize;

pub async fn status(State(state): State<AppState>) -> Json<ServerStatus> {
    Json(state.control.status().await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecogniseRequest {
    pub query: String,
}

/// What kind of id a string is: the same recognition as the UI's search box.
pub async fn recognise_id(
    ApiJson(req): ApiJson<RecogniseRequest>,
) -> Result<Json<SearchQuery>, ApiError> {
    recognise(&req.query)
        .map(Json)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}
