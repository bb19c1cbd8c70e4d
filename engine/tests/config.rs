//! Config changes as jobs against the simulator (real HTTP gateways and
//! workers over the dev files) and against NATS KV: plans with their
//! diff, impact and gates; the executed steps equal the plan's; one of
//! two applies from one base; a stale plan; a change that passes the
//! schema but breaks resolution refused before any write; a gateway that
//! keeps the old revision rolls the change back; rollback pins.

use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::config::file::FileConfigStore;
use engine::config::kv::KvConfigStore;
use engine::config::store::{ConfigStore, WriteMeta};
use engine::config::{FlowSettings, Registry};
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
use engine::gates::{GateContext, Thresholds};
use engine::gateway::GatewayClient;
use engine::identity::{AccessToken, Caller, Identity};
use engine::jobs::{CreateRequest, Created, JobSettings, Jobs, JobsError};
use engine::store::embedded::EmbeddedStore;
use engine::store::namespaced::Namespaced;
use engine::store::nats::{NatsOptions, NatsStore};
use engine::store::{BucketOptions, Key, Substrate};
use engine::token::Principal;
use model::config::ConfigId;
use model::fleet::{PlacementDoc, ServiceKind};
use model::jobs::{CreateJob, Job, JobKind, JobState, StepState};
use model::rights::Grants;
use serde_json::{json, Value};
use sim::{Faults, Fleet, Topology};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

struct Harness {
    fleet: Option<Fleet>,
    registry: Registry,
    jobs: Jobs,
    _dir: tempfile::TempDir,
}

fn caller() -> Caller {
    Caller {
        identity: Some(Arc::new(Identity {
            principal: Principal {
                sub: "ops".into(),
                session_id: "s-ops".into(),
            },
            username: "ops".into(),
            display_name: "ops".into(),
            roles: vec!["operator".into()],
            grants: Grants(vec!["control.*".into()]),
            token: AccessToken::new("t"),
        })),
        request_id: "req_config".into(),
        correlation_id: "cor_config".into(),
        traceparent: String::new(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        tenant: None,
    }
}

fn build(
    store: Arc<dyn Substrate>,
    source: Arc<dyn ConfigStore>,
    fleet: FleetService,
) -> (Registry, Jobs) {
    let audit = Arc::new(AuditLog::lazy(
        store.clone(),
        b"config-test-chain-key-0123456789a",
    ));
    let actions = Actions::new(
        audit,
        store.clone(),
        Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    let registry = Registry::new(
        source,
        store.clone(),
        actions.clone(),
        Thresholds::default(),
        Default::default(),
    );
    let cell = Arc::new(OnceLock::new());
    let reload = engine::jobs::routing_reload::RoutingReload {
        fleet: fleet.clone(),
        http: GatewayClient::new("http://127.0.0.1:1", Duration::from_secs(2)).unwrap(),
        load_timeout: Duration::from_secs(2),
        poll: Duration::from_millis(20),
    };
    let gates = GateContext {
        fleet,
        http: GatewayClient::new("http://127.0.0.1:1", Duration::from_secs(2)).unwrap(),
        jobs: cell.clone(),
        thresholds: registry.thresholds(),
    };
    let mut workflows: Vec<Arc<dyn engine::jobs::workflow::Workflow>> = vec![Arc::new(reload)];
    workflows.extend(engine::config::workflows(
        registry.clone(),
        gates,
        FlowSettings {
            load_timeout: Duration::from_secs(2),
            poll: Duration::from_millis(20),
            verify_sample: 5,
        },
    ));
    let jobs = Jobs::new(
        store,
        actions,
        workflows,
        JobSettings {
            lease: Duration::from_secs(3),
            poll: Duration::from_millis(20),
            ..JobSettings::default()
        },
    );
    let _ = cell.set(jobs.clone());
    drop(jobs.start());
    (registry, jobs)
}

/// The simulator over its dev files, the registry on the same files.
async fn with_fleet(store: Arc<dyn Substrate>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology {
        workers: vec![ServiceKind::Aggregate],
        gateways: 2,
        shards: 3,
        replicas: 1,
        tenants: 12,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let docs = FleetDocs::from_files(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        Duration::from_millis(50),
    );
    let health = HealthPoller::start(
        docs.clone(),
        PollerConfig {
            interval: Duration::from_millis(150),
            ..PollerConfig::default()
        },
    );
    let source = Arc::new(FileConfigStore::new(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        dir.path().join("config"),
    ));
    let (registry, jobs) = build(store, source, FleetService { docs, health });
    Harness {
        fleet: Some(fleet),
        registry,
        jobs,
        _dir: dir,
    }
}

async fn embedded() -> (Arc<dyn Substrate>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        Arc::new(EmbeddedStore::open(dir.path()).await.unwrap()),
        dir,
    )
}

async fn create(
    h: &Harness,
    kind: JobKind,
    input: &Value,
    hash: Option<String>,
) -> Result<Created, JobsError> {
    let key = format!("\"{}\"", rand::random::<u64>());
    h.jobs
        .create(
            &caller(),
            kind,
            CreateRequest {
                idempotency_key: Some(&key),
                method: "POST",
                route: &format!("/admin/v1/jobs/{kind}"),
                body: CreateJob {
                    reason: "tuning the platform".into(),
                    input: input.clone(),
                    plan_hash: hash,
                },
            },
        )
        .await
}

async fn start(
    h: &Harness,
    kind: JobKind,
    input: Value,
) -> Result<(model::moves::Plan, Created), JobsError> {
    let plan = h.jobs.plan(&caller(), kind, &input).await?;
    let c = create(h, kind, &input, Some(plan.hash.clone())).await?;
    Ok((plan, c))
}

async fn wait_terminal(jobs: &Jobs, id: &model::JobId, within: Duration) -> Job {
    let start = Instant::now();
    loop {
        let j = jobs.get(id).await.unwrap();
        if j.state.is_terminal() {
            return j;
        }
        assert!(
            start.elapsed() < within,
            "job {id} still {:?}: {j:#?}",
            j.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn apply(domain: &str, name: &str, scope: &str, document: Value) -> Value {
    json!({"domain": domain, "name": name, "scope": scope, "document": document})
}

fn placement(h: &Harness) -> PlacementDoc {
    serde_json::from_slice(&std::fs::read(&h.fleet.as_ref().unwrap().placement_path).unwrap())
        .unwrap()
}

/// Waits until a plan of `input` passes every gate (health is probed).
async fn unblocked(h: &Harness, kind: JobKind, input: &Value) -> model::moves::Plan {
    let start = Instant::now();
    loop {
        let p = h.jobs.plan(&caller(), kind, input).await.unwrap();
        if !p.blocked {
            return p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "gates failing: {:#?}",
            p.gates.iter().filter(|g| !g.pass).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The aggregate map with one tenant moved to `to`.
fn moved(h: &Harness, tenant: &str, to: &str) -> Value {
    let mut v = serde_json::to_value(&placement(h).aggregate_placement).unwrap();
    v["tenants"][tenant] = json!(to);
    v
}

#[tokio::test]
async fn a_placement_apply_runs_its_plan_records_who_and_every_gateway_reloads_once() {
    let (store, _d) = embedded().await;
    let h = with_fleet(store).await;
    let before = placement(&h);
    let from = before.aggregate_placement.tenants
        [&model::fleet::TenantId::parse("t-00001").unwrap()]
        .clone();
    let to = if from.as_str() == "a0" { "a1" } else { "a0" };
    let input = apply(
        "placement",
        "placement",
        "kind:aggregate",
        moved(&h, "t-00001", to),
    );
    let plan = unblocked(&h, JobKind::ConfigApply, &input).await;
    let change = plan.change.clone().unwrap();
    assert_eq!(change.impact.tenants_moved, 1);
    assert_eq!(change.impact.moves[0].to.as_deref(), Some(to));
    assert_eq!(change.base_revision, before.revision);
    assert_eq!(change.diff.patch.len(), 1, "{:?}", change.diff.patch);
    assert_eq!((change.diff.added, change.diff.removed), (1, 1));
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names[0], "write");
    assert_eq!(
        names.iter().filter(|n| n.starts_with("reload:")).count(),
        2,
        "{names:?}"
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("loaded:aggregate:"))
            .count(),
        3,
        "{names:?}"
    );
    assert_eq!(names[names.len() - 2..], ["verify", "restore"]);
    // The same inputs and state: the same plan.
    let again = h
        .jobs
        .plan(&caller(), JobKind::ConfigApply, &input)
        .await
        .unwrap();
    assert_eq!(again.hash, plan.hash);

    let c = create(&h, JobKind::ConfigApply, &input, Some(plan.hash.clone()))
        .await
        .unwrap();
    let job = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(30)).await;
    assert_eq!(job.state, JobState::Succeeded, "{job:#?}");
    let ran: Vec<&str> = job
        .steps
        .iter()
        .filter(|s| s.state == StepState::Succeeded)
        .map(|s| s.name.as_str())
        .collect();
    let planned: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.name != "restore")
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(ran, planned, "the executed steps are the plan's");
    let after = placement(&h);
    assert_eq!(
        after.aggregate_placement.tenants[&model::fleet::TenantId::parse("t-00001").unwrap()]
            .as_str(),
        to
    );
    let doc = h
        .registry
        .get(&ConfigId::placement(ServiceKind::Aggregate), None)
        .await
        .unwrap();
    assert_eq!(doc.summary.meta.updated_by.as_deref(), Some("ops"));
    assert_eq!(doc.summary.meta.job.as_ref(), Some(&c.job_id));
    assert_eq!(doc.summary.meta.revision, after.revision);
    let hist = h
        .registry
        .history(&ConfigId::placement(ServiceKind::Aggregate))
        .await
        .unwrap();
    assert_eq!(hist.revisions[0].job.as_ref(), Some(&c.job_id));
    // Every gateway applied this job's reload exactly once (counted at the
    // simulated gateways).
    let fleet = h.fleet.as_ref().unwrap();
    let mut gateways = 0;
    for i in fleet
        .instances()
        .into_iter()
        .filter(|i| i.kind == ServiceKind::Gateway)
    {
        let e = fleet.effects().remove(&i.id).unwrap_or_default();
        let mine: Vec<_> = e
            .iter()
            .filter(|(m, _)| m.starts_with(c.job_id.as_str()))
            .collect();
        assert_eq!(mine.len(), 1, "{}: {e:?}", i.id);
        assert!(mine.iter().all(|(_, x)| x.applied == 1), "{e:?}");
        gateways += 1;
    }
    assert_eq!(gateways, 2);
    let verify = job.steps.iter().find(|s| s.name == "verify").unwrap();
    assert!(verify.output.as_ref().unwrap()["tenants"].as_u64().unwrap() >= 1);
    // The result offers the walk back.
    assert_eq!(
        job.result.as_ref().unwrap()["reverse"]["kind"],
        "config.rollback"
    );
}

#[tokio::test]
async fn a_placement_to_a_disabled_shard_passes_the_schema_and_is_refused_before_any_write() {
    let (store, _d) = embedded().await;
    let h = with_fleet(store).await;
    // a2 disabled in routing (written through the registry's store).
    let rid = ConfigId::routing();
    let r = h.registry.store().get(&rid).await.unwrap().unwrap();
    let mut routing = r.document.clone();
    routing["aggregate"]["a2"]["state"] = json!("disabled");
    let meta = WriteMeta {
        updated_by: "test".into(),
        job: None,
        reason: None,
    };
    h.registry
        .store()
        .write(&rid, &routing, r.meta.revision, &meta)
        .await
        .unwrap();
    let doc = moved(&h, "t-00002", "a2");
    assert!(
        engine::config::schema::issues(model::config::Domain::Placement, &doc).is_empty(),
        "the schema passes"
    );
    let input = apply("placement", "placement", "kind:aggregate", doc);
    let plan = h
        .jobs
        .plan(&caller(), JobKind::ConfigApply, &input)
        .await
        .unwrap();
    assert!(plan.blocked);
    let g = plan
        .gates
        .iter()
        .find(|g| g.code == "gate_config_valid")
        .unwrap();
    assert!(!g.pass);
    assert!(
        g.observed.to_string().contains("shard_disabled"),
        "{}",
        g.observed
    );
    let before = placement(&h);
    let r = create(&h, JobKind::ConfigApply, &input, Some(plan.hash)).await;
    match r {
        Err(JobsError::GateFailed(m)) => assert!(m.contains("gate_config_valid"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(placement(&h), before, "nothing written");
    assert_eq!(
        h.jobs.list(&Default::default()).await.unwrap().total,
        0,
        "no job"
    );
}

#[tokio::test]
async fn a_gateway_that_keeps_the_old_revision_rolls_the_change_back() {
    let (store, _d) = embedded().await;
    let h = with_fleet(store).await;
    let fleet = h.fleet.as_ref().unwrap();
    let input = apply(
        "placement",
        "placement",
        "kind:aggregate",
        moved(&h, "t-00003", "a1"),
    );
    let plan = unblocked(&h, JobKind::ConfigApply, &input).await;
    let base = placement(&h);
    let gw = fleet
        .instances()
        .into_iter()
        .find(|i| i.kind == ServiceKind::Gateway)
        .unwrap();
    fleet
        .set_faults(
            &gw.id,
            Faults {
                stale_revision: true,
                ..Faults::default()
            },
        )
        .await
        .unwrap();
    let c = create(&h, JobKind::ConfigApply, &input, Some(plan.hash))
        .await
        .unwrap();
    let job = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(60)).await;
    assert_eq!(job.state, JobState::Failed, "{job:#?}");
    let err = job.error.clone().unwrap();
    assert_eq!(err.code, "not_loaded", "{err:?}");
    assert!(
        err.message.contains(&gw.addr.port().to_string()),
        "names the gateway: {err:?}"
    );
    let result = job.result.clone().unwrap();
    assert!(
        result["rolled_back"]["restored_revision"]
            .as_u64()
            .is_some(),
        "{result} {:#?}",
        job.steps
    );
    assert!(
        result["rolled_back"]["restored_revision"]
            .as_u64()
            .is_some(),
        "{result}"
    );
    let now = placement(&h);
    assert_eq!(
        now.aggregate_placement, base.aggregate_placement,
        "back at its base document"
    );
    assert!(now.revision > base.revision, "by a new revision");
    let hist = h
        .registry
        .history(&ConfigId::placement(ServiceKind::Aggregate))
        .await
        .unwrap();
    assert!(
        hist.revisions[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("restore"),
        "{:?}",
        hist.revisions[0]
    );
}

#[tokio::test]
async fn a_rollback_pins_and_applies_are_refused_until_unpinned() {
    let (store, _d) = embedded().await;
    let h = with_fleet(store).await;
    for banner in ["one", "two"] {
        let (_, c) = start(
            &h,
            JobKind::ConfigApply,
            apply("flags", "control", "platform", json!({"banner": banner})),
        )
        .await
        .unwrap();
        let j = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(20)).await;
        assert_eq!(j.state, JobState::Succeeded, "{j:#?}");
    }
    assert_eq!(
        h.registry.flags().borrow().banner.as_deref(),
        Some("two"),
        "the control plane reads it live"
    );
    let input = json!({"domain": "flags", "name": "control"});
    let (plan, c) = start(&h, JobKind::ConfigRollback, input).await.unwrap();
    assert_eq!(plan.steps.last().unwrap().name, "restore");
    assert!(plan.steps.iter().any(|s| s.name == "pin"));
    let j = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(20)).await;
    assert_eq!(j.state, JobState::Succeeded, "{j:#?}");
    assert_eq!(h.registry.flags().borrow().banner.as_deref(), Some("one"));
    let doc = h.registry.get(&ConfigId::flags(), None).await.unwrap();
    assert!(doc.summary.pinned.is_some());
    let again = apply("flags", "control", "platform", json!({"banner": "three"}));
    let p = h
        .jobs
        .plan(&caller(), JobKind::ConfigApply, &again)
        .await
        .unwrap();
    assert!(p.blocked);
    assert!(p
        .gates
        .iter()
        .any(|g| g.code == "gate_not_pinned" && !g.pass));
    assert!(matches!(
        create(&h, JobKind::ConfigApply, &again, Some(p.hash)).await,
        Err(JobsError::GateFailed(_))
    ));
    assert!(
        h.registry
            .unpin(&caller(), &ConfigId::flags(), "x")
            .await
            .is_err(),
        "a reason is required"
    );
    h.registry
        .unpin(&caller(), &ConfigId::flags(), "the incident is over")
        .await
        .unwrap();
    let (_, c) = start(&h, JobKind::ConfigApply, again).await.unwrap();
    let j = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(20)).await;
    assert_eq!(j.state, JobState::Succeeded, "{j:#?}");
}

/// Two applies planned from one base and created at once: exactly one is
/// accepted and succeeds, the other is refused (409), every time; with
/// both cores busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_applies_from_one_base_exactly_one_wins_every_time() {
    let (store, _d) = embedded().await;
    let h = Arc::new(with_fleet(store).await);
    let runs: usize = std::env::var("CONFIG_RACE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for i in 0..runs {
        let a = apply(
            "gates",
            "thresholds",
            "platform",
            json!({"max_source_lag": 1000 + i}),
        );
        let b = apply(
            "gates",
            "thresholds",
            "platform",
            json!({"max_source_lag": 5000 + i}),
        );
        let pa = h
            .jobs
            .plan(&caller(), JobKind::ConfigApply, &a)
            .await
            .unwrap();
        let pb = h
            .jobs
            .plan(&caller(), JobKind::ConfigApply, &b)
            .await
            .unwrap();
        assert_eq!(
            pa.change.as_ref().unwrap().base_revision,
            pb.change.as_ref().unwrap().base_revision
        );
        let (h1, h2) = (h.clone(), h.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { create(&h1, JobKind::ConfigApply, &a, Some(pa.hash)).await }),
            tokio::spawn(async move { create(&h2, JobKind::ConfigApply, &b, Some(pb.hash)).await }),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let refused = |r: &Result<Created, JobsError>| {
            matches!(r, Err(JobsError::Locked(_) | JobsError::PlanStale))
        };
        let winner = match (&ra, &rb) {
            (Ok(c), r) | (r, Ok(c)) if refused(r) => c.job_id.clone(),
            _ => panic!("run {i}: {ra:?} / {rb:?}"),
        };
        let j = wait_terminal(&h.jobs, &winner, Duration::from_secs(20)).await;
        assert_eq!(j.state, JobState::Succeeded, "run {i}: {j:#?}");
    }
}

#[tokio::test]
async fn an_independent_writer_between_plan_and_apply_makes_the_plan_stale() {
    let mut stores: Vec<(&str, Arc<dyn Substrate>)> = Vec::new();
    let (emb, _d) = embedded().await;
    stores.push(("embedded", emb));
    if let Some(url) = test_support::nats_url("config::independent_writer") {
        let nats = NatsStore::connect(&NatsOptions {
            url,
            name: "control-config-test".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let b: [u8; 6] = rand::random();
        let ns: String = b.iter().map(|x| format!("c{x:02x}")).collect();
        stores.push((
            "nats",
            Arc::new(Namespaced::new(Arc::new(nats), &ns).unwrap()),
        ));
    }
    for (name, store) in stores {
        let docs = FleetDocs::from_kv(store.clone());
        let health = HealthPoller::start(docs.clone(), PollerConfig::default());
        let (registry, jobs) = build(
            store.clone(),
            Arc::new(KvConfigStore::new(store.clone())),
            FleetService { docs, health },
        );
        let h = Harness {
            fleet: None,
            registry,
            jobs,
            _dir: tempfile::tempdir().unwrap(),
        };
        let (_, c) = start(
            &h,
            JobKind::ConfigApply,
            apply("flags", "control", "platform", json!({"freeze": false})),
        )
        .await
        .unwrap();
        assert_eq!(
            wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(20))
                .await
                .state,
            JobState::Succeeded,
            "{name}"
        );
        let input = apply("flags", "control", "platform", json!({"banner": "planned"}));
        let plan = h
            .jobs
            .plan(&caller(), JobKind::ConfigApply, &input)
            .await
            .unwrap();
        // Another client writes the key in KV directly.
        let kv = store
            .kv(
                "config",
                BucketOptions {
                    history: 32,
                    replicas: 1,
                },
            )
            .await
            .unwrap();
        kv.put(
            &Key::parse("flags.platform.control").unwrap(),
            br#"{"banner":"someone else"}"#.to_vec().into(),
        )
        .await
        .unwrap();
        let r = create(&h, JobKind::ConfigApply, &input, Some(plan.hash)).await;
        assert!(matches!(r, Err(JobsError::PlanStale)), "{name}: {r:?}");
        let doc = h.registry.get(&ConfigId::flags(), None).await.unwrap();
        assert_eq!(
            doc.document["banner"], "someone else",
            "{name}: the other writer's value stands"
        );
        assert_eq!(
            doc.summary.meta.updated_by, None,
            "{name}: written outside the registry"
        );
    }
}

#[tokio::test]
async fn a_change_freeze_refuses_other_jobs_but_not_config_changes() {
    let (store, _d) = embedded().await;
    let h = with_fleet(store).await;
    let (_, c) = start(
        &h,
        JobKind::ConfigApply,
        apply("flags", "control", "platform", json!({"freeze": true})),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(20))
            .await
            .state,
        JobState::Succeeded
    );
    assert!(h.registry.flags().borrow().freeze);
    h.jobs.follow_flags(h.registry.flags());
    let r = create(&h, JobKind::RoutingReload, &json!({}), None).await;
    assert!(matches!(r, Err(JobsError::Frozen)), "{r:?}");
    let (_, c) = start(
        &h,
        JobKind::ConfigApply,
        apply("flags", "control", "platform", json!({"freeze": false})),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(20))
            .await
            .state,
        JobState::Succeeded
    );
}

/// Same inputs and the same observed state give the same plan and hash;
/// the impact counts exactly the tenants the document moves.
#[test]
fn plans_are_deterministic_and_count_what_they_move() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (store, _d) = rt.block_on(embedded());
    let h = rt.block_on(with_fleet(store));
    let base = placement(&h).aggregate_placement;
    let tenants: Vec<String> = base.tenants.keys().map(|t| t.to_string()).collect();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(40));
    runner
        .run(
            &prop::collection::vec((0..tenants.len(), 0usize..3), 0..8),
            |moves| {
                let mut doc = serde_json::to_value(&base).unwrap();
                for (t, s) in &moves {
                    doc["tenants"][&tenants[*t]] = json!(format!("a{s}"));
                }
                let expected = tenants
                    .iter()
                    .filter(|t| {
                        doc["tenants"][t.as_str()]
                            != serde_json::to_value(&base).unwrap()["tenants"][t.as_str()]
                    })
                    .count() as u64;
                let input = apply("placement", "placement", "kind:aggregate", doc);
                let (p1, p2) = rt.block_on(async {
                    let p1 = h
                        .jobs
                        .plan(&caller(), JobKind::ConfigApply, &input)
                        .await
                        .unwrap();
                    let p2 = h
                        .jobs
                        .plan(&caller(), JobKind::ConfigApply, &input)
                        .await
                        .unwrap();
                    (p1, p2)
                });
                prop_assert_eq!(&p1.hash, &p2.hash);
                prop_assert_eq!(&p1.steps, &p2.steps);
                prop_assert_eq!(&p1.change, &p2.change);
                prop_assert_eq!(p1.change.as_ref().unwrap().impact.tenants_moved, expected);
                Ok(())
            },
        )
        .unwrap();
}
