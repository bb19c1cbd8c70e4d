//! `/admin/v1/placement`, `/routing`, `/tenants`, `/fleet/health`: the
//! fleet reads, over `engine::fleet::FleetService`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use model::views::{
    FleetHealthPage, InstanceQuery, PlacementOverview, RoutingView, TenantDetail, TenantPage,
    TenantQuery,
};
use model::ErrorCode;
use std::convert::Infallible;
use std::time::Duration;

pub async fn placements(State(s): State<AppState>) -> Json<Vec<PlacementOverview>> {
    Json(s.fleet.placements())
}

pub async fn placement(
    State(s): State<AppState>,
    Path(kind): Path<String>,
) -> Result<Json<PlacementOverview>, ApiError> {
    Ok(Json(s.fleet.placement(&kind)?))
}

pub async fn routing(State(s): State<AppState>) -> Json<RoutingView> {
    Json(s.fleet.routing_view())
}

/// Query-string errors are `bad_request` with the field named.
pub async fn tenants(
    State(s): State<AppState>,
    q: Result<Query<TenantQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TenantPage>, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            e.body_text().chars().take(200).collect::<String>(),
        )
    })?;
    Ok(Json(s.fleet.tenants(&q)))
}

pub async fn tenant(
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<TenantDetail>, ApiError> {
    Ok(Json(s.fleet.tenant(&t)?))
}

pub async fn health(
    State(s): State<AppState>,
    q: Result<Query<InstanceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FleetHealthPage>, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            e.body_text().chars().take(200).collect::<String>(),
        )
    })?;
    Ok(Json(s.fleet.health_page(&q)))
}

/// Server-sent events (`pulse`): health summary and document revisions now,
/// then whenever either changes. Pages refetch what they show.
pub async fn events(
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    use futures::StreamExt;
    let stream = s.fleet.pulses().map(|p| {
        Ok(Event::default()
            .event("pulse")
            .data(serde_json::to_string(&p).unwrap_or_default()))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
