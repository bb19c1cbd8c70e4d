//! `[server]` (listening, limits, the site) and `[log]`.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Requests taking longer are answered 504 `timeout`.
    pub request_timeout_ms: u64,
    /// Larger request bodies are answered 413 `payload_too_large`.
    pub body_limit_bytes: usize,
    /// In-flight requests get this long to finish after SIGTERM.
    pub shutdown_timeout_ms: u64,
    /// Where cargo-leptos put the built site (pkg/, css, wasm).
    pub site_root: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 3000)),
            request_timeout_ms: 30_000,
            body_limit_bytes: 1024 * 1024,
            shutdown_timeout_ms: 10_000,
            site_root: "target/site".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing `EnvFilter` directive, e.g. `info` or `info,server=debug`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}
