//! `[store]` (embedded or NATS) and `[nats]` (the connection).

use super::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    Embedded,
    Nats,
}

impl StoreBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Nats => "nats",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// `nats://host:port`; required when `store.backend = "nats"`.
    pub url: Option<String>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    pub creds_file: Option<PathBuf>,
    /// Require TLS to the server (implied by a `tls://` URL).
    pub tls_required: bool,
    /// CA certificate (PEM) to verify the server with.
    pub ca_file: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Embedded,
            data_dir: PathBuf::from("/var/lib/control"),
        }
    }
}

/// `nats://host:port` → (host, port). Credentials in the URL are refused:
/// they belong in `nats.user`/`nats.password` (and their `_FILE` variants),
/// where they are kept out of logs.
pub fn nats_host_port(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("tls://"))
        .ok_or_else(|| "must start with nats:// or tls://".to_owned())?;
    if rest.contains('@') {
        return Err("must not contain credentials; use nats.user / nats.password".into());
    }
    let hostport = rest.trim_end_matches('/');
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?),
        None => (hostport, 4222),
    };
    if host.is_empty() {
        return Err("missing host".into());
    }
    Ok((host.to_owned(), port))
}
