//! The control plane's `/metrics`: one prometheus-client registry holding
//! its own families (build, HTTP traffic, refusals, SSE clients) and the
//! engine's, rendered as Prometheus text (0.0.4). Labels are the route
//! *template* (bounded), never the raw path.

use futures::stream::{BoxStream, Stream, StreamExt};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    service: String,
    version: String,
    git_sha: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabel {
    stream: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    refusals: Family<ReasonLabel, Counter>,
    sse: Family<StreamLabel, Gauge>,
}

/// Why the authorisation middleware refused a request (a bounded label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// A protected route called without any credentials.
    NoCredentials,
    /// Credentials presented and refused (bad, expired, revoked token).
    BadCredentials,
    /// The Gateway could not be asked.
    IdentityUnavailable,
    Forbidden,
    CrossSite,
    TenantScope,
}

impl Refusal {
    const ALL: [Refusal; 6] = [
        Refusal::NoCredentials,
        Refusal::BadCredentials,
        Refusal::IdentityUnavailable,
        Refusal::Forbidden,
        Refusal::CrossSite,
        Refusal::TenantScope,
    ];

    fn label(self) -> &'static str {
        match self {
            Refusal::NoCredentials => "no_credentials",
            Refusal::BadCredentials => "bad_credentials",
            Refusal::IdentityUnavailable => "identity_unavailable",
            Refusal::Forbidden => "forbidden",
            Refusal::CrossSite => "cross_site",
            Refusal::TenantScope => "tenant_scope",
        }
    }
}

/// The server-sent event streams (the `stream` label of `control_sse_clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseStream {
    /// One job's changes (`/jobs/{job}/events`).
    Job,
    /// Every job's changes (`/jobs/changes`).
    Jobs,
    /// The Swarm observer's pulses (`/deploy/events`).
    Deploy,
    /// The fleet's health pulses (`/fleet/events`).
    Fleet,
}

impl SseStream {
    const ALL: [SseStream; 4] = [
        SseStream::Job,
        SseStream::Jobs,
        SseStream::Deploy,
        SseStream::Fleet,
    ];

    fn label(self) -> &'static str {
        match self {
            SseStream::Job => "job",
            SseStream::Jobs => "jobs",
            SseStream::Deploy => "deploy",
            SseStream::Fleet => "fleet",
        }
    }
}

impl Metrics {
    /// The control plane's families and, beside them, the engine's.
    pub fn new(build: &model::BuildInfo, engine: &engine::Services) -> Self {
        let mut m = Self::own(build);
        engine.register_metrics(&mut m.registry);
        m
    }

    /// The families of this crate only. Every refusal reason and stream
    /// starts at 0, so their series exist before the first event.
    fn own(build: &model::BuildInfo) -> Self {
        let mut m = Self {
            registry: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            refusals: Family::default(),
            sse: Family::default(),
        };
        for why in Refusal::ALL {
            m.refusals.get_or_create_owned(&ReasonLabel {
                reason: why.label(),
            });
        }
        for stream in SseStream::ALL {
            m.sse.get_or_create_owned(&StreamLabel {
                stream: stream.label(),
            });
        }
        let r = &mut m.registry;
        r.register_collector(Box::new(process_metrics::ProcessCollector));
        // `Info` is encoded as `control_build_info{…} 1` of type gauge.
        r.register(
            "control_build",
            "Build identity of this control plane",
            Info::new(BuildLabels {
                service: build.service.clone(),
                version: build.version.clone(),
                git_sha: build.git_sha.clone(),
            }),
        );
        r.register(
            "control_http_requests",
            "HTTP requests by method, route template and status",
            m.requests.clone(),
        );
        r.register(
            "control_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            m.latency.clone(),
        );
        r.register(
            "control_auth_refusals",
            "Requests the authorisation middleware refused, by reason",
            m.refusals.clone(),
        );
        r.register(
            "control_sse_clients",
            "Server-sent event streams open now, by stream",
            m.sse.clone(),
        );
        m
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, latency: Duration) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
    }

    pub fn refused(&self, why: Refusal) {
        self.refusals
            .get_or_create(&ReasonLabel {
                reason: why.label(),
            })
            .inc();
    }

    /// `events`, counted in `control_sse_clients` from now until the
    /// stream is dropped (the client went away, or the server stopped).
    pub fn sse<T>(
        &self,
        stream: SseStream,
        events: impl Stream<Item = T> + Send + 'static,
    ) -> Counted<T> {
        let clients = self.sse.get_or_create_owned(&StreamLabel {
            stream: stream.label(),
        });
        clients.inc();
        Counted {
            events: events.boxed(),
            _client: SseClient(clients),
        }
    }

    /// Prometheus text (0.0.4) of every family.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, nor can any family's encoding.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// One open SSE stream: decrements its gauge when dropped.
struct SseClient(Gauge);

impl Drop for SseClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// An SSE body's events, counted while the body lives (see `Metrics::sse`).
pub struct Counted<T> {
    events: BoxStream<'static, T>,
    _client: SseClient,
}

impl<T> Stream for Counted<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.events.poll_next_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> model::BuildInfo {
        model::BuildInfo {
            service: "control".into(),
            version: "1.2.3".into(),
            git_sha: "abc\"def".into(),
        }
    }

    #[test]
    fn renders_counters_histograms_and_build_info() {
        let m = Metrics::own(&build());
        m.observe("GET", "/admin/v1/status", 200, Duration::from_millis(3));
        m.observe("GET", "/admin/v1/status", 200, Duration::from_millis(300));
        let text = m.render();
        assert!(
            text.contains(
                r#"control_build_info{service="control",version="1.2.3",git_sha="abc\"def"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"control_http_requests_total{method="GET",route="/admin/v1/status",status="200"} 2"#
        ));
        let bucket = |le: &str| {
            format!(
                r#"control_http_request_duration_seconds_bucket{{method="GET",route="/admin/v1/status",status="200",le="{le}"}}"#
            )
        };
        assert!(text.contains(&format!("{} 1\n", bucket("0.005"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", bucket("0.5"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", bucket("+Inf"))), "{text}");
        m.refused(Refusal::Forbidden);
        m.refused(Refusal::Forbidden);
        m.refused(Refusal::CrossSite);
        let text = m.render();
        assert!(text.contains(r#"control_auth_refusals_total{reason="forbidden"} 2"#));
        assert!(text.contains(r#"control_auth_refusals_total{reason="cross_site"} 1"#));
        assert!(text.contains(r#"control_auth_refusals_total{reason="tenant_scope"} 0"#));
    }

    #[test]
    fn an_sse_stream_counts_while_it_lives() {
        let m = Metrics::own(&build());
        let open = |s: SseStream| {
            m.sse
                .get(&StreamLabel { stream: s.label() })
                .map(|g| g.get())
        };
        assert_eq!(open(SseStream::Fleet), Some(0));
        let a = m.sse(SseStream::Fleet, futures::stream::pending::<()>());
        let b = m.sse(SseStream::Fleet, futures::stream::pending::<()>());
        assert_eq!(open(SseStream::Fleet), Some(2));
        assert_eq!(open(SseStream::Jobs), Some(0));
        drop(a);
        assert_eq!(open(SseStream::Fleet), Some(1));
        drop(b);
        assert_eq!(open(SseStream::Fleet), Some(0));
    }
}
