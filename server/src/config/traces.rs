//! `[traces]`: OTLP trace export (docs/observability.md, "Traces"). Off
//! unless `endpoint` is set.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// The OTLP/HTTP traces URL, used as given: `http://tempo:4318/v1/traces`.
    pub endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share (0..=1) of new traces exported; a request that arrives with a
    /// sampled `traceparent` follows its caller's decision.
    pub sample_ratio: f64,
    /// How long one export may take before it is dropped.
    pub timeout_ms: u64,
}

impl Default for TracesConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: "control".into(),
            sample_ratio: 1.0,
            timeout_ms: 10_000,
        }
    }
}

impl TracesConfig {
    /// The endpoint when it is usable, or which key is wrong and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(("traces.sample_ratio", "must be between 0 and 1".into()));
        }
        if self.service_name.trim().is_empty() {
            return Err(("traces.service_name", "must not be empty".into()));
        }
        if self.timeout_ms == 0 {
            return Err(("traces.timeout_ms", "must be greater than 0".into()));
        }
        match self.endpoint.as_deref() {
            None => Ok(()),
            Some(e) if e.starts_with("http://") && e.len() > "http://".len() => Ok(()),
            // The exporter is built without TLS: export to Tempo (or a
            // collector) on the internal network.
            Some(e) if e.starts_with("https://") => Err((
                "traces.endpoint",
                "https is not supported by this build: use an http:// endpoint on the internal network".into(),
            )),
            Some(_) => Err(("traces.endpoint", "must be an http:// URL".into())),
        }
    }
}
