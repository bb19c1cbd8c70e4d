//! One structured log line and one metrics observation per request, inside
//! the request's span (opened by `ids::assign_ids` with the request's ids,
//! so handler logs carry them too).
//! Headers are never logged (Authorization, Cookie and tokens stay out), and
//! neither is the query string, where a careless client may put a token.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// The bounded label for a request's route.
pub fn route_label(req: &Request) -> String {
    if let Some(m) = req.extensions().get::<MatchedPath>() {
        return m.as_str().to_owned();
    }
    let path = req.uri().path();
    if path.starts_with("/pkg/") {
        "/pkg/{*file}".to_owned()
    } else if path.starts_with("/admin/") {
        "/admin/{*unmatched}".to_owned()
    } else {
        "{fallback}".to_owned()
    }
}

pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(&req);
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    // The request's span, opened by `assign_ids` with the ids.
    let span = tracing::Span::current();
    let res = next.run(req).await;
    let who = res
        .extensions()
        .get::<super::authz::Who>()
        .cloned()
        .unwrap_or_default();
    let status = res.status().as_u16();
    let latency = started.elapsed();
    state.metrics.observe(&method, &route, status, latency);
    // The span was started by `assign_ids` (its ids were needed for the
    // echoed traceparent), before the route was known: rename it now.
    engine::telemetry::rename(&span, format!("{method} {route}"));
    span.record("http.route", route.as_str());
    if !who.tenant.is_empty() {
        span.record("tenant_id", who.tenant.as_str());
    }
    span.record("http.response.status_code", status);
    tracing::info!(
        target: "control::http",
        method = %method,
        route = %route,
        path = %path,
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        principal_id = %who.principal,
        tenant_id = %who.tenant,
        "request"
    );
    res
}
