//! Configuration: defaults → optional TOML file → `CONTROL_*` environment.
//! Every key may also come from a file named by `CONTROL_<KEY>_FILE` (Swarm
//! secrets under /run/secrets). Unknown keys and bad values fail at start
//! with a message that names the key.

mod audit;
mod auth;
mod drift;
mod fleet;
mod grafana;
mod jobs;
mod moves;
mod registry;
mod server;
mod store;
mod swarm;
mod traces;

pub use audit::AuditConfig;
pub use auth::AuthConfig;
pub use drift::DriftConfig;
pub use fleet::{FleetConfig, FleetSource};
pub use grafana::GrafanaConfig;
pub use jobs::JobsConfig;
pub use moves::{GatesConfig, MovesConfig};
pub use registry::RegistryConfig;
pub use server::{LogConfig, LogFormat, ServerConfig};
pub use store::{nats_host_port, NatsConfig, StoreBackend, StoreConfig};
pub use swarm::{SwarmConfig, SwarmConnectKind};
pub use traces::TracesConfig;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    ReadFile { path: String, reason: String },
    #[error("config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("unknown environment variable {var}: no such config key (known: {known})")]
    UnknownEnv { var: String, known: String },
    #[error("{var}: {reason}")]
    BadEnv { var: String, reason: String },
    #[error("{var}: cannot read secret file {path}: {reason}")]
    SecretFile {
        var: String,
        path: String,
        reason: String,
    },
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// A secret value: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub nats: NatsConfig,
    pub fleet: FleetConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub audit: AuditConfig,
    pub jobs: JobsConfig,
    pub moves: MovesConfig,
    pub gates: GatesConfig,
    pub config: RegistryConfig,
    pub swarm: SwarmConfig,
    pub grafana: GrafanaConfig,
    pub drift: DriftConfig,
    pub traces: TracesConfig,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
}

/// Every key the environment may set: (section, key, kind).
const KEYS: &[(&str, &str, Kind)] = &[
    ("server", "listen", Kind::Str),
    ("server", "request_timeout_ms", Kind::Int),
    ("server", "body_limit_bytes", Kind::Int),
    ("server", "shutdown_timeout_ms", Kind::Int),
    ("server", "site_root", Kind::Str),
    ("store", "backend", Kind::Str),
    ("store", "data_dir", Kind::Str),
    ("nats", "url", Kind::Str),
    ("nats", "user", Kind::Str),
    ("nats", "password", Kind::Str),
    ("nats", "token", Kind::Str),
    ("nats", "creds_file", Kind::Str),
    ("nats", "tls_required", Kind::Bool),
    ("nats", "ca_file", Kind::Str),
    ("log", "level", Kind::Str),
    ("fleet", "source", Kind::Str),
    ("fleet", "placement_file", Kind::Str),
    ("fleet", "routing_file", Kind::Str),
    ("fleet", "poll_interval_ms", Kind::Int),
    ("fleet", "probe_timeout_ms", Kind::Int),
    ("fleet", "poll_concurrency", Kind::Int),
    ("log", "format", Kind::Str),
    ("auth", "gateway_url", Kind::Str),
    ("auth", "jwks_url", Kind::Str),
    ("auth", "gateway_ca_file", Kind::Str),
    ("auth", "issuer", Kind::Str),
    ("auth", "audience", Kind::Str),
    ("auth", "algorithms", Kind::Str),
    ("auth", "hs256_secret", Kind::Str),
    ("auth", "leeway_secs", Kind::Int),
    ("auth", "max_token_bytes", Kind::Int),
    ("auth", "principal_cache_ms", Kind::Int),
    ("auth", "jwks_refresh_secs", Kind::Int),
    ("auth", "gateway_timeout_ms", Kind::Int),
    ("auth", "cookie_secure", Kind::Bool),
    ("auth", "public_origins", Kind::Str),
    ("auth", "login_per_user_per_minute", Kind::Int),
    ("auth", "login_per_source_per_minute", Kind::Int),
    ("auth", "client_ip_header", Kind::Str),
    ("audit", "hmac_key", Kind::Str),
    ("jobs", "lease_ms", Kind::Int),
    ("jobs", "poll_ms", Kind::Int),
    ("jobs", "key_retention_hours", Kind::Int),
    ("jobs", "deadline_secs", Kind::Int),
    ("jobs", "max_running", Kind::Int),
    ("jobs", "reload_timeout_ms", Kind::Int),
    ("moves", "drain_timeout_ms", Kind::Int),
    ("moves", "load_timeout_ms", Kind::Int),
    ("moves", "poll_ms", Kind::Int),
    ("moves", "error_window_ms", Kind::Int),
    ("gates", "max_source_lag", Kind::Int),
    ("gates", "max_source_inflight", Kind::Int),
    ("gates", "max_draining_tenants", Kind::Int),
    ("gates", "max_error_ratio", Kind::Float),
    ("gates", "reload_grace_ms", Kind::Int),
    ("gates", "max_tenants_moved", Kind::Int),
    ("gates", "max_shard_fraction", Kind::Float),
    ("config", "verify_sample", Kind::Int),
    ("config", "dir", Kind::Str),
    ("swarm", "connect", Kind::Str),
    ("swarm", "socket", Kind::Str),
    ("swarm", "tls_addr", Kind::Str),
    ("swarm", "tls_ca_file", Kind::Str),
    ("swarm", "tls_cert_file", Kind::Str),
    ("swarm", "tls_key_file", Kind::Str),
    ("swarm", "timeout_secs", Kind::Int),
    ("swarm", "poll_ms", Kind::Int),
    ("swarm", "update_timeout_secs", Kind::Int),
    ("grafana", "url", Kind::Str),
    ("grafana", "token", Kind::Str),
    ("grafana", "dashboard_uid", Kind::Str),
    ("drift", "stacks", Kind::Str),
    ("traces", "endpoint", Kind::Str),
    ("traces", "service_name", Kind::Str),
    ("traces", "sample_ratio", Kind::Float),
    ("traces", "timeout_ms", Kind::Int),
];

/// `CONTROL_*` variables that are not config keys: the config file path,
/// the test harness's switches and the build-time git sha.
fn is_reserved_env(name: &str) -> bool {
    name == "CONTROL_CONFIG" || name == "CONTROL_GIT_SHA" || name.starts_with("CONTROL_TEST_")
}

fn env_name(section: &str, key: &str) -> String {
    format!("CONTROL_{}_{}", section, key).to_ascii_uppercase()
}

impl Config {
    /// Loads with the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads from an explicit environment (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table =
            toml::Table::try_from(Config::default()).map_err(|e| ConfigError::Invalid {
                key: "defaults",
                reason: e.to_string(),
            })?;
        if let Some(path) = file {
            let raw = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let from_file: toml::Table =
                raw.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: path.display().to_string(),
                        reason: e.message().to_owned(),
                    })?;
            // Check the file on its own first so its errors name the file.
            Config::deserialize(toml::Value::Table(from_file.clone())).map_err(|e| {
                ConfigError::Parse {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
            merge(&mut table, from_file);
        }
        for (var, value) in collect_env(env)? {
            let (section, key, kind) = var.1;
            let v = match kind {
                Kind::Str => toml::Value::String(value),
                Kind::Bool => match value.trim() {
                    "true" | "1" => Ok(toml::Value::Boolean(true)),
                    "false" | "0" => Ok(toml::Value::Boolean(false)),
                    other => Err(ConfigError::BadEnv {
                        var: var.0.clone(),
                        reason: format!("expected true or false, got {other:?}"),
                    }),
                }?,
                Kind::Int => value
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|_| ConfigError::BadEnv {
                        var: var.0.clone(),
                        reason: format!("expected a whole number, got {value:?}"),
                    })?,
                Kind::Float => value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(toml::Value::Float)
                    .ok_or_else(|| ConfigError::BadEnv {
                        var: var.0.clone(),
                        reason: format!("expected a number, got {value:?}"),
                    })?,
            };
            let sect = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = sect {
                t.insert(key.to_owned(), v);
            }
            // Validate each env override as it lands, so the error names the variable.
            Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::BadEnv {
                    var: var.0.clone(),
                    reason: e.message().to_owned(),
                }
            })?;
        }
        let cfg =
            Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid {
                key: "config",
                reason: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.request_timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "server.request_timeout_ms",
                reason: "must be greater than 0".into(),
            });
        }
        for (key, v) in [
            ("fleet.poll_interval_ms", self.fleet.poll_interval_ms),
            ("fleet.probe_timeout_ms", self.fleet.probe_timeout_ms),
            ("fleet.poll_concurrency", self.fleet.poll_concurrency as u64),
            ("jobs.lease_ms", self.jobs.lease_ms),
            ("jobs.poll_ms", self.jobs.poll_ms),
            ("jobs.deadline_secs", self.jobs.deadline_secs),
            ("jobs.max_running", self.jobs.max_running as u64),
            ("jobs.reload_timeout_ms", self.jobs.reload_timeout_ms),
            ("moves.drain_timeout_ms", self.moves.drain_timeout_ms),
            ("moves.load_timeout_ms", self.moves.load_timeout_ms),
            ("moves.poll_ms", self.moves.poll_ms),
            ("moves.error_window_ms", self.moves.error_window_ms),
            ("swarm.timeout_secs", self.swarm.timeout_secs),
            ("swarm.poll_ms", self.swarm.poll_ms),
            ("swarm.update_timeout_secs", self.swarm.update_timeout_secs),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be greater than 0".into(),
                });
            }
        }
        for (key, v) in [
            ("gates.max_error_ratio", self.gates.max_error_ratio),
            ("gates.max_shard_fraction", self.gates.max_shard_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be between 0 and 1".into(),
                });
            }
        }
        if self.jobs.key_retention_hours < 24 {
            return Err(ConfigError::Invalid {
                key: "jobs.key_retention_hours",
                reason: "must be at least 24 (the published retention)".into(),
            });
        }
        self.swarm
            .connect()
            .map_err(|(key, reason)| ConfigError::Invalid { key, reason })?;
        self.drift
            .stack_list()
            .map_err(|(key, reason)| ConfigError::Invalid { key, reason })?;
        self.traces
            .check()
            .map_err(|(key, reason)| ConfigError::Invalid { key, reason })?;
        if self.grafana.url.is_some() != self.grafana.token.is_some() {
            return Err(ConfigError::Invalid {
                key: "grafana.token",
                reason: "grafana.url and grafana.token go together".into(),
            });
        }
        if self.server.body_limit_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "server.body_limit_bytes",
                reason: "must be greater than 0".into(),
            });
        }
        if self.store.backend == StoreBackend::Nats {
            let Some(url) = &self.nats.url else {
                return Err(ConfigError::Invalid {
                    key: "nats.url",
                    reason: "required when store.backend = \"nats\"".into(),
                });
            };
            nats_host_port(url).map_err(|reason| ConfigError::Invalid {
                key: "nats.url",
                reason,
            })?;
        }
        let algs = self
            .auth
            .algorithm_list()
            .map_err(|reason| ConfigError::Invalid {
                key: "auth.algorithms",
                reason,
            })?;
        if algs.contains(&jsonwebtoken::Algorithm::HS256)
            && self
                .auth
                .hs256_secret
                .as_ref()
                .is_none_or(|s| s.expose().len() < 32)
        {
            return Err(ConfigError::Invalid {
                key: "auth.hs256_secret",
                reason: "HS256 needs a shared secret of at least 32 bytes".into(),
            });
        }
        for (key, url) in [
            ("auth.gateway_url", &self.auth.gateway_url),
            ("auth.jwks_url", &self.auth.jwks_url),
        ] {
            if let Some(u) = url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(ConfigError::Invalid {
                        key,
                        reason: format!("expected an http(s) URL, got {u:?}"),
                    });
                }
            }
        }
        for o in self.auth.origin_list() {
            if !(o.starts_with("http://") || o.starts_with("https://"))
                || o.matches('/').count() != 2
            {
                return Err(ConfigError::Invalid {
                    key: "auth.public_origins",
                    reason: format!("{o:?} is not an origin like https://host[:port]"),
                });
            }
        }
        for (key, v) in [
            ("auth.principal_cache_ms", self.auth.principal_cache_ms),
            ("auth.jwks_refresh_secs", self.auth.jwks_refresh_secs),
            ("auth.gateway_timeout_ms", self.auth.gateway_timeout_ms),
            ("auth.max_token_bytes", self.auth.max_token_bytes as u64),
            (
                "auth.login_per_user_per_minute",
                u64::from(self.auth.login_per_user_per_minute),
            ),
            (
                "auth.login_per_source_per_minute",
                u64::from(self.auth.login_per_source_per_minute),
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be greater than 0".into(),
                });
            }
        }
        let ip_header = &self.auth.client_ip_header;
        if !ip_header.is_empty() && axum::http::HeaderName::try_from(ip_header.as_str()).is_err() {
            return Err(ConfigError::Invalid {
                key: "auth.client_ip_header",
                reason: "is not an HTTP header name".into(),
            });
        }
        if self
            .audit
            .hmac_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            return Err(ConfigError::Invalid {
                key: "audit.hmac_key",
                reason: "must be at least 32 bytes".into(),
            });
        }
        if self
            .log
            .level
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(ConfigError::Invalid {
                key: "log.level",
                reason: format!("not a valid filter directive: {:?}", self.log.level),
            });
        }
        Ok(())
    }
}

type EnvKey = (String, (&'static str, &'static str, Kind));

/// Picks the `CONTROL_*` variables, resolving `_FILE` variants; rejects
/// unknown names. Later entries for the same key do not occur: a key given
/// both directly and as `_FILE` is an error, since either might be stale.
fn collect_env(
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(EnvKey, String)>, ConfigError> {
    let mut out: BTreeMap<String, (EnvKey, String)> = BTreeMap::new();
    let known = || {
        KEYS.iter()
            .map(|(s, k, _)| env_name(s, k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("CONTROL_"))
        .collect();
    vars.sort();
    for (name, value) in vars {
        if is_reserved_env(&name) {
            continue;
        }
        let (base, from_file) = match name.strip_suffix("_FILE") {
            Some(b) if KEYS.iter().any(|(s, k, _)| env_name(s, k) == b) => (b.to_owned(), true),
            _ => (name.clone(), false),
        };
        let Some(&entry) = KEYS.iter().find(|(s, k, _)| env_name(s, k) == base) else {
            return Err(ConfigError::UnknownEnv {
                var: name,
                known: known(),
            });
        };
        let value = if from_file {
            let raw = std::fs::read_to_string(&value).map_err(|e| ConfigError::SecretFile {
                var: name.clone(),
                path: value.clone(),
                reason: e.kind().to_string(),
            })?;
            // Secret files usually end with a newline that is not part of the value.
            raw.trim_end_matches(['\r', '\n']).to_owned()
        } else {
            value
        };
        if out.contains_key(&base) {
            return Err(ConfigError::BadEnv {
                var: name,
                reason: format!("{base} and {base}_FILE are both set; set only one"),
            });
        }
        out.insert(base.clone(), ((base, entry), value));
    }
    Ok(out.into_values().collect())
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests;
