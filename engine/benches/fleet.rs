//! Fleet benchmarks:
//! 1. one health sweep over 1,000 simulated endpoints, 2% black-holed,
//!    per-endpoint timeout 1 s: wall time (target ≤ 1.1 s) and CPU;
//! 2. placement with 100,000 tenants × 3 kinds: lookup p50/p99 (target
//!    ≤ 1 µs), memory, cold load, and KV update → new index served.
//!
//!   bash -c 'ulimit -n 65536; cargo bench -p engine --bench fleet'
//!
//! (1,000 listeners plus their connections need more than the default
//! 1,024 file descriptors.) The sweep's CPU figure includes the simulated
//! fleet, which runs in the same process.

use bytes::Bytes;
use engine::fleet::health::sweep;
use engine::fleet::{FleetDocs, PollerConfig};
use engine::store::embedded::EmbeddedStore;
use engine::store::{BucketOptions, Key, Substrate};
use model::fleet::{PlacementDoc, PlacementMap, RoutingDoc, ServiceKind, ShardId, TenantId};
use model::views::HealthStatus;
use sim::{Faults, Fleet, Topology};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn health_sweep() {
    let dir = tempfile::tempdir().unwrap();
    // 3 kinds × 111 shards × 3 replicas + 1 gateway = 1,000 endpoints.
    let topo = Topology {
        shards: 111,
        replicas: 3,
        tenants: 1000,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, dir.path(), 0)
        .await
        .expect("start 1,000 instances (raise ulimit -n)");
    let all = fleet.instances();
    assert_eq!(all.len(), 1000);
    for i in all.iter().step_by(50) {
        fleet
            .set_faults(
                &i.id,
                Faults {
                    black_hole: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let placement: PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    let routing: RoutingDoc =
        serde_json::from_slice(&std::fs::read(&fleet.routing_path).unwrap()).unwrap();
    let docs = FleetDocs::fixed(placement, routing);
    let cfg = PollerConfig {
        timeout: Duration::from_secs(1),
        concurrency: 256,
        ..PollerConfig::default()
    };
    let mut previous = std::collections::BTreeMap::new();
    for round in 0..4 {
        let (cpu0, t0) = (cpu_secs(), Instant::now());
        let results = sweep(docs.current(), Vec::new(), &cfg, &previous).await;
        let (wall, cpu) = (t0.elapsed(), cpu_secs() - cpu0);
        let timeouts = results
            .iter()
            .filter(|r| r.status == HealthStatus::Timeout)
            .count();
        let healthy = results
            .iter()
            .filter(|r| r.status == HealthStatus::Healthy)
            .count();
        println!(
            "sweep {round}{}: {} endpoints, {healthy} healthy, {timeouts} timed out; wall {:.0} ms (target ≤ 1100 ms); CPU {:.2} s (control + sim in one process)",
            if round == 0 { " (cold: no previous results)" } else { "" },
            results.len(),
            wall.as_secs_f64() * 1000.0,
            cpu
        );
        previous = results
            .into_iter()
            .map(|r| (r.endpoint.clone(), r))
            .collect();
    }
}

fn big_doc(n: usize) -> (PlacementDoc, RoutingDoc) {
    let mut doc = PlacementDoc {
        revision: 1,
        ..Default::default()
    };
    for kind in ServiceKind::WORKERS {
        let map = doc.map_mut(kind).unwrap();
        map.default_shard = Some(ShardId::parse("s0").unwrap());
        for i in 0..n {
            map.tenants.insert(
                TenantId::parse(&format!("t-{i:07}")).unwrap(),
                ShardId::parse(&format!("s{}", i % 64)).unwrap(),
            );
        }
    }
    (doc, RoutingDoc::default())
}

async fn placement_100k() {
    let n = 100_000;
    let rss0 = rss_mib();
    let (doc, routing) = big_doc(n);
    let rss_doc = rss_mib();
    let t0 = Instant::now();
    let docs = FleetDocs::fixed(doc, routing);
    let state = docs.current();
    let load = t0.elapsed();
    println!(
        "placement {n} tenants × 3 kinds: cold load (index build) {:.1} ms; RSS +{:.0} MiB for the documents, +{:.0} MiB for the index",
        load.as_secs_f64() * 1000.0,
        rss_doc - rss0,
        rss_mib() - rss_doc
    );
    let ids: Vec<TenantId> = (0..n)
        .step_by(7)
        .map(|i| TenantId::parse(&format!("t-{i:07}")).unwrap())
        .collect();
    let mut batches = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        for id in ids.iter().take(1000) {
            std::hint::black_box(state.shard_of(ServiceKind::Runner, id));
        }
        batches.push(t.elapsed() / 1000);
    }
    let p50 = pct(&mut batches.clone(), 0.5);
    let p99 = pct(&mut batches, 0.99);
    println!("lookup (kind, tenant) → shard: p50 {p50:?}, p99 {p99:?} per lookup (batches of 1,000; target p99 ≤ 1 µs)");

    // KV update → the new index is served.
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let docs = FleetDocs::from_kv(store.clone());
    let kv = store
        .kv(
            "placement",
            BucketOptions {
                history: 2,
                replicas: 1,
            },
        )
        .await
        .unwrap();
    let key = Key::parse("runner_placement").unwrap();
    let mut samples = Vec::new();
    let mut rx = docs.subscribe();
    for round in 0..20 {
        let map = PlacementMap {
            default_shard: Some(ShardId::parse("s0").unwrap()),
            tenants: (0..n)
                .map(|i| {
                    (
                        TenantId::parse(&format!("t-{i:07}")).unwrap(),
                        ShardId::parse(&format!("s{}", (i + round) % 64)).unwrap(),
                    )
                })
                .collect(),
        };
        let bytes = Bytes::from(serde_json::to_vec(&map).unwrap());
        let t = Instant::now();
        let rev = kv.put(&key, bytes).await.unwrap();
        loop {
            rx.changed().await.unwrap();
            if rx
                .borrow_and_update()
                .placement(ServiceKind::Runner)
                .unwrap()
                .1
                .revision
                == rev
            {
                break;
            }
        }
        samples.push(t.elapsed());
    }
    let p50 = pct(&mut samples.clone(), 0.5);
    let p99 = pct(&mut samples, 0.99);
    println!("KV update of a 100k-tenant map → new index served (embedded store): p50 {p50:?}, p99 {p99:?}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    placement_100k().await;
    health_sweep().await;
}
