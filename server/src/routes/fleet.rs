//! `/admin/v1/placement`, `/routing`, `/tenants`, `/fleet/health`: the
//! fleet reads, over `engine::fleet::FleetService`.

use super::Door;
use crate::error::{ApiError, ApiQuery};
use crate::metrics::SseStream;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use model::views::{
    FleetHealthPage, InstanceQuery, PlacementOverview, RoutingView, TenantDetail, TenantPage,
    TenantQuery,
};
use std::convert::Infallible;
use std::time::Duration;
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![
        ("placement.list", routes!(placements)),
        ("placement.get", routes!(placement)),
        ("routing.get", routes!(routing)),
        ("tenants.list", routes!(tenants)),
        ("tenants.get", routes!(tenant)),
        ("fleet.health", routes!(health)),
        ("fleet.events", routes!(events)),
    ]
}

/// Every worker kind's placement map, with its problems.
#[utoipa::path(get, path = "/placement", operation_id = "placement.list", tag = "fleet",
    responses((status = 200, description = "One overview per worker kind", body = Vec<PlacementOverview>)))]
pub async fn placements(State(s): State<AppState>) -> Json<Vec<PlacementOverview>> {
    Json(s.engine.placements())
}

/// One kind's placement map.
#[utoipa::path(get, path = "/placement/{kind}", operation_id = "placement.get", tag = "fleet",
    params(("kind" = String, Path, description = "A worker kind: aggregate, projection or runner")),
    responses((status = 200, description = "The kind's placement", body = PlacementOverview),
        (status = 404, description = "No such worker kind", body = model::ErrorBody)))]
pub async fn placement(
    State(s): State<AppState>,
    Path(kind): Path<String>,
) -> Result<Json<PlacementOverview>, ApiError> {
    Ok(Json(s.engine.fleet.placement(&kind)?))
}

/// The Gateway's routing directory as loaded.
#[utoipa::path(get, path = "/routing", operation_id = "routing.get", tag = "fleet",
    responses((status = 200, description = "The routing directory", body = RoutingView)))]
pub async fn routing(State(s): State<AppState>) -> Json<RoutingView> {
    Json(s.engine.fleet.routing_view())
}

/// A page of tenants with where they are placed.
#[utoipa::path(get, path = "/tenants", operation_id = "tenants.list", tag = "fleet",
    params(TenantQuery),
    responses((status = 200, description = "A page of tenants", body = TenantPage)))]
pub async fn tenants(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<Json<TenantPage>, ApiError> {
    Ok(Json(s.engine.tenants(&q)))
}

/// One tenant: its placement per kind and its instances.
#[utoipa::path(get, path = "/tenants/{tenant}", operation_id = "tenants.get", tag = "fleet",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "The tenant", body = TenantDetail),
        (status = 404, description = "No such tenant", body = model::ErrorBody)))]
pub async fn tenant(
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<TenantDetail>, ApiError> {
    Ok(Json(s.engine.fleet.tenant(&t)?))
}

/// A page of instances with their health.
#[utoipa::path(get, path = "/fleet/health", operation_id = "fleet.health", tag = "fleet",
    params(InstanceQuery),
    responses((status = 200, description = "A page of instance health", body = FleetHealthPage)))]
pub async fn health(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<InstanceQuery>,
) -> Result<Json<FleetHealthPage>, ApiError> {
    Ok(Json(s.engine.fleet.health_page(&q)))
}

/// Server-sent events (`pulse`): health summary and document revisions now,
/// then whenever either changes. Pages refetch what they show.
#[utoipa::path(get, path = "/fleet/events", operation_id = "fleet.events", tag = "fleet",
    responses((status = 200, description = "Server-sent events `pulse`, each a `FleetPulse` as JSON",
        content_type = "text/event-stream", body = String)))]
pub async fn events(
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    use futures::StreamExt;
    let stream = s.engine.fleet.pulses().map(|p| {
        Ok(Event::default()
            .event("pulse")
            .data(serde_json::to_string(&p).unwrap_or_default()))
    });
    Sse::new(s.metrics.sse(SseStream::Fleet, stream))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
