//! Drift: the stack file parser (the repository's own `swarm/platform.yml`
//! and refused files), every category computed from crafted desired and
//! observed states, and the facade over the in-memory Swarm and a
//! simulated fleet (a hand update found with its rollback target, an
//! instance left on an old revision, an unready one).

use bollard::models::{
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
};
use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::drift::{self, compute, Drift, DriftSettings, Observed, StackError, StackSource};
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
use engine::store::embedded::EmbeddedStore;
use engine::store::Substrate;
use engine::swarm::{DeploySettings, Deployments, MemorySwarm};
use model::deploy::{EnvValue, ServiceName, ServiceStatus, ServiceView, SpecSummary, STACK_LABEL};
use model::drift::{DriftCategory, DriftQuery};
use model::jobs::JobKind;
use model::views::{HealthStatus, InstanceHealth};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const KEY: &[u8] = b"drift-test-fingerprint-key";

fn fp(k: &str, v: &str) -> String {
    engine::swarm::fingerprint(KEY, k, v)
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

#[test]
fn the_platform_stack_file_parses_and_every_service_is_guarded() {
    let f = drift::stack::read("cloudlysis", &repo_file("swarm/platform.yml"), &fp).unwrap();
    let names: Vec<&str> = f.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cloudlysis_aggregate",
            "cloudlysis_gateway",
            "cloudlysis_projection",
            "cloudlysis_runner"
        ]
    );
    for s in &f.services {
        let n = s.name.as_str();
        let hc = s
            .spec
            .healthcheck
            .as_ref()
            .unwrap_or_else(|| panic!("{n}: no healthcheck"));
        assert_eq!(hc[0], "CMD", "{n}");
        assert!(
            s.spec.limits.nano_cpus.is_some() && s.spec.limits.memory_bytes.is_some(),
            "{n}: limits"
        );
        assert_eq!(
            s.spec.update_config.order.as_deref(),
            Some("start-first"),
            "{n}"
        );
        assert_eq!(
            s.spec.update_config.failure_action.as_deref(),
            Some("rollback"),
            "{n}"
        );
        assert!(s.spec.update_config.monitor_ns.is_some(), "{n}: monitor");
        assert!(
            s.spec.rollback_config.order.is_some(),
            "{n}: rollback_config"
        );
        assert!(!s.spec.constraints.is_empty(), "{n}: placement");
        assert!(s.declared.iter().any(|d| d == "update_config.order"), "{n}");
    }
    let gw = &f.services[1];
    // Docker's binary units: 512M is 512 MiB, as the daemon reports it.
    assert_eq!(gw.spec.limits.memory_bytes, Some(512 << 20));
    assert_eq!(gw.spec.limits.nano_cpus, Some(1_000_000_000));
    // An external secret keeps its name; the stack prefixes nothing.
    assert_eq!(gw.spec.secrets, ["gateway_signing"]);
}

#[test]
fn unusable_stack_files_are_refused_with_where_and_why() {
    let bad = |yaml: &str| drift::stack::parse("s", "s.yml", yaml, &fp).unwrap_err();
    let e = bad("services:\n  a:\n    image: x:1\n    colour: red\n");
    assert!(
        matches!(&e, StackError::Invalid { path, message } if path == "s.yml" && message.contains("colour")),
        "{e}"
    );
    let e = bad("services:\n  a:\n    environment: {A: 1}\n");
    assert!(e.to_string().contains("no image"), "{e}");
    let e = bad("services: [1, 2\n");
    assert!(matches!(e, StackError::Invalid { .. }));
    let e = drift::stack::read("s", std::path::Path::new("/nonexistent/x.yml"), &fp).unwrap_err();
    assert!(matches!(e, StackError::Unreadable { .. }), "{e}");
}

const STACK: &str = r#"
services:
  api:
    image: cltest/api:1
    environment:
      MODE: fast
      DB_PASSWORD: hunter2
    deploy:
      replicas: 2
      labels: { team: core }
      placement: { constraints: [node.role == worker] }
      update_config: { order: start-first, failure_action: rollback }
  jobs:
    image: cltest/jobs:1
"#;

fn stack() -> drift::StackFile {
    drift::stack::parse("st", "stack.yml", STACK, &fp).unwrap()
}

/// What the daemon reports for a service deployed exactly as desired:
/// the stack's own labels and daemon defaults the file leaves open.
fn running_as_desired(d: &drift::DesiredService) -> SpecSummary {
    let mut s = d.spec.clone();
    s.labels
        .insert("com.docker.stack.namespace".into(), "st".into());
    s.labels
        .insert("com.docker.stack.image".into(), s.image.clone());
    s.image = format!("{}@sha256:{}", s.image, "ab".repeat(32));
    s.update_config.parallelism = Some(1);
    s.rollback_config.failure_action = Some("pause".into());
    s.networks = vec!["n0dd1e".into()];
    s
}

fn view(name: &str, stack: Option<&str>, image: &str, status: ServiceStatus) -> ServiceView {
    ServiceView {
        id: format!("id-{name}"),
        name: ServiceName::parse(name).unwrap(),
        stack: stack.map(Into::into),
        image: image.into(),
        image_ref: model::deploy::ImageRef::parse(image),
        version: None,
        git_sha: None,
        updated_at: Some("2026-12-01T10:00:00Z".into()),
        mode: model::deploy::ServiceMode::Replicated,
        replicas_desired: Some(2),
        replicas_running: if status == ServiceStatus::Running {
            2
        } else {
            0
        },
        update: None,
        spec_version: 1,
        recent_failures: if status == ServiceStatus::CrashLooping {
            5
        } else {
            0
        },
        status,
    }
}

fn observed_as_desired(f: &drift::StackFile) -> BTreeMap<ServiceName, (ServiceView, SpecSummary)> {
    f.services
        .iter()
        .map(|d| {
            let s = running_as_desired(d);
            (
                d.name.clone(),
                (
                    view(
                        d.name.as_str(),
                        Some("st"),
                        &s.image,
                        ServiceStatus::Running,
                    ),
                    s,
                ),
            )
        })
        .collect()
}

fn instance(endpoint: &str) -> InstanceHealth {
    serde_json::from_value(serde_json::json!({
        "kind": "aggregate", "shard": "a-0", "endpoint": endpoint, "status": "healthy",
        "latency_ms": 3, "version": "1", "git_sha": null,
        "loaded_placement_revision": 7, "loaded_routing_revision": 3,
        "current_placement_revision": 7, "current_routing_revision": 3,
        "not_reloaded": false, "draining_tenants": [], "last_error": null, "checked_at_ms": 1
    }))
    .unwrap()
}

#[test]
fn a_platform_as_desired_has_no_drift_and_each_difference_is_its_category() {
    let f = stack();
    let tasks = BTreeMap::new();
    let healthy = [instance("http://a0")];
    let run = |services: &BTreeMap<ServiceName, (ServiceView, SpecSummary)>,
               instances: &[InstanceHealth]| {
        compute(
            std::slice::from_ref(&f),
            &Observed {
                services,
                tasks: &tasks,
                instances,
            },
            1_000,
        )
    };
    let base = observed_as_desired(&f);
    assert_eq!(run(&base, &healthy), vec![], "as desired: no drift");

    let api = ServiceName::parse("st_api").unwrap();
    let mut m = base.clone();
    {
        let (_, s) = m.get_mut(&api).unwrap();
        s.replicas = Some(3);
        s.env.insert("DEBUG".into(), EnvValue::Plain("1".into()));
        s.env.insert(
            "DB_PASSWORD".into(),
            EnvValue::Redacted(fp("DB_PASSWORD", "hunter3")),
        );
        s.constraints.clear();
        s.update_config.order = Some("stop-first".into());
    }
    let items = run(&m, &healthy);
    assert_eq!(items.len(), 1, "{items:#?}");
    let i = &items[0];
    assert_eq!(
        (i.category, i.subject.as_str()),
        (DriftCategory::ConfigMismatch, "st_api")
    );
    let fields: Vec<&str> = i.fields.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "env.DB_PASSWORD",
            "env.DEBUG",
            "replicas",
            "constraints",
            "update_config.order"
        ]
    );
    let shown = serde_json::to_string(&items).unwrap();
    assert!(
        !shown.contains("hunter"),
        "secret values never shown: {shown}"
    );
    assert_eq!(
        i.since_ms,
        engine::swarm::date_ms(Some("2026-12-01T10:00:00Z"))
    );

    let mut m = base.clone();
    m.get_mut(&api).unwrap().1.image = "cltest/api:2".into();
    let items = run(&m, &healthy);
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0].category, DriftCategory::VersionMismatch);
    assert_eq!(
        (items[0].desired.as_str(), items[0].observed.as_str()),
        ("cltest/api:1", "cltest/api:2")
    );
    let r = items[0].remediation.as_ref().unwrap();
    assert_eq!(
        r.command.as_deref(),
        Some("docker stack deploy -c stack.yml st")
    );

    let mut m = base.clone();
    m.remove(&ServiceName::parse("st_jobs").unwrap());
    let extra = ServiceName::parse("st_handmade").unwrap();
    m.insert(
        extra.clone(),
        (
            view(
                "st_handmade",
                Some("st"),
                "busybox:1",
                ServiceStatus::Running,
            ),
            SpecSummary::default(),
        ),
    );
    // Outside the desired stacks: not this stack file's business.
    let other = ServiceName::parse("obs_grafana").unwrap();
    m.insert(
        other.clone(),
        (
            view(
                "obs_grafana",
                Some("obs"),
                "grafana:11",
                ServiceStatus::CrashLooping,
            ),
            SpecSummary::default(),
        ),
    );
    m.get_mut(&api).unwrap().0.status = ServiceStatus::CrashLooping;
    let mut stale = instance("http://a1");
    stale.loaded_routing_revision = Some(2);
    stale.not_reloaded = true;
    stale.behind_since_ms = Some(500);
    let mut unready = instance("http://a2");
    unready.status = HealthStatus::Unready;
    let items = run(&m, &[stale, unready, instance("http://a0")]);
    let got: Vec<(DriftCategory, &str)> = items
        .iter()
        .map(|i| (i.category, i.subject.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (DriftCategory::Missing, "st_jobs"),
            (DriftCategory::Extra, "st_handmade"),
            (DriftCategory::Unhealthy, "aggregate/a-0 http://a2"),
            (DriftCategory::Unhealthy, "st_api"),
            (DriftCategory::NotReloaded, "aggregate/a-0 http://a1"),
        ]
    );
    assert_eq!(
        items[1].remediation.as_ref().unwrap().command.as_deref(),
        Some("docker service rm st_handmade")
    );
    let crash = &items[3];
    assert_eq!(
        crash.remediation.as_ref().unwrap().job,
        Some(JobKind::DeployRollback)
    );
    let behind = &items[4];
    assert_eq!(behind.since_ms, 500);
    assert_eq!(behind.observed, "placement r7, routing r2");
    assert_eq!(
        behind.remediation.as_ref().unwrap().job,
        Some(JobKind::RoutingReload)
    );
    assert!(items.iter().all(|i| i.remediation.is_some()));
}

fn spec(name: &str, image: &str, env: &[&str], replicas: i64) -> ServiceSpec {
    ServiceSpec {
        name: Some(name.into()),
        labels: Some([(STACK_LABEL.to_owned(), "st".to_owned())].into()),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(replicas),
            }),
            ..Default::default()
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.into()),
                env: Some(env.iter().map(|s| (*s).to_owned()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `n` running tasks of `image` (what a converged service shows).
fn running(swarm: &MemorySwarm, id: &str, image: &str, n: u64) {
    let tasks = (0..n)
        .map(|i| bollard::models::Task {
            id: Some(format!("{id}-t{i}")),
            service_id: Some(id.into()),
            slot: Some(i as i64 + 1),
            created_at: Some("2026-12-01T10:00:00Z".into()),
            desired_state: Some(bollard::models::TaskState::RUNNING),
            spec: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(bollard::models::TaskStatus {
                state: Some(bollard::models::TaskState::RUNNING),
                timestamp: Some("2026-12-01T10:00:00Z".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    swarm.set_tasks(id, tasks);
}

const SMALL: &str = "services:\n  web:\n    image: cltest/web:1\n    environment: {MODE: fast}\n    deploy: {replicas: 2}\n  db:\n    image: cltest/db:1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_facade_finds_a_hand_update_with_its_way_back_and_instances_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(
        EmbeddedStore::open(&dir.path().join("store"))
            .await
            .unwrap(),
    );
    let audit = Arc::new(AuditLog::lazy(
        store.clone(),
        b"drift-test-chain-key-0123456789ab",
    ));
    let actions = Actions::new(
        audit,
        store.clone(),
        Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    let swarm = Arc::new(MemorySwarm::default());
    let deploy = Deployments::new(
        swarm.clone(),
        store.clone(),
        actions,
        DeploySettings {
            poll: Duration::from_millis(50),
            fingerprint_key: KEY.to_vec(),
            grafana: None,
        },
    );
    let topo = sim::Topology {
        shards: 1,
        replicas: 2,
        gateways: 0,
        tenants: 4,
        ..sim::Topology::default()
    };
    let fleet = sim::Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let docs = FleetDocs::from_files(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        Duration::from_millis(50),
    );
    let health = HealthPoller::start(
        docs.clone(),
        PollerConfig {
            interval: Duration::from_millis(100),
            ..PollerConfig::default()
        },
    );
    let stack_path = dir.path().join("stack.yml");
    std::fs::write(&stack_path, SMALL).unwrap();
    let drift = Drift::new(
        deploy.clone(),
        FleetService { docs, health },
        DriftSettings {
            stacks: vec![
                StackSource {
                    name: "st".into(),
                    path: stack_path.clone(),
                },
                StackSource {
                    name: "gone".into(),
                    path: dir.path().join("missing.yml"),
                },
            ],
        },
    );

    let web = swarm.create(spec("st_web", "cltest/web:1", &["MODE=fast"], 2));
    let db = swarm.create(spec("st_db", "cltest/db:1", &[], 1));
    running(&swarm, &web, "cltest/web:1", 2);
    running(&swarm, &db, "cltest/db:1", 1);
    deploy.refresh().await.unwrap();
    // Wait for the fleet's first probes (healthy, nothing behind).
    let mut report = drift.report(&DriftQuery::default()).await.unwrap();
    for _ in 0..50 {
        if report.total == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        report = drift.report(&DriftQuery::default()).await.unwrap();
    }
    assert_eq!(report.total, 0, "{:#?}", report.items);
    assert_eq!(report.stacks, ["st"]);
    assert_eq!(report.errors.len(), 1, "the unreadable file is reported");
    assert!(
        report.errors[0].contains("missing.yml"),
        "{:?}",
        report.errors
    );

    // Someone updates the service by hand: the stack file's spec is in
    // the history, so the remediation is a rollback to it.
    swarm.set_spec(&web, spec("st_web", "cltest/web:2", &["MODE=slow"], 2));
    running(&swarm, &web, "cltest/web:2", 2);
    deploy.refresh().await.unwrap();
    let r = drift.report(&DriftQuery::default()).await.unwrap();
    let cats: Vec<DriftCategory> = r.items.iter().map(|i| i.category).collect();
    assert_eq!(
        cats,
        [
            DriftCategory::VersionMismatch,
            DriftCategory::ConfigMismatch
        ],
        "{:#?}",
        r.items
    );
    let history = deploy
        .history(&ServiceName::parse("st_web").unwrap())
        .await
        .unwrap();
    let first = history.items.last().unwrap().seq;
    for i in &r.items {
        let fix = i.remediation.as_ref().unwrap();
        assert_eq!(fix.job, Some(JobKind::DeployRollback), "{i:#?}");
        assert_eq!(fix.input.as_ref().unwrap()["to_seq"], first);
    }
    assert_eq!(r.count(DriftCategory::VersionMismatch), 1);
    let only = drift
        .report(&DriftQuery {
            category: Some(DriftCategory::ConfigMismatch),
            ..DriftQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(only.items.len(), 1);
    assert_eq!(only.total, 2, "the summary counts every item");

    // The stack file is edited to what runs: no drift, at once.
    std::fs::write(
        &stack_path,
        SMALL
            .replace("cltest/web:1", "cltest/web:2")
            .replace("fast", "slow"),
    )
    .unwrap();
    assert_eq!(drift.report(&DriftQuery::default()).await.unwrap().total, 0);

    // One instance stops following revisions, another stops being ready.
    let (a, b) = (&fleet.instances()[0], &fleet.instances()[1]);
    fleet
        .set_faults(
            &a.id,
            sim::Faults {
                stale_revision: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    fleet
        .set_faults(
            &b.id,
            sim::Faults {
                unready: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut doc: model::fleet::PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    doc.revision += 1;
    std::fs::write(&fleet.placement_path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let a_url = format!("http://{}", a.addr);
    let b_url = format!("http://{}", b.addr);
    let want = |r: &model::drift::DriftReport| {
        let has = |c: DriftCategory, u: &str| {
            r.items
                .iter()
                .any(|i| i.category == c && i.subject.ends_with(&format!(" {u}")))
        };
        has(DriftCategory::NotReloaded, &a_url) && has(DriftCategory::Unhealthy, &b_url)
    };
    let mut r = drift.report(&DriftQuery::default()).await.unwrap();
    for _ in 0..100 {
        if want(&r) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        r = drift.report(&DriftQuery::default()).await.unwrap();
    }
    assert!(want(&r), "{:#?}", r.items);
    let behind = r
        .items
        .iter()
        .find(|i| i.category == DriftCategory::NotReloaded && i.subject.ends_with(&a_url))
        .unwrap();
    assert_eq!(
        behind.remediation.as_ref().unwrap().job,
        Some(JobKind::RoutingReload)
    );
    // A second report keeps the item's `since`.
    let again = drift.report(&DriftQuery::default()).await.unwrap();
    let same = again
        .items
        .iter()
        .find(|i| i.key() == behind.key())
        .unwrap();
    assert_eq!(same.since_ms, behind.since_ms);
}
