//! Tenant moves against the simulator (real HTTP instances, the dev files
//! or NATS KV as the documents): plans and their hash, every gate refusing
//! before any side effect, the executed steps equal to the plan, stale
//! plans, concurrent moves of one tenant, stuck drains, cancel, and an
//! evacuation with a target failing mid-way. Side effects are counted at
//! the simulated instances (markers) and in the placement document.

use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::fleet::writer::DocWriter;
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
use engine::gates::{GateContext, Thresholds};
use engine::gateway::GatewayClient;
use engine::identity::{AccessToken, Caller, Identity};
use engine::jobs::{CreateRequest, Created, JobSettings, Jobs, JobsError};
use engine::moves::{MoveSettings, Moves};
use engine::store::embedded::EmbeddedStore;
use engine::store::namespaced::Namespaced;
use engine::store::nats::{NatsOptions, NatsStore};
use engine::store::Substrate;
use engine::token::Principal;
use model::fleet::{PlacementDoc, ServiceKind, ShardId, TenantId};
use model::jobs::{CreateJob, Job, JobKind, JobState, StepState};
use model::rights::Grants;
use serde_json::json;
use sim::{Faults, Fleet, Topology};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

struct Harness {
    fleet: Fleet,
    fleet_service: FleetService,
    jobs: Jobs,
    store: Arc<dyn Substrate>,
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
        request_id: "req_moves".into(),
        correlation_id: "cor_moves".into(),
        traceparent: String::new(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        tenant: None,
    }
}

fn quick_drains() -> Faults {
    Faults {
        drain_ms: 300,
        ..Faults::default()
    }
}

async fn harness(store: Arc<dyn Substrate>, tenants: usize) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology {
        workers: vec![ServiceKind::Aggregate],
        gateways: 1,
        shards: 3,
        replicas: 2,
        tenants,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, dir.path(), 0).await.unwrap();
    for i in fleet.instances() {
        fleet.set_faults(&i.id, quick_drains()).await.unwrap();
    }
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
    let fleet_service = FleetService { docs, health };
    let jobs = jobs_for(
        &store,
        &fleet_service,
        DocWriter::files(fleet.placement_path.clone(), fleet.routing_path.clone()),
    );
    // Detached: the runner lives as long as the test runtime.
    drop(jobs.start());
    Harness {
        fleet,
        fleet_service,
        jobs,
        store,
        _dir: dir,
    }
}

fn jobs_for(store: &Arc<dyn Substrate>, fleet: &FleetService, writer: DocWriter) -> Jobs {
    let audit = Arc::new(AuditLog::lazy(
        store.clone(),
        b"moves-test-chain-key-0123456789a",
    ));
    let actions = Actions::new(
        audit,
        store.clone(),
        Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    let cell = Arc::new(OnceLock::new());
    let core = Arc::new(Moves {
        gates: GateContext {
            fleet: fleet.clone(),
            http: GatewayClient::new("http://127.0.0.1:1", Duration::from_secs(2)).unwrap(),
            jobs: cell.clone(),
            thresholds: engine::gates::fixed_thresholds(Thresholds {
                reload_grace_ms: 1_000,
                ..Thresholds::default()
            }),
        },
        writer,
        settings: MoveSettings {
            drain_timeout: Duration::from_secs(3),
            load_timeout: Duration::from_secs(5),
            poll: Duration::from_millis(50),
            error_window: Duration::from_millis(300),
        },
    });
    let jobs = Jobs::new(
        store.clone(),
        actions,
        engine::moves::workflows(core),
        JobSettings {
            lease: Duration::from_secs(3),
            poll: Duration::from_millis(50),
            ..JobSettings::default()
        },
    );
    let _ = cell.set(jobs.clone());
    jobs
}

async fn embedded() -> (Arc<dyn Substrate>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        Arc::new(EmbeddedStore::open(dir.path()).await.unwrap()),
        dir,
    )
}

async fn nats(test: &str) -> Option<Arc<dyn Substrate>> {
    let url = test_support::nats_url(&format!("moves::{test}"))?;
    let store = NatsStore::connect(&NatsOptions {
        url,
        name: "control-moves-test".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let b: [u8; 6] = rand::random();
    let ns: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(Arc::new(
        Namespaced::new(Arc::new(store), &format!("m{ns}")).unwrap(),
    ))
}

fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn shard(s: &str) -> ShardId {
    ShardId::parse(s).unwrap()
}

fn migrate_input(tenant: &str, target: &str) -> serde_json::Value {
    json!({ "tenant": tenant, "kind": "aggregate", "target": target })
}

async fn create(
    h: &Harness,
    kind: JobKind,
    input: &serde_json::Value,
    hash: Option<String>,
) -> Result<Created, JobsError> {
    let key = format!("\"{}\"", rand::random::<u64>());
    create_keyed(h, &key, kind, input, hash).await
}

async fn create_keyed(
    h: &Harness,
    key: &str,
    kind: JobKind,
    input: &serde_json::Value,
    hash: Option<String>,
) -> Result<Created, JobsError> {
    h.jobs
        .create(
            &caller(),
            kind,
            CreateRequest {
                idempotency_key: Some(key),
                method: "POST",
                route: &format!("/admin/v1/jobs/{kind}"),
                body: CreateJob {
                    reason: "moving a noisy tenant".into(),
                    input: input.clone(),
                    plan_hash: hash,
                },
            },
        )
        .await
}

/// Plans, then creates with the plan's hash.
async fn start(
    h: &Harness,
    kind: JobKind,
    input: serde_json::Value,
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
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until a move of `tenant` to `target` would pass every gate (the
/// error ratios need two probes of every instance).
async fn settled(h: &Harness, tenant: &str, target: &str) {
    let start = Instant::now();
    loop {
        let p = h
            .jobs
            .plan(
                &caller(),
                JobKind::TenantsMigrate,
                &migrate_input(tenant, target),
            )
            .await
            .unwrap();
        if !p.blocked {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "gates still failing: {:#?}",
            p.gates.iter().filter(|g| !g.pass).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn placement(h: &Harness) -> PlacementDoc {
    serde_json::from_slice(&std::fs::read(&h.fleet.placement_path).unwrap()).unwrap()
}

fn shard_of(doc: &PlacementDoc, tenant: &str) -> Option<ShardId> {
    doc.aggregate_placement.shard_of(&t(tenant)).cloned()
}

/// Every marked effect, `instance@marker` → (requests, applied).
fn effects(h: &Harness) -> BTreeMap<String, sim::Effect> {
    h.fleet
        .effects()
        .into_iter()
        .flat_map(|(i, m)| m.into_iter().map(move |(k, e)| (format!("{i}@{k}"), e)))
        .collect()
}

fn instance_ids(h: &Harness, shard: &str) -> Vec<String> {
    h.fleet
        .instances()
        .into_iter()
        .filter(|i| i.shard.as_deref() == Some(shard))
        .map(|i| i.id)
        .collect()
}

async fn fault(h: &Harness, shard: &str, f: Faults) {
    for id in instance_ids(h, shard) {
        h.fleet.set_faults(&id, f.clone()).await.unwrap();
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (store, _dir) = super::embedded().await;
                    super::$name(store).await;
                }
            )*
        }
        mod nats_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(store) = super::nats(stringify!($name)).await else { return };
                    super::$name(store).await;
                }
            )*
        }
    };
}

both_backends!(
    a_migration_runs_exactly_its_plan_and_every_effect_once,
    two_migrations_of_one_tenant_never_both_run,
    an_independent_placement_change_makes_the_plan_stale,
);

async fn a_migration_runs_exactly_its_plan_and_every_effect_once(store: Arc<dyn Substrate>) {
    let h = harness(store, 12).await;
    // t-00001 is on a1 (tenants are spread round-robin).
    settled(&h, "t-00001", "a2").await;
    let before = placement(&h);
    assert_eq!(shard_of(&before, "t-00001"), Some(shard("a1")));
    let (plan, c) = start(&h, JobKind::TenantsMigrate, migrate_input("t-00001", "a2"))
        .await
        .unwrap();
    assert!(!plan.blocked);
    assert_eq!(
        plan.point_of_no_return.as_deref(),
        Some("placement:aggregate")
    );
    let job = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(40)).await;
    assert_eq!(job.state, JobState::Succeeded, "{job:#?}");
    assert_eq!(job.plan_hash.as_deref(), Some(plan.hash.as_str()));
    // The executed steps are exactly the plan's (the dry run is the run).
    let ran: Vec<(&str, model::jobs::Phase)> = job
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.phase))
        .collect();
    let planned: Vec<(&str, model::jobs::Phase)> = plan
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.phase))
        .collect();
    assert_eq!(ran, planned);
    for s in &job.steps {
        let want = if s.phase == model::jobs::Phase::Compensation {
            StepState::Skipped
        } else {
            StepState::Succeeded
        };
        assert_eq!(s.state, want, "{}", s.name);
    }
    // The placement was written once: one revision more, the tenant moved,
    // nobody else did.
    let after = placement(&h);
    assert_eq!(after.revision, before.revision + 1);
    assert_eq!(shard_of(&after, "t-00001"), Some(shard("a2")));
    for (tenant, s) in &before.aggregate_placement.tenants {
        if tenant.as_str() != "t-00001" {
            assert_eq!(after.aggregate_placement.tenants.get(tenant), Some(s));
        }
    }
    // Each drain (2 source instances), reload (1 gateway) and resume (2
    // target instances) applied exactly once, counted at the instances.
    let eff = effects(&h);
    let mine: Vec<_> = eff
        .iter()
        .filter(|(k, _)| k.contains(job.id.as_str()))
        .collect();
    assert_eq!(mine.len(), 5, "{mine:#?}");
    for (k, e) in &mine {
        assert_eq!(e.applied, 1, "{k}: {e:?}");
    }
    // The fleet resolves the tenant to the target; the reverse is offered.
    let st = h.fleet_service.docs.current();
    assert_eq!(
        st.shard_of(ServiceKind::Aggregate, &t("t-00001"))
            .map(|x| x.0.clone()),
        Some(shard("a2"))
    );
    let result = job.result.clone().unwrap();
    assert_eq!(result["reverse"]["kind"], "tenants.migrate", "{result}");
    assert_eq!(result["reverse"]["input"]["target"], "a1");
    // A replay of the same key is the same job; no new effects.
    let _ = &h.store;
}

async fn two_migrations_of_one_tenant_never_both_run(store: Arc<dyn Substrate>) {
    let _busy = test_support::BusyCores::start();
    let h = Arc::new(harness(store, 12).await);
    settled(&h, "t-00000", "a1").await;
    let before = placement(&h).revision;
    let (a, b) = tokio::join!(
        start(&h, JobKind::TenantsMigrate, migrate_input("t-00000", "a1")),
        start(&h, JobKind::TenantsMigrate, migrate_input("t-00000", "a2")),
    );
    let mut succeeded = Vec::new();
    for (target, r) in [("a1", a), ("a2", b)] {
        match r {
            Ok((_, c)) => {
                let j = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(60)).await;
                if j.state == JobState::Succeeded {
                    succeeded.push(target);
                } else {
                    // Refused at its preflight: nothing done by it.
                    let code = j.error.as_ref().map(|e| e.code.clone()).unwrap_or_default();
                    assert!(
                        code.starts_with("gate_") || code == "placement_moved",
                        "{j:#?}"
                    );
                    let eff = effects(&h);
                    assert!(
                        !eff.keys().any(|k| k.contains(j.id.as_str())),
                        "the refused move had effects: {eff:#?}"
                    );
                }
            }
            Err(e) => assert!(
                matches!(
                    e,
                    JobsError::GateFailed(_) | JobsError::Locked(_) | JobsError::PlanStale
                ),
                "{e:?}"
            ),
        }
    }
    assert_eq!(succeeded.len(), 1, "exactly one move ran: {succeeded:?}");
    let after = placement(&h);
    assert_eq!(after.revision, before + 1, "one placement write");
    assert_eq!(shard_of(&after, "t-00000"), Some(shard(succeeded[0])));
}

async fn an_independent_placement_change_makes_the_plan_stale(store: Arc<dyn Substrate>) {
    let h = harness(store, 12).await;
    settled(&h, "t-00002", "a0").await;
    let input = migrate_input("t-00002", "a0");
    let plan = h
        .jobs
        .plan(&caller(), JobKind::TenantsMigrate, &input)
        .await
        .unwrap();
    // Another writer moves another tenant meanwhile.
    let w = DocWriter::files(h.fleet.placement_path.clone(), h.fleet.routing_path.clone());
    let (mut map, rev) = w.read_placement(ServiceKind::Aggregate).await.unwrap();
    map.tenants.insert(t("t-00005"), shard("a0"));
    w.write_placement(ServiceKind::Aggregate, &map, rev, &test_meta())
        .await
        .unwrap();
    // The fleet sees the file within its poll interval (50 ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    match create(&h, JobKind::TenantsMigrate, &input, Some(plan.hash.clone())).await {
        Err(JobsError::PlanStale) => {}
        other => panic!("{other:?}"),
    }
    // Without a hash: refused, naming the plan endpoint.
    match create(&h, JobKind::TenantsMigrate, &input, None).await {
        Err(JobsError::BadRequest(m)) => assert!(m.contains("plan_hash"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Engine-only fields are refused from clients.
    let mut bad = input.clone();
    bad["source"] = json!("a2");
    match h.jobs.plan(&caller(), JobKind::TenantsMigrate, &bad).await {
        Err(JobsError::BadRequest(m)) => assert!(m.contains("input.source"), "{m}"),
        other => panic!("{other:?}"),
    }
    // The other writer reloads the gateways too; then a fresh plan passes.
    reload_gateways(&h).await;
    settled(&h, "t-00002", "a0").await;
    let plan = h
        .jobs
        .plan(&caller(), JobKind::TenantsMigrate, &input)
        .await
        .unwrap();
    let hash = Some(plan.hash.clone());
    let c = create_keyed(
        &h,
        "\"once\"",
        JobKind::TenantsMigrate,
        &input,
        hash.clone(),
    )
    .await
    .unwrap();
    let j = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(40)).await;
    assert_eq!(j.state, JobState::Succeeded, "{j:#?}");
    // The job moved the revisions its plan read; a retry of the same
    // request (its answer lost) still gets that job, not plan_stale.
    let again = create_keyed(&h, "\"once\"", JobKind::TenantsMigrate, &input, hash)
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.job_id, c.job_id);
}

/// Each gate, failing on purpose through the simulator's knobs: the plan
/// is blocked by that gate, the create refused with its code, and nothing
/// changed at the instances or in placement.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_gate_refuses_before_any_side_effect() {
    let (store, _d) = embedded().await;
    let h = harness(store, 12).await;
    settled(&h, "t-00001", "a2").await;
    let gw = h
        .fleet
        .instances()
        .into_iter()
        .find(|i| i.kind == ServiceKind::Gateway)
        .unwrap()
        .id;
    type Setup = (&'static str, &'static str, Faults);
    let cases: Vec<Setup> = vec![
        (
            "gate_target_healthy",
            "a2",
            Faults {
                down: true,
                ..quick_drains()
            },
        ),
        (
            "gate_target_healthy",
            "a2",
            Faults {
                unready: true,
                ..quick_drains()
            },
        ),
        (
            "gate_source_lag",
            "a1",
            Faults {
                lag: 5_000,
                ..quick_drains()
            },
        ),
        (
            "gate_source_inflight",
            "a1",
            Faults {
                inflight: 500,
                ..quick_drains()
            },
        ),
        (
            "gate_target_error_rate",
            "a2",
            Faults {
                error_rate: 1.0,
                ..quick_drains()
            },
        ),
    ];
    let input = migrate_input("t-00001", "a2");
    let rev = placement(&h).revision;
    for (code, on, faults) in cases {
        fault(&h, on, faults).await;
        let plan = eventually_blocked(&h, &input, code).await;
        match create(&h, JobKind::TenantsMigrate, &input, Some(plan.hash.clone())).await {
            Err(JobsError::GateFailed(m)) => assert!(m.contains(code), "{code}: {m}"),
            other => panic!("{code}: {other:?}"),
        }
        fault(&h, on, quick_drains()).await;
        settled(&h, "t-00001", "a2").await;
    }
    // Stale revision: a gateway that stops following, then a change.
    h.fleet
        .set_faults(
            &gw,
            Faults {
                stale_revision: true,
                ..quick_drains()
            },
        )
        .await
        .unwrap();
    let w = DocWriter::files(h.fleet.placement_path.clone(), h.fleet.routing_path.clone());
    let (mut map, r) = w.read_placement(ServiceKind::Aggregate).await.unwrap();
    map.tenants.insert(t("t-00011"), shard("a0"));
    w.write_placement(ServiceKind::Aggregate, &map, r, &test_meta())
        .await
        .unwrap();
    let plan = eventually_blocked(&h, &input, "gate_routing_loaded").await;
    assert!(matches!(
        create(&h, JobKind::TenantsMigrate, &input, Some(plan.hash)).await,
        Err(JobsError::GateFailed(m)) if m.contains("gate_routing_loaded")
    ));
    h.fleet.set_faults(&gw, quick_drains()).await.unwrap();
    reload_gateways(&h).await;
    settled(&h, "t-00001", "a2").await;
    // Locked tenant: a drain stuck on the source holds the tenant's lock.
    fault(
        &h,
        "a1",
        Faults {
            stuck_drain: true,
            ..quick_drains()
        },
    )
    .await;
    let (_, drain) = start(&h, JobKind::TenantsDrain, json!({ "tenant": "t-00001" }))
        .await
        .unwrap();
    let plan = eventually_blocked(&h, &input, "gate_no_conflicting_job").await;
    assert!(matches!(
        create(&h, JobKind::TenantsMigrate, &input, Some(plan.hash)).await,
        Err(JobsError::GateFailed(m)) if m.contains("gate_no_conflicting_job")
    ));
    let _ = wait_terminal(&h.jobs, &drain.job_id, Duration::from_secs(30)).await;
    fault(&h, "a1", quick_drains()).await;
    // Nothing moved: no migrate effect anywhere, placement as written by
    // the test only (+1 for the stale-revision case).
    let mut jobs_with_effects: Vec<String> = effects(&h)
        .keys()
        .filter_map(|k| {
            k.split('@')
                .nth(1)
                .and_then(|m| m.split('/').next())
                .map(str::to_owned)
        })
        .collect();
    jobs_with_effects.dedup();
    assert_eq!(
        jobs_with_effects,
        vec![drain.job_id.to_string()],
        "only the drain acted"
    );
    let doc = placement(&h);
    assert_eq!(doc.revision, rev + 1);
    assert_eq!(shard_of(&doc, "t-00001"), Some(shard("a1")));
}

async fn reload_gateways(h: &Harness) {
    for g in h
        .fleet
        .instances()
        .into_iter()
        .filter(|i| i.kind == ServiceKind::Gateway)
    {
        let r = test_support::http("POST", g.addr, "/admin/routing/reload", "").await;
        assert!(r.is_ok(), "{r:?}");
    }
}

async fn eventually_blocked(
    h: &Harness,
    input: &serde_json::Value,
    code: &str,
) -> model::moves::Plan {
    let start = Instant::now();
    loop {
        let p = h
            .jobs
            .plan(&caller(), JobKind::TenantsMigrate, input)
            .await
            .unwrap();
        if let Some(g) = p.gates.iter().find(|g| g.code == code && !g.pass) {
            assert!(p.blocked);
            assert!(!g.message.is_empty());
            return p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{code} never failed: {:#?}",
            p.gates
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stuck_drain_fails_with_the_observed_inflight_and_the_tenant_can_be_resumed() {
    let (store, _d) = embedded().await;
    let h = harness(store, 12).await;
    settled(&h, "t-00001", "a2").await;
    let stuck = instance_ids(&h, "a1")[0].clone();
    h.fleet
        .set_faults(
            &stuck,
            Faults {
                stuck_drain: true,
                ..quick_drains()
            },
        )
        .await
        .unwrap();
    let (plan, c) = start(&h, JobKind::TenantsDrain, json!({ "tenant": "t-00001" }))
        .await
        .unwrap();
    assert_eq!(
        plan.point_of_no_return, None,
        "a drain is always walkable back"
    );
    let job = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(30)).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.clone().unwrap();
    assert_eq!(e.code, "drain_timeout");
    assert!(e.message.contains("inflight"), "{}", e.message);
    assert_eq!(
        job.result.as_ref().unwrap()["reverse"]["kind"],
        "tenants.resume"
    );
    h.fleet.set_faults(&stuck, quick_drains()).await.unwrap();
    let (_, r) = start(&h, JobKind::TenantsResume, json!({ "tenant": "t-00001" }))
        .await
        .unwrap();
    let job = wait_terminal(&h.jobs, &r.job_id, Duration::from_secs(30)).await;
    assert_eq!(job.state, JobState::Succeeded, "{job:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_before_the_point_of_no_return_resumes_on_the_source() {
    let (store, _d) = embedded().await;
    let h = harness(store, 12).await;
    settled(&h, "t-00001", "a2").await;
    fault(
        &h,
        "a1",
        Faults {
            drain_ms: 4_000,
            ..Faults::default()
        },
    )
    .await;
    let rev = placement(&h).revision;
    let (_, c) = start(&h, JobKind::TenantsMigrate, migrate_input("t-00001", "a2"))
        .await
        .unwrap();
    let start_t = Instant::now();
    loop {
        let j = h.jobs.get(&c.job_id).await.unwrap();
        if j.steps
            .iter()
            .any(|s| s.name.starts_with("drain:") && s.state == StepState::Running)
        {
            break;
        }
        assert!(start_t.elapsed() < Duration::from_secs(10), "{j:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.jobs
        .cancel(&caller(), &c.job_id, "wrong tenant")
        .await
        .unwrap();
    let job = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(30)).await;
    assert_eq!(job.state, JobState::Cancelled, "{job:#?}");
    let undo: Vec<_> = job
        .steps
        .iter()
        .filter(|s| s.name.starts_with("undo:resume:"))
        .collect();
    assert_eq!(undo.len(), 2);
    assert!(
        undo.iter().all(|s| s.state == StepState::Succeeded),
        "{undo:#?}"
    );
    assert_eq!(placement(&h).revision, rev, "nothing written");
    // The source instances serve the tenant again.
    let eff = effects(&h);
    let resumed = eff.keys().filter(|k| k.contains(job.id.as_str())).count();
    assert!(resumed >= 2, "{eff:#?}");
    assert!(
        job.result.as_ref().unwrap().get("reverse").is_none(),
        "walked back already"
    );
}

/// 200 tenants on a0 spread over a1 and a2; a2 goes down mid-way. The
/// report names each tenant's outcome, and each is in one consistent place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_evacuation_with_a_target_failing_midway_reports_each_tenant() {
    let (store, _d) = embedded().await;
    let h = harness(store, 600).await;
    settled(&h, "t-00001", "a2").await;
    let before = placement(&h);
    let on_a0: Vec<String> = before
        .aggregate_placement
        .tenants
        .iter()
        .filter(|(_, s)| s.as_str() == "a0")
        .map(|(t, _)| t.as_str().to_owned())
        .collect();
    assert_eq!(on_a0.len(), 200);
    // a0 is the default shard: make a1 the default first (a job too).
    let (_, d) = start(
        &h,
        JobKind::PlacementSetDefault,
        json!({ "kind": "aggregate", "shard": "a1" }),
    )
    .await
    .unwrap();
    let j = wait_terminal(&h.jobs, &d.job_id, Duration::from_secs(30)).await;
    assert_eq!(j.state, JobState::Succeeded, "{j:#?}");
    settled(&h, "t-00001", "a2").await;
    let input =
        json!({ "kind": "aggregate", "shard": "a0", "targets": ["a1", "a2"], "concurrency": 8 });
    let (plan, c) = start(&h, JobKind::ShardsEvacuate, input).await.unwrap();
    assert_eq!(plan.moves().len(), 200);
    // Let some moves finish, then take a2 down.
    let t0 = Instant::now();
    loop {
        let j = h.jobs.get(&c.job_id).await.unwrap();
        if j.progress().items.is_some_and(|i| i.done >= 40) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", j.progress());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fault(
        &h,
        "a2",
        Faults {
            down: true,
            ..quick_drains()
        },
    )
    .await;
    let job = wait_terminal(&h.jobs, &c.job_id, Duration::from_secs(240)).await;
    assert_eq!(job.state, JobState::Failed, "{:#?}", job.error);
    assert_eq!(job.error.as_ref().unwrap().code, "evacuation_incomplete");
    let report = &job.result.as_ref().unwrap()["evacuation"];
    let tenants = report["tenants"].as_object().unwrap();
    assert_eq!(tenants.len(), 200);
    let after = placement(&h);
    let (mut moved, mut not_moved) = (0, 0);
    for (tenant, o) in tenants {
        let now = shard_of(&after, tenant).unwrap();
        let target = o["target"].as_str().unwrap();
        match o["outcome"].as_str().unwrap() {
            "moved" => {
                moved += 1;
                assert_eq!(now.as_str(), target, "{tenant}");
            }
            "failed_after_move" => assert_eq!(now.as_str(), target, "{tenant}: {o}"),
            _ => {
                not_moved += 1;
                assert_eq!(now.as_str(), "a0", "{tenant}: {o}");
            }
        }
    }
    assert!(
        moved >= 40 && not_moved > 0,
        "moved {moved}, not moved {not_moved}"
    );
    assert_eq!(report["moved"], moved);
    // Every tenant to a1 moved (a1 stayed healthy).
    for (tenant, o) in tenants {
        if o["target"] == "a1" {
            assert_eq!(o["outcome"], "moved", "{tenant}: {o}");
        }
    }
    // No move ran a placement write twice: one revision per moved tenant
    // (plus the default change).
    let failed_after = tenants
        .values()
        .filter(|o| o["outcome"] == "failed_after_move")
        .count();
    assert_eq!(
        after.revision,
        before.revision + 1 + moved as u64 + failed_after as u64
    );
}

/// The documents in NATS KV (watched), the plan made, then another NATS
/// client moves another tenant: the job is refused `plan_stale`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_placement_change_in_nats_kv_by_another_client_makes_the_plan_stale() {
    let Some(url) = test_support::nats_url("moves::kv_plan_stale") else {
        return;
    };
    let connect = |name: &'static str| {
        let url = url.clone();
        async move {
            NatsStore::connect(&NatsOptions {
                url,
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap()
        }
    };
    let b: [u8; 6] = rand::random();
    let ns: String = format!(
        "k{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    );
    let store: Arc<dyn Substrate> =
        Arc::new(Namespaced::new(Arc::new(connect("control").await), &ns).unwrap());
    let other: Arc<dyn Substrate> =
        Arc::new(Namespaced::new(Arc::new(connect("other-writer").await), &ns).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology {
        workers: vec![ServiceKind::Aggregate],
        shards: 3,
        replicas: 1,
        tenants: 6,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, dir.path(), 0).await.unwrap();
    // Seed KV from the simulator's files.
    let files = DocWriter::files(fleet.placement_path.clone(), fleet.routing_path.clone());
    let kv = DocWriter::kv(store.clone());
    let (map, _) = files.read_placement(ServiceKind::Aggregate).await.unwrap();
    kv.write_placement(ServiceKind::Aggregate, &map, 0, &test_meta())
        .await
        .unwrap();
    let (routing, _) = files.read_routing().await.unwrap();
    kv.write_routing(&routing, 0, &test_meta()).await.unwrap();
    let docs = FleetDocs::from_kv(store.clone());
    let health = HealthPoller::start(docs.clone(), PollerConfig::default());
    let service = FleetService { docs, health };
    let jobs = jobs_for(&store, &service, kv);
    let input = migrate_input("t-00001", "a2");
    let plan = {
        let start = Instant::now();
        loop {
            let p = jobs.plan(&caller(), JobKind::TenantsMigrate, &input).await;
            match p {
                Ok(p) if p.revisions.placement.get(&ServiceKind::Aggregate) > Some(&0) => break p,
                _ => {
                    assert!(start.elapsed() < Duration::from_secs(10), "{p:?}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    let other_writer = DocWriter::kv(other);
    let (mut m, rev) = other_writer
        .read_placement(ServiceKind::Aggregate)
        .await
        .unwrap();
    m.tenants.insert(t("t-00004"), shard("a0"));
    let next = other_writer
        .write_placement(ServiceKind::Aggregate, &m, rev, &test_meta())
        .await
        .unwrap();
    test_support::eventually(
        "the watch delivers the change",
        Duration::from_secs(5),
        || {
            (service.docs.current().placements[&ServiceKind::Aggregate]
                .1
                .revision
                == next)
                .then_some(())
        },
    )
    .await;
    let key = "\"kv-stale\"";
    let r = jobs
        .create(
            &caller(),
            JobKind::TenantsMigrate,
            CreateRequest {
                idempotency_key: Some(key),
                method: "POST",
                route: "/admin/v1/jobs/tenants.migrate",
                body: CreateJob {
                    reason: "moving a noisy tenant".into(),
                    input,
                    plan_hash: Some(plan.hash),
                },
            },
        )
        .await;
    assert!(matches!(r, Err(JobsError::PlanStale)), "{r:?}");
    // Refused before anything: no job, and the other writer's map stands.
    assert_eq!(jobs.list(&Default::default()).await.unwrap().total, 0);
    let (now, _) = DocWriter::kv(store)
        .read_placement(ServiceKind::Aggregate)
        .await
        .unwrap();
    assert_eq!(now, m);
}

/// Writes a test makes by hand, as an independent writer would.
fn test_meta() -> engine::config::store::WriteMeta {
    engine::config::store::WriteMeta {
        updated_by: "test".into(),
        job: None,
        reason: None,
    }
}
