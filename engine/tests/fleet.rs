//! The fleet against a real simulated fleet (sim) and the real stores.

use bytes::Bytes;
use engine::fleet::docs::{PLACEMENT_BUCKET, ROUTING_BUCKET, ROUTING_KEY};
use engine::fleet::{FleetDocs, HealthPoller, PollerConfig};
use engine::store::embedded::EmbeddedStore;
use engine::store::file_doc::write_atomic;
use engine::store::{BucketOptions, Key, Substrate};
use model::fleet::{PlacementDoc, PlacementMap, ServiceKind, ShardId, TenantId};
use model::views::{HealthStatus, SourceKind};
use sim::{Faults, Fleet, Topology};
use std::sync::Arc;
use std::time::Duration;
use test_support::eventually;

fn small() -> Topology {
    Topology {
        shards: 2,
        replicas: 2,
        tenants: 20,
        ..Topology::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_source_hot_reloads_and_keeps_the_last_good_document() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(&small(), dir.path(), 0).await.unwrap();
    let docs = FleetDocs::from_files(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        Duration::from_millis(20),
    );
    let st = docs.current();
    let (map, meta) = st.placement(ServiceKind::Aggregate).unwrap();
    assert_eq!(
        (map.tenants.len(), meta.revision, meta.source.kind),
        (20, 1, SourceKind::File)
    );
    let t = TenantId::parse("t-00003").unwrap();
    assert_eq!(
        st.shard_of(ServiceKind::Runner, &t).unwrap().0.as_str(),
        "r1"
    );

    let mut doc: PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    doc.revision = 2;
    doc.runner_placement
        .tenants
        .insert(t.clone(), ShardId::parse("r0").unwrap());
    write_atomic(&fleet.placement_path, &serde_json::to_vec(&doc).unwrap()).unwrap();
    eventually("revision 2", Duration::from_secs(5), || {
        (docs
            .current()
            .placement(ServiceKind::Runner)
            .unwrap()
            .1
            .revision
            == 2)
            .then_some(())
    })
    .await;
    assert_eq!(
        docs.current()
            .shard_of(ServiceKind::Runner, &t)
            .unwrap()
            .0
            .as_str(),
        "r0"
    );

    write_atomic(&fleet.placement_path, b"{ broken").unwrap();
    let st = eventually("parse error", Duration::from_secs(5), || {
        let s = docs.current();
        s.placement(ServiceKind::Runner)
            .unwrap()
            .1
            .error
            .is_some()
            .then_some(s)
    })
    .await;
    assert_eq!(
        st.placement(ServiceKind::Runner).unwrap().1.revision,
        2,
        "last good document kept"
    );
    assert_eq!(
        st.shard_of(ServiceKind::Runner, &t).unwrap().0.as_str(),
        "r0"
    );
}

fn uniform(tenants: usize, shard: &str) -> Bytes {
    let s = ShardId::parse(shard).unwrap();
    let m = PlacementMap {
        default_shard: Some(s.clone()),
        tenants: (0..tenants)
            .map(|i| (TenantId::parse(&format!("t-{i:05}")).unwrap(), s.clone()))
            .collect(),
    };
    Bytes::from(serde_json::to_vec(&m).unwrap())
}

async fn kv_source_follows_independent_writers(store: Arc<dyn Substrate>) {
    let docs = FleetDocs::from_kv(store.clone());
    let writer = store
        .kv(
            PLACEMENT_BUCKET,
            BucketOptions {
                history: 16,
                replicas: 1,
            },
        )
        .await
        .unwrap();
    let rev = writer
        .put(
            &Key::parse("aggregate_placement").unwrap(),
            uniform(50, "a1"),
        )
        .await
        .unwrap();
    let st = eventually("kv placement", Duration::from_secs(10), || {
        let s = docs.current();
        (s.placement(ServiceKind::Aggregate).unwrap().1.revision == rev).then_some(s)
    })
    .await;
    let (map, meta) = st.placement(ServiceKind::Aggregate).unwrap();
    assert_eq!(map.tenants.len(), 50);
    assert_eq!(meta.source.kind, SourceKind::Kv);
    assert_eq!(meta.source.backend, store.backend());

    // A value that does not decode keeps the previous map, with the error.
    writer
        .put(
            &Key::parse("aggregate_placement").unwrap(),
            Bytes::from_static(b"[1,2"),
        )
        .await
        .unwrap();
    let st = eventually("decode error", Duration::from_secs(10), || {
        let s = docs.current();
        s.placement(ServiceKind::Aggregate)
            .unwrap()
            .1
            .error
            .is_some()
            .then_some(s)
    })
    .await;
    assert_eq!(
        st.placement(ServiceKind::Aggregate)
            .unwrap()
            .0
            .tenants
            .len(),
        50
    );

    let routing = store
        .kv(
            ROUTING_BUCKET,
            BucketOptions {
                history: 16,
                replicas: 1,
            },
        )
        .await
        .unwrap();
    let r = routing
        .put(
            &Key::parse(ROUTING_KEY).unwrap(),
            Bytes::from_static(br#"{"aggregate":{"a1":{"endpoints":["http://127.0.0.1:1"]}}}"#),
        )
        .await
        .unwrap();
    eventually("kv routing", Duration::from_secs(10), || {
        (docs.current().routing.1.revision == r).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_source_embedded() {
    let dir = tempfile::tempdir().unwrap();
    kv_source_follows_independent_writers(Arc::new(EmbeddedStore::open(dir.path()).await.unwrap()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_source_nats() {
    let Some(url) = test_support::nats_url("kv_source_nats") else {
        return;
    };
    let store = engine::store::nats::NatsStore::connect(&engine::store::nats::NatsOptions {
        url,
        ..Default::default()
    })
    .await
    .unwrap();
    // Fresh buckets per run: the test writes the well-known bucket names.
    let _ = store.kv(PLACEMENT_BUCKET, BucketOptions::default()).await;
    kv_source_follows_independent_writers(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_half_applied_map() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let docs = FleetDocs::from_kv(store.clone());
    let kv = store
        .kv(
            PLACEMENT_BUCKET,
            BucketOptions {
                history: 4,
                replicas: 1,
            },
        )
        .await
        .unwrap();
    let key = Key::parse("aggregate_placement").unwrap();
    let (a, b) = (uniform(2000, "a0"), uniform(2000, "a1"));
    kv.put(&key, a.clone()).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (docs, stop) = (docs.clone(), stop.clone());
            tokio::task::spawn_blocking(move || {
                let mut checks = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let st = docs.current();
                    let (map, _) = st.placement(ServiceKind::Aggregate).unwrap();
                    let first = map.tenants.values().next().cloned();
                    assert!(
                        map.tenants.values().all(|s| Some(s) == first.as_ref()),
                        "mixed shards in one map"
                    );
                    if let Some(f) = &first {
                        // The index agrees with the map it was built from.
                        let t = TenantId::parse("t-01999").unwrap();
                        assert_eq!(st.shard_of(ServiceKind::Aggregate, &t).unwrap().0, f);
                    }
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    for i in 0..40 {
        kv.put(&key, if i % 2 == 0 { b.clone() } else { a.clone() })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 10);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_reports_down_timeout_unready_and_not_reloaded_while_the_rest_stay_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(&small(), dir.path(), 0).await.unwrap();
    let docs = FleetDocs::from_files(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        Duration::from_millis(50),
    );
    let poller = HealthPoller::start(
        docs.clone(),
        PollerConfig {
            interval: Duration::from_millis(400),
            timeout: Duration::from_millis(300),
            ..PollerConfig::default()
        },
    );
    let n = fleet.instances().len();
    let snap = eventually("first sweep", Duration::from_secs(5), || {
        let s = poller.snapshot();
        (s.instances.len() == n
            && s.instances
                .iter()
                .all(|i| i.status == HealthStatus::Healthy))
        .then_some(s)
    })
    .await;
    assert!(snap
        .instances
        .iter()
        .all(|i| i.version.as_deref() == Some("1.0.0") && !i.not_reloaded));

    let inst = fleet.instances();
    let by_kind =
        |k: ServiceKind, n: usize| inst.iter().filter(|i| i.kind == k).nth(n).unwrap().clone();
    let (down, slow, unready, stale) = (
        by_kind(ServiceKind::Aggregate, 0),
        by_kind(ServiceKind::Projection, 0),
        by_kind(ServiceKind::Runner, 0),
        by_kind(ServiceKind::Runner, 1),
    );
    fleet
        .set_faults(
            &down.id,
            Faults {
                down: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    fleet
        .set_faults(
            &slow.id,
            Faults {
                black_hole: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    fleet
        .set_faults(
            &unready.id,
            Faults {
                unready: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    fleet
        .set_faults(
            &stale.id,
            Faults {
                stale_revision: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut doc: PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    doc.revision += 1;
    write_atomic(&fleet.placement_path, &serde_json::to_vec(&doc).unwrap()).unwrap();

    let url = |i: &sim::InstanceInfo| format!("http://{}", i.addr);
    let marked_at = engine_now();
    let faulty = [url(&down), url(&slow), url(&unready), url(&stale)];
    let snap = eventually("faults visible", Duration::from_secs(5), || {
        let s = poller.snapshot();
        let get = |u: String| s.instances.iter().find(|i| i.endpoint == u).cloned();
        let ok = get(url(&down)).is_some_and(|i| i.status == HealthStatus::Down)
            && get(url(&slow)).is_some_and(|i| i.status == HealthStatus::Timeout)
            && get(url(&unready)).is_some_and(|i| i.status == HealthStatus::Unready)
            && get(url(&stale)).is_some_and(|i| i.not_reloaded);
        // Healthy workers pick the new placement up within a tick or two.
        let others_reloaded = s
            .instances
            .iter()
            .filter(|i| {
                i.kind != ServiceKind::Gateway
                    && i.status == HealthStatus::Healthy
                    && i.endpoint != url(&stale)
            })
            .all(|i| !i.not_reloaded);
        (ok && others_reloaded).then_some(s)
    })
    .await;
    // Everything else is healthy and was probed after the faults; the
    // gateway keeps the old placement until it is told to reload.
    for i in snap
        .instances
        .iter()
        .filter(|i| !faulty.contains(&i.endpoint))
    {
        assert_eq!(i.status, HealthStatus::Healthy, "{}", i.endpoint);
        assert!(
            !i.not_reloaded || i.kind == ServiceKind::Gateway,
            "{} not reloaded",
            i.endpoint
        );
        assert!(
            i.checked_at_ms + 1000 >= marked_at,
            "{} stale datum",
            i.endpoint
        );
    }
    let d = snap
        .instances
        .iter()
        .find(|i| i.endpoint == url(&down))
        .unwrap();
    assert!(d.last_error.is_some());
    let summary = snap.summary();
    assert!(summary
        .iter()
        .any(|k| k.kind == ServiceKind::Runner && k.unhealthy == 1 && k.not_reloaded >= 1));
}

fn engine_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
