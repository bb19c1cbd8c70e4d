//! OTLP trace export: a batch span processor over OTLP/HTTP protobuf, fed by
//! the `tracing` spans of requests, jobs, steps and outbound calls
//! (engine::telemetry). Off unless `traces.endpoint` is set.

use crate::config::TracesConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("traces.endpoint: the OTLP exporter cannot be built: {0}")]
pub struct TelemetryError(String);

/// Owns the exporter: dropping it exports what is buffered and stops it.
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// The tracer to feed from `tracing`, or none when export is off.
    pub fn start(cfg: &TracesConfig) -> Result<(Self, Option<SdkTracer>), TelemetryError> {
        let Some(endpoint) = cfg.endpoint.as_deref() else {
            return Ok((Self::default(), None));
        };
        let exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_millis(cfg.timeout_ms))
            .build()
            .map_err(|e| TelemetryError(e.to_string()))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                cfg.sample_ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(cfg.service_name.clone())
                    .with_attribute(opentelemetry::KeyValue::new(
                        "service.version",
                        crate::VERSION,
                    ))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("control");
        Ok((
            Self {
                provider: Some(provider),
            },
            Some(tracer),
        ))
    }

    /// Exports every finished span now (tests; shutdown does it too).
    pub fn flush(&self) {
        if let Some(p) = &self.provider {
            if let Err(e) = p.force_flush() {
                tracing::warn!(error = %e, "trace export failed");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}
