//! `POST /admin/v1/search/recognise`: what kind of id a string is, the same
//! recognition as the UI's search box.

use super::Door;
use crate::error::{ApiError, ApiJson};
use axum::routing::post;
use axum::Json;
use model::search::{recognise, SearchQuery};
use model::ErrorCode;
use serde::Deserialize;

pub fn doors() -> Vec<Door> {
    vec![("search.recognise", post(recognise_id))]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecogniseRequest {
    pub query: String,
}

pub async fn recognise_id(
    ApiJson(req): ApiJson<RecogniseRequest>,
) -> Result<Json<SearchQuery>, ApiError> {
    recognise(&req.query)
        .map(Json)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}
