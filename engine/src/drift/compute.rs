//! Drift items from desired and observed, level-based: the same inputs
//! give the same items, whatever happened before. Pure (the remediations'
//! rollback targets and the `since` times are added by the facade).

use super::stack::{DesiredService, StackFile};
use model::deploy::{
    diff, ImageRef, ServiceName, ServiceStatus, ServiceView, SpecChange, SpecSummary, TaskView,
};
use model::drift::{DriftCategory, DriftItem, Remediation};
use model::jobs::JobKind;
use model::views::{HealthStatus, InstanceHealth};
use std::collections::{BTreeMap, BTreeSet};

/// Labels `docker stack deploy` adds itself: never drift.
const STACK_OWN_LABELS: &str = "com.docker.stack.";

pub struct Observed<'a> {
    pub services: &'a BTreeMap<ServiceName, (ServiceView, SpecSummary)>,
    pub tasks: &'a BTreeMap<String, Vec<TaskView>>,
    pub instances: &'a [InstanceHealth],
}

fn service_href(name: &str) -> String {
    // A service name is `[a-zA-Z0-9_.-]`: nothing to escape.
    format!("/deployments?service={name}")
}

fn image_key(image: &str) -> (String, String) {
    let r = ImageRef::parse(image);
    (r.repository, r.tag.unwrap_or_else(|| "latest".into()))
}

fn shown_image(image: &str) -> String {
    let (repo, tag) = image_key(image);
    format!("{repo}:{tag}")
}

/// The fields of the running spec that differ from the stack file's, as
/// changes from observed to desired; the image is compared apart.
pub fn config_changes(observed: &SpecSummary, desired: &DesiredService) -> Vec<SpecChange> {
    if same_config(observed, desired) {
        return Vec::new();
    }
    let mut seen = observed.clone();
    seen.labels.retain(|k, _| !k.starts_with(STACK_OWN_LABELS));
    seen.image.clone_from(&desired.spec.image);
    let declared = |field: &str| {
        desired.declared.iter().any(|d| {
            field == d
                || (field.starts_with(d.as_str()) && field.as_bytes().get(d.len()) == Some(&b'.'))
        })
    };
    diff(&seen, &desired.spec)
        .into_iter()
        .filter(|c| declared(&c.field))
        .collect()
}

/// The common case without allocating: every compared field equal (the
/// full `diff` then finds no change either).
fn same_config(o: &SpecSummary, d: &DesiredService) -> bool {
    let w = &d.spec;
    let is = |name: &str| d.declared.iter().any(|x| x == name);
    let opt = |a: &Option<i64>, b: &Option<i64>| b.is_none() || a == b;
    let text = |a: &Option<String>, b: &Option<String>| b.is_none() || a == b;
    let policy = |a: &model::deploy::UpdatePolicy, b: &model::deploy::UpdatePolicy| {
        opt(&a.parallelism, &b.parallelism)
            && opt(&a.delay_ns, &b.delay_ns)
            && opt(&a.monitor_ns, &b.monitor_ns)
            && text(&a.failure_action, &b.failure_action)
            && text(&a.max_failure_ratio, &b.max_failure_ratio)
            && text(&a.order, &b.order)
    };
    o.env == w.env
        && o.secrets == w.secrets
        && o.constraints == w.constraints
        && o.mode == w.mode
        && (!is("replicas") || o.replicas == w.replicas)
        && (!is("healthcheck") || o.healthcheck == w.healthcheck)
        && o.labels
            .iter()
            .filter(|(k, _)| !k.starts_with(STACK_OWN_LABELS))
            .eq(w.labels.iter())
        && opt(&o.limits.nano_cpus, &w.limits.nano_cpus)
        && opt(&o.limits.memory_bytes, &w.limits.memory_bytes)
        && opt(&o.reservations.nano_cpus, &w.reservations.nano_cpus)
        && opt(&o.reservations.memory_bytes, &w.reservations.memory_bytes)
        && policy(&o.update_config, &w.update_config)
        && policy(&o.rollback_config, &w.rollback_config)
}

pub fn image_differs(observed: &str, desired: &str) -> bool {
    image_key(observed) != image_key(desired)
}

fn stack_deploy(stack: &StackFile) -> Remediation {
    Remediation {
        label: "Deploy the stack file".into(),
        job: None,
        input: None,
        href: "/deployments".into(),
        command: Some(format!(
            "docker stack deploy -c {} {}",
            stack.path, stack.stack
        )),
    }
}

fn rollback(service: &ServiceName) -> Remediation {
    Remediation {
        label: "Roll back to the previous spec".into(),
        job: Some(JobKind::DeployRollback),
        input: Some(serde_json::json!({ "service": service.as_str() })),
        href: service_href(service.as_str()),
        command: None,
    }
}

fn list(fields: &[SpecChange]) -> String {
    let names: BTreeSet<&str> = fields
        .iter()
        .map(|c| c.field.split('.').next().unwrap_or(&c.field))
        .collect();
    names.into_iter().collect::<Vec<_>>().join(", ")
}

fn instance_subject(i: &InstanceHealth) -> String {
    format!("{}/{} {}", i.kind.as_str(), i.shard, i.endpoint)
}

/// Every drift item, in category order then subject.
pub fn compute(stacks: &[StackFile], observed: &Observed<'_>, now_ms: u64) -> Vec<DriftItem> {
    let mut items = Vec::new();
    let item = |category, subject: String, stack: Option<String>, desired, observed| DriftItem {
        category,
        subject,
        stack,
        desired,
        observed,
        fields: Vec::new(),
        since_ms: now_ms,
        remediation: None,
    };
    let desired_stacks: BTreeSet<&str> = stacks.iter().map(|s| s.stack.as_str()).collect();
    let mut desired_names: BTreeSet<&ServiceName> = BTreeSet::new();

    for stack in stacks {
        for d in &stack.services {
            desired_names.insert(&d.name);
            let replicas = d
                .spec
                .replicas
                .map_or_else(|| "global".to_owned(), |r| format!("{r} replica(s)"));
            let Some((view, spec)) = observed.services.get(&d.name) else {
                let mut i = item(
                    DriftCategory::Missing,
                    d.name.to_string(),
                    Some(stack.stack.clone()),
                    format!("{} × {replicas}", shown_image(&d.spec.image)),
                    "not on this Swarm".into(),
                );
                i.remediation = Some(stack_deploy(stack));
                items.push(i);
                continue;
            };
            let updated_ms = crate::swarm::date_ms(view.updated_at.as_deref());
            if image_differs(&spec.image, &d.spec.image) {
                let mut i = item(
                    DriftCategory::VersionMismatch,
                    d.name.to_string(),
                    Some(stack.stack.clone()),
                    shown_image(&d.spec.image),
                    shown_image(&spec.image),
                );
                if updated_ms > 0 {
                    i.since_ms = updated_ms;
                }
                i.remediation = Some(stack_deploy(stack));
                items.push(i);
            }
            let fields = config_changes(spec, d);
            if !fields.is_empty() {
                let mut i = item(
                    DriftCategory::ConfigMismatch,
                    d.name.to_string(),
                    Some(stack.stack.clone()),
                    format!("as in {}", stack.path),
                    format!("{} field(s) differ: {}", fields.len(), list(&fields)),
                );
                i.fields = fields;
                if updated_ms > 0 {
                    i.since_ms = updated_ms;
                }
                i.remediation = Some(stack_deploy(stack));
                items.push(i);
            }
        }
    }

    for (name, (view, _)) in observed.services {
        let Some(stack) = view.stack.as_deref() else {
            continue;
        };
        if !desired_stacks.contains(stack) {
            continue;
        }
        if !desired_names.contains(name) {
            let path = stacks
                .iter()
                .find(|s| s.stack == stack)
                .map_or("", |s| s.path.as_str());
            let mut i = item(
                DriftCategory::Extra,
                name.to_string(),
                Some(stack.to_owned()),
                format!("not in {path}"),
                shown_image(&view.image),
            );
            i.remediation = Some(Remediation {
                label: "Remove the service, or add it to the stack file".into(),
                job: None,
                input: None,
                href: service_href(name.as_str()),
                command: Some(format!("docker service rm {name}")),
            });
            items.push(i);
        }
        if matches!(
            view.status,
            ServiceStatus::Degraded | ServiceStatus::CrashLooping
        ) {
            let tasks = observed.tasks.get(&view.id).map_or(&[][..], Vec::as_slice);
            // Since the oldest of the recent failures, when there are any.
            let since = tasks
                .iter()
                .filter(|t| t.state.is_failure())
                .map(|t| t.since_ms)
                .min();
            let desired = view
                .replicas_desired
                .map_or_else(|| "every node".to_owned(), |r| format!("{r} running"));
            let mut i = item(
                DriftCategory::Unhealthy,
                name.to_string(),
                Some(stack.to_owned()),
                desired,
                format!(
                    "{}: {} running, {} recent task failure(s)",
                    view.status.as_str(),
                    view.replicas_running,
                    view.recent_failures
                ),
            );
            if let Some(s) = since.filter(|s| *s > 0) {
                i.since_ms = s;
            }
            i.remediation = Some(rollback(name));
            items.push(i);
        }
    }

    for inst in observed.instances {
        if !matches!(inst.status, HealthStatus::Healthy | HealthStatus::Unknown) {
            let mut i = item(
                DriftCategory::Unhealthy,
                instance_subject(inst),
                None,
                "healthy and ready".into(),
                format!(
                    "{}{}",
                    inst.status.as_str(),
                    inst.last_error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
            );
            i.remediation = Some(Remediation {
                label: "See the instance on the Fleet page".into(),
                job: None,
                input: None,
                href: "/fleet".into(),
                command: None,
            });
            items.push(i);
        }
        if inst.not_reloaded {
            let rev = |r: Option<u64>| r.map_or_else(|| "none".to_owned(), |r| format!("r{r}"));
            let mut i = item(
                DriftCategory::NotReloaded,
                instance_subject(inst),
                None,
                format!(
                    "placement r{}, routing r{}",
                    inst.current_placement_revision, inst.current_routing_revision
                ),
                format!(
                    "placement {}, routing {}",
                    rev(inst.loaded_placement_revision),
                    rev(inst.loaded_routing_revision)
                ),
            );
            if let Some(s) = inst.behind_since_ms {
                i.since_ms = s;
            }
            i.remediation = Some(Remediation {
                label: "Reload routing".into(),
                job: Some(JobKind::RoutingReload),
                input: Some(serde_json::json!({})),
                href: "/placement".into(),
                command: None,
            });
            items.push(i);
        }
    }
    items.sort_by(|a, b| a.category.cmp(&b.category).then(a.subject.cmp(&b.subject)));
    items
}
