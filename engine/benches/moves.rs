//! Moves: plan computation for one tenant and for evacuating a 5,000-tenant
//! shard (p50/p99), and evacuating a 1,000-tenant shard with concurrency 32
//! against the simulator (wall time, CPU of this process — the control
//! plane's engine and the simulated fleet share it —, moves lost or
//! duplicated, counted in the placement document and at the instances).
//!
//!   bash -c 'ulimit -n 65536; cargo bench -p engine --bench moves'

use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::fleet::writer::DocWriter;
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
use engine::gates::{GateContext, Thresholds};
use engine::gateway::GatewayClient;
use engine::identity::{AccessToken, Caller, Identity};
use engine::jobs::{CreateRequest, JobSettings, Jobs};
use engine::moves::{MoveSettings, Moves};
use engine::store::embedded::EmbeddedStore;
use engine::store::Substrate;
use engine::token::Principal;
use model::fleet::{PlacementDoc, ServiceKind};
use model::jobs::{CreateJob, JobKind, JobState};
use model::rights::Grants;
use serde_json::json;
use sim::{Faults, Fleet, Topology};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// utime + stime of this process (Linux `/proc/self/stat`, in ticks of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
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

struct Setup {
    fleet: Fleet,
    jobs: Jobs,
    _dir: tempfile::TempDir,
}

async fn setup(shards: usize, tenants: usize, max_draining: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology {
        workers: vec![ServiceKind::Aggregate],
        gateways: 1,
        shards,
        replicas: 2,
        tenants,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, dir.path(), 0).await.unwrap();
    for i in fleet.instances() {
        fleet
            .set_faults(
                &i.id,
                Faults {
                    drain_ms: 200,
                    ..Faults::default()
                },
            )
            .await
            .unwrap();
    }
    let docs = FleetDocs::from_files(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        Duration::from_millis(100),
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
        b"moves-bench-chain-key-0123456789",
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
            fleet: service.clone(),
            http: GatewayClient::new("http://127.0.0.1:1", Duration::from_secs(5)).unwrap(),
            jobs: cell.clone(),
            thresholds: engine::gates::fixed_thresholds(Thresholds {
                max_draining_tenants: max_draining as u64,
                ..Thresholds::default()
            }),
        },
        writer: DocWriter::files(fleet.placement_path.clone(), fleet.routing_path.clone()),
        settings: MoveSettings {
            poll: Duration::from_millis(50),
            error_window: Duration::from_millis(300),
            ..MoveSettings::default()
        },
    });
    let jobs = Jobs::new(
        store,
        actions,
        engine::moves::workflows(core),
        JobSettings {
            poll: Duration::from_millis(100),
            max_running: 128,
            ..JobSettings::default()
        },
    );
    let _ = cell.set(jobs.clone());
    // Detached: the runner lives as long as the test runtime.
    drop(jobs.start());
    Setup {
        fleet,
        jobs,
        _dir: dir,
    }
}

async fn unblocked(jobs: &Jobs, kind: JobKind, input: &serde_json::Value) {
    let start = Instant::now();
    loop {
        let p = jobs.plan(&caller(), kind, input).await.unwrap();
        if !p.blocked {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            p.gates.iter().filter(|g| !g.pass).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn plans() {
    // 10,000 tenants over 2 shards: 5,000 on a0.
    let s = setup(2, 10_000, 32).await;
    let tenant = json!({ "tenant": "t-00001", "kind": "aggregate", "target": "a0" });
    unblocked(&s.jobs, JobKind::TenantsMigrate, &tenant).await;
    let mut one = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        s.jobs
            .plan(&caller(), JobKind::TenantsMigrate, &tenant)
            .await
            .unwrap();
        one.push(t.elapsed());
    }
    let evac = json!({ "kind": "aggregate", "shard": "a0", "targets": ["a1"], "concurrency": 32 });
    let mut all = Vec::new();
    let mut moves = 0;
    for _ in 0..50 {
        let t = Instant::now();
        let p = s
            .jobs
            .plan(&caller(), JobKind::ShardsEvacuate, &evac)
            .await
            .unwrap();
        all.push(t.elapsed());
        moves = p.moves().len();
    }
    println!(
        "plan tenants.migrate (1 tenant, 10,000 placed): p50 {:?}, p99 {:?} over {} plans",
        pct(&mut one, 0.5),
        pct(&mut one, 0.99),
        one.len()
    );
    println!(
        "plan shards.evacuate ({moves} tenants): p50 {:?}, p99 {:?} over {} plans",
        pct(&mut all, 0.5),
        pct(&mut all, 0.99),
        all.len()
    );
}

async fn evacuate() {
    // 3,000 tenants over 3 shards: 1,000 on a0, moved to a1 and a2.
    let s = setup(3, 3_000, 32).await;
    let input =
        json!({ "kind": "aggregate", "shard": "a0", "targets": ["a1", "a2"], "concurrency": 32 });
    // a0 is the default shard: make a1 the default first.
    let default = json!({ "kind": "aggregate", "shard": "a1" });
    unblocked(&s.jobs, JobKind::PlacementSetDefault, &default).await;
    run(&s, JobKind::PlacementSetDefault, default).await;
    unblocked(&s.jobs, JobKind::ShardsEvacuate, &input).await;
    let before: PlacementDoc =
        serde_json::from_slice(&std::fs::read(&s.fleet.placement_path).unwrap()).unwrap();
    let (t0, c0) = (Instant::now(), cpu());
    let job = run(&s, JobKind::ShardsEvacuate, input).await;
    let (wall, cpu_used) = (t0.elapsed(), cpu() - c0);
    let after: PlacementDoc =
        serde_json::from_slice(&std::fs::read(&s.fleet.placement_path).unwrap()).unwrap();
    let report = &job.result.as_ref().unwrap()["evacuation"];
    let moved = report["moved"].as_u64().unwrap_or(0);
    let left_on_a0 = after
        .aggregate_placement
        .tenants
        .values()
        .filter(|s| s.as_str() == "a0")
        .count();
    // Each move writes the placement once: revisions = moves exactly.
    let writes = after.revision - before.revision;
    // Each drain/resume/reload marker applied exactly once at the instances.
    let (mut markers, mut twice) = (0, 0);
    for (_, by_marker) in s.fleet.effects() {
        for (_, e) in by_marker {
            markers += 1;
            if e.applied != 1 {
                twice += 1;
            }
        }
    }
    println!(
        "evacuate 1,000 tenants, concurrency 32: {:?} wall, {:?} CPU (engine + simulated fleet, one process), state {:?}, moved {moved}, left on a0 {left_on_a0}, placement writes {writes}, effects {markers} with {twice} not applied exactly once",
        wall, cpu_used, job.state
    );
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!((moved, left_on_a0, writes), (1_000, 0, 1_000));
    assert_eq!(twice, 0);
}

async fn run(s: &Setup, kind: JobKind, input: serde_json::Value) -> model::jobs::Job {
    let plan = s.jobs.plan(&caller(), kind, &input).await.unwrap();
    let key = format!("\"{}\"", rand::random::<u64>());
    let c = s
        .jobs
        .create(
            &caller(),
            kind,
            CreateRequest {
                idempotency_key: Some(&key),
                method: "POST",
                route: &format!("/admin/v1/jobs/{kind}"),
                body: CreateJob {
                    reason: "benchmark".into(),
                    input,
                    plan_hash: Some(plan.hash),
                },
            },
        )
        .await
        .unwrap();
    loop {
        let j = s.jobs.get(&c.job_id).await.unwrap();
        if j.state.is_terminal() {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    plans().await;
    evacuate().await;
}
