//! Structured logs: JSON lines (production) or human-readable (dev).

use crate::config::{LogConfig, LogFormat};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Builds the subscriber; tests pass their own writer to read the output.
pub fn subscriber<W>(cfg: &LogConfig, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
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
                .finish(),
        ),
        LogFormat::Pretty => Box::new(base.finish()),
    }
}

pub fn init(cfg: &LogConfig) {
    // A second init (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(cfg, std::io::stdout));
}
