//! One structured log line and one metrics observation per request, under a
//! span that carries the request's ids so handler logs carry them too.
//! Headers are never logged (Authorization, Cookie and tokens stay out), and
//! neither is the query string, where a careless client may put a token.

use super::ids::RequestIds;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

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
    let (request_id, correlation_id, trace_id) = match req.extensions().get::<RequestIds>() {
        Some(ids) => (
            ids.request_id.to_string(),
            ids.correlation_id.to_string(),
            ids.trace.trace_id.to_string(),
        ),
        None => Default::default(),
    };
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        correlation_id = %correlation_id,
        trace_id = %trace_id,
    );
    let res = next.run(req).instrument(span.clone()).await;
    let who = res
        .extensions()
        .get::<super::authz::Who>()
        .cloned()
        .unwrap_or_default();
    let status = res.status().as_u16();
    let latency = started.elapsed();
    state.metrics.observe(&method, &route, status, latency);
    span.in_scope(|| {
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
    });
    res
}
