//! The config registry: validate and plan a change of a 100,000-tenant
//! placement document (p50/p99), and apply one end to end against the
//! simulator (wall time from create to every gateway and worker reporting
//! the new revision and the sampled resolutions verified: the job's end).
//!
//!   bash -c 'ulimit -n 65536; cargo bench -p engine --bench config'

use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::config::file::FileConfigStore;
use engine::config::{FlowSettings, Registry};
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
use engine::gates::{GateContext, Thresholds};
use engine::gateway::GatewayClient;
use engine::identity::{AccessToken, Caller, Identity};
use engine::jobs::{CreateRequest, JobSettings, Jobs};
use engine::store::embedded::EmbeddedStore;
use engine::store::Substrate;
use engine::token::Principal;
use model::config::{ConfigId, Domain, Scope, ValidateRequest};
use model::fleet::{PlacementDoc, ServiceKind};
use model::jobs::{CreateJob, JobKind, JobState};
use model::rights::Grants;
use serde_json::json;
use sim::{Fleet, Topology};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn caller() -> Caller {
    Caller {
        identity: Some(Arc::new(Identity {
            principal: Principal {
                sub: "bench".into(),
                session_id: "s".into(),
            },
            username: "bench".into(),
            display_name: "bench".into(),
            roles: vec![],
            grants: Grants(vec!["*".into()]),
            token: AccessToken::new("t"),
        })),
        request_id: "req_bench".into(),
        correlation_id: "cor_bench".into(),
        traceparent: String::new(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        tenant: None,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let tenants = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology {
        workers: vec![ServiceKind::Aggregate],
        gateways: 2,
        shards: 4,
        replicas: 2,
        tenants,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let docs = FleetDocs::from_files(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        Duration::from_millis(200),
    );
    let health = HealthPoller::start(
        docs.clone(),
        PollerConfig {
            interval: Duration::from_millis(500),
            ..PollerConfig::default()
        },
    );
    let service = FleetService { docs, health };
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let audit = Arc::new(AuditLog::lazy(
        store.clone(),
        b"config-bench-chain-key-0123456789",
    ));
    let actions = Actions::new(
        audit,
        store.clone(),
        Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    let source = Arc::new(FileConfigStore::new(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        dir.path().join("config"),
    ));
    let registry = Registry::new(
        source,
        store.clone(),
        actions.clone(),
        Thresholds::default(),
        Default::default(),
    );
    let cell = Arc::new(OnceLock::new());
    let gates = GateContext {
        fleet: service,
        http: GatewayClient::new("http://127.0.0.1:1", Duration::from_secs(5)).unwrap(),
        jobs: cell.clone(),
        thresholds: registry.thresholds(),
    };
    let jobs = Jobs::new(
        store,
        actions,
        engine::config::workflows(
            registry.clone(),
            gates,
            FlowSettings {
                load_timeout: Duration::from_secs(60),
                poll: Duration::from_millis(50),
                verify_sample: 20,
            },
        ),
        JobSettings {
            poll: Duration::from_millis(50),
            ..JobSettings::default()
        },
    );
    let _ = cell.set(jobs.clone());
    drop(jobs.start());

    // The change: 100 tenants of a0 moved to a1.
    let base: PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    let mut doc = serde_json::to_value(&base.aggregate_placement).unwrap();
    let on_a0: Vec<String> = base
        .aggregate_placement
        .tenants
        .iter()
        .filter(|(_, s)| s.as_str() == "a0")
        .map(|(t, _)| t.to_string())
        .take(100)
        .collect();
    for t in &on_a0 {
        doc["tenants"][t] = json!("a1");
    }
    let text = serde_json::to_string_pretty(&doc).unwrap();
    println!(
        "placement document: {} tenants, {} bytes pretty",
        base.aggregate_placement.tenants.len(),
        text.len()
    );

    let req = ValidateRequest {
        domain: Domain::Placement,
        name: "placement".into(),
        scope: Scope::Kind(ServiceKind::Aggregate),
        text: Some(text),
        document: None,
    };
    let mut v = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let r = registry.validate(&req).await.unwrap();
        v.push(t.elapsed());
        assert!(r.valid, "{:?}", r.issues);
    }
    println!(
        "validate (text, 100,000 tenants: parse, lines, schema, rules): p50 {:?}, p99 {:?} over {} runs",
        pct(&mut v, 0.5),
        pct(&mut v, 0.99),
        v.len()
    );

    let input = json!({"domain": "placement", "name": "placement", "scope": "kind:aggregate", "document": doc});
    let mut v = Vec::new();
    let mut plan = None;
    for _ in 0..30 {
        let t = Instant::now();
        let p = jobs
            .plan(&caller(), JobKind::ConfigApply, &input)
            .await
            .unwrap();
        v.push(t.elapsed());
        plan = Some(p);
    }
    let plan = plan.unwrap();
    println!(
        "plan config.apply (100 of 100,000 tenants moved: diff, impact, gates, steps): p50 {:?}, p99 {:?} over {} plans; moved {}, {} steps",
        pct(&mut v, 0.5),
        pct(&mut v, 0.99),
        v.len(),
        plan.change.as_ref().unwrap().impact.tenants_moved,
        plan.steps.len()
    );

    // Apply end to end: wait for the gates (health probed) first.
    let start = Instant::now();
    let plan = loop {
        let p = jobs
            .plan(&caller(), JobKind::ConfigApply, &input)
            .await
            .unwrap();
        if !p.blocked {
            break p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            p.gates.iter().filter(|g| !g.pass).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let t = Instant::now();
    let c = jobs
        .create(
            &caller(),
            JobKind::ConfigApply,
            CreateRequest {
                idempotency_key: Some("\"bench-apply\""),
                method: "POST",
                route: "/admin/v1/jobs/config.apply",
                body: CreateJob {
                    reason: "benchmark apply".into(),
                    input: input.clone(),
                    plan_hash: Some(plan.hash.clone()),
                },
            },
        )
        .await
        .unwrap();
    let job = loop {
        let j = jobs.get(&c.job_id).await.unwrap();
        if j.state.is_terminal() {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wall = t.elapsed();
    assert_eq!(job.state, JobState::Succeeded, "{job:#?}");
    let created = job.created_ms;
    for s in &job.steps {
        if let (Some(a), Some(b)) = (s.started_ms, s.finished_ms) {
            println!(
                "  step {:<44} starts +{:>6} ms, takes {:>6} ms",
                s.name,
                a - created,
                b - a
            );
        }
    }
    let after = registry
        .get(&ConfigId::placement(ServiceKind::Aggregate), None)
        .await
        .unwrap();
    let instances = fleet.instances().len();
    let loaded = fleet
        .instances()
        .iter()
        .filter(|i| i.loaded_placement_revision == Some(after.summary.meta.revision))
        .count();
    println!(
        "apply config.apply end to end ({} steps, {instances} instances): {wall:?} wall from create to every instance reporting revision {} ({loaded}/{instances} report it now) and the sample verified",
        job.steps.len(),
        after.summary.meta.revision
    );
}
