//! One trace across the control plane: the spans of requests, jobs, steps
//! and outbound calls carry the trace the caller started, and the
//! `traceparent` the control plane echoes and sends downstream is the span
//! it exports. Without an exporter installed (the default) the OpenTelemetry
//! context is empty and callers keep the ids they generated themselves.

use model::{SpanId, TraceId, TraceParent};
use opentelemetry::trace::{self as otel, TraceContextExt};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `span` a child of `parent` (an incoming header, or the traceparent
/// a job recorded when it was created). Must run before the span is first
/// entered.
pub fn continue_trace(span: &Span, parent: &TraceParent) {
    let (Ok(trace), Ok(id)) = (
        otel::TraceId::from_hex(parent.trace_id.as_str()),
        otel::SpanId::from_hex(parent.parent_id.as_str()),
    ) else {
        return;
    };
    let remote = otel::SpanContext::new(
        trace,
        id,
        otel::TraceFlags::new(parent.flags),
        true,
        otel::TraceState::default(),
    );
    // Only fails once the span has started; callers set it first.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// `continue_trace` from a recorded `traceparent` header value; a malformed
/// or empty one starts a new trace.
pub fn continue_trace_from(span: &Span, traceparent: &str) {
    if let Ok(parent) = TraceParent::parse(traceparent) {
        continue_trace(span, &parent);
    }
}

/// The exported span's own `traceparent`, or `None` when no exporter is
/// installed.
pub fn traceparent_of(span: &Span) -> Option<TraceParent> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    Some(TraceParent {
        trace_id: TraceId::parse(&sc.trace_id().to_string()).ok()?,
        parent_id: SpanId::parse(&sc.span_id().to_string()).ok()?,
        flags: sc.trace_flags().to_u8(),
    })
}

/// Renames an exported span that has already started (a span's
/// `otel.name` field is read only when it starts).
pub fn rename(span: &Span, name: String) {
    span.context().span().update_name(name);
}

/// A client span for one outbound HTTP call: its method, host and path
/// (never the query string, where a careless caller may put a token).
pub fn outbound(method: &str, url: &str) -> Span {
    let (host, path) = match url.split_once("://").map(|(_, rest)| rest) {
        Some(rest) => {
            let rest = rest.split(['?', '#']).next().unwrap_or(rest);
            match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            }
        }
        None => ("", url.split(['?', '#']).next().unwrap_or(url)),
    };
    tracing::info_span!(
        "outbound",
        otel.name = %format!("{method} {host}"),
        otel.kind = "client",
        http.request.method = %method,
        server.address = %host,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
    )
}

/// A client span for one Docker Engine operation (a service update in a
/// job's step, the observer's read of services, tasks and nodes).
pub fn docker(operation: &'static str) -> Span {
    tracing::info_span!(
        "docker",
        otel.name = %format!("docker {operation}"),
        otel.kind = "client",
        docker.operation = operation,
    )
}

/// The `traceparent` to send on an outbound call made inside `span`: the
/// span's own when exported, else the caller's recorded one.
pub fn downstream(span: &Span, recorded: Option<&str>) -> Option<String> {
    traceparent_of(span)
        .map(|t| t.to_string())
        .or_else(|| recorded.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exporter_there_is_no_context_and_recorded_ids_stay() {
        let span = outbound("GET", "http://10.0.0.1:8080/admin/tenants/acme?token=x");
        assert!(traceparent_of(&span).is_none());
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(downstream(&span, Some(tp)).as_deref(), Some(tp));
        assert_eq!(downstream(&span, None), None);
    }
}
