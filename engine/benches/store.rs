//! Store benchmark: get / put / CAS latency (p50, p99) and throughput for
//! both backends, and watch propagation (update → watcher sees it) for both
//! backends and for a bare async-nats KV watch (the floor).
//!
//!   CONTROL_TEST_NATS_URL=nats://127.0.0.1:4222 cargo bench -p engine --bench store
//!
//! Without CONTROL_TEST_NATS_URL only the embedded backend is measured.
//! BENCH_OPS (default 2000) sets the operations per measurement.

use bytes::Bytes;
use engine::store::embedded::EmbeddedStore;
use engine::store::nats::{NatsOptions, NatsStore};
use engine::store::{BucketOptions, Key, KeyPrefix, Kv, Substrate};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(backend: &str, what: &str, mut samples: Vec<Duration>, total: Duration) {
    samples.sort();
    println!(
        "{backend:<10} {what:<22} n={:<6} p50={:>9.1?} p99={:>9.1?} throughput={:>8.0} ops/s",
        samples.len(),
        pct(&samples, 0.50),
        pct(&samples, 0.99),
        samples.len() as f64 / total.as_secs_f64()
    );
}

async fn timed<F, Fut>(n: usize, mut f: F) -> (Vec<Duration>, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut v = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        v.push(t.elapsed());
    }
    (v, start.elapsed())
}

async fn ops(backend: &str, store: &dyn Substrate, n: usize) {
    let kv = store
        .kv(
            &format!("bench_{}", std::process::id()),
            BucketOptions {
                history: 4,
                replicas: 1,
            },
        )
        .await
        .unwrap();
    let keys: Vec<Key> = (0..100)
        .map(|i| Key::parse(&format!("k.{i}")).unwrap())
        .collect();
    let value = Bytes::from(vec![7u8; 256]);
    let (s, t) = timed(n, |i| {
        let (kv, k, v) = (kv.clone(), keys[i % keys.len()].clone(), value.clone());
        async move {
            kv.put(&k, v).await.unwrap();
        }
    })
    .await;
    report(backend, "put 256 B", s, t);
    let (s, t) = timed(n, |i| {
        let (kv, k) = (kv.clone(), keys[i % keys.len()].clone());
        async move {
            kv.get(&k).await.unwrap().unwrap();
        }
    })
    .await;
    report(backend, "get", s, t);
    let cas = Key::parse("cas").unwrap();
    let mut rev = kv.put(&cas, value.clone()).await.unwrap();
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        rev = kv.update(&cas, value.clone(), rev).await.unwrap();
        samples.push(t.elapsed());
    }
    report(backend, "cas update", samples, start.elapsed());
}

/// Update → our watch stream delivers it.
async fn watch_latency(backend: &str, kv: Arc<dyn Kv>, n: usize) -> Vec<Duration> {
    let key = Key::parse("w.key").unwrap();
    kv.put(&key, Bytes::from_static(b"0")).await.unwrap();
    let mut w = kv
        .watch(&KeyPrefix::parse("w.").unwrap(), None)
        .await
        .unwrap();
    w.next().await.unwrap().unwrap(); // initial state
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let rev = kv.put(&key, Bytes::from(i.to_string())).await.unwrap();
        loop {
            let e = w.next().await.unwrap().unwrap();
            if e.revision() == rev {
                break;
            }
        }
        samples.push(t.elapsed());
    }
    let total: Duration = samples.iter().sum();
    report(backend, "watch propagation", samples.clone(), total);
    samples
}

/// The same measurement on a bare async-nats KV watch.
async fn bare_nats_watch_latency(url: &str, n: usize) -> Vec<Duration> {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let kv = js
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: format!("bench_bare_{}", std::process::id()),
            history: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    kv.put("w.key", Bytes::from_static(b"0")).await.unwrap();
    let mut w = kv.watch("w.>").await.unwrap();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let rev = kv.put("w.key", Bytes::from(i.to_string())).await.unwrap();
        loop {
            let e = w.next().await.unwrap().unwrap();
            if e.revision == rev {
                break;
            }
        }
        samples.push(t.elapsed());
    }
    let total: Duration = samples.iter().sum();
    report("bare-nats", "watch propagation", samples.clone(), total);
    samples
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(dir.path()).await.unwrap();
    ops("embedded", &embedded, n).await;
    let ekv = embedded
        .kv("bench_watch", BucketOptions::default())
        .await
        .unwrap();
    watch_latency("embedded", ekv, n / 4).await;

    let Ok(url) = std::env::var("CONTROL_TEST_NATS_URL") else {
        println!("nats: SKIPPED (set CONTROL_TEST_NATS_URL)");
        return;
    };
    let nats = NatsStore::connect(&NatsOptions {
        url: url.clone(),
        name: "bench".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    ops("nats", &nats, n).await;
    let nkv = nats
        .kv(
            &format!("bench_watch_{}", std::process::id()),
            BucketOptions::default(),
        )
        .await
        .unwrap();
    let mut ours = watch_latency("nats", nkv, n / 2).await;
    let mut bare = bare_nats_watch_latency(&url, n / 2).await;
    ours.sort();
    bare.sort();
    let mut ratios = HashMap::new();
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        ratios.insert(
            name,
            pct(&ours, p).as_secs_f64() / pct(&bare, p).as_secs_f64(),
        );
    }
    println!(
        "nats watch vs bare async-nats watch: p50 ×{:.2}, p99 ×{:.2} (target p99 ≤ ×1.5)",
        ratios["p50"], ratios["p99"]
    );
}
