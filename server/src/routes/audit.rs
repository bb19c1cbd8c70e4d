//! `/admin/v1/audit`: list (filters + paging, newest first), NDJSON export
//! (oldest first) and chain verification.

use super::Door;
use crate::error::{ApiError, ApiQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::Json;
use model::audit::{AuditPage, AuditQuery, Verdict};
use model::ErrorCode;
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![
        ("audit.list", routes!(list)),
        ("audit.export", routes!(export)),
        ("audit.verify", routes!(verify)),
    ]
}

/// A page of audit events, newest first.
#[utoipa::path(get, path = "/audit", operation_id = "audit.list", tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of audit events", body = AuditPage)))]
pub async fn list(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(s.engine.audit.query(&q).await?))
}

/// Every matching audit event as NDJSON, one event per line, oldest first.
#[utoipa::path(get, path = "/audit/export", operation_id = "audit.export", tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "NDJSON: one `AuditEvent` per line",
        content_type = "application/x-ndjson", body = String)))]
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

/// Verifies the audit chain (every HMAC link).
#[utoipa::path(get, path = "/audit/verify", operation_id = "audit.verify", tag = "audit",
    responses((status = 200, description = "The chain's verdict", body = Verdict)))]
pub async fn verify(State(s): State<AppState>) -> Result<Json<Verdict>, ApiError> {
    Ok(Json(s.engine.audit.verify().await?))
}
