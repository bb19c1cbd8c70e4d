//! Deployments on Docker Swarm (docs/deployments.md): services, tasks and
//! nodes as the control plane shows them, the specs it records for every
//! change it observes (Swarm itself keeps one previous spec), and "what
//! changed" between two recorded specs. Pure data and pure rules; the
//! Engine API lives in `engine::swarm`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The label `docker stack deploy` puts on every service of a stack.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";
/// Labels a service's version and commit are read from, first found wins
/// (service labels before container labels).
pub const VERSION_LABELS: &[&str] = &["cloudlysis.version", "org.opencontainers.image.version"];
pub const GIT_SHA_LABELS: &[&str] = &["cloudlysis.git_sha", "org.opencontainers.image.revision"];

/// How far back task failures count towards crash-loop detection, and how
/// many failures in that window make a crash loop.
pub const FAILURE_WINDOW_MS: u64 = 5 * 60 * 1000;
pub const CRASH_LOOP_FAILURES: u64 = 3;

/// A Swarm service name: what `docker service create --name` accepts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct ServiceName(String);

impl ServiceName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "not a service name (1-63 of a-z A-Z 0-9 _ - ., starting alphanumeric): {:?}",
                s.chars().take(80).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ServiceName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ServiceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image reference split into its parts:
/// `[registry/]repository[:tag][@sha256:digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageRef {
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(image: &str) -> Self {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_owned())),
            None => (image, None),
        };
        // A colon after the last slash is a tag; one before it is a
        // registry's port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                rest[..last_slash + i].to_owned(),
                Some(rest[last_slash + i + 1..].to_owned()),
            ),
            None => (rest.to_owned(), None),
        };
        Self {
            repository,
            tag,
            digest,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceMode {
    Replicated,
    Global,
}

/// Swarm's update states (`UpdateStatus.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

impl UpdateState {
    pub const ALL: [UpdateState; 6] = [
        Self::Updating,
        Self::Paused,
        Self::Completed,
        Self::RollbackStarted,
        Self::RollbackPaused,
        Self::RollbackCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updating => "updating",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::RollbackStarted => "rollback_started",
            Self::RollbackPaused => "rollback_paused",
            Self::RollbackCompleted => "rollback_completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }

    /// Still moving: another update must wait.
    pub fn in_progress(self) -> bool {
        matches!(self, Self::Updating | Self::RollbackStarted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateStatus {
    pub state: UpdateState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// A service's health as a word operators filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    /// Every desired task running, no update moving, no crash loop.
    Running,
    /// An update or rollback in progress.
    Updating,
    /// Fewer tasks running than desired, or an update paused.
    Degraded,
    /// Tasks keep failing.
    CrashLooping,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Updating => "updating",
            Self::Degraded => "degraded",
            Self::CrashLooping => "crash_looping",
        }
    }
}

/// One service, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceView {
    pub id: String,
    pub name: ServiceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The image as the spec names it (with its digest when pinned).
    pub image: String,
    pub image_ref: ImageRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    pub mode: ServiceMode,
    /// None for global services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas_desired: Option<u64>,
    pub replicas_running: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateStatus>,
    /// Swarm's `Version.Index`: the fencing token of an update.
    pub spec_version: u64,
    /// Failed tasks within `FAILURE_WINDOW_MS`.
    pub recent_failures: u64,
    pub status: ServiceStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    New,
    Allocated,
    Pending,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Remove,
    Orphaned,
}

impl TaskState {
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Rejected)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskView {
    pub id: String,
    pub service_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub state: TaskState,
    pub desired_state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// When the task reached its state (ms since the epoch).
    pub since_ms: u64,
    pub created_ms: u64,
    /// The image the task runs (an old task of an updated service still
    /// shows the old one).
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeView {
    pub id: String,
    pub hostname: String,
    pub role: String,
    pub availability: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// Failed tasks of a service within the window before `now_ms`.
pub fn recent_failures(tasks: &[TaskView], now_ms: u64) -> u64 {
    tasks
        .iter()
        .filter(|t| t.state.is_failure() && now_ms.saturating_sub(t.since_ms) <= FAILURE_WINDOW_MS)
        .count() as u64
}

/// The status word of a service from its numbers.
pub fn status_of(
    desired: Option<u64>,
    running: u64,
    update: Option<&UpdateStatus>,
    recent_failures: u64,
) -> ServiceStatus {
    if recent_failures >= CRASH_LOOP_FAILURES {
        return ServiceStatus::CrashLooping;
    }
    match update.map(|u| u.state) {
        Some(s) if s.in_progress() => return ServiceStatus::Updating,
        Some(UpdateState::Paused | UpdateState::RollbackPaused) => return ServiceStatus::Degraded,
        _ => {}
    }
    match desired {
        Some(d) if running < d => ServiceStatus::Degraded,
        _ => ServiceStatus::Running,
    }
}

/// An environment value as recorded and shown: secret-looking ones are
/// kept only as a fingerprint, so a change is visible but the value never
/// leaves the daemon.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    Plain(String),
    /// The first 12 hex digits of the value's sha256.
    Redacted(String),
}

impl std::fmt::Display for EnvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Plain(v) => f.write_str(v),
            Self::Redacted(h) => write!(f, "(secret, sha256 {h}…)"),
        }
    }
}

/// Parts of a key that make its value a secret.
const SECRET_WORDS: &[&str] = &[
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "DSN",
    "CERT",
    "COOKIE",
    "SESSION",
    "SALT",
];

/// Whether an environment variable's value must never be shown: its name
/// has a secret word, or its value embeds credentials (`scheme://user:pass@`).
pub fn looks_secret(key: &str, value: &str) -> bool {
    let k = key.to_ascii_uppercase();
    if SECRET_WORDS.iter().any(|w| k.contains(w)) {
        return true;
    }
    value
        .split_once("://")
        .is_some_and(|(_, rest)| rest.split('/').next().is_some_and(|a| a.contains('@')))
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<i64>,
}

/// `update_config` / `rollback_config`, as strings the daemon uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_ns: Option<i64>,
    /// The ratio as text, to keep `Eq` (the daemon sends a float).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// What a service spec says, in the terms "what changed" compares: no
/// secret value, secrets and configs by name only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecSummary {
    pub image: String,
    pub env: BTreeMap<String, EnvValue>,
    pub secrets: Vec<String>,
    pub configs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ServiceMode>,
    pub limits: Resources,
    pub reservations: Resources,
    pub constraints: Vec<String>,
    /// Service labels.
    pub labels: BTreeMap<String, String>,
    pub container_labels: BTreeMap<String, String>,
    pub networks: Vec<String>,
    pub update_config: UpdatePolicy,
    pub rollback_config: UpdatePolicy,
    /// The healthcheck's test command, when the spec sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Vec<String>>,
}

impl SpecSummary {
    pub fn version(&self) -> Option<&str> {
        first_label(&self.labels, &self.container_labels, VERSION_LABELS)
    }

    pub fn git_sha(&self) -> Option<&str> {
        first_label(&self.labels, &self.container_labels, GIT_SHA_LABELS)
    }
}

fn first_label<'a>(
    service: &'a BTreeMap<String, String>,
    container: &'a BTreeMap<String, String>,
    names: &[&str],
) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| service.get(*n).or_else(|| container.get(*n)))
        .map(String::as_str)
}

/// Whether the control plane saw a spec change or made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SpecSource {
    /// Seen on the daemon (a `docker stack deploy`, a CLI update, an
    /// automatic rollback).
    Observed,
    /// Written by a control-plane job.
    Applied,
}

/// One recorded spec of a service: the history "what changed" and
/// rollback use. The full spec the daemon sent stays in the store (it may
/// hold secret values) and is never part of this record as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecRecord {
    /// 1, 2, … per service, in the order recorded.
    pub seq: u64,
    pub service: ServiceName,
    pub service_id: String,
    /// The service's `Version.Index` when this spec was seen.
    pub spec_version: u64,
    pub recorded_ms: u64,
    pub source: SpecSource,
    /// The update state the daemon reported with this spec (a rollback
    /// shows as `rollback_started` / `rollback_completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_state: Option<UpdateState>,
    /// Who made it, when a control-plane job did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<crate::ids::JobId>,
    /// The sha256 of the full spec as the daemon sent it.
    pub spec_sha256: String,
    pub summary: SpecSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference between two specs. `field` is a stable dotted path:
/// `image`, `image.tag`, `env.<KEY>`, `secrets`, `configs`, `replicas`,
/// `mode`, `limits.nano_cpus`, `reservations.memory_bytes`, `constraints`,
/// `labels.<name>`, `container_labels.<name>`, `networks`,
/// `update_config.<field>`, `rollback_config.<field>`, `healthcheck`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecChange {
    pub field: String,
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// What changed from `from` to `to`, in field order (deterministic).
pub fn diff(from: &SpecSummary, to: &SpecSummary) -> Vec<SpecChange> {
    let mut out = Vec::new();
    scalar(&mut out, "image", Some(&from.image), Some(&to.image));
    let (a, b) = (ImageRef::parse(&from.image), ImageRef::parse(&to.image));
    if a.tag != b.tag {
        scalar(&mut out, "image.tag", a.tag.as_ref(), b.tag.as_ref());
    }
    map(&mut out, "env", &from.env, &to.env);
    list(&mut out, "secrets", &from.secrets, &to.secrets);
    list(&mut out, "configs", &from.configs, &to.configs);
    scalar(
        &mut out,
        "replicas",
        from.replicas.as_ref(),
        to.replicas.as_ref(),
    );
    scalar(
        &mut out,
        "mode",
        from.mode.map(|m| format!("{m:?}").to_lowercase()).as_ref(),
        to.mode.map(|m| format!("{m:?}").to_lowercase()).as_ref(),
    );
    resources(&mut out, "limits", &from.limits, &to.limits);
    resources(
        &mut out,
        "reservations",
        &from.reservations,
        &to.reservations,
    );
    list(&mut out, "constraints", &from.constraints, &to.constraints);
    map(&mut out, "labels", &from.labels, &to.labels);
    map(
        &mut out,
        "container_labels",
        &from.container_labels,
        &to.container_labels,
    );
    list(&mut out, "networks", &from.networks, &to.networks);
    policy(
        &mut out,
        "update_config",
        &from.update_config,
        &to.update_config,
    );
    policy(
        &mut out,
        "rollback_config",
        &from.rollback_config,
        &to.rollback_config,
    );
    scalar(
        &mut out,
        "healthcheck",
        from.healthcheck.as_ref().map(|h| h.join(" ")).as_ref(),
        to.healthcheck.as_ref().map(|h| h.join(" ")).as_ref(),
    );
    out
}

fn scalar<T: ToString + PartialEq>(
    out: &mut Vec<SpecChange>,
    field: &str,
    from: Option<&T>,
    to: Option<&T>,
) {
    let kind = match (from, to) {
        (None, None) => return,
        (Some(a), Some(b)) if a == b => return,
        (None, Some(_)) => ChangeKind::Added,
        (Some(_), None) => ChangeKind::Removed,
        (Some(_), Some(_)) => ChangeKind::Changed,
    };
    out.push(SpecChange {
        field: field.to_owned(),
        kind,
        from: from.map(ToString::to_string),
        to: to.map(ToString::to_string),
    });
}

fn map<V: ToString + PartialEq>(
    out: &mut Vec<SpecChange>,
    prefix: &str,
    from: &BTreeMap<String, V>,
    to: &BTreeMap<String, V>,
) {
    let keys: std::collections::BTreeSet<&String> = from.keys().chain(to.keys()).collect();
    for k in keys {
        scalar(out, &format!("{prefix}.{k}"), from.get(k), to.get(k));
    }
}

/// A list compared as a set: one change per item added or removed.
fn list(out: &mut Vec<SpecChange>, field: &str, from: &[String], to: &[String]) {
    for a in from.iter().filter(|a| !to.contains(a)) {
        scalar(out, field, Some(a), None);
    }
    for b in to.iter().filter(|b| !from.contains(b)) {
        scalar(out, field, None, Some(b));
    }
}

fn resources(out: &mut Vec<SpecChange>, prefix: &str, from: &Resources, to: &Resources) {
    scalar(
        out,
        &format!("{prefix}.nano_cpus"),
        from.nano_cpus.as_ref(),
        to.nano_cpus.as_ref(),
    );
    scalar(
        out,
        &format!("{prefix}.memory_bytes"),
        from.memory_bytes.as_ref(),
        to.memory_bytes.as_ref(),
    );
}

fn policy(out: &mut Vec<SpecChange>, prefix: &str, from: &UpdatePolicy, to: &UpdatePolicy) {
    let f = |n: &str| format!("{prefix}.{n}");
    scalar(
        out,
        &f("parallelism"),
        from.parallelism.as_ref(),
        to.parallelism.as_ref(),
    );
    scalar(
        out,
        &f("delay_ns"),
        from.delay_ns.as_ref(),
        to.delay_ns.as_ref(),
    );
    scalar(
        out,
        &f("failure_action"),
        from.failure_action.as_ref(),
        to.failure_action.as_ref(),
    );
    scalar(
        out,
        &f("monitor_ns"),
        from.monitor_ns.as_ref(),
        to.monitor_ns.as_ref(),
    );
    scalar(
        out,
        &f("max_failure_ratio"),
        from.max_failure_ratio.as_ref(),
        to.max_failure_ratio.as_ref(),
    );
    scalar(out, &f("order"), from.order.as_ref(), to.order.as_ref());
}

/// One `change` event of `GET /admin/v1/deploy/events`: what the Swarm
/// observer saw changed (a service's spec, status, replicas or update
/// state); pages refetch what they show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployPulse {
    pub observed_ms: u64,
    pub services: usize,
    /// The names whose state changed since the previous event (all of them
    /// in the first).
    pub changed: Vec<ServiceName>,
    pub stale: bool,
}

/// `GET /admin/v1/deploy/services`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct ServiceQuery {
    /// Only this stack's services.
    pub stack: Option<String>,
    #[cfg_attr(feature = "openapi", param(inline))]
    pub status: Option<ServiceStatus>,
    /// Only services at this version (label) or image tag.
    pub version: Option<String>,
    /// Substring of the service name.
    pub q: Option<String>,
    pub page: usize,
    /// 1..=200; 0 means the default (50).
    pub page_size: usize,
}

impl ServiceQuery {
    pub fn effective_page_size(&self) -> usize {
        match self.page_size {
            0 => 50,
            n => n.min(crate::views::MAX_PAGE_SIZE),
        }
    }

    pub fn matches(&self, s: &ServiceView) -> bool {
        self.stack
            .as_ref()
            .is_none_or(|st| s.stack.as_ref() == Some(st))
            && self.status.is_none_or(|st| s.status == st)
            && self.version.as_ref().is_none_or(|v| {
                s.version.as_ref() == Some(v) || s.image_ref.tag.as_ref() == Some(v)
            })
            && self
                .q
                .as_ref()
                .is_none_or(|q| s.name.as_str().contains(q.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServicePage {
    pub items: Vec<ServiceView>,
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
    /// Every stack seen, for the filter.
    pub stacks: Vec<String>,
    /// When the observed state was read from the daemon (ms).
    pub observed_ms: u64,
    /// The last read of the daemon failed: this is the one before.
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceDetail {
    pub service: ServiceView,
    /// The spec running now.
    pub spec: SpecSummary,
    /// Newest first.
    pub tasks: Vec<TaskView>,
    /// Newest first, at most `HISTORY_SHOWN`.
    pub history: Vec<SpecRecord>,
    /// Set by a rollback until an operator unpins the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
    pub observed_ms: u64,
    /// The last read of the daemon failed: this is the one before.
    pub stale: bool,
}

/// How many history records a service detail carries (the history door
/// pages through all of them).
pub const HISTORY_SHOWN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecHistory {
    pub service: ServiceName,
    /// Newest first.
    pub items: Vec<SpecRecord>,
}

/// `GET …/diff?from=&to=`: two recorded specs by `seq`; without `to`, the
/// newest; without `from`, the one before `to`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct SpecDiffQuery {
    pub from: Option<u64>,
    pub to: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecDiff {
    pub service: ServiceName,
    pub from: SpecRecord,
    pub to: SpecRecord,
    pub changes: Vec<SpecChange>,
}

/// Labels a rollback job puts on the spec it applies: the observer records
/// that spec as `applied` by this job and principal, and a retried update
/// step recognises its own write.
pub const JOB_LABEL: &str = "cloudlysis.control.job";
pub const BY_LABEL: &str = "cloudlysis.control.by";
/// A service's platform kind (`gateway`, `aggregate`, …): a rollback's
/// post-check asks that kind's instances for readiness.
pub const KIND_LABEL: &str = "cloudlysis.kind";

/// `deploy.rollback`'s input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackInput {
    pub service: ServiceName,
    /// The recorded spec to restore; by default the newest recorded spec
    /// before the running one that differs from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_seq: Option<u64>,
    /// The `Version.Index` the plan read (set by the plan): a service
    /// changed since is refused (`plan_stale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_version: Option<u64>,
    /// The record of the spec running when planned (set by the plan): what
    /// the finished job offers to roll back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_seq: Option<u64>,
}

/// A rollback plan's change: the running spec, the one it restores, and
/// what differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployChange {
    pub service: ServiceName,
    /// The record of the spec running now.
    pub from_seq: u64,
    pub to_seq: u64,
    /// The `Version.Index` read: the update's fencing token.
    pub spec_version: u64,
    pub changes: Vec<SpecChange>,
}

/// A service pinned by a rollback: further rollbacks are refused until an
/// operator unpins it with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pin {
    pub seq: u64,
    pub job: crate::ids::JobId,
    pub by: String,
    pub at_ms: u64,
    pub reason: String,
}

/// `POST /admin/v1/deploy/services/{service}/unpin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnpinRequest {
    pub reason: String,
}

#[cfg(test)]
mod tests;
