//! The Engine API's objects as the control plane shows them. Everything
//! here is pure: the same objects give the same views.

use bollard::models::{
    Node, Service, ServiceSpec, ServiceSpecRollbackConfig, ServiceSpecUpdateConfig, Task,
};
use hmac::{KeyInit, Mac};
use model::deploy::{
    looks_secret, recent_failures, status_of, EnvValue, ImageRef, NodeView, Resources, ServiceMode,
    ServiceName, ServiceView, SpecSummary, TaskState, TaskView, UpdatePolicy, UpdateState,
    UpdateStatus, STACK_LABEL,
};
use std::collections::BTreeMap;

/// Milliseconds since the epoch of an Engine API timestamp (RFC 3339 with
/// nanoseconds); 0 when missing or malformed.
pub fn date_ms(s: Option<&str>) -> u64 {
    s.and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    })
    .map_or(0, |t| {
        u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
    })
}

/// A secret-looking value's fingerprint: keyed (HMAC-SHA256), so that a
/// short password cannot be found by hashing guesses; 12 hex digits.
pub fn fingerprint(key: &[u8], name: &str, value: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(name.as_bytes());
    mac.update(b"=");
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sorted(m: Option<&std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// `update_config` and `rollback_config` share their fields but not their
/// enum types.
fn policy(
    parallelism: Option<i64>,
    delay: Option<i64>,
    failure_action: Option<String>,
    monitor: Option<i64>,
    ratio: Option<f64>,
    order: Option<String>,
) -> UpdatePolicy {
    UpdatePolicy {
        parallelism,
        delay_ns: delay,
        failure_action: failure_action.filter(|s| !s.is_empty()),
        monitor_ns: monitor,
        max_failure_ratio: ratio.map(|r| r.to_string()),
        order: order.filter(|s| !s.is_empty()),
    }
}

fn update_policy(c: Option<&ServiceSpecUpdateConfig>) -> UpdatePolicy {
    c.map_or_else(UpdatePolicy::default, |c| {
        policy(
            c.parallelism,
            c.delay,
            c.failure_action.map(|a| a.to_string()),
            c.monitor,
            c.max_failure_ratio,
            c.order.map(|o| o.to_string()),
        )
    })
}

fn rollback_policy(c: Option<&ServiceSpecRollbackConfig>) -> UpdatePolicy {
    c.map_or_else(UpdatePolicy::default, |c| {
        policy(
            c.parallelism,
            c.delay,
            c.failure_action.map(|a| a.to_string()),
            c.monitor,
            c.max_failure_ratio,
            c.order.map(|o| o.to_string()),
        )
    })
}

/// What a spec says, without any secret value (`key` keys the
/// fingerprints of secret-looking environment values).
pub fn summary(spec: &ServiceSpec, key: &[u8]) -> SpecSummary {
    let task = spec.task_template.clone().unwrap_or_default();
    let c = task.container_spec.clone().unwrap_or_default();
    let env = c
        .env
        .iter()
        .flatten()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            let shown = if looks_secret(k, v) {
                EnvValue::Redacted(fingerprint(key, k, v))
            } else {
                EnvValue::Plain(v.to_owned())
            };
            (k.to_owned(), shown)
        })
        .collect();
    let mut secrets: Vec<String> = c
        .secrets
        .iter()
        .flatten()
        .filter_map(|s| s.secret_name.clone())
        .collect();
    secrets.sort();
    let mut configs: Vec<String> = c
        .configs
        .iter()
        .flatten()
        .filter_map(|s| s.config_name.clone())
        .collect();
    configs.sort();
    let mode = spec.mode.as_ref().map(|m| {
        if m.global.is_some() {
            ServiceMode::Global
        } else {
            ServiceMode::Replicated
        }
    });
    let replicas = spec
        .mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .and_then(|r| u64::try_from(r).ok());
    let res = task.resources.clone().unwrap_or_default();
    let limits = res.limits.map_or_else(Resources::default, |l| Resources {
        nano_cpus: l.nano_cpus,
        memory_bytes: l.memory_bytes,
    });
    let reservations = res
        .reservations
        .map_or_else(Resources::default, |l| Resources {
            nano_cpus: l.nano_cpus,
            memory_bytes: l.memory_bytes,
        });
    let mut constraints = task
        .placement
        .as_ref()
        .and_then(|p| p.constraints.clone())
        .unwrap_or_default();
    constraints.sort();
    // Networks may be named on the task (current) or the service (legacy).
    let mut networks: Vec<String> = task
        .networks
        .iter()
        .flatten()
        .chain(spec.networks.iter().flatten())
        .filter_map(|n| n.target.clone())
        .collect();
    networks.sort();
    networks.dedup();
    SpecSummary {
        image: c.image.clone().unwrap_or_default(),
        env,
        secrets,
        configs,
        replicas,
        mode,
        limits,
        reservations,
        constraints,
        labels: sorted(spec.labels.as_ref()),
        container_labels: sorted(c.labels.as_ref()),
        networks,
        update_config: update_policy(spec.update_config.as_ref()),
        rollback_config: rollback_policy(spec.rollback_config.as_ref()),
        healthcheck: c.health_check.and_then(|h| h.test),
    }
}

fn task_state(s: Option<&bollard::models::TaskState>) -> TaskState {
    use bollard::models::TaskState as B;
    match s {
        Some(B::NEW) | None => TaskState::New,
        Some(B::ALLOCATED) => TaskState::Allocated,
        Some(B::PENDING) => TaskState::Pending,
        Some(B::ASSIGNED) => TaskState::Assigned,
        Some(B::ACCEPTED) => TaskState::Accepted,
        Some(B::PREPARING) => TaskState::Preparing,
        Some(B::READY) => TaskState::Ready,
        Some(B::STARTING) => TaskState::Starting,
        Some(B::RUNNING) => TaskState::Running,
        Some(B::COMPLETE) => TaskState::Complete,
        Some(B::SHUTDOWN) => TaskState::Shutdown,
        Some(B::FAILED) => TaskState::Failed,
        Some(B::REJECTED) => TaskState::Rejected,
        Some(B::REMOVE) => TaskState::Remove,
        Some(B::ORPHANED) => TaskState::Orphaned,
    }
}

pub fn task_view(t: &Task) -> Option<TaskView> {
    let status = t.status.clone().unwrap_or_default();
    Some(TaskView {
        id: t.id.clone()?,
        service_id: t.service_id.clone()?,
        slot: t.slot.and_then(|s| u64::try_from(s).ok()),
        node: t.node_id.clone().filter(|n| !n.is_empty()),
        state: task_state(status.state.as_ref()),
        desired_state: task_state(t.desired_state.as_ref()),
        message: status.message.filter(|m| !m.is_empty()),
        error: status.err.filter(|m| !m.is_empty()),
        exit_code: status.container_status.as_ref().and_then(|c| c.exit_code),
        since_ms: date_ms(status.timestamp.as_deref()),
        created_ms: date_ms(t.created_at.as_deref()),
        image: t
            .spec
            .as_ref()
            .and_then(|s| s.container_spec.as_ref())
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        container_id: status
            .container_status
            .and_then(|c| c.container_id)
            .filter(|c| !c.is_empty()),
    })
}

fn update_status(s: &Service) -> Option<UpdateStatus> {
    let u = s.update_status.as_ref()?;
    Some(UpdateStatus {
        state: UpdateState::parse(u.state?.as_ref())?,
        message: u.message.clone().filter(|m| !m.is_empty()),
        started_at: u.started_at.clone(),
        completed_at: u.completed_at.clone(),
    })
}

/// A service's view and the summary of its current spec; `tasks` are its
/// tasks (for running counts and crash loops). None for an object without
/// an id, a spec or a valid name (nothing the daemon sends).
pub fn service_view(
    s: &Service,
    tasks: &[TaskView],
    now_ms: u64,
    key: &[u8],
) -> Option<(ServiceView, SpecSummary)> {
    let spec = s.spec.as_ref()?;
    let name = ServiceName::parse(spec.name.as_deref()?).ok()?;
    let sum = summary(spec, key);
    let running_by_tasks = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running && t.desired_state == TaskState::Running)
        .count() as u64;
    let running = s
        .service_status
        .as_ref()
        .and_then(|st| st.running_tasks)
        .unwrap_or(running_by_tasks);
    let desired = match sum.mode {
        Some(ServiceMode::Global) => s.service_status.as_ref().and_then(|st| st.desired_tasks),
        _ => sum.replicas,
    };
    let update = update_status(s);
    let failures = recent_failures(tasks, now_ms);
    let status = status_of(desired, running, update.as_ref(), failures);
    let view = ServiceView {
        id: s.id.clone()?,
        stack: sum.labels.get(STACK_LABEL).cloned(),
        image: sum.image.clone(),
        image_ref: ImageRef::parse(&sum.image),
        version: sum.version().map(str::to_owned),
        git_sha: sum.git_sha().map(str::to_owned),
        updated_at: s.updated_at.clone(),
        mode: sum.mode.unwrap_or(ServiceMode::Replicated),
        replicas_desired: desired,
        replicas_running: running,
        update,
        spec_version: s.version.as_ref().and_then(|v| v.index).unwrap_or(0),
        recent_failures: failures,
        status,
        name,
    };
    Some((view, sum))
}

pub fn node_view(n: &Node) -> Option<NodeView> {
    let spec = n.spec.clone().unwrap_or_default();
    let status = n.status.clone().unwrap_or_default();
    Some(NodeView {
        id: n.id.clone()?,
        hostname: n
            .description
            .as_ref()
            .and_then(|d| d.hostname.clone())
            .unwrap_or_default(),
        role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
        availability: spec.availability.map(|a| a.to_string()).unwrap_or_default(),
        state: status.state.map(|s| s.to_string()).unwrap_or_default(),
        addr: status.addr.filter(|a| !a.is_empty()),
        labels: sorted(spec.labels.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
        TaskSpecContainerSpecSecrets,
    };

    fn spec(env: &[&str]) -> ServiceSpec {
        ServiceSpec {
            name: Some("cl_gateway".into()),
            labels: Some(
                [
                    (STACK_LABEL.to_owned(), "cl".to_owned()),
                    ("cloudlysis.version".to_owned(), "1.2.0".to_owned()),
                ]
                .into(),
            ),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(2) }),
                ..Default::default()
            }),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some("cl/gateway:1.2.0".into()),
                    env: Some(env.iter().map(|s| (*s).to_owned()).collect()),
                    secrets: Some(vec![TaskSpecContainerSpecSecrets {
                        secret_name: Some("audit_key".into()),
                        secret_id: Some("x".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_summary_never_holds_a_secret_value_and_fingerprints_are_keyed() {
        let s = summary(
            &spec(&[
                "LOG=info",
                "DB_PASSWORD=hunter2",
                "URL=nats://u:p@nats:4222",
            ]),
            b"k1",
        );
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("u:p@"),
            "{text}"
        );
        assert_eq!(s.env["LOG"], EnvValue::Plain("info".into()));
        let EnvValue::Redacted(a) = &s.env["DB_PASSWORD"] else {
            panic!("not redacted")
        };
        assert_eq!(a.len(), 12);
        // Another key, another fingerprint; the same key, the same one.
        let again = summary(&spec(&["DB_PASSWORD=hunter2"]), b"k1");
        let other = summary(&spec(&["DB_PASSWORD=hunter2"]), b"k2");
        assert_eq!(again.env["DB_PASSWORD"], s.env["DB_PASSWORD"]);
        assert_ne!(other.env["DB_PASSWORD"], s.env["DB_PASSWORD"]);
        assert_eq!(s.secrets, vec!["audit_key".to_owned()]);
        assert_eq!(s.replicas, Some(2));
        assert_eq!(s.version(), Some("1.2.0"));
    }

    #[test]
    fn dates_parse_to_milliseconds_and_bad_ones_to_zero() {
        assert_eq!(
            date_ms(Some("2026-12-03T10:00:00.123456789Z")),
            1_796_292_000_123
        );
        assert_eq!(date_ms(Some("yesterday")), 0);
        assert_eq!(date_ms(None), 0);
    }

    #[test]
    fn a_service_counts_its_running_tasks_when_the_daemon_gives_no_status() {
        let svc = Service {
            id: Some("s1".into()),
            version: Some(bollard::models::ObjectVersion { index: Some(7) }),
            spec: Some(spec(&[])),
            ..Default::default()
        };
        let t = |id: &str, state| TaskView {
            id: id.into(),
            service_id: "s1".into(),
            slot: Some(1),
            node: None,
            state,
            desired_state: TaskState::Running,
            message: None,
            error: None,
            exit_code: None,
            since_ms: 1,
            created_ms: 1,
            image: "cl/gateway:1.2.0".into(),
            container_id: None,
        };
        let (v, _) = service_view(
            &svc,
            &[t("a", TaskState::Running), t("b", TaskState::Starting)],
            10,
            b"k",
        )
        .unwrap();
        assert_eq!((v.replicas_desired, v.replicas_running), (Some(2), 1));
        assert_eq!(v.status, model::deploy::ServiceStatus::Degraded);
        assert_eq!(v.stack.as_deref(), Some("cl"));
        assert_eq!(v.image_ref.tag.as_deref(), Some("1.2.0"));
        assert_eq!(v.spec_version, 7);
        // A nameless object is not a service.
        let mut nameless = svc.clone();
        nameless.spec.as_mut().unwrap().name = None;
        assert!(service_view(&nameless, &[], 10, b"k").is_none());
    }
}
