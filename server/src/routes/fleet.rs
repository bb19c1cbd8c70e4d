//! `/admin/v1/placement`, `/routing`, `/tenants`, `/fleet/health`: the
//! fleet reads, over `engine::fleet::FleetService`.

use super::Door;
use crate::error::{ApiError, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Json;
use futures::Stream;
use model::views::{
    FleetHealthPage, InstanceQuery, PlacementOverview, RoutingView, TenantDetail, TenantPage,
    TenantQuery,
};
use std::convert::Infallible;
use std::time::Duration;

pub fn doors() -> Vec<Door> {
    vec![
        ("placement.list", get(placements)),
        ("placement.get", get(placement)),
        ("routing.get", get(routing)),
        ("tenants.list", get(tenants)),
        ("tenants.get", get(tenant)),
        ("fleet.health", get(health)),
        ("fleet.events", get(events)),
    ]
}

pub async fn placements(State(s): State<AppState>) -> Json<Vec<PlacementOverview>> {
    Json(s.engine.fleet.placements())
}

pub async fn placement(
    State(s): State<AppState>,
    Path(kind): Path<String>,
) -> Result<Json<PlacementOverview>, ApiError> {
    Ok(Json(s.engine.fleet.placement(&kind)?))
}

pub async fn routing(State(s): State<AppState>) -> Json<RoutingView> {
    Json(s.engine.fleet.routing_view())
}

pub async fn tenants(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<Json<TenantPage>, ApiError> {
    Ok(Json(s.engine.fleet.tenants(&q)))
}

pub async fn tenant(
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<TenantDetail>, ApiError> {
    Ok(Json(s.engine.fleet.tenant(&t)?))
}

pub async fn health(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<InstanceQuery>,
) -> Result<Json<FleetHealthPage>, ApiError> {
    Ok(Json(s.engine.fleet.health_page(&q)))
}

/// Server-sent events (`pulse`): health summary and document revisions now,
/// then whenever either changes. Pages refetch what they show.
pub async fn events(
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    use futures::StreamExt;
    let stream = s.engine.fleet.pulses().map(|p| {
        Ok(Event::default()
            .event("pulse")
            .data(serde_json::to_string(&p).unwrap_or_default()))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
