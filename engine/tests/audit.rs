//! The audit chain: intact chains verify; each kind of tampering is found
//! and located.

use bytes::Bytes;
use engine::audit::{AuditEvent, AuditLog, AuditRecord, Outcome, Verdict};
use engine::store::embedded::EmbeddedStore;
use engine::store::{BucketOptions, EventLog, Kv, Substrate};
use std::sync::Arc;

const KEY: &[u8] = b"test-chain-key-0123456789abcdef";

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time_ms: 1_700_000_000_000 + i,
        principal_sub: "user-1".into(),
        principal_session: "sess-1".into(),
        action: "tenants.drain".into(),
        target: format!("tenant t-{i:05}"),
        tenant: Some(format!("t-{i:05}")),
        reason: Some("maintenance".into()),
        outcome: Outcome::Succeeded,
        request_id: format!("req_{i:032x}"),
        correlation_id: "cor_1".into(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        before_digest: None,
        after_digest: None,
    }
}

struct Fixture {
    store: Arc<dyn Substrate>,
    anchor: Arc<dyn Kv>,
    events: Vec<AuditEvent>,
    _dir: tempfile::TempDir,
}

async fn fixture(n: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let anchor = store
        .kv("audit_anchor", BucketOptions::default())
        .await
        .unwrap();
    let audit = AuditLog::new(store.log("audit").await.unwrap(), anchor.clone(), KEY);
    let mut events = Vec::new();
    for i in 1..=n {
        events.push(audit.append(record(i)).await.unwrap());
    }
    assert_eq!(audit.verify().await.unwrap(), Verdict::Intact { events: n });
    Fixture {
        store,
        anchor,
        events,
        _dir: dir,
    }
}

/// A copy of the chain as an attacker with write access to storage would
/// leave it, checked against the real anchor.
async fn verify_forged(f: &Fixture, name: &str, events: Vec<AuditEvent>) -> Verdict {
    let log: Arc<dyn EventLog> = f.store.log(name).await.unwrap();
    for e in events {
        log.append(Bytes::from(serde_json::to_vec(&e).unwrap()), None)
            .await
            .unwrap();
    }
    AuditLog::new(log, f.anchor.clone(), KEY)
        .verify()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_event_is_found() {
    let f = fixture(10).await;
    let mut forged = f.events.clone();
    forged[4].record.reason = Some("nothing to see".into());
    match verify_forged(&f, "edited", forged).await {
        Verdict::Broken { seq, problem } => {
            assert_eq!(seq, 5);
            assert!(problem.contains("edited"), "{problem}");
        }
        v => panic!("{v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_event_is_found_with_or_without_renumbering() {
    let f = fixture(10).await;
    let mut forged = f.events.clone();
    forged.remove(3);
    assert!(matches!(
        verify_forged(&f, "deleted", forged.clone()).await,
        Verdict::Broken { seq: 4, .. }
    ));
    for (i, e) in forged.iter_mut().enumerate() {
        e.seq = i as u64 + 1;
    }
    assert!(matches!(
        verify_forged(&f, "deleted_renumbered", forged).await,
        Verdict::Broken { seq: 4, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_events_are_found() {
    let f = fixture(10).await;
    let mut forged = f.events.clone();
    forged.swap(5, 6);
    assert!(matches!(
        verify_forged(&f, "reordered", forged).await,
        Verdict::Broken { seq: 6, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_is_found_by_the_anchor() {
    let f = fixture(10).await;
    let forged = f.events[..8].to_vec();
    assert_eq!(
        verify_forged(&f, "truncated", forged).await,
        Verdict::Truncated {
            last_seq: 8,
            anchored_seq: 10
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_rebuilt_with_another_key_is_found() {
    let f = fixture(3).await;
    let log: Arc<dyn EventLog> = f.store.log("rekeyed").await.unwrap();
    let anchor = f
        .store
        .kv("other_anchor", BucketOptions::default())
        .await
        .unwrap();
    let other = AuditLog::new(log.clone(), anchor, b"attacker-key");
    for i in 1..=3 {
        other.append(record(i)).await.unwrap();
    }
    let v = AuditLog::new(log, f.anchor.clone(), KEY)
        .verify()
        .await
        .unwrap();
    assert!(matches!(v, Verdict::Broken { seq: 1, .. }), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_fork_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let anchor = store
        .kv("audit_anchor", BucketOptions::default())
        .await
        .unwrap();
    let log = store.log("audit").await.unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let a = AuditLog::new(log.clone(), anchor.clone(), KEY);
            tokio::spawn(async move {
                for i in 0..10 {
                    a.append(record(w * 100 + i)).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let v = AuditLog::new(log, anchor, KEY).verify().await.unwrap();
    assert_eq!(v, Verdict::Intact { events: 40 });
}
