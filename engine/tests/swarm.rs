//! `DockerSwarm` and the `Deployments` above it against a real dockerd in
//! Swarm mode (scripts/test.sh starts one and sets
//! `CONTROL_TEST_DOCKER_SOCKET`): normalisation, a deploy observed live
//! with its history, a stale update fenced, and an update to a broken
//! image that the daemon rolls back by itself, kept in the history
//! although Swarm clears its previous spec. Images are built here from a
//! static busybox (no registry).

use bollard::models::{
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, TaskSpec, TaskSpecContainerSpec,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use bollard::query_parameters::BuildImageOptionsBuilder;
use engine::store::embedded::EmbeddedStore;
use engine::store::Substrate;
use engine::swarm::{
    DeploySettings, Deployments, DockerSwarm, Snapshot, Swarm, SwarmConnect, SwarmError,
};
use futures::StreamExt;
use model::deploy::{
    ChangeKind, ServiceName, ServiceStatus, SpecDiffQuery, UpdateState, STACK_LABEL,
};
use std::sync::Arc;
use std::time::Duration;

const BUSYBOX: &str = "/bin/busybox";

/// The observer's families as `/metrics` renders them.
fn metrics_text(d: &Deployments) -> String {
    let mut r = prometheus_client::registry::Registry::default();
    d.register_metrics(&mut r);
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &r).unwrap();
    text
}

/// An image from a static busybox: `cmd` as its command, `version` as its label.
async fn build(docker: &bollard::Docker, tag: &str, version: &str, cmd: &str) {
    let dockerfile = format!(
        "FROM scratch\nCOPY busybox /bin/busybox\nLABEL cloudlysis.version=\"{version}\"\nCMD [\"/bin/busybox\", \"sh\", \"-c\", \"{cmd}\"]\n"
    );
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        tar.append_data(&mut h, name, data).unwrap();
    };
    add("Dockerfile", dockerfile.as_bytes(), 0o644);
    add(
        "busybox",
        &std::fs::read(BUSYBOX).expect("busybox-static"),
        0o755,
    );
    let body = tar.into_inner().unwrap();
    let mut s = docker.build_image(
        BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .build(),
        None,
        Some(bollard::body_full(body.into())),
    );
    while let Some(r) = s.next().await {
        r.unwrap_or_else(|e| panic!("build {tag}: {e}"));
    }
}

fn spec(name: &str, stack: &str, image: &str, env: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: Some(name.into()),
        labels: Some([(STACK_LABEL.to_owned(), stack.to_owned())].into()),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(2) }),
            ..Default::default()
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.into()),
                env: Some(env.iter().map(|s| (*s).to_owned()).collect()),
                // `sleep` as PID 1 ignores SIGTERM: no 10 s stop per task.
                stop_signal: Some("SIGKILL".into()),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                delay: Some(200_000_000),
                ..Default::default()
            }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            monitor: Some(3_000_000_000),
            max_failure_ratio: Some(0.0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn until(
    rx: &mut tokio::sync::watch::Receiver<Arc<Snapshot>>,
    what: &str,
    secs: u64,
    f: impl Fn(&Snapshot) -> bool,
) {
    let r = tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|s| f(s))).await;
    assert!(r.is_ok(), "timed out after {secs} s waiting for {what}");
}

/// Removes the test's services however the test ends.
struct Cleanup(bollard::Docker, Vec<String>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let (d, names) = (self.0.clone(), std::mem::take(&mut self.1));
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    for n in names {
                        let _ = d.delete_service(&n).await;
                    }
                })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_swarm_is_observed_with_its_deploys_and_automatic_rollbacks() {
    let Some(socket) = test_support::docker_socket("swarm") else {
        return;
    };
    let swarm = DockerSwarm::connect(
        &SwarmConnect::Socket {
            path: socket.into(),
        },
        30,
    )
    .await
    .unwrap();
    let docker = swarm.docker().unwrap().clone();
    let api = swarm.api_version().await.unwrap();
    eprintln!("Docker Engine API {api}");
    let run = format!("{:08x}", rand::random::<u32>());
    let stack = format!("cltest{run}");
    let app = format!("cltest/app{run}");
    build(
        &docker,
        &format!("{app}:1"),
        "1",
        "exec /bin/busybox sleep 3600",
    )
    .await;
    build(
        &docker,
        &format!("{app}:2"),
        "2",
        "exec /bin/busybox sleep 3600",
    )
    .await;
    build(&docker, &format!("{app}:broken"), "3", "exit 3").await;
    let name = format!("{stack}_app");
    let _cleanup = Cleanup(docker.clone(), vec![name.clone()]);

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let swarm: Arc<dyn Swarm> = Arc::new(swarm);
    let audit = Arc::new(engine::audit::AuditLog::lazy(
        store.clone(),
        b"swarm-test-chain-key-0123456789ab",
    ));
    let actions = engine::action::Actions::new(
        audit,
        store.clone(),
        engine::action::Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    let d = Deployments::new(
        swarm.clone(),
        store.clone(),
        actions.clone(),
        DeploySettings {
            poll: Duration::from_millis(500),
            fingerprint_key: b"swarm-test".to_vec(),
            grafana: None,
        },
    );
    let mut rx = d.subscribe();
    let _observer = d.spawn();
    let sname = ServiceName::parse(&name).unwrap();

    docker
        .create_service(
            spec(
                &name,
                &stack,
                &format!("{app}:1"),
                &["LOG=info", "API_TOKEN=s3cret-value"],
            ),
            None,
        )
        .await
        .unwrap();
    until(&mut rx, "two running tasks of version 1", 90, |s| {
        s.services
            .get(&sname)
            .is_some_and(|(v, _)| v.replicas_running == 2 && v.status == ServiceStatus::Running)
    })
    .await;
    let detail = d.service(&sname).await.unwrap();
    let v = &detail.service;
    assert_eq!(v.stack.as_deref(), Some(stack.as_str()));
    assert_eq!(v.image_ref.tag.as_deref(), Some("1"));
    assert_eq!(v.replicas_desired, Some(2));
    assert!(
        detail
            .tasks
            .iter()
            .filter(|t| t.state == model::deploy::TaskState::Running)
            .count()
            >= 2
    );
    assert!(detail.tasks.iter().all(|t| t.node.is_some()));
    assert!(!metrics_text(&d).is_empty());
    let nodes = d.subscribe().borrow().nodes.clone();
    assert!(nodes.iter().any(|n| n.role == "manager"), "{nodes:?}");

    // A deploy of version 2, observed live.
    let cur = swarm.service(&name).await.unwrap().unwrap();
    let index = cur.version.as_ref().and_then(|v| v.index).unwrap();
    swarm
        .update_service(
            cur.id.as_deref().unwrap(),
            spec(
                &name,
                &stack,
                &format!("{app}:2"),
                &["LOG=debug", "API_TOKEN=s3cret-value"],
            ),
            index,
        )
        .await
        .unwrap();
    // The version read before is stale now: fenced.
    let stale = swarm
        .update_service(
            cur.id.as_deref().unwrap(),
            spec(&name, &stack, &format!("{app}:1"), &[]),
            index,
        )
        .await;
    assert!(matches!(stale, Err(SwarmError::Conflict(_))), "{stale:?}");
    until(&mut rx, "the update to version 2 completed", 120, |s| {
        s.services.get(&sname).is_some_and(|(v, _)| {
            v.image_ref.tag.as_deref() == Some("2")
                && v.update.as_ref().map(|u| u.state) == Some(UpdateState::Completed)
                && v.replicas_running == 2
        })
    })
    .await;
    let diff = d.diff(&sname, &SpecDiffQuery::default()).await.unwrap();
    let fields: Vec<(&str, ChangeKind)> = diff
        .changes
        .iter()
        .map(|c| (c.field.as_str(), c.kind))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("image", ChangeKind::Changed),
            ("image.tag", ChangeKind::Changed),
            ("env.LOG", ChangeKind::Changed),
        ],
        "{diff:#?}"
    );
    assert!(!serde_json::to_string(&d.history(&sname).await.unwrap())
        .unwrap()
        .contains("s3cret"));

    // An update to an image whose tasks exit: the daemon rolls it back.
    let cur = swarm.service(&name).await.unwrap().unwrap();
    swarm
        .update_service(
            cur.id.as_deref().unwrap(),
            spec(
                &name,
                &stack,
                &format!("{app}:broken"),
                &["LOG=debug", "API_TOKEN=s3cret-value"],
            ),
            cur.version.as_ref().and_then(|v| v.index).unwrap(),
        )
        .await
        .unwrap();
    until(&mut rx, "the automatic rollback completed", 180, |s| {
        s.services.get(&sname).is_some_and(|(v, _)| {
            v.update.as_ref().map(|u| u.state) == Some(UpdateState::RollbackCompleted)
        })
    })
    .await;
    d.refresh().await.unwrap();
    let h = d.history(&sname).await.unwrap();
    let tags: Vec<Option<String>> = h
        .items
        .iter()
        .map(|r| model::deploy::ImageRef::parse(&r.summary.image).tag)
        .collect();
    // Newest first: back on 2 (recorded as a rollback), the broken one, 2, 1.
    assert_eq!(
        tags,
        ["2", "broken", "2", "1"]
            .map(|t| Some(t.to_owned()))
            .to_vec(),
        "{h:#?}"
    );
    assert!(matches!(
        h.items[0].update_state,
        Some(UpdateState::RollbackStarted | UpdateState::RollbackCompleted)
    ));
    // Swarm itself no longer has a previous spec to show; the history does.
    let back = d
        .diff(
            &sname,
            &SpecDiffQuery {
                from: Some(h.items[1].seq),
                to: Some(h.items[0].seq),
            },
        )
        .await
        .unwrap();
    assert!(back.changes.iter().any(|c| c.field == "image.tag"
        && c.from.as_deref() == Some("broken")
        && c.to.as_deref() == Some("2")));
    let failed = d
        .service(&sname)
        .await
        .unwrap()
        .tasks
        .into_iter()
        .filter(|t| t.image.ends_with(":broken") && t.state.is_failure())
        .count();
    assert!(failed >= 1, "the broken tasks are shown as failed");
    let m = metrics_text(&d);
    assert!(
        m.lines()
            .any(|l| l.starts_with("control_deploy_events_total")
                && l.contains(&format!("service=\"{name}\""))
                && l.contains("outcome=\"rolled_back\"")),
        "{m}"
    );
    // An operator rolls back to version 1 through the job engine.
    let jobs = engine::jobs::Jobs::new(
        store.clone(),
        actions.clone(),
        vec![engine::swarm::workflow(
            d.clone(),
            None,
            engine::swarm::RollbackSettings {
                update_timeout: Duration::from_secs(120),
                poll: Duration::from_millis(250),
            },
        )],
        engine::jobs::JobSettings::default(),
    );
    jobs.start();
    let v1 = h.items.last().unwrap().seq;
    let input = serde_json::json!({ "service": name, "to_seq": v1 });
    let op = caller();
    let plan = jobs
        .plan(&op, model::jobs::JobKind::DeployRollback, &input)
        .await
        .unwrap();
    assert!(!plan.blocked, "{:#?}", plan.gates);
    assert!(plan
        .deploy
        .as_ref()
        .unwrap()
        .changes
        .iter()
        .any(|c| c.field == "image.tag" && c.to.as_deref() == Some("1")));
    let create = |key: &'static str, reason: &str, hash: String| {
        let (jobs, op, input) = (jobs.clone(), op.clone(), input.clone());
        let reason = reason.to_owned();
        async move {
            jobs.create(
                &op,
                model::jobs::JobKind::DeployRollback,
                engine::jobs::CreateRequest {
                    idempotency_key: Some(key),
                    method: "POST",
                    route: "/admin/v1/jobs/deploy.rollback",
                    body: model::jobs::CreateJob {
                        reason,
                        input,
                        plan_hash: Some(hash),
                    },
                },
            )
            .await
        }
    };
    let created = create(
        "\"swarm-rollback\"",
        "version 2 misbehaves",
        plan.hash.clone(),
    )
    .await
    .unwrap();
    let start = std::time::Instant::now();
    let job = loop {
        let j = jobs.get(&created.job_id).await.unwrap();
        if j.state.is_terminal() {
            break j;
        }
        assert!(start.elapsed() < Duration::from_secs(180), "{j:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(job.state, model::jobs::JobState::Succeeded, "{job:#?}");
    until(
        &mut rx,
        "two tasks of version 1 after the rollback",
        60,
        |s| {
            s.services.get(&sname).is_some_and(|(v, _)| {
                v.image_ref.tag.as_deref() == Some("1") && v.replicas_running == 2
            })
        },
    )
    .await;
    d.refresh().await.unwrap();
    let detail = d.service(&sname).await.unwrap();
    assert_eq!(detail.history[0].source, model::deploy::SpecSource::Applied);
    assert_eq!(detail.history[0].job.as_ref(), Some(&created.job_id));
    assert_eq!(detail.pin.as_ref().map(|p| p.seq), Some(v1));
    // The plan read before the rollback is stale now: refused, nothing runs.
    let again = create("\"swarm-rollback-2\"", "again", plan.hash).await;
    assert!(
        matches!(again, Err(engine::jobs::JobsError::PlanStale)),
        "{:?}",
        again.map(|c| c.job_id)
    );
}

fn caller() -> engine::identity::Caller {
    use engine::identity::{AccessToken, Caller, Identity};
    Caller {
        identity: Some(Arc::new(Identity {
            principal: engine::token::Principal {
                sub: "u-op".into(),
                session_id: "s-op".into(),
            },
            username: "op".into(),
            display_name: "op".into(),
            roles: vec!["operator".into()],
            grants: model::rights::Grants(vec!["control.*".into()]),
            token: AccessToken::new("t"),
        })),
        request_id: "req_0123".into(),
        correlation_id: "cor_0123".into(),
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        tenant: None,
    }
}

#[tokio::test]
async fn a_missing_daemon_is_unavailable_not_a_panic() {
    let r = DockerSwarm::connect(
        &SwarmConnect::Socket {
            path: "/nonexistent/docker.sock".into(),
        },
        2,
    )
    .await;
    assert!(
        matches!(r, Err(SwarmError::Unavailable(_))),
        "{:?}",
        r.err()
    );
}

/// The docker CLI against the test's daemon: only the test sets the Swarm
/// up this way (the control plane itself never shells out).
fn docker_cli(socket: &str, args: &[&str]) {
    let out = std::process::Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{socket}"))
        .args(args)
        .output()
        .expect("the docker CLI (docker.io) runs");
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes a stack however the test ends.
struct StackCleanup(String, String);
impl Drop for StackCleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.0))
            .args(["stack", "rm", &self.1])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_finds_every_intentional_mismatch_on_a_real_swarm() {
    let Some(socket) = test_support::docker_socket("swarm drift") else {
        return;
    };
    let swarm = DockerSwarm::connect(
        &SwarmConnect::Socket {
            path: socket.clone().into(),
        },
        30,
    )
    .await
    .unwrap();
    let docker = swarm.docker().unwrap().clone();
    let run = format!("{:08x}", rand::random::<u32>());
    let stack = format!("cltestdrift{run}");
    let img = format!("cltest/drift{run}");
    build(
        &docker,
        &format!("{img}:1"),
        "1",
        "exec /bin/busybox sleep 3600",
    )
    .await;
    build(
        &docker,
        &format!("{img}:2"),
        "2",
        "exec /bin/busybox sleep 3600",
    )
    .await;
    build(&docker, &format!("{img}:crash"), "1", "exit 3").await;
    let yaml = format!(
        r#"version: "3.8"
services:
  a:
    image: {img}:1
    stop_signal: SIGKILL
    environment: {{ MODE: fast, API_TOKEN: s3cr3t-value }}
    healthcheck:
      test: ["CMD", "/bin/busybox", "true"]
      interval: 2s
    deploy:
      replicas: 1
      labels: {{ cloudlysis.kind: gateway }}
      resources:
        limits: {{ cpus: "0.5", memory: 64M }}
      update_config: {{ order: start-first, failure_action: rollback, monitor: 2s, max_failure_ratio: 0 }}
      rollback_config: {{ order: stop-first, failure_action: pause }}
  b:
    image: {img}:1
    stop_signal: SIGKILL
  c:
    image: {img}:crash
    deploy:
      restart_policy: {{ condition: any, delay: 200ms }}
  d:
    image: {img}:1
    stop_signal: SIGKILL
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.yml");
    std::fs::write(&file, yaml).unwrap();
    let _stack = StackCleanup(socket.clone(), stack.clone());
    let extra = format!("{stack}_extra");
    let _cleanup = Cleanup(docker.clone(), vec![extra.clone()]);
    docker_cli(
        &socket,
        &[
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            file.to_str().unwrap(),
            &stack,
        ],
    );

    let store: Arc<dyn Substrate> = Arc::new(
        EmbeddedStore::open(&dir.path().join("store"))
            .await
            .unwrap(),
    );
    let audit = Arc::new(engine::audit::AuditLog::lazy(
        store.clone(),
        b"swarm-test-chain-key-0123456789ab",
    ));
    let actions = engine::action::Actions::new(
        audit,
        store.clone(),
        engine::action::Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    let deploy = Deployments::new(
        Arc::new(swarm),
        store,
        actions,
        DeploySettings {
            poll: Duration::from_millis(200),
            fingerprint_key: b"swarm-test-fingerprint".to_vec(),
            grafana: None,
        },
    );
    let topo = sim::Topology {
        shards: 1,
        replicas: 1,
        gateways: 0,
        tenants: 2,
        ..sim::Topology::default()
    };
    let fleet = sim::Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let docs = engine::fleet::FleetDocs::from_files(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        Duration::from_millis(100),
    );
    let health = engine::fleet::HealthPoller::start(docs.clone(), Default::default());
    let drift = engine::drift::Drift::new(
        deploy.clone(),
        engine::fleet::FleetService { docs, health },
        engine::drift::DriftSettings {
            stacks: vec![engine::drift::StackSource {
                name: stack.clone(),
                path: file.clone(),
            }],
        },
    );
    use model::drift::{DriftCategory as C, DriftQuery, DriftReport};
    let ours = |r: &DriftReport| -> Vec<(C, String)> {
        r.items
            .iter()
            .filter(|i| i.stack.as_deref() == Some(stack.as_str()))
            .map(|i| (i.category, i.subject.trim_start_matches(&stack).to_owned()))
            .collect()
    };
    let until = |want: Vec<(C, &'static str)>, what: &'static str| {
        let (deploy, drift) = (deploy.clone(), drift.clone());
        let want: Vec<(C, String)> = want.into_iter().map(|(c, s)| (c, s.to_owned())).collect();
        async move {
            let mut last = None;
            for _ in 0..150 {
                deploy.refresh().await.unwrap();
                let r = drift.report(&DriftQuery::default()).await.unwrap();
                if ours(&r) == want {
                    return r;
                }
                last = Some(r);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            panic!(
                "{what}: wanted {want:?}, last report {:#?}",
                last.map(|r| r.items)
            );
        }
    };

    // As deployed: only the crash-looping service drifts (its healthcheck
    // read back as declared: bollard alone loses it; the daemon's
    // defaults and the stack's own labels are not drift).
    until(vec![(C::Unhealthy, "_c")], "the stack as deployed").await;

    docker_cli(
        &socket,
        &["service", "scale", "--detach", &format!("{stack}_a=2")],
    );
    docker_cli(
        &socket,
        &[
            "service",
            "update",
            "--detach",
            "--image",
            &format!("{img}:2"),
            "--env-add",
            "DEBUG=1",
            &format!("{stack}_b"),
        ],
    );
    docker_cli(&socket, &["service", "rm", &format!("{stack}_d")]);
    docker_cli(
        &socket,
        &[
            "service",
            "create",
            "--detach",
            "--name",
            &extra,
            "--label",
            &format!("com.docker.stack.namespace={stack}"),
            "--stop-signal",
            "SIGKILL",
            &format!("{img}:1"),
        ],
    );
    let r = until(
        vec![
            (C::Missing, "_d"),
            (C::Extra, "_extra"),
            (C::VersionMismatch, "_b"),
            (C::ConfigMismatch, "_a"),
            (C::ConfigMismatch, "_b"),
            (C::Unhealthy, "_c"),
        ],
        "every intentional mismatch",
    )
    .await;
    let item = |c: C, s: &str| {
        r.items
            .iter()
            .find(|i| i.category == c && i.subject == format!("{stack}{s}"))
            .unwrap()
    };
    let a = item(C::ConfigMismatch, "_a");
    assert_eq!(
        a.fields
            .iter()
            .map(|f| f.field.as_str())
            .collect::<Vec<_>>(),
        ["replicas"],
        "{a:#?}"
    );
    let b = item(C::ConfigMismatch, "_b");
    assert_eq!(b.fields[0].field, "env.DEBUG", "{b:#?}");
    // The hand update is undone by a rollback to the spec the stack deployed.
    let v = item(C::VersionMismatch, "_b");
    let fix = v.remediation.as_ref().unwrap();
    assert_eq!(
        fix.job,
        Some(model::jobs::JobKind::DeployRollback),
        "{v:#?}"
    );
    let history = deploy
        .history(&ServiceName::parse(&format!("{stack}_b")).unwrap())
        .await
        .unwrap();
    assert_eq!(
        fix.input.as_ref().unwrap()["to_seq"],
        history.items.last().unwrap().seq
    );
    let text = serde_json::to_string(&r).unwrap();
    assert!(!text.contains("s3cr3t"), "secret values never shown");
}
