//! `x-request-id`, `x-correlation-id` and `traceparent`: continued when the
//! incoming value is well-formed, generated when missing or malformed (an
//! untrusted id is replaced, never echoed back), and echoed on every response.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use model::{CorrelationId, RequestId, SpanId, TraceId, TraceParent};
use rand::RngCore;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";
pub const CORRELATION_ID: &str = "x-correlation-id";
pub const TRACEPARENT: &str = "traceparent";

/// The ids of one request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: RequestId,
    pub correlation_id: CorrelationId,
    /// This hop's span within the (continued or new) trace.
    pub trace: TraceParent,
}

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b
}

fn random8() -> [u8; 8] {
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    b
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl RequestIds {
    pub fn from_headers(h: &HeaderMap) -> Self {
        let request_id = header(h, REQUEST_ID)
            .and_then(|v| RequestId::parse(v).ok())
            .unwrap_or_else(|| RequestId::from_random(random16()));
        let correlation_id = header(h, CORRELATION_ID)
            .and_then(|v| CorrelationId::parse(v).ok())
            .unwrap_or_else(|| CorrelationId::from_random(random16()));
        let span = SpanId::from_random(random8());
        let trace = match header(h, TRACEPARENT).and_then(|v| TraceParent::parse(v).ok()) {
            Some(parent) => parent.child(span),
            None => TraceParent {
                trace_id: TraceId::from_random(random16()),
                parent_id: span,
                flags: 1,
            },
        };
        Self {
            request_id,
            correlation_id,
            trace,
        }
    }

    pub fn write_to(&self, h: &mut HeaderMap) {
        // All three are validated ASCII, so these conversions cannot fail.
        if let Ok(v) = HeaderValue::from_str(self.request_id.as_str()) {
            h.insert(REQUEST_ID, v);
        }
        if let Ok(v) = HeaderValue::from_str(self.correlation_id.as_str()) {
            h.insert(CORRELATION_ID, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.trace.to_string()) {
            h.insert(TRACEPARENT, v);
        }
    }
}

/// Assigns the ids, makes them visible to handlers (extension) and to
/// downstream code reading headers (the request's own headers are replaced
/// with the validated values), and echoes them on the response. The request
/// runs in its span (`request`), a child of the incoming `traceparent`;
/// when traces are exported, the echoed `traceparent` is that span's.
pub async fn assign_ids(mut req: Request, next: Next) -> Response {
    let mut ids = RequestIds::from_headers(req.headers());
    let span = tracing::info_span!(
        "request",
        otel.name = %req.method(),
        otel.kind = "server",
        request_id = %ids.request_id,
        correlation_id = %ids.correlation_id,
        trace_id = tracing::field::Empty,
        tenant_id = tracing::field::Empty,
        http.request.method = %req.method(),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if let Some(parent) =
        header(req.headers(), TRACEPARENT).and_then(|v| TraceParent::parse(v).ok())
    {
        engine::telemetry::continue_trace(&span, &parent);
    }
    if let Some(exported) = engine::telemetry::traceparent_of(&span) {
        ids.trace = exported;
    }
    span.record("trace_id", tracing::field::display(&ids.trace.trace_id));
    ids.write_to(req.headers_mut());
    req.extensions_mut().insert(ids.clone());
    let mut res = next.run(req).instrument(span).await;
    ids.write_to(res.headers_mut());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn generates_ids_when_missing() {
        let ids = RequestIds::from_headers(&HeaderMap::new());
        assert!(ids.request_id.as_str().starts_with("req_"));
        assert!(ids.correlation_id.as_str().starts_with("cor_"));
        let other = RequestIds::from_headers(&HeaderMap::new());
        assert_ne!(ids.request_id, other.request_id);
        assert_ne!(ids.trace.trace_id, other.trace.trace_id);
    }

    #[test]
    fn continues_well_formed_ids() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ids = RequestIds::from_headers(&headers(&[
            (REQUEST_ID, "abc-123"),
            (CORRELATION_ID, "flow.42"),
            (TRACEPARENT, tp),
        ]));
        assert_eq!(ids.request_id.as_str(), "abc-123");
        assert_eq!(ids.correlation_id.as_str(), "flow.42");
        assert_eq!(
            ids.trace.trace_id.as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // Our hop gets its own span id in the same trace.
        assert_ne!(ids.trace.parent_id.as_str(), "00f067aa0ba902b7");
    }

    #[test]
    fn replaces_malformed_ids_instead_of_trusting_them() {
        let long = "a".repeat(200);
        let ids = RequestIds::from_headers(&headers(&[
            (REQUEST_ID, &long),
            (CORRELATION_ID, "has spaces in it"),
            (TRACEPARENT, "00-zzzz-yyyy-01"),
        ]));
        assert!(ids.request_id.as_str().starts_with("req_"));
        assert!(ids.correlation_id.as_str().starts_with("cor_"));
        assert_ne!(ids.trace.trace_id.as_str(), "zzzz");
    }

    #[test]
    fn writes_all_three_headers() {
        let ids = RequestIds::from_headers(&HeaderMap::new());
        let mut h = HeaderMap::new();
        ids.write_to(&mut h);
        assert_eq!(h.get(REQUEST_ID).unwrap(), ids.request_id.as_str());
        assert_eq!(h.get(CORRELATION_ID).unwrap(), ids.correlation_id.as_str());
        assert!(TraceParent::parse(h.get(TRACEPARENT).unwrap().to_str().unwrap()).is_ok());
    }
}
