//! Configuration: defaults → optional TOML file → `CONTROL_*` environment.
//! Every key may also come from a file named by `CONTROL_<KEY>_FILE` (Swarm
//! secrets under /run/secrets). Unknown keys and bad values fail at start
//! with a message that names the key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
}

/// Token validation and the Gateway (docs/permissions.md).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The Gateway's base URL (login, logout, `/iam/me`, IAM pages).
    /// Required by `control serve`; `control dev` points it at the
    /// simulated Gateway.
    pub gateway_url: Option<String>,
    /// Defaults to `<gateway_url>/.well-known/jwks.json` when an
    /// asymmetric algorithm is allowed.
    pub jwks_url: Option<String>,
    /// PEM CA certificates to trust for an https Gateway/JWKS besides the
    /// system roots (an internal CA).
    pub gateway_ca_file: Option<PathBuf>,
    pub issuer: String,
    pub audience: String,
    /// Comma-separated allow-list: HS256, RS256, ES256, EdDSA.
    pub algorithms: String,
    /// Shared secret for HS256 (use `CONTROL_AUTH_HS256_SECRET_FILE`).
    pub hs256_secret: Option<Secret>,
    pub leeway_secs: u64,
    pub max_token_bytes: usize,
    /// A principal's rights are re-read from the Gateway after this long; a
    /// session revoked at the Gateway loses access within it.
    pub principal_cache_ms: u64,
    pub jwks_refresh_secs: u64,
    pub gateway_timeout_ms: u64,
    /// `Secure` + `__Host-` session cookie. Only plain-http localhost dev
    /// turns it off.
    pub cookie_secure: bool,
    /// Extra origins (comma-separated, `https://host[:port]`) accepted for
    /// state-changing browser requests besides the request's own host.
    pub public_origins: String,
    /// Sign-in attempts per minute for one username (also the burst). Strict:
    /// it stops password guessing against one account.
    pub login_per_user_per_minute: u32,
    /// Sign-in attempts per minute from one source address (also the
    /// burst). Generous: every operator behind one ingress shares it.
    pub login_per_source_per_minute: u32,
    /// The header holding the client address as set by a trusted ingress
    /// (e.g. `x-forwarded-for`, whose last entry is used). Empty: the peer
    /// address; the header is never trusted unless named here.
    pub client_ip_header: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            gateway_url: None,
            jwks_url: None,
            gateway_ca_file: None,
            issuer: "cloudlysis-gateway".into(),
            audience: "cloudlysis-control".into(),
            algorithms: "EdDSA".into(),
            hs256_secret: None,
            leeway_secs: 30,
            max_token_bytes: 8 * 1024,
            principal_cache_ms: 10_000,
            jwks_refresh_secs: 300,
            gateway_timeout_ms: 3_000,
            cookie_secure: true,
            public_origins: String::new(),
            login_per_user_per_minute: 5,
            login_per_source_per_minute: 120,
            client_ip_header: String::new(),
        }
    }
}

impl AuthConfig {
    pub fn algorithm_list(&self) -> Result<Vec<jsonwebtoken::Algorithm>, String> {
        use jsonwebtoken::Algorithm as A;
        let mut out = Vec::new();
        for name in self
            .algorithms
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let alg = match name {
                "HS256" => A::HS256,
                "RS256" => A::RS256,
                "ES256" => A::ES256,
                "EdDSA" => A::EdDSA,
                other => {
                    return Err(format!(
                        "unsupported algorithm {other:?}; one of HS256, RS256, ES256, EdDSA"
                    ))
                }
            };
            if !out.contains(&alg) {
                out.push(alg);
            }
        }
        if out.is_empty() {
            return Err("at least one algorithm is required".into());
        }
        Ok(out)
    }

    pub fn origin_list(&self) -> Vec<String> {
        self.public_origins
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The JWKS URL in use, if any key comes from one.
    pub fn effective_jwks_url(&self) -> Option<String> {
        let asymmetric = self
            .algorithm_list()
            .is_ok_and(|a| a.iter().any(|a| *a != jsonwebtoken::Algorithm::HS256));
        if !asymmetric {
            return None;
        }
        self.jwks_url.clone().or_else(|| {
            self.gateway_url
                .as_ref()
                .map(|g| format!("{}/.well-known/jwks.json", g.trim_end_matches('/')))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The audit chain's HMAC key (use `CONTROL_AUDIT_HMAC_KEY_FILE`), at
    /// least 32 bytes. Required by `control serve`; `control dev` keeps a
    /// generated one in its data dir.
    pub hmac_key: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetSource {
    /// The store's `placement` and `routing` buckets (NATS in production).
    Kv,
    /// The dev files named by `placement_file` and `routing_file`.
    File,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    pub source: FleetSource,
    pub placement_file: PathBuf,
    pub routing_file: PathBuf,
    pub poll_interval_ms: u64,
    /// Deadline for one endpoint's /health, /ready and /metrics together.
    pub probe_timeout_ms: u64,
    pub poll_concurrency: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            source: FleetSource::Kv,
            placement_file: PathBuf::from("config/placement/dev.json"),
            routing_file: PathBuf::from("config/routing/dev.json"),
            poll_interval_ms: 5_000,
            probe_timeout_ms: 1_000,
            poll_concurrency: 64,
        }
    }
}

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

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Embedded,
            data_dir: PathBuf::from("/var/lib/control"),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
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
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be greater than 0".into(),
                });
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_without_file_or_env() {
        let c = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[server]\nlisten = \"127.0.0.1:4000\"\nrequest_timeout_ms = 5000\n[log]\nlevel = \"debug\"").unwrap();
        let c = Config::load_from(
            Some(f.path()),
            env(&[
                ("CONTROL_SERVER_LISTEN", "127.0.0.1:5000"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(c.server.request_timeout_ms, 5000);
        assert_eq!(c.log.level, "debug");
        assert_eq!(
            c.server.body_limit_bytes,
            ServerConfig::default().body_limit_bytes
        );
    }

    #[test]
    fn file_variant_reads_a_secret_and_strips_the_newline() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "s3cr3t-value").unwrap();
        let c = Config::load_from(
            None,
            env(&[("CONTROL_NATS_PASSWORD_FILE", f.path().to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(c.nats.password.as_ref().unwrap().expose(), "s3cr3t-value");
        assert!(
            !format!("{c:?}").contains("s3cr3t"),
            "Debug must redact secrets"
        );
    }

    #[test]
    fn unknown_keys_fail_and_name_the_key() {
        let e = Config::load_from(None, env(&[("CONTROL_SERVER_LISTN", "x")])).unwrap_err();
        assert!(e.to_string().contains("CONTROL_SERVER_LISTN"), "{e}");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[server]\nlistne = \"127.0.0.1:1\"").unwrap();
        let e = Config::load_from(Some(f.path()), env(&[])).unwrap_err();
        assert!(e.to_string().contains("listne"), "{e}");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[sever]\nlisten = \"127.0.0.1:1\"").unwrap();
        let e = Config::load_from(Some(f.path()), env(&[])).unwrap_err();
        assert!(e.to_string().contains("sever"), "{e}");
    }

    #[test]
    fn bad_values_fail_and_name_the_key() {
        let e = Config::load_from(None, env(&[("CONTROL_SERVER_REQUEST_TIMEOUT_MS", "soon")]))
            .unwrap_err();
        assert!(
            e.to_string().contains("CONTROL_SERVER_REQUEST_TIMEOUT_MS"),
            "{e}"
        );
        let e =
            Config::load_from(None, env(&[("CONTROL_SERVER_LISTEN", "not-an-addr")])).unwrap_err();
        assert!(e.to_string().contains("CONTROL_SERVER_LISTEN"), "{e}");
        let e = Config::load_from(None, env(&[("CONTROL_STORE_BACKEND", "postgres")])).unwrap_err();
        assert!(e.to_string().contains("CONTROL_STORE_BACKEND"), "{e}");
        let e = Config::load_from(None, env(&[("CONTROL_STORE_BACKEND", "nats")])).unwrap_err();
        assert!(e.to_string().contains("nats.url"), "{e}");
        let e = Config::load_from(None, env(&[("CONTROL_SERVER_REQUEST_TIMEOUT_MS", "0")]))
            .unwrap_err();
        assert!(e.to_string().contains("server.request_timeout_ms"), "{e}");
        let e = Config::load_from(
            None,
            env(&[
                ("CONTROL_STORE_BACKEND", "nats"),
                ("CONTROL_NATS_URL", "nats://u:p@h:4222"),
            ]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("credentials") && !e.to_string().contains("u:p"),
            "{e}"
        );
    }

    #[test]
    fn missing_secret_file_and_double_source_fail() {
        let e = Config::load_from(None, env(&[("CONTROL_NATS_TOKEN_FILE", "/nonexistent/x")]))
            .unwrap_err();
        assert!(e.to_string().contains("CONTROL_NATS_TOKEN_FILE"), "{e}");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "a").unwrap();
        let e = Config::load_from(
            None,
            env(&[
                ("CONTROL_NATS_TOKEN", "b"),
                ("CONTROL_NATS_TOKEN_FILE", f.path().to_str().unwrap()),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("both set"), "{e}");
    }

    #[test]
    fn reserved_variables_are_not_config_keys() {
        assert!(Config::load_from(
            None,
            env(&[
                ("CONTROL_TEST_NATS_URL", "nats://x"),
                ("CONTROL_CONFIG", "/x"),
                ("CONTROL_GIT_SHA", "abc")
            ])
        )
        .is_ok());
    }

    #[test]
    fn every_config_field_has_an_env_key() {
        let full = Config {
            nats: NatsConfig {
                url: Some("nats://h:1".into()),
                user: Some("u".into()),
                password: Some(Secret("p".into())),
                token: Some(Secret("t".into())),
                creds_file: Some("/c".into()),
                tls_required: true,
                ca_file: Some("/ca.pem".into()),
            },
            auth: AuthConfig {
                gateway_url: Some("http://gw".into()),
                jwks_url: Some("http://gw/jwks".into()),
                gateway_ca_file: Some("/ca.pem".into()),
                hs256_secret: Some(Secret("s".into())),
                ..AuthConfig::default()
            },
            audit: AuditConfig {
                hmac_key: Some(Secret("k".into())),
            },
            ..Config::default()
        };
        let table = toml::Table::try_from(full).unwrap();
        let mut n = 0;
        for (section, v) in &table {
            for key in v.as_table().unwrap().keys() {
                n += 1;
                assert!(
                    KEYS.iter().any(|(s, k, _)| s == section && k == key),
                    "{section}.{key} has no CONTROL_ variable"
                );
            }
        }
        assert_eq!(n, KEYS.len());
    }

    #[test]
    fn auth_settings_are_checked_and_name_the_key() {
        for (pairs, key) in [
            (vec![("CONTROL_AUTH_ALGORITHMS", "none")], "auth.algorithms"),
            (vec![("CONTROL_AUTH_ALGORITHMS", "")], "auth.algorithms"),
            (
                vec![("CONTROL_AUTH_ALGORITHMS", "HS256")],
                "auth.hs256_secret",
            ),
            (
                vec![
                    ("CONTROL_AUTH_ALGORITHMS", "HS256"),
                    ("CONTROL_AUTH_HS256_SECRET", "short"),
                ],
                "auth.hs256_secret",
            ),
            (
                vec![("CONTROL_AUTH_GATEWAY_URL", "gateway:8080")],
                "auth.gateway_url",
            ),
            (
                vec![("CONTROL_AUTH_PUBLIC_ORIGINS", "https://a.example/path")],
                "auth.public_origins",
            ),
            (
                vec![("CONTROL_AUTH_PRINCIPAL_CACHE_MS", "0")],
                "auth.principal_cache_ms",
            ),
            (
                vec![("CONTROL_AUDIT_HMAC_KEY", "too-short")],
                "audit.hmac_key",
            ),
            (
                vec![("CONTROL_AUTH_LOGIN_PER_USER_PER_MINUTE", "0")],
                "auth.login_per_user_per_minute",
            ),
            (
                vec![("CONTROL_AUTH_LOGIN_PER_SOURCE_PER_MINUTE", "0")],
                "auth.login_per_source_per_minute",
            ),
            (
                vec![("CONTROL_AUTH_CLIENT_IP_HEADER", "x forwarded")],
                "auth.client_ip_header",
            ),
        ] {
            let e = Config::load_from(None, env(&pairs)).unwrap_err();
            assert!(e.to_string().contains(key), "{pairs:?}: {e}");
        }
        let c = Config::load_from(
            None,
            env(&[
                ("CONTROL_AUTH_ALGORITHMS", "EdDSA, RS256,HS256"),
                ("CONTROL_AUTH_HS256_SECRET", &"s".repeat(32)),
                ("CONTROL_AUTH_GATEWAY_URL", "http://gateway:8080/"),
                (
                    "CONTROL_AUTH_PUBLIC_ORIGINS",
                    "https://control.example, https://b.example:8443",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.auth.algorithm_list().unwrap().len(), 3);
        assert_eq!(
            c.auth.effective_jwks_url().as_deref(),
            Some("http://gateway:8080/.well-known/jwks.json")
        );
        assert_eq!(c.auth.origin_list().len(), 2);
        assert_eq!(
            (
                c.auth.login_per_user_per_minute,
                c.auth.login_per_source_per_minute
            ),
            (5, 120),
            "login rate defaults"
        );
        assert!(
            !format!("{c:?}").contains(&"s".repeat(32)),
            "secret in Debug"
        );
    }

    #[test]
    fn nats_urls_parse() {
        assert_eq!(
            nats_host_port("nats://127.0.0.1:4222").unwrap(),
            ("127.0.0.1".into(), 4222)
        );
        assert_eq!(
            nats_host_port("nats://nats").unwrap(),
            ("nats".into(), 4222)
        );
        assert!(nats_host_port("http://x").is_err());
        assert!(nats_host_port("nats://:4222").is_err());
        assert!(nats_host_port("nats://h:99999").is_err());
    }
}
