//! `POST /admin/v1/search/recognise`: what kind of id a string is, the same
//! recognition as the UI's search box.

use super::Door;
use crate::error::{ApiError, ApiJson};
use axum::Json;
use model::search::{recognise, SearchQuery};
use model::ErrorCode;
use serde::Deserialize;
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![("search.recognise", routes!(recognise_id))]
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecogniseRequest {
    pub query: String,
}

/// What kind of id a pasted string is (request, correlation, trace, job…).
#[utoipa::path(post, path = "/search/recognise", operation_id = "search.recognise", tag = "search",
    request_body = RecogniseRequest,
    responses((status = 200, description = "The recognised id", body = SearchQuery)))]
pub async fn recognise_id(
    ApiJson(req): ApiJson<RecogniseRequest>,
) -> Result<Json<SearchQuery>, ApiError> {
    recognise(&req.query)
        .map(Json)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}
