//! Structured logs: JSON lines (production) or human-readable (dev), and
//! beside them, when configured, the OTLP trace export of the same spans.

use crate::config::{LogConfig, LogFormat, TracesConfig};
use crate::telemetry::{Telemetry, TelemetryError};
use opentelemetry_sdk::trace::SdkTracer;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Builds the subscriber; tests pass their own writer to read the output.
pub fn subscriber<W>(
    cfg: &LogConfig,
    tracer: Option<SdkTracer>,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&cfg.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let base = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match cfg.format {
        LogFormat::Json => Box::new(
            base.json()
                .with_current_span(true)
                .with_span_list(false)
                .finish()
                .with(otel(tracer)),
        ),
        LogFormat::Pretty => Box::new(base.finish().with(otel(tracer))),
    }
}

fn otel<S>(tracer: Option<SdkTracer>) -> Option<OpenTelemetryLayer<S, SdkTracer>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    tracer.map(|t| tracing_opentelemetry::layer().with_tracer(t))
}

/// Installs the process's subscriber; keep the returned guard for the
/// process's lifetime (dropping it flushes the trace export).
pub fn init(cfg: &LogConfig, traces: &TracesConfig) -> Result<Telemetry, TelemetryError> {
    let (telemetry, tracer) = Telemetry::start(traces)?;
    // A second init (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(cfg, tracer, std::io::stdout));
    Ok(telemetry)
}
