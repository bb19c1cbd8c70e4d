//! The audited-action component on the real embedded store, with faults
//! injected at the store's door: an intent before every effect, exactly one
//! event per action, a refusal with nothing done when the intent cannot be
//! written, no success when the event is not durable, and recovery that
//! finishes each left intent exactly once.

use async_trait::async_trait;
use bytes::Bytes;
use engine::action::{ActionError, Actions, Done, Plan, Timing};
use engine::audit::{AuditLog, Outcome, Verdict};
use engine::identity::Caller;
use engine::store::embedded::EmbeddedStore;
use engine::store::{
    BucketOptions, EventLog, Key, KeyPrefix, Kv, KvEntry, KvEvent, LogRecord, Revision, StoreError,
    Substrate, TailStream, WatchStream,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const KEY: &[u8] = b"test-chain-key-0123456789abcdef";

/// Switches for the faults the wrapped store injects.
#[derive(Default)]
struct Faults {
    intents_down: AtomicBool,
    appends_fail: AtomicBool,
    intent_deletes_fail: AtomicBool,
}

fn down() -> StoreError {
    StoreError::Unavailable("injected".into())
}

struct Faulty {
    inner: Arc<dyn Substrate>,
    faults: Arc<Faults>,
}

struct FaultyKv {
    inner: Arc<dyn Kv>,
    faults: Arc<Faults>,
}

struct FaultyLog {
    inner: Arc<dyn EventLog>,
    faults: Arc<Faults>,
}

#[async_trait]
impl Substrate for Faulty {
    fn backend(&self) -> &'static str {
        "faulty"
    }
    async fn kv(&self, bucket: &str, opts: BucketOptions) -> Result<Arc<dyn Kv>, StoreError> {
        let inner = self.inner.kv(bucket, opts).await?;
        Ok(Arc::new(FaultyKv {
            inner,
            faults: self.faults.clone(),
        }))
    }
    async fn log(&self, name: &str) -> Result<Arc<dyn EventLog>, StoreError> {
        let inner = self.inner.log(name).await?;
        Ok(Arc::new(FaultyLog {
            inner,
            faults: self.faults.clone(),
        }))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

impl FaultyKv {
    fn check(&self) -> Result<(), StoreError> {
        let intents = self.inner.bucket() == engine::action::INTENT_BUCKET;
        if intents && self.faults.intents_down.load(Ordering::SeqCst) {
            return Err(down());
        }
        Ok(())
    }
}

#[async_trait]
impl Kv for FaultyKv {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }
    async fn get(&self, key: &Key) -> Result<Option<KvEntry>, StoreError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn create(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError> {
        self.check()?;
        self.inner.create(key, value).await
    }
    async fn update(
        &self,
        key: &Key,
        value: Bytes,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        self.check()?;
        self.inner.update(key, value, expected).await
    }
    async fn put(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError> {
        self.check()?;
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &Key, expected: Option<Revision>) -> Result<(), StoreError> {
        self.check()?;
        let intents = self.inner.bucket() == engine::action::INTENT_BUCKET;
        if intents && self.faults.intent_deletes_fail.load(Ordering::SeqCst) {
            return Err(down());
        }
        self.inner.delete(key, expected).await
    }
    async fn keys(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StoreError> {
        self.check()?;
        self.inner.keys(prefix).await
    }
    async fn history(&self, key: &Key) -> Result<Vec<KvEvent>, StoreError> {
        self.inner.history(key).await
    }
    async fn watch(
        &self,
        prefix: &KeyPrefix,
        after: Option<Revision>,
    ) -> Result<WatchStream, StoreError> {
        self.inner.watch(prefix, after).await
    }
}

#[async_trait]
impl EventLog for FaultyLog {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn append(&self, data: Bytes, expected_last: Option<u64>) -> Result<u64, StoreError> {
        if self.faults.appends_fail.load(Ordering::SeqCst) {
            return Err(down());
        }
        self.inner.append(data, expected_last).await
    }
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        self.inner.read(from, limit).await
    }
    async fn tail(&self, from: u64) -> Result<TailStream, StoreError> {
        self.inner.tail(from).await
    }
    async fn last_seq(&self) -> Result<u64, StoreError> {
        self.inner.last_seq().await
    }
}

struct Fixture {
    store: Arc<dyn Substrate>,
    faults: Arc<Faults>,
    audit: Arc<AuditLog>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let store: Arc<dyn Substrate> = Arc::new(Faulty {
        inner: Arc::new(EmbeddedStore::open(dir.path()).await.unwrap()),
        faults: faults.clone(),
    });
    let audit = Arc::new(
        AuditLog::lazy(store.clone(), KEY).with_append_deadline(Duration::from_millis(200)),
    );
    Fixture {
        store,
        faults,
        audit,
        _dir: dir,
    }
}

impl Fixture {
    fn actions(&self, stale_after: Duration) -> Actions {
        Actions::new(
            self.audit.clone(),
            self.store.clone(),
            Timing {
                stale_after,
                every: Duration::from_secs(60),
            },
        )
    }
}

fn caller(request_id: &str) -> Caller {
    Caller {
        identity: None,
        request_id: request_id.into(),
        correlation_id: "cor_1".into(),
        traceparent: String::new(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        tenant: None,
    }
}

/// A side effect that counts how often it ran.
fn effect(
    count: &Arc<AtomicUsize>,
    outcome: Outcome,
) -> impl std::future::Future<Output = Done<u8>> + Send + 'static {
    let count = count.clone();
    async move {
        count.fetch_add(1, Ordering::SeqCst);
        Done::new(outcome, 7)
    }
}

fn plan(request_id: &str) -> Plan {
    Plan::new(&caller(request_id), "test.act", "thing/1")
        .with_reason("maintenance")
        .unwrap()
        .with_digest(|| async { Some("sha256:x".to_owned()) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_leaves_one_event_with_its_intent_id_and_no_intent() {
    let f = fixture().await;
    let a = f.actions(Duration::from_secs(60));
    let ran = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        a.run(plan("req_1"), effect(&ran, Outcome::Succeeded)).await,
        Ok(7)
    );
    assert_eq!(
        a.run(plan("req_2"), effect(&ran, Outcome::Failed)).await,
        Ok(7)
    );
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    let events = f.audit.export(&Default::default()).await.unwrap();
    assert_eq!(events.len(), 2);
    let (ok, failed) = (&events[0].record, &events[1].record);
    assert_eq!(
        (ok.request_id.as_str(), ok.outcome),
        ("req_1", Outcome::Succeeded)
    );
    assert_eq!(
        (failed.request_id.as_str(), failed.outcome),
        ("req_2", Outcome::Failed)
    );
    assert!(ok.intent_id.as_deref().unwrap().starts_with("i-"));
    assert_eq!(ok.reason.as_deref(), Some("maintenance"));
    assert_eq!(ok.before_digest.as_deref(), Some("sha256:x"));
    assert!(a.open_intents().await.unwrap().is_empty());
    assert_eq!(
        f.audit.verify().await.unwrap(),
        Verdict::Intact { events: 2 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reason_or_a_down_intent_store_refuses_before_the_effect() {
    let f = fixture().await;
    let a = f.actions(Duration::from_secs(60));
    let bad = Plan::new(&caller("req_1"), "test.act", "thing/1").with_reason(" x ");
    assert!(matches!(bad, Err(ActionError::BadRequest(m)) if m.contains("reason")));
    f.faults.intents_down.store(true, Ordering::SeqCst);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = a.run(plan("req_1"), effect(&ran, Outcome::Succeeded)).await;
    assert!(matches!(r, Err(ActionError::Unavailable(_))), "{r:?}");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the effect ran without an intent"
    );
    assert!(f
        .audit
        .export(&Default::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_cannot_be_appended_is_not_a_success_and_recovery_writes_it() {
    let f = fixture().await;
    let a = f.actions(Duration::from_secs(60));
    f.faults.appends_fail.store(true, Ordering::SeqCst);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = a.run(plan("req_1"), effect(&ran, Outcome::Succeeded)).await;
    assert!(matches!(r, Err(ActionError::Pending(_))), "{r:?}");
    // A failed action still answers its own failure, its event pending.
    assert_eq!(
        a.run(plan("req_2"), effect(&ran, Outcome::Denied)).await,
        Ok(7)
    );
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(a.open_intents().await.unwrap().len(), 2);
    f.faults.appends_fail.store(false, Ordering::SeqCst);
    // Not stale yet: left alone (its runner may still be working).
    assert_eq!(a.recover().await.unwrap(), 0);
    let later = f.actions(Duration::ZERO);
    assert_eq!(later.recover().await.unwrap(), 2);
    let events = f.audit.export(&Default::default()).await.unwrap();
    // The intents kept the real outcomes.
    let outcomes: Vec<_> = events
        .iter()
        .map(|e| (e.record.request_id.as_str(), e.record.outcome))
        .collect();
    assert!(
        outcomes.contains(&("req_1", Outcome::Succeeded)),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("req_2", Outcome::Denied)),
        "{outcomes:?}"
    );
    assert!(later.open_intents().await.unwrap().is_empty());
    assert_eq!(later.recover().await.unwrap(), 0);
    assert_eq!(
        f.audit.verify().await.unwrap(),
        Verdict::Intact { events: 2 }
    );
    // Each append counted once by its final outcome: the two that failed
    // (their retries included) and the two recovery wrote.
    let mut r = prometheus_client::registry::Registry::default();
    f.audit.register_metrics(&mut r);
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &r).unwrap();
    for line in [
        r#"control_audit_appends_total{outcome="error"} 2"#,
        r#"control_audit_appends_total{outcome="ok"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_whose_event_is_written_is_removed_without_a_second_event() {
    let f = fixture().await;
    let a = f.actions(Duration::from_secs(60));
    f.faults.intent_deletes_fail.store(true, Ordering::SeqCst);
    let ran = Arc::new(AtomicUsize::new(0));
    // The event is durable, so the action succeeds although its intent stays.
    assert_eq!(
        a.run(plan("req_1"), effect(&ran, Outcome::Succeeded)).await,
        Ok(7)
    );
    assert_eq!(a.open_intents().await.unwrap().len(), 1);
    f.faults.intent_deletes_fail.store(false, Ordering::SeqCst);
    assert_eq!(f.actions(Duration::ZERO).recover().await.unwrap(), 0);
    assert!(a.open_intents().await.unwrap().is_empty());
    assert_eq!(f.audit.export(&Default::default()).await.unwrap().len(), 1);
}

/// Runners that never report (as if their process died mid-action), and
/// two replicas recovering at once: one `interrupted` event per intent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_actions_are_finished_exactly_once_by_racing_recoveries() {
    let f = fixture().await;
    let a = f.actions(Duration::from_secs(60));
    let ran = Arc::new(AtomicUsize::new(0));
    for i in 0..8 {
        let (a, ran) = (a.clone(), ran.clone());
        tokio::spawn(async move {
            a.run(plan(&format!("req_{i}")), async move {
                ran.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Done<u8>>().await
            })
            .await
        });
    }
    while ran.load(Ordering::SeqCst) < 8 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a.open_intents().await.unwrap().len(), 8);
    // Stale for the recoveries, while a claim one of them just made is not.
    let stale = Duration::from_millis(300);
    tokio::time::sleep(stale * 2).await;
    let (r1, r2) = (f.actions(stale), f.actions(stale));
    let (w1, w2) = tokio::join!(r1.recover(), r2.recover());
    assert_eq!(w1.unwrap() + w2.unwrap(), 8);
    let events = f.audit.export(&Default::default()).await.unwrap();
    assert_eq!(events.len(), 8);
    assert!(events
        .iter()
        .all(|e| e.record.outcome == Outcome::Interrupted));
    assert!(events
        .iter()
        .all(|e| e.record.reason.as_deref() == Some("maintenance")));
    let mut ids: Vec<_> = events
        .iter()
        .map(|e| e.record.intent_id.clone().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    assert!(r1.open_intents().await.unwrap().is_empty());
    assert_eq!(
        f.audit.verify().await.unwrap(),
        Verdict::Intact { events: 8 }
    );
}
