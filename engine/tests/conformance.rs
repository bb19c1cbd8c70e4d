//! One suite, two backends: every test below runs against the embedded
//! store and against a real nats-server (CONTROL_TEST_NATS_URL; started by
//! scripts/test.sh). The NATS half prints a loud SKIPPED line when no server
//! is given, and fails instead under CI=true.

use bytes::Bytes;
use engine::store::embedded::EmbeddedStore;
use engine::store::nats::{NatsOptions, NatsStore};
use engine::store::{BucketOptions, Key, KeyPrefix, Kv, KvEvent, StoreError, Substrate, TypedKv};
use futures::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Backend {
    pub store: Arc<dyn Substrate>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    Backend {
        store: Arc::new(EmbeddedStore::open(dir.path()).await.unwrap()),
        _dir: Some(dir),
    }
}

pub async fn nats(test: &str) -> Option<Backend> {
    let url = test_support::nats_url(&format!("nats::{test}"))?;
    let store = NatsStore::connect(&NatsOptions {
        url,
        name: "control-conformance".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    Some(Backend {
        store: Arc::new(store),
        _dir: None,
    })
}

/// A bucket or log name no other test (or earlier run) uses.
pub fn unique(stem: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{stem}_{}_{}",
        t % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn k(s: &str) -> Key {
    Key::parse(s).unwrap()
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn bucket(s: &dyn Substrate, history: u8) -> Arc<dyn Kv> {
    s.kv(
        &unique("t"),
        BucketOptions {
            history,
            replicas: 1,
        },
    )
    .await
    .unwrap()
}

async fn next_event(w: &mut engine::store::WatchStream) -> KvEvent {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("watch event within 10 s")
        .expect("watch stream open")
        .expect("watch event ok")
}

async fn no_event(w: &mut engine::store::WatchStream) {
    if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), w.next()).await {
        panic!("unexpected watch event {e:?}");
    }
}

pub async fn cas_success_and_conflict(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 8).await;
    let r1 = kv.create(&k("a"), b("1")).await.unwrap();
    assert_eq!(
        kv.create(&k("a"), b("x")).await,
        Err(StoreError::AlreadyExists)
    );
    let r2 = kv.update(&k("a"), b("2"), r1).await.unwrap();
    assert!(r2 > r1);
    assert_eq!(
        kv.update(&k("a"), b("3"), r1).await,
        Err(StoreError::Conflict { current: Some(r2) })
    );
    let e = kv.get(&k("a")).await.unwrap().unwrap();
    assert_eq!((e.value, e.revision), (b("2"), r2));
    assert_eq!(
        kv.update(&k("nope"), b("1"), 1).await,
        Err(StoreError::NotFound)
    );
    let r3 = kv.put(&k("a"), b("4")).await.unwrap();
    assert!(r3 > r2);
    assert_eq!(kv.get(&k("missing")).await.unwrap(), None);
}

pub async fn create_race_has_one_winner(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 8).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move {
                kv.create(&k("lock.tenant-1"), b(&format!("owner-{i}")))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::AlreadyExists) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
}

pub async fn cas_race_has_one_winner(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 8).await;
    let r = kv.create(&k("counter"), b("0")).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move { kv.update(&k("counter"), b(&i.to_string()), r).await })
        })
        .collect();
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    let winner = results
        .iter()
        .find_map(|r| r.as_ref().ok().copied())
        .unwrap();
    for r in results.iter().filter(|r| r.is_err()) {
        assert_eq!(
            r,
            &Err(StoreError::Conflict {
                current: Some(winner)
            })
        );
    }
}

pub async fn watch_yields_initial_state_then_changes_in_order(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 8).await;
    let ra = kv.put(&k("t.a"), b("a1")).await.unwrap();
    kv.put(&k("t.b"), b("b1")).await.unwrap();
    let rc = kv.put(&k("t.c"), b("c1")).await.unwrap();
    kv.delete(&k("t.b"), None).await.unwrap();
    kv.put(&k("other.x"), b("x")).await.unwrap();
    let mut w = kv
        .watch(&KeyPrefix::parse("t.").unwrap(), None)
        .await
        .unwrap();
    let first = next_event(&mut w).await;
    let second = next_event(&mut w).await;
    assert_eq!((first.key(), first.revision()), ("t.a", ra));
    assert_eq!((second.key(), second.revision()), ("t.c", rc));
    no_event(&mut w).await;
    let r = kv.put(&k("t.a"), b("a2")).await.unwrap();
    kv.put(&k("other.y"), b("y")).await.unwrap();
    kv.delete(&k("t.c"), None).await.unwrap();
    let e = next_event(&mut w).await;
    assert!(
        matches!(&e, KvEvent::Put(p) if p.key == "t.a" && p.value == b("a2") && p.revision == r)
    );
    let e = next_event(&mut w).await;
    assert!(matches!(&e, KvEvent::Delete { key, revision } if key == "t.c" && *revision > r));
    no_event(&mut w).await;
}

pub async fn watch_resumes_from_a_revision(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 8).await;
    let mut revs = Vec::new();
    for i in 0..5 {
        revs.push(
            kv.put(&k(&format!("k{}", i % 2)), b(&i.to_string()))
                .await
                .unwrap(),
        );
    }
    let mut w = kv.watch(&KeyPrefix::All, Some(revs[1])).await.unwrap();
    for want in &revs[2..] {
        assert_eq!(next_event(&mut w).await.revision(), *want);
    }
    no_event(&mut w).await;
    let r = kv.put(&k("k9"), b("9")).await.unwrap();
    assert_eq!(next_event(&mut w).await.revision(), r);
}

pub async fn history_is_bounded_by_depth(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 3).await;
    let mut last = 0;
    for i in 0..5 {
        last = kv.put(&k("h"), b(&i.to_string())).await.unwrap();
    }
    kv.put(&k("other"), b("o")).await.unwrap();
    let h = kv.history(&k("h")).await.unwrap();
    assert_eq!(h.len(), 3, "{h:?}");
    assert_eq!(h.last().unwrap().revision(), last);
    assert!(matches!(&h[0], KvEvent::Put(e) if e.value == b("2")));
    kv.delete(&k("h"), None).await.unwrap();
    let h = kv.history(&k("h")).await.unwrap();
    assert_eq!(h.len(), 3);
    assert!(matches!(h.last().unwrap(), KvEvent::Delete { .. }));
    assert!(kv.history(&k("never")).await.unwrap().is_empty());
}

pub async fn delete_semantics(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 8).await;
    let r = kv.create(&k("d"), b("1")).await.unwrap();
    assert_eq!(
        kv.delete(&k("d"), Some(r + 100)).await,
        Err(StoreError::Conflict { current: Some(r) })
    );
    kv.delete(&k("d"), Some(r)).await.unwrap();
    assert_eq!(kv.get(&k("d")).await.unwrap(), None);
    assert_eq!(
        kv.keys(&KeyPrefix::All).await.unwrap(),
        Vec::<String>::new()
    );
    kv.delete(&k("d"), None).await.unwrap();
    kv.delete(&k("never"), None).await.unwrap();
    assert_eq!(
        kv.update(&k("d"), b("2"), r).await,
        Err(StoreError::NotFound)
    );
    let r2 = kv.create(&k("d"), b("again")).await.unwrap();
    assert!(r2 > r);
    assert_eq!(kv.get(&k("d")).await.unwrap().unwrap().value, b("again"));
}

pub async fn keys_by_prefix(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 8).await;
    for key in ["t.b", "t.a", "u.a", "t.c.d"] {
        kv.put(&k(key), b("v")).await.unwrap();
    }
    kv.delete(&k("t.b"), None).await.unwrap();
    assert_eq!(
        kv.keys(&KeyPrefix::parse("t.").unwrap()).await.unwrap(),
        vec!["t.a", "t.c.d"]
    );
    assert_eq!(kv.keys(&KeyPrefix::All).await.unwrap().len(), 3);
}

/// A listing taken while keys are being written names each key once.
pub async fn keys_are_distinct_under_concurrent_writes(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 8).await;
    for i in 0..50 {
        kv.put(&k(&format!("w.{i:02}")), b("v")).await.unwrap();
    }
    let writer = {
        let kv = kv.clone();
        tokio::spawn(async move {
            for round in 0..20 {
                for i in 0..50 {
                    kv.put(&k(&format!("w.{i:02}")), b(&format!("v{round}")))
                        .await
                        .unwrap();
                }
            }
        })
    };
    let mut listings = 0;
    while !writer.is_finished() {
        let keys = kv.keys(&KeyPrefix::All).await.unwrap();
        let mut distinct = keys.clone();
        distinct.dedup();
        assert_eq!(keys, distinct, "a key listed twice");
        assert_eq!(keys.len(), 50);
        listings += 1;
    }
    writer.await.unwrap();
    assert!(listings > 0);
}

pub async fn large_values_round_trip(s: Arc<dyn Substrate>) {
    let kv = bucket(&*s, 2).await;
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let r = kv.put(&k("big"), Bytes::from(big.clone())).await.unwrap();
    let e = kv.get(&k("big")).await.unwrap().unwrap();
    assert_eq!(e.revision, r);
    assert_eq!(e.value.len(), big.len());
    assert!(e.value == big);
}

pub async fn invalid_names_are_refused(s: Arc<dyn Substrate>) {
    assert!(matches!(
        s.kv("bad.name", BucketOptions::default()).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.kv(
            "ok",
            BucketOptions {
                history: 0,
                replicas: 1
            }
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.log("bad name").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(Key::parse("a.>"), Err(StoreError::InvalidKey(_))));
}

pub async fn decode_errors_are_reported(s: Arc<dyn Substrate>) {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        n: u32,
    }
    let kv = bucket(&*s, 2).await;
    kv.put(&k("good"), b(r#"{"n":7}"#)).await.unwrap();
    kv.put(&k("bad"), b("\u{0}not json")).await.unwrap();
    let typed = TypedKv::<Doc>::new(kv);
    assert_eq!(
        typed.get(&k("good")).await.unwrap().unwrap().0,
        Doc { n: 7 }
    );
    assert!(matches!(
        typed.get(&k("bad")).await,
        Err(StoreError::Decode(_))
    ));
    let r = typed.create(&k("new"), &Doc { n: 1 }).await.unwrap();
    typed.update(&k("new"), &Doc { n: 2 }, r).await.unwrap();
}

pub async fn log_append_read_tail(s: Arc<dyn Substrate>) {
    let log = s.log(&unique("log")).await.unwrap();
    assert_eq!(log.last_seq().await.unwrap(), 0);
    assert!(log.read(1, 10).await.unwrap().is_empty());
    for i in 1..=5u64 {
        assert_eq!(log.append(b(&format!("e{i}")), None).await.unwrap(), i);
    }
    let page = log.read(2, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(page[0].data, b("e2"));
    assert_eq!(log.read(4, 100).await.unwrap().len(), 2);
    assert!(log.read(6, 10).await.unwrap().is_empty());
    assert_eq!(
        log.append(b("x"), Some(3)).await,
        Err(StoreError::Conflict { current: Some(5) })
    );
    assert_eq!(log.append(b("e6"), Some(5)).await.unwrap(), 6);
    let mut t = log.tail(4).await.unwrap();
    for want in 4..=6u64 {
        let r = tokio::time::timeout(Duration::from_secs(10), t.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(r.seq, want);
    }
    log.append(b("e7"), None).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), t.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((r.seq, r.data), (7, b("e7")));
}

pub async fn empty_log_optimistic_append(s: Arc<dyn Substrate>) {
    let log = s.log(&unique("log")).await.unwrap();
    assert_eq!(log.append(b("first"), Some(0)).await.unwrap(), 1);
    assert_eq!(
        log.append(b("again"), Some(0)).await,
        Err(StoreError::Conflict { current: Some(1) })
    );
}

pub async fn ping_answers(s: Arc<dyn Substrate>) {
    s.ping().await.unwrap();
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = super::embedded().await;
                    super::$name(b.store.clone()).await;
                }
            )*
        }
        mod nats_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(b) = super::nats(stringify!($name)).await else { return };
                    super::$name(b.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    cas_success_and_conflict,
    create_race_has_one_winner,
    cas_race_has_one_winner,
    watch_yields_initial_state_then_changes_in_order,
    watch_resumes_from_a_revision,
    history_is_bounded_by_depth,
    delete_semantics,
    keys_by_prefix,
    keys_are_distinct_under_concurrent_writes,
    large_values_round_trip,
    invalid_names_are_refused,
    decode_errors_are_reported,
    log_append_read_tail,
    empty_log_optimistic_append,
    ping_answers,
);

/// Model-based property test: random operation sequences give the same
/// results (values, errors and revisions) as a simple in-memory model.
mod model_check {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Create(u8, u8),
        Update(u8, u8, bool),
        Put(u8, u8),
        Delete(u8, Option<bool>),
        Get(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3u8, any::<u8>()).prop_map(|(k, v)| Op::Create(k, v)),
            (0..3u8, any::<u8>(), any::<bool>()).prop_map(|(k, v, fresh)| Op::Update(k, v, fresh)),
            (0..3u8, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            (0..3u8, proptest::option::of(any::<bool>())).prop_map(|(k, e)| Op::Delete(k, e)),
            (0..3u8).prop_map(Op::Get),
        ]
    }

    /// Per key: (latest revision including delete markers, present value).
    #[derive(Default)]
    struct Model {
        rev: u64,
        keys: HashMap<u8, (u64, Option<u8>)>,
    }

    #[derive(Debug, PartialEq)]
    enum Out {
        Rev(u64),
        Unit,
        Value(Option<(Vec<u8>, u64)>),
        Err(StoreError),
    }

    impl Model {
        fn latest(&self, k: u8) -> Option<u64> {
            self.keys.get(&k).map(|(r, _)| *r)
        }
        fn present(&self, k: u8) -> Option<u64> {
            self.keys.get(&k).and_then(|(r, v)| v.map(|_| *r))
        }
        fn write(&mut self, k: u8, v: Option<u8>) -> u64 {
            self.rev += 1;
            self.keys.insert(k, (self.rev, v));
            self.rev
        }
        fn expected(&self, k: u8, fresh: bool) -> u64 {
            let l = self.latest(k).unwrap_or(0);
            if fresh {
                l
            } else {
                l + 1000
            }
        }
        fn apply(&mut self, op: &Op) -> Out {
            match *op {
                Op::Create(k, v) => match self.present(k) {
                    Some(_) => Out::Err(StoreError::AlreadyExists),
                    None => Out::Rev(self.write(k, Some(v))),
                },
                Op::Update(k, v, fresh) => {
                    let e = self.expected(k, fresh);
                    if self.latest(k) == Some(e) {
                        Out::Rev(self.write(k, Some(v)))
                    } else if let Some(cur) = self.present(k) {
                        Out::Err(StoreError::Conflict { current: Some(cur) })
                    } else {
                        Out::Err(StoreError::NotFound)
                    }
                }
                Op::Put(k, v) => Out::Rev(self.write(k, Some(v))),
                Op::Delete(k, fresh) => {
                    if let Some(f) = fresh {
                        if self.latest(k) != Some(self.expected(k, f)) {
                            return Out::Err(StoreError::Conflict {
                                current: self.present(k),
                            });
                        }
                    }
                    if self.present(k).is_some() {
                        self.write(k, None);
                    }
                    Out::Unit
                }
                Op::Get(k) => Out::Value(
                    self.keys
                        .get(&k)
                        .and_then(|(r, v)| v.map(|v| (vec![v], *r))),
                ),
            }
        }
    }

    async fn run(kv: &dyn Kv, model: &Model, op: &Op) -> Out {
        let key = |k: u8| Key::parse(&format!("k{k}")).unwrap();
        let res = match *op {
            Op::Create(k, v) => kv.create(&key(k), Bytes::from(vec![v])).await.map(Out::Rev),
            Op::Update(k, v, fresh) => kv
                .update(&key(k), Bytes::from(vec![v]), model.expected(k, fresh))
                .await
                .map(Out::Rev),
            Op::Put(k, v) => kv.put(&key(k), Bytes::from(vec![v])).await.map(Out::Rev),
            Op::Delete(k, fresh) => kv
                .delete(&key(k), fresh.map(|f| model.expected(k, f)))
                .await
                .map(|_| Out::Unit),
            Op::Get(k) => kv
                .get(&key(k))
                .await
                .map(|e| Out::Value(e.map(|e| (e.value.to_vec(), e.revision)))),
        };
        res.unwrap_or_else(Out::Err)
    }

    fn check(backend: impl Fn() -> Option<Arc<dyn Substrate>>, cases: u32) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let Some(store) = rt.block_on(async { backend() }) else {
            return;
        };
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
        runner
            .run(&proptest::collection::vec(op(), 1..40), |ops| {
                rt.block_on(async {
                    let kv = store
                        .kv(
                            &unique("prop"),
                            BucketOptions {
                                history: 4,
                                replicas: 1,
                            },
                        )
                        .await
                        .unwrap();
                    let mut model = Model::default();
                    for op in &ops {
                        let got = run(&*kv, &model, op).await;
                        let want = model.apply(op);
                        prop_assert_eq!(got, want, "op {:?}", op);
                    }
                    Ok(())
                })
            })
            .unwrap();
    }

    #[test]
    fn embedded_matches_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store: Arc<dyn Substrate> = Arc::new(rt.block_on(EmbeddedStore::open(&path)).unwrap());
        drop(rt);
        check(|| Some(store.clone()), 64);
    }

    #[test]
    fn nats_matches_the_model() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let Some(b) = rt.block_on(nats("nats_matches_the_model")) else {
            return;
        };
        let store = b.store.clone();
        check(move || Some(store.clone()), 24);
        drop(rt);
    }
}
