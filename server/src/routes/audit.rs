//! `/admin/v1/audit`: list (filters + paging, newest first), NDJSON export
//! (oldest first) and chain verification.

use super::Door;
use crate::error::{ApiError, ApiQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use model::audit::{AuditPage, AuditQuery, Verdict};
use model::ErrorCode;

pub fn doors() -> Vec<Door> {
    vec![
        ("audit.list", get(list)),
        ("audit.export", get(export)),
        ("audit.verify", get(verify)),
    ]
}

pub async fn list(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(s.engine.audit.query(&q).await?))
}

pub async fn export(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let events = s.engine.audit.export(&q).await?;
    let mut body = Vec::with_capacity(events.len() * 512);
    for e in &events {
        serde_json::to_writer(&mut body, e)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        body.push(b'\n');
    }
    Ok((
        [
            (CONTENT_TYPE, "application/x-ndjson"),
            (CONTENT_DISPOSITION, "attachment; filename=\"audit.ndjson\""),
        ],
        body,
    ))
}

pub async fn verify(State(s): State<AppState>) -> Result<Json<Verdict>, ApiError> {
    Ok(Json(s.engine.audit.verify().await?))
}
