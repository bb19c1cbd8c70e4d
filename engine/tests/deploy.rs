//! Deployments above the `Swarm` trait, on the deterministic in-memory
//! Swarm and a real embedded store: observation, history, "what changed",
//! deploy events, two replicas recording, a daemon that goes away.

use bollard::models::{
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, Task, TaskSpec, TaskSpecContainerSpec,
    TaskStatus,
};
use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::store::embedded::EmbeddedStore;
use engine::store::Substrate;
use engine::swarm::{DeployError, DeploySettings, Deployments, MemorySwarm, Swarm, SwarmError};
use model::deploy::{
    ChangeKind, ServiceName, ServiceQuery, ServiceStatus, SpecDiffQuery, UpdateState, STACK_LABEL,
};
use std::sync::Arc;
use std::time::Duration;

fn spec(name: &str, image: &str, env: &[&str], replicas: i64) -> ServiceSpec {
    ServiceSpec {
        name: Some(name.into()),
        labels: Some(
            [
                (STACK_LABEL.to_owned(), "cl".to_owned()),
                (
                    "cloudlysis.version".to_owned(),
                    image.rsplit(':').next().unwrap().to_owned(),
                ),
            ]
            .into(),
        ),
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

fn task(id: &str, service: &str, state: bollard::models::TaskState, at: &str) -> Task {
    Task {
        id: Some(id.into()),
        service_id: Some(service.into()),
        slot: Some(1),
        created_at: Some(at.into()),
        desired_state: Some(bollard::models::TaskState::RUNNING),
        status: Some(TaskStatus {
            state: Some(state),
            timestamp: Some(at.into()),
            err: (state == bollard::models::TaskState::FAILED).then(|| "exit 1".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Substrate>,
    swarm: Arc<MemorySwarm>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    World {
        _dir: dir,
        store,
        swarm: Arc::new(MemorySwarm::default()),
    }
}

fn actions(store: &Arc<dyn Substrate>) -> Actions {
    let audit = Arc::new(AuditLog::lazy(
        store.clone(),
        b"deploy-test-chain-key-0123456789",
    ));
    Actions::new(
        audit,
        store.clone(),
        Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    )
}

fn deployments(w: &World) -> Deployments {
    Deployments::new(
        w.swarm.clone(),
        w.store.clone(),
        actions(&w.store),
        DeploySettings {
            poll: Duration::from_millis(50),
            fingerprint_key: b"deploy-test-fingerprint-key".to_vec(),
            grafana: None,
        },
    )
}

fn name(s: &str) -> ServiceName {
    ServiceName::parse(s).unwrap()
}

/// The observer's families as `/metrics` renders them.
fn metrics_text(d: &Deployments) -> String {
    let mut r = prometheus_client::registry::Registry::default();
    d.register_metrics(&mut r);
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &r).unwrap();
    text
}

#[tokio::test]
async fn services_are_observed_recorded_and_explained() {
    let w = world().await;
    let d = deployments(&w);
    let id = w.swarm.create(spec(
        "cl_gateway",
        "cl/gateway:1.0",
        &["LOG=info", "DB_PASSWORD=hunter2"],
        2,
    ));
    w.swarm.create(spec("other_x", "x:1", &[], 1));
    w.swarm.set_tasks(
        &id,
        vec![
            task(
                "t1",
                &id,
                bollard::models::TaskState::RUNNING,
                "2026-12-03T10:00:00Z",
            ),
            task(
                "t2",
                &id,
                bollard::models::TaskState::RUNNING,
                "2026-12-03T10:00:01Z",
            ),
        ],
    );
    d.refresh().await.unwrap();
    let page = d.services(&ServiceQuery::default()).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.stacks, vec!["cl".to_owned()]);
    let gw = &page.items[0];
    assert_eq!(gw.name.as_str(), "cl_gateway");
    assert_eq!(gw.version.as_deref(), Some("1.0"));
    assert_eq!((gw.replicas_desired, gw.replicas_running), (Some(2), 2));
    assert_eq!(gw.status, ServiceStatus::Running);
    // Filters.
    let q = |f: fn(&mut ServiceQuery)| {
        let mut q = ServiceQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        d.services(&q(|q| q.version = Some("1.0".into())))
            .await
            .unwrap()
            .total,
        1
    );
    // other_x wants one task and runs none.
    let degraded = d
        .services(&q(|q| q.status = Some(ServiceStatus::Degraded)))
        .await
        .unwrap();
    assert_eq!(degraded.items.len(), 1);
    assert_eq!(degraded.items[0].name.as_str(), "other_x");
    assert_eq!(
        d.services(&q(|q| q.q = Some("gate".into())))
            .await
            .unwrap()
            .total,
        1
    );

    // A deploy of a new version: recorded, and explained.
    w.swarm.set_spec(
        &id,
        spec(
            "cl_gateway",
            "cl/gateway:1.1",
            &["LOG=debug", "DB_PASSWORD=swordfish", "NEW=1"],
            3,
        ),
    );
    d.refresh().await.unwrap();
    // Update-state changes alone bump the version but not the spec: no record.
    w.swarm.set_update_state(&id, UpdateState::Updating, "");
    d.refresh().await.unwrap();
    w.swarm
        .set_update_state(&id, UpdateState::Completed, "update completed");
    d.refresh().await.unwrap();
    let detail = d.service(&name("cl_gateway")).await.unwrap();
    assert_eq!(detail.history.len(), 2, "{:#?}", detail.history);
    assert_eq!(detail.history[0].seq, 2);
    assert_eq!(detail.tasks.len(), 2);
    assert_eq!(detail.tasks[0].id, "t2", "newest first");
    let diff = d
        .diff(&name("cl_gateway"), &SpecDiffQuery::default())
        .await
        .unwrap();
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
            ("env.DB_PASSWORD", ChangeKind::Changed),
            ("env.LOG", ChangeKind::Changed),
            ("env.NEW", ChangeKind::Added),
            ("replicas", ChangeKind::Changed),
            ("labels.cloudlysis.version", ChangeKind::Changed),
        ]
    );
    // No secret value anywhere a client can read.
    for text in [
        serde_json::to_string(&diff).unwrap(),
        serde_json::to_string(&detail).unwrap(),
        serde_json::to_string(&d.history(&name("cl_gateway")).await.unwrap()).unwrap(),
    ] {
        assert!(!text.contains("hunter2") && !text.contains("swordfish"));
    }
    // The deploy was counted once per transition.
    let m = metrics_text(&d);
    for outcome in ["started", "completed"] {
        let line = format!(
            "control_deploy_events_total{{stack=\"cl\",service=\"cl_gateway\",version=\"1.1\",outcome=\"{outcome}\"}} 1"
        );
        assert!(m.contains(&line), "{line} in {m}");
    }
    assert!(m.contains("control_deploy_specs_recorded_total 3"), "{m}");
}

#[tokio::test]
async fn bad_names_unknown_services_and_missing_records_have_stable_errors() {
    let w = world().await;
    let d = deployments(&w);
    w.swarm.create(spec("cl_gateway", "cl/gateway:1.0", &[], 1));
    assert!(matches!(
        Deployments::parse_name("a/b"),
        Err(DeployError::BadRequest(_))
    ));
    assert!(matches!(
        d.service(&name("nope")).await,
        Err(DeployError::NotFound(_))
    ));
    assert!(matches!(
        d.history(&name("nope")).await,
        Err(DeployError::NotFound(_))
    ));
    // Only one spec recorded: nothing before it to compare with.
    d.refresh().await.unwrap();
    assert!(matches!(
        d.diff(&name("cl_gateway"), &SpecDiffQuery::default()).await,
        Err(DeployError::NotFound(_))
    ));
    assert!(matches!(
        d.diff(
            &name("cl_gateway"),
            &SpecDiffQuery {
                from: Some(1),
                to: Some(9)
            }
        )
        .await,
        Err(DeployError::NotFound(_))
    ));
    use engine::error::ClientError;
    let v = DeployError::Swarm(SwarmError::Unavailable(
        "/var/run/docker.sock: refused".into(),
    ))
    .client_view();
    assert_eq!(v.code, model::ErrorCode::SwarmUnavailable);
    assert!(!v.message.contains("docker.sock"), "no host detail: {v:?}");
    assert_eq!(v.status(), 503);
}

#[tokio::test]
async fn a_daemon_that_goes_away_leaves_the_last_snapshot_marked_stale() {
    let w = world().await;
    let d = deployments(&w);
    w.swarm.create(spec("cl_gateway", "cl/gateway:1.0", &[], 1));
    d.refresh().await.unwrap();
    w.swarm.set_down(true);
    assert!(matches!(
        d.refresh().await,
        Err(DeployError::Swarm(SwarmError::Unavailable(_)))
    ));
    let page = d.services(&ServiceQuery::default()).await.unwrap();
    assert!(page.stale);
    assert_eq!(page.total, 1);
    w.swarm.set_down(false);
    d.refresh().await.unwrap();
    assert!(!d.services(&ServiceQuery::default()).await.unwrap().stale);
    // Never read and the daemon down: an error, not an empty list.
    let w2 = world().await;
    w2.swarm.set_down(true);
    assert!(deployments(&w2)
        .services(&ServiceQuery::default())
        .await
        .is_err());
}

#[tokio::test]
async fn crash_loops_are_detected_from_recent_task_failures() {
    let w = world().await;
    let d = deployments(&w);
    let id = w.swarm.create(spec("cl_runner", "cl/runner:1.0", &[], 1));
    let now = time::OffsetDateTime::now_utc();
    let at = |s: i64| {
        (now - time::Duration::seconds(s))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    use bollard::models::TaskState as T;
    w.swarm.set_tasks(
        &id,
        vec![
            task("a", &id, T::FAILED, &at(30)),
            task("b", &id, T::FAILED, &at(20)),
            task("c", &id, T::FAILED, &at(10)),
            task("d", &id, T::STARTING, &at(1)),
        ],
    );
    d.refresh().await.unwrap();
    let s = d.service(&name("cl_runner")).await.unwrap().service;
    assert_eq!(s.recent_failures, 3);
    assert_eq!(s.status, ServiceStatus::CrashLooping);
}

/// The `control_swarm_*` samples of `text`, as written.
fn swarm_samples(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("control_swarm_") && !l.starts_with("control_swarm_refresh"))
        .collect()
}

#[tokio::test]
async fn swarm_gauges_follow_each_read_and_drop_removed_services() {
    use bollard::models::{
        Node, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState, NodeStatus,
        TaskState as T,
    };
    let w = world().await;
    let d = deployments(&w);
    let node = |id: &str, role, state| Node {
        id: Some(id.into()),
        spec: Some(NodeSpec {
            role: Some(role),
            availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            state: Some(state),
            ..Default::default()
        }),
        ..Default::default()
    };
    w.swarm.set_nodes(vec![
        node("n1", NodeSpecRoleEnum::MANAGER, NodeState::READY),
        node("n2", NodeSpecRoleEnum::WORKER, NodeState::READY),
        node("n3", NodeSpecRoleEnum::WORKER, NodeState::READY),
        node("n4", NodeSpecRoleEnum::WORKER, NodeState::DOWN),
    ]);
    let gw = w.swarm.create(spec("cl_gateway", "cl/gateway:1.0", &[], 3));
    let runner = w.swarm.create(spec("cl_runner", "cl/runner:1.0", &[], 1));
    let at = "2026-12-03T10:00:00Z";
    w.swarm.set_tasks(
        &gw,
        vec![
            task("g1", &gw, T::RUNNING, at),
            task("g2", &gw, T::RUNNING, at),
            task("g3", &gw, T::FAILED, at),
        ],
    );
    w.swarm
        .set_tasks(&runner, vec![task("r1", &runner, T::RUNNING, at)]);
    d.refresh().await.unwrap();
    let m = metrics_text(&d);
    let got = swarm_samples(&m);
    for want in [
        r#"control_swarm_nodes{role="manager",state="ready",availability="active"} 1"#,
        r#"control_swarm_nodes{role="worker",state="ready",availability="active"} 2"#,
        r#"control_swarm_nodes{role="worker",state="down",availability="active"} 1"#,
        r#"control_swarm_tasks{stack="cl",service="cl_gateway",state="running"} 2"#,
        r#"control_swarm_tasks{stack="cl",service="cl_gateway",state="failed"} 1"#,
        r#"control_swarm_tasks{stack="cl",service="cl_runner",state="running"} 1"#,
        r#"control_swarm_service_replicas{stack="cl",service="cl_gateway",kind="desired"} 3"#,
        r#"control_swarm_service_replicas{stack="cl",service="cl_gateway",kind="running"} 2"#,
        r#"control_swarm_service_replicas{stack="cl",service="cl_runner",kind="desired"} 1"#,
        r#"control_swarm_service_replicas{stack="cl",service="cl_runner",kind="running"} 1"#,
    ] {
        assert!(got.contains(&want), "{want} in {got:#?}");
    }
    assert_eq!(got.len(), 10, "{got:#?}");

    // The failed task is replaced, then the gateway is removed: its series
    // go with it (none left at its last value), the runner's stay.
    w.swarm.set_tasks(
        &gw,
        vec![
            task("g1", &gw, T::RUNNING, at),
            task("g2", &gw, T::RUNNING, at),
            task("g4", &gw, T::RUNNING, at),
        ],
    );
    d.refresh().await.unwrap();
    let m = metrics_text(&d);
    let got = swarm_samples(&m);
    assert!(
        got.contains(&r#"control_swarm_tasks{stack="cl",service="cl_gateway",state="running"} 3"#)
    );
    assert!(
        !got.iter().any(|l| l.contains(r#"state="failed""#)),
        "{got:#?}"
    );
    w.swarm.remove(&gw);
    d.refresh().await.unwrap();
    let m = metrics_text(&d);
    let got = swarm_samples(&m);
    assert!(!got.iter().any(|l| l.contains("cl_gateway")), "{got:#?}");
    assert!(got.contains(
        &r#"control_swarm_service_replicas{stack="cl",service="cl_runner",kind="running"} 1"#
    ));
    assert!(
        got.contains(&r#"control_swarm_tasks{stack="cl",service="cl_runner",state="running"} 1"#)
    );
    // A failed read keeps the last good gauges (the snapshot is kept too).
    w.swarm.set_down(true);
    assert!(d.refresh().await.is_err());
    assert_eq!(swarm_samples(&metrics_text(&d)), got);
}

/// Two replicas observing one Swarm record each spec once, with the cores
/// busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_record_each_spec_once() {
    let _busy = test_support::BusyCores::start();
    let w = world().await;
    let (a, b) = (deployments(&w), deployments(&w));
    let id = w.swarm.create(spec("cl_gateway", "cl/gateway:1", &[], 1));
    for v in 2..=30 {
        let (ra, rb) = tokio::join!(a.refresh(), b.refresh());
        ra.unwrap();
        rb.unwrap();
        w.swarm
            .set_spec(&id, spec("cl_gateway", &format!("cl/gateway:{v}"), &[], 1));
    }
    let (ra, rb) = tokio::join!(a.refresh(), b.refresh());
    ra.unwrap();
    rb.unwrap();
    let h = a.history(&name("cl_gateway")).await.unwrap();
    let seqs: Vec<u64> = h.items.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=30).rev().collect::<Vec<u64>>());
    let tags: Vec<String> = h
        .items
        .iter()
        .map(|r| r.summary.image.rsplit(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        tags,
        (1..=30).rev().map(|v| v.to_string()).collect::<Vec<_>>()
    );
}

/// The observer re-reads on a daemon event without waiting for its poll.
#[tokio::test]
async fn an_event_makes_the_observer_look_now() {
    let w = world().await;
    let d = Deployments::new(
        w.swarm.clone(),
        w.store.clone(),
        actions(&w.store),
        DeploySettings {
            poll: Duration::from_secs(3600),
            fingerprint_key: vec![1],
            grafana: None,
        },
    );
    let mut rx = d.subscribe();
    let _task = d.spawn();
    rx.wait_for(|s| s.loaded).await.unwrap();
    w.swarm.create(spec("cl_gateway", "cl/gateway:1", &[], 1));
    tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|s| s.services.contains_key(&name("cl_gateway"))),
    )
    .await
    .expect("seen within 5 s of the event, not after the hour's poll")
    .unwrap();
    assert_eq!(w.swarm.api_version().await.unwrap(), "1.41");
}

fn caller(sub: &str) -> engine::identity::Caller {
    use engine::identity::{AccessToken, Caller, Identity};
    Caller {
        identity: Some(Arc::new(Identity {
            principal: engine::token::Principal {
                sub: sub.into(),
                session_id: format!("s-{sub}"),
            },
            username: sub.into(),
            display_name: sub.into(),
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

/// A Swarm with `cl_gateway` deployed at 1 then 2 (both recorded), updates
/// that converge, and a job engine running `deploy.rollback`.
async fn rollback_world() -> (World, Deployments, engine::jobs::Jobs, String) {
    let w = world().await;
    let d = deployments(&w);
    w.swarm.set_converge(true);
    let id = w
        .swarm
        .create(spec("cl_gateway", "cl/gateway:1", &["LOG=info"], 2));
    d.refresh().await.unwrap();
    w.swarm
        .set_spec(&id, spec("cl_gateway", "cl/gateway:2", &["LOG=debug"], 2));
    d.refresh().await.unwrap();
    let jobs = engine::jobs::Jobs::new(
        w.store.clone(),
        actions(&w.store),
        vec![engine::swarm::workflow(
            d.clone(),
            None,
            engine::swarm::RollbackSettings {
                update_timeout: Duration::from_secs(10),
                poll: Duration::from_millis(20),
            },
        )],
        engine::jobs::JobSettings {
            lease: Duration::from_millis(900),
            poll: Duration::from_millis(50),
            ..engine::jobs::JobSettings::default()
        },
    );
    jobs.start();
    (w, d, jobs, id)
}

async fn create(
    jobs: &engine::jobs::Jobs,
    key: &str,
    input: serde_json::Value,
    hash: &str,
) -> Result<engine::jobs::Created, engine::jobs::JobsError> {
    jobs.create(
        &caller("op"),
        model::jobs::JobKind::DeployRollback,
        engine::jobs::CreateRequest {
            idempotency_key: Some(key),
            method: "POST",
            route: "/admin/v1/jobs/deploy.rollback",
            body: model::jobs::CreateJob {
                reason: "bad deploy of 2".into(),
                input,
                plan_hash: Some(hash.to_owned()),
            },
        },
    )
    .await
}

async fn finished(jobs: &engine::jobs::Jobs, id: &model::JobId) -> model::jobs::Job {
    let start = std::time::Instant::now();
    loop {
        let j = jobs.get(id).await.unwrap();
        if j.state.is_terminal() {
            return j;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{j:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_planned_fenced_applied_once_recorded_and_pinned() {
    let (w, d, jobs, id) = rollback_world().await;
    let input = serde_json::json!({ "service": "cl_gateway" });
    let plan = jobs
        .plan(&caller("op"), model::jobs::JobKind::DeployRollback, &input)
        .await
        .unwrap();
    assert!(!plan.blocked, "{:#?}", plan.gates);
    let change = plan.deploy.clone().unwrap();
    assert_eq!((change.from_seq, change.to_seq), (2, 1));
    assert!(change.changes.iter().any(|c| c.field == "image.tag"
        && c.from.as_deref() == Some("2")
        && c.to.as_deref() == Some("1")));
    assert_eq!(plan.point_of_no_return.as_deref(), Some("update"));
    let version = change.spec_version;

    let c = create(&jobs, "\"rb-1\"", input.clone(), &plan.hash)
        .await
        .unwrap();
    let j = finished(&jobs, &c.job_id).await;
    assert_eq!(j.state, model::jobs::JobState::Succeeded, "{j:#?}");
    let names: Vec<&str> = j.steps.iter().map(|s| s.name.as_str()).collect();
    let planned: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, planned, "the executed steps are the plan's");
    // One update reached the daemon, fenced by the version the plan read.
    assert_eq!(w.swarm.updates(), vec![(id.clone(), version)]);
    // The replayed create answers the same job.
    let again = create(&jobs, "\"rb-1\"", input.clone(), &plan.hash)
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.job_id, c.job_id);
    assert_eq!(w.swarm.updates().len(), 1);

    d.refresh().await.unwrap();
    let detail = d.service(&name("cl_gateway")).await.unwrap();
    assert_eq!(detail.service.image_ref.tag.as_deref(), Some("1"));
    let newest = &detail.history[0];
    assert_eq!(newest.source, model::deploy::SpecSource::Applied);
    assert_eq!(newest.job.as_ref(), Some(&c.job_id));
    assert_eq!(newest.by.as_deref(), Some("op"));
    let pin = detail.pin.clone().expect("pinned");
    assert_eq!((pin.seq, &pin.job), (1, &c.job_id));
    // The job offers the way back.
    assert_eq!(j.result.as_ref().unwrap()["reverse"]["input"]["to_seq"], 2);

    // Pinned: the next rollback is refused by its gate, nothing is done.
    let next = jobs
        .plan(&caller("op"), model::jobs::JobKind::DeployRollback, &input)
        .await
        .unwrap();
    assert!(next.blocked);
    assert!(next
        .gates
        .iter()
        .any(|g| g.code == model::gates::code::SERVICE_NOT_PINNED && !g.pass));
    assert!(matches!(
        create(&jobs, "\"rb-2\"", input.clone(), &next.hash).await,
        Err(engine::jobs::JobsError::GateFailed(_))
    ));
    assert_eq!(w.swarm.updates().len(), 1);
    // Unpinned with a reason (audited), it may run again.
    assert!(matches!(
        d.unpin(&caller("op"), &name("cl_gateway"), "").await,
        Err(DeployError::Audit(_))
    ));
    d.unpin(&caller("op"), &name("cl_gateway"), "2 is fixed")
        .await
        .unwrap();
    assert!(d.service(&name("cl_gateway")).await.unwrap().pin.is_none());
    assert!(matches!(
        d.unpin(&caller("op"), &name("cl_gateway"), "again").await,
        Err(DeployError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_or_gated_rollback_changes_nothing() {
    let (w, d, jobs, id) = rollback_world().await;
    let input = serde_json::json!({ "service": "cl_gateway" });
    let plan = |i: serde_json::Value| {
        let jobs = jobs.clone();
        async move {
            jobs.plan(&caller("op"), model::jobs::JobKind::DeployRollback, &i)
                .await
        }
    };
    // Someone deploys between the plan and the create: stale.
    let p = plan(input.clone()).await.unwrap();
    w.swarm
        .set_spec(&id, spec("cl_gateway", "cl/gateway:3", &["LOG=debug"], 2));
    assert!(matches!(
        create(&jobs, "\"st-1\"", input.clone(), &p.hash).await,
        Err(engine::jobs::JobsError::PlanStale)
    ));
    // The target image is missing: blocked.
    w.swarm.set_image_missing("cl/gateway:2", true);
    let p = plan(input.clone()).await.unwrap();
    let failing: Vec<&str> = p
        .gates
        .iter()
        .filter(|g| !g.pass)
        .map(|g| g.code.as_str())
        .collect();
    assert_eq!(failing, vec![model::gates::code::IMAGE_PRESENT]);
    w.swarm.set_image_missing("cl/gateway:2", false);
    // An update in progress: blocked.
    w.swarm.set_update_state(&id, UpdateState::Updating, "");
    let p = plan(input.clone()).await.unwrap();
    let failing: Vec<&str> = p
        .gates
        .iter()
        .filter(|g| !g.pass)
        .map(|g| g.code.as_str())
        .collect();
    assert_eq!(failing, vec![model::gates::code::NO_UPDATE_IN_PROGRESS]);
    assert!(matches!(
        create(&jobs, "\"st-2\"", input.clone(), &p.hash).await,
        Err(engine::jobs::JobsError::GateFailed(_))
    ));
    // Bad inputs: a stable error each, nothing planned.
    for bad in [
        serde_json::json!({ "service": "a b" }),
        serde_json::json!({ "service": "cl_gateway", "to_seq": 99 }),
        serde_json::json!({ "service": "cl_gateway", "extra": 1 }),
        serde_json::json!({}),
    ] {
        assert!(
            matches!(
                plan(bad.clone()).await,
                Err(engine::jobs::JobsError::BadRequest(_))
                    | Err(engine::jobs::JobsError::Deploy(_))
            ),
            "{bad}"
        );
    }
    let e = plan(serde_json::json!({ "service": "nope" }))
        .await
        .unwrap_err();
    use engine::error::ClientError;
    assert_eq!(e.client_view().code, model::ErrorCode::NotFound);
    assert!(w.swarm.updates().is_empty(), "nothing reached the daemon");
    drop(d);
}

/// What the stand-in saw: the Authorization header and the JSON body.
type Seen = Arc<std::sync::Mutex<Vec<(Option<String>, serde_json::Value)>>>;

/// A Grafana stand-in that records `POST /api/annotations` as Grafana's
/// HTTP API documents it, failing the first `fail` requests.
async fn recording_grafana(fail: usize) -> (String, Seen) {
    use axum::http::{HeaderMap, StatusCode};
    let seen: Seen = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (s, c) = (seen.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/api/annotations",
        axum::routing::post(move |h: HeaderMap, body: axum::body::Bytes| {
            let (s, c) = (s.clone(), c.clone());
            async move {
                if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fail {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "{}".to_owned());
                }
                let auth = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                s.lock()
                    .unwrap()
                    .push((auth, serde_json::from_slice(&body).unwrap()));
                (
                    StatusCode::OK,
                    r#"{"id":1,"message":"Annotation added"}"#.to_owned(),
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_events_become_grafana_annotations_retried_and_counted() {
    let w = world().await;
    let (url, seen) = recording_grafana(2).await;
    let d = Deployments::new(
        w.swarm.clone(),
        w.store.clone(),
        actions(&w.store),
        DeploySettings {
            poll: Duration::from_millis(50),
            fingerprint_key: vec![1],
            grafana: Some(
                engine::swarm::Grafana::new(&url, "glsa_token".into(), Some("ops".into())).unwrap(),
            ),
        },
    );
    let id = w.swarm.create(spec("cl_gateway", "cl/gateway:1.1", &[], 1));
    d.refresh().await.unwrap();
    w.swarm.set_update_state(&id, UpdateState::Updating, "");
    d.refresh().await.unwrap();
    let start = std::time::Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "no annotation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (auth, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer glsa_token"));
    // Exactly Grafana's documented body: dashboardUID, time (ms), tags, text.
    let obj = body.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["dashboardUID", "tags", "text", "time"]);
    assert_eq!(body["dashboardUID"], "ops");
    assert!(body["time"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(
        body["tags"],
        serde_json::json!([
            "deploy",
            "service:cl_gateway",
            "version:1.1",
            "outcome:started",
            "stack:cl"
        ])
    );
    assert_eq!(body["text"], "cl_gateway started: cl/gateway:1.1");
    let start = std::time::Instant::now();
    while !metrics_text(&d).contains("control_deploy_annotations_total{outcome=\"written\"} 1") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{}",
            metrics_text(&d)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A Grafana that is down never holds up observation: counted as failed.
    let d2 = Deployments::new(
        w.swarm.clone(),
        w.store.clone(),
        actions(&w.store),
        DeploySettings {
            poll: Duration::from_millis(50),
            fingerprint_key: vec![1],
            grafana: Some(
                engine::swarm::Grafana::new("http://127.0.0.1:9", "t".into(), None).unwrap(),
            ),
        },
    );
    d2.refresh().await.unwrap();
    let t = std::time::Instant::now();
    w.swarm
        .set_update_state(&id, UpdateState::Completed, "done");
    d2.refresh().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "refresh waited for Grafana"
    );
    let start = std::time::Instant::now();
    while !metrics_text(&d2).contains("control_deploy_annotations_total{outcome=\"failed\"} 1") {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{}",
            metrics_text(&d2)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn changes_are_pushed_once_per_change_not_per_read() {
    use futures::StreamExt;
    let w = world().await;
    let d = deployments(&w);
    let a = w.swarm.create(spec("cl_a", "cl/a:1", &[], 1));
    w.swarm.create(spec("cl_b", "cl/b:1", &[], 1));
    d.refresh().await.unwrap();
    let mut changes = d.changes();
    let first = changes.next().await.unwrap();
    assert_eq!(first.services, 2);
    assert_eq!(first.changed, [name("cl_a"), name("cl_b")]);
    // Re-reads that see nothing new push nothing.
    d.refresh().await.unwrap();
    d.refresh().await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(200), changes.next()).await;
    assert!(quiet.is_err(), "no change, no event: {quiet:?}");
    w.swarm.set_spec(&a, spec("cl_a", "cl/a:2", &[], 1));
    d.refresh().await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), changes.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.changed, [name("cl_a")]);
    // A daemon that goes away is a change too (the page says stale).
    w.swarm.set_down(true);
    let _ = d.refresh().await;
    let down = tokio::time::timeout(Duration::from_secs(2), changes.next())
        .await
        .unwrap()
        .unwrap();
    assert!(down.stale && down.changed.is_empty(), "{down:?}");
}
