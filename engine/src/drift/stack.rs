//! The desired services of a stack file, in the terms the observed specs
//! are normalised to (`SpecSummary`), with the fields the file declares:
//! only those are compared, so a daemon default the file leaves open is
//! never drift.
//!
//! The compose types are this file's own, for the Swarm subset of the
//! compose file format (v3), read with `serde_norway` (the maintained fork
//! of the deprecated serde_yaml): the compose-types crates cannot read a
//! guarded Swarm stack (compose_spec 0.3 refuses `update_config.
//! failure_action: rollback` and reads `max_failure_ratio` as an integer;
//! docker-compose-types 0.24 has no `rollback_config` nor `order`). Every
//! key is checked: one this parser does not know is refused. What `docker stack deploy` does to a service is applied here too:
//! names are `<stack>_<service>`, compose-managed secrets `<stack>_<name>`,
//! a string healthcheck becomes `CMD-SHELL`, and the stack's own labels
//! (`com.docker.stack.*`) are not part of the comparison.

use model::deploy::{EnvValue, Resources, ServiceMode, ServiceName, SpecSummary, UpdatePolicy};
use serde::Deserialize;
use serde_norway::Value;
use std::collections::BTreeMap;

/// A compared part of a spec, by the field names `model::deploy::diff`
/// uses (a field is compared when its name starts with one of these).
pub type Declared = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredService {
    pub name: ServiceName,
    pub stack: String,
    pub spec: SpecSummary,
    pub declared: Declared,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StackFile {
    pub stack: String,
    /// Where it was read (shown as the desired source).
    pub path: String,
    pub services: Vec<DesiredService>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StackError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: cannot be read: {message}")]
    Unreadable { path: String, message: String },
}

/// `fingerprint(name, value)` of a secret-looking environment value, the
/// same the observed specs carry.
pub fn parse(
    stack: &str,
    path: &str,
    yaml: &str,
    fingerprint: &dyn Fn(&str, &str) -> String,
) -> Result<StackFile, StackError> {
    let bad = |message: String| StackError::Invalid {
        path: path.to_owned(),
        message,
    };
    let file: ComposeFile = serde_norway::from_str(yaml).map_err(|e| bad(e.to_string()))?;
    only_known(&file.rest, TOP_KEYS, "").map_err(&bad)?;
    let mut services = Vec::new();
    for (key, svc) in file.services {
        let at = format!("services.{key}");
        only_known(&svc.rest, SERVICE_KEYS, &at).map_err(&bad)?;
        let name =
            ServiceName::parse(&format!("{stack}_{key}")).map_err(|e| bad(format!("{at}: {e}")))?;
        let image = svc
            .image
            .filter(|i| !i.trim().is_empty())
            .ok_or_else(|| bad(format!("{at}: no image (a stack deploys images)")))?;
        let mut spec = SpecSummary {
            image,
            mode: Some(ServiceMode::Replicated),
            ..SpecSummary::default()
        };
        // Compared whether or not the file sets them: a variable, a secret,
        // a label or a constraint added by hand is drift.
        let mut declared: Declared = ["image", "env", "secrets", "constraints", "labels", "mode"]
            .map(String::from)
            .to_vec();

        spec.env = svc
            .environment
            .map(|e| e.into_map(&format!("{at}.environment")))
            .transpose()
            .map_err(&bad)?
            .unwrap_or_default()
            .into_iter()
            // `KEY` alone takes the deployer's environment: unknown here.
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .map(|(k, v)| {
                let shown = if model::deploy::looks_secret(&k, &v) {
                    EnvValue::Redacted(fingerprint(&k, &v))
                } else {
                    EnvValue::Plain(v)
                };
                (k, shown)
            })
            .collect();

        let mut secrets = Vec::new();
        for r in &svc.secrets {
            let id = match r {
                SecretRef::Short(id) => id,
                SecretRef::Long { source, .. } => source,
            };
            let top = file
                .secrets
                .get(id)
                .ok_or_else(|| bad(format!("{at}.secrets: {id} is not declared under secrets")))?;
            secrets.push(match (&top.name, top.external.unwrap_or(false)) {
                (Some(n), _) => n.clone(),
                (None, true) => id.clone(),
                (None, false) => format!("{stack}_{id}"),
            });
        }
        secrets.sort();
        spec.secrets = secrets;

        if let Some(hc) = svc.healthcheck {
            declared.push("healthcheck".into());
            spec.healthcheck = Some(if hc.disable == Some(true) {
                vec!["NONE".into()]
            } else {
                match hc.test {
                    Some(StrOrList::Str(s)) => vec!["CMD-SHELL".into(), s],
                    Some(StrOrList::List(l))
                        if l.first().is_some_and(|f| {
                            ["CMD", "CMD-SHELL", "NONE"].contains(&f.as_str())
                        }) =>
                    {
                        l
                    }
                    Some(StrOrList::List(_)) => {
                        return Err(bad(format!(
                            "{at}.healthcheck.test: a list starts with CMD, CMD-SHELL or NONE"
                        )))
                    }
                    None => return Err(bad(format!("{at}.healthcheck: no test"))),
                }
            });
        }

        let d = svc.deploy.unwrap_or_default();
        match d.mode.as_deref() {
            None | Some("replicated") => {
                // A replicated service without `replicas` runs one.
                spec.replicas = Some(d.replicas.unwrap_or(1));
                declared.push("replicas".into());
            }
            Some("global") => spec.mode = Some(ServiceMode::Global),
            Some(m) => {
                return Err(bad(format!(
                    "{at}.deploy.mode: {m:?} is not replicated or global"
                )))
            }
        }
        spec.labels = d
            .labels
            .map(|l| l.into_map(&format!("{at}.deploy.labels")))
            .transpose()
            .map_err(&bad)?
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        if let Some(mut c) = d.placement.map(|p| p.constraints) {
            c.sort();
            spec.constraints = c;
        }
        if let Some(r) = d.resources {
            if let Some(l) = r.limits {
                spec.limits = l
                    .resources(&format!("{at}.deploy.resources.limits"))
                    .map_err(&bad)?;
                declared_resources("limits", &spec.limits, &mut declared);
            }
            if let Some(l) = r.reservations {
                spec.reservations = l
                    .resources(&format!("{at}.deploy.resources.reservations"))
                    .map_err(&bad)?;
                declared_resources("reservations", &spec.reservations, &mut declared);
            }
        }
        if let Some(u) = d.update_config {
            spec.update_config = u
                .policy(
                    &format!("{at}.deploy.update_config"),
                    UPDATE_ACTIONS,
                    "update_config",
                    &mut declared,
                )
                .map_err(&bad)?;
        }
        if let Some(u) = d.rollback_config {
            spec.rollback_config = u
                .policy(
                    &format!("{at}.deploy.rollback_config"),
                    ROLLBACK_ACTIONS,
                    "rollback_config",
                    &mut declared,
                )
                .map_err(&bad)?;
        }
        services.push(DesiredService {
            name,
            stack: stack.to_owned(),
            spec,
            declared,
        });
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(StackFile {
        stack: stack.to_owned(),
        path: path.to_owned(),
        services,
    })
}

/// Reads and parses a stack file.
pub fn read(
    stack: &str,
    path: &std::path::Path,
    fingerprint: &dyn Fn(&str, &str) -> String,
) -> Result<StackFile, StackError> {
    let shown = path.display().to_string();
    let yaml = std::fs::read_to_string(path).map_err(|e| StackError::Unreadable {
        path: shown.clone(),
        message: e.kind().to_string(),
    })?;
    parse(stack, &shown, &yaml, fingerprint)
}

/// Top-level keys besides `services` and `secrets` (read, not compared).
const TOP_KEYS: &[&str] = &["version", "name", "networks", "volumes", "configs"];

/// Service keys `docker stack deploy` accepts that drift does not compare.
const SERVICE_KEYS: &[&str] = &[
    "build",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "devices",
    "dns",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "expose",
    "external_links",
    "extra_hosts",
    "hostname",
    "init",
    "ipc",
    "isolation",
    "labels",
    "links",
    "logging",
    "mac_address",
    "network_mode",
    "networks",
    "pid",
    "ports",
    "privileged",
    "read_only",
    "restart",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "userns_mode",
    "volumes",
    "working_dir",
];

const UPDATE_ACTIONS: &[&str] = &["continue", "pause", "rollback"];
const ROLLBACK_ACTIONS: &[&str] = &["continue", "pause"];

/// Keys in `rest` must be known or extensions (`x-…`).
fn only_known(rest: &BTreeMap<String, Value>, known: &[&str], at: &str) -> Result<(), String> {
    match rest
        .keys()
        .find(|k| !k.starts_with("x-") && !known.contains(&k.as_str()))
    {
        None => Ok(()),
        Some(k) if at.is_empty() => Err(format!("unknown key {k:?}")),
        Some(k) => Err(format!("{at}: unknown key {k:?}")),
    }
}

#[derive(Deserialize)]
struct ComposeFile {
    #[serde(default)]
    services: BTreeMap<String, Service>,
    #[serde(default)]
    secrets: BTreeMap<String, TopSecret>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct Service {
    image: Option<String>,
    environment: Option<ListOrMap>,
    #[serde(default)]
    secrets: Vec<SecretRef>,
    healthcheck: Option<Healthcheck>,
    deploy: Option<Deploy>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopSecret {
    name: Option<String>,
    external: Option<bool>,
    #[serde(rename = "file")]
    _file: Option<Value>,
    #[serde(rename = "environment")]
    _environment: Option<Value>,
    #[serde(rename = "labels")]
    _labels: Option<Value>,
    #[serde(rename = "driver")]
    _driver: Option<Value>,
    #[serde(rename = "driver_opts")]
    _driver_opts: Option<Value>,
    #[serde(rename = "template_driver")]
    _template_driver: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SecretRef {
    Short(String),
    Long {
        source: String,
        #[serde(rename = "target")]
        _target: Option<String>,
        #[serde(rename = "uid")]
        _uid: Option<String>,
        #[serde(rename = "gid")]
        _gid: Option<String>,
        #[serde(rename = "mode")]
        _mode: Option<u32>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrList {
    Str(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Healthcheck {
    test: Option<StrOrList>,
    disable: Option<bool>,
    #[serde(rename = "interval")]
    _interval: Option<Value>,
    #[serde(rename = "timeout")]
    _timeout: Option<Value>,
    #[serde(rename = "retries")]
    _retries: Option<Value>,
    #[serde(rename = "start_period")]
    _start_period: Option<Value>,
    #[serde(rename = "start_interval")]
    _start_interval: Option<Value>,
}

/// `KEY=value` items or a map of scalars; `None`: the key alone.
#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrMap {
    List(Vec<String>),
    Map(BTreeMap<String, Value>),
}

impl ListOrMap {
    fn into_map(self, at: &str) -> Result<BTreeMap<String, Option<String>>, String> {
        match self {
            Self::List(l) => Ok(l
                .into_iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (kv, None),
                })
                .collect()),
            Self::Map(m) => m
                .into_iter()
                .map(|(k, v)| Ok((k, scalar(v).map_err(|e| format!("{at}: {e}"))?)))
                .collect(),
        }
    }
}

fn scalar(v: Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::String(s) => Ok(Some(s)),
        _ => Err("a value is a string, a number or a boolean".into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Deploy {
    mode: Option<String>,
    replicas: Option<u64>,
    labels: Option<ListOrMap>,
    placement: Option<Placement>,
    resources: Option<DeployResources>,
    update_config: Option<Policy>,
    rollback_config: Option<Policy>,
    #[serde(rename = "restart_policy")]
    _restart_policy: Option<Value>,
    #[serde(rename = "endpoint_mode")]
    _endpoint_mode: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Placement {
    #[serde(default)]
    constraints: Vec<String>,
    #[serde(rename = "preferences")]
    _preferences: Option<Value>,
    #[serde(rename = "max_replicas_per_node")]
    _max_replicas_per_node: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployResources {
    limits: Option<Limits>,
    reservations: Option<Limits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    cpus: Option<Value>,
    memory: Option<Value>,
    #[serde(rename = "pids")]
    _pids: Option<Value>,
    #[serde(rename = "generic_resources")]
    _generic_resources: Option<Value>,
    #[serde(rename = "devices")]
    _devices: Option<Value>,
}

impl Limits {
    fn resources(self, at: &str) -> Result<Resources, String> {
        let nano_cpus = match self.cpus.map(scalar).transpose()?.flatten() {
            None => None,
            Some(c) => {
                let cpus: f64 = c
                    .parse()
                    .ok()
                    .filter(|c: &f64| c.is_finite() && *c > 0.0)
                    .ok_or_else(|| format!("{at}.cpus: {c:?} is not a positive number"))?;
                Some((cpus * 1e9).round() as i64)
            }
        };
        let memory_bytes = match self.memory.map(scalar).transpose()?.flatten() {
            None => None,
            Some(m) => Some(
                ram_bytes(&m)
                    .ok_or_else(|| format!("{at}.memory: {m:?} is not a size like 512M"))?,
            ),
        };
        Ok(Resources {
            nano_cpus,
            memory_bytes,
        })
    }
}

/// A size as Docker reads it (go-units `RAMInBytes`): binary units, the
/// suffix `b`, `k`, `m`, `g`, `t` or `p`, optionally followed by `b`.
fn ram_bytes(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let digits = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(digits);
    let n: f64 = n.parse().ok()?;
    let shift = match unit.trim().trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let bytes = n * (1u64 << shift) as f64;
    (0.0..9.2e18).contains(&bytes).then_some(bytes as i64)
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds, as the daemon
/// keeps it.
fn duration_ns(s: &str) -> Option<i64> {
    let mut rest = s.trim();
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (n, tail) = rest.split_at(n_end);
        let n: f64 = n.parse().ok()?;
        let u_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
        rest = tail;
    }
    (total < 9.2e18).then_some(total.round() as i64)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    parallelism: Option<u64>,
    delay: Option<String>,
    failure_action: Option<String>,
    monitor: Option<String>,
    max_failure_ratio: Option<f64>,
    order: Option<String>,
}

impl Policy {
    fn policy(
        self,
        at: &str,
        actions: &[&str],
        prefix: &str,
        declared: &mut Declared,
    ) -> Result<UpdatePolicy, String> {
        let dur = |d: Option<String>, key: &str| {
            d.map(|d| {
                duration_ns(&d)
                    .ok_or_else(|| format!("{at}.{key}: {d:?} is not a duration like 30s"))
            })
            .transpose()
        };
        if let Some(a) = self
            .failure_action
            .as_deref()
            .filter(|a| !actions.contains(a))
        {
            return Err(format!(
                "{at}.failure_action: {a:?} is not one of {}",
                actions.join(", ")
            ));
        }
        if let Some(o) = self
            .order
            .as_deref()
            .filter(|o| !["start-first", "stop-first"].contains(o))
        {
            return Err(format!(
                "{at}.order: {o:?} is not start-first or stop-first"
            ));
        }
        if let Some(r) = self.max_failure_ratio.filter(|r| !(0.0..=1.0).contains(r)) {
            return Err(format!(
                "{at}.max_failure_ratio: {r} is not between 0 and 1"
            ));
        }
        let p = UpdatePolicy {
            parallelism: self.parallelism.and_then(|p| i64::try_from(p).ok()),
            delay_ns: dur(self.delay, "delay")?,
            failure_action: self.failure_action,
            monitor_ns: dur(self.monitor, "monitor")?,
            // As the daemon reports it (a float, shown as text).
            max_failure_ratio: self.max_failure_ratio.map(|r| r.to_string()),
            order: self.order,
        };
        for (set, name) in [
            (p.parallelism.is_some(), "parallelism"),
            (p.delay_ns.is_some(), "delay_ns"),
            (p.failure_action.is_some(), "failure_action"),
            (p.monitor_ns.is_some(), "monitor_ns"),
            (p.max_failure_ratio.is_some(), "max_failure_ratio"),
            (p.order.is_some(), "order"),
        ] {
            if set {
                declared.push(format!("{prefix}.{name}"));
            }
        }
        Ok(p)
    }
}

fn declared_resources(prefix: &str, r: &Resources, declared: &mut Declared) {
    if r.nano_cpus.is_some() {
        declared.push(format!("{prefix}.nano_cpus"));
    }
    if r.memory_bytes.is_some() {
        declared.push(format!("{prefix}.memory_bytes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_docker_reads_them() {
        assert_eq!(ram_bytes("512M"), Some(512 << 20));
        assert_eq!(ram_bytes("1g"), Some(1 << 30));
        assert_eq!(ram_bytes("64mb"), Some(64 << 20));
        assert_eq!(ram_bytes("1024"), Some(1024));
        assert_eq!(ram_bytes("2t"), Some(2 << 40));
        assert_eq!(ram_bytes("12 parsecs"), None);
        assert_eq!(duration_ns("30s"), Some(30_000_000_000));
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("0s"), Some(0));
        assert_eq!(duration_ns("0"), Some(0));
        assert_eq!(duration_ns("soon"), None);
        assert_eq!(duration_ns("5x"), None);
    }
}
