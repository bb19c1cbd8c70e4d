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
        intent_id: None,
        idempotency_key: None,
        job_id: None,
        detail: None,
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

/// Events as an earlier release wrote them, or as a later one that added a
/// field would: each record's JSON (`bodies`, in stored field order)
/// hashed as HMAC(seq_be || prev_hash || record_json) and stored with the
/// chain fields around it.
fn raw_chain(bodies: &[String]) -> Vec<Vec<u8>> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut prev = "genesis".to_owned();
    let mut out = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let seq = i as u64 + 1;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(KEY).unwrap();
        mac.update(&seq.to_be_bytes());
        mac.update(prev.as_bytes());
        mac.update(body.as_bytes());
        let hash: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        out.push(
            format!(
                r#"{{"seq":{seq},{},"prev_hash":"{prev}","hash":"{hash}"}}"#,
                &body[1..body.len() - 1]
            )
            .into_bytes(),
        );
        prev = hash;
    }
    out
}

/// A record as the release before `intent_id` & co. stored it (those
/// fields are not written while unset), with characters JSON escapes.
fn old_body(i: u64) -> String {
    let mut r = record(i);
    r.reason = Some("quote \" and ünïcode \u{1}".into());
    let s = serde_json::to_string(&r).unwrap();
    assert!(!s.contains("intent_id"), "unset new fields are not stored");
    s
}

async fn verify_raw(events: Vec<Vec<u8>>) -> Verdict {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let log: Arc<dyn EventLog> = store.log("audit").await.unwrap();
    for e in events {
        log.append(Bytes::from(e), None).await.unwrap();
    }
    let anchor = store
        .kv("audit_anchor", BucketOptions::default())
        .await
        .unwrap();
    AuditLog::new(log, anchor, KEY).verify().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_chain_still_verifies_after_the_record_gained_fields() {
    // Written before `intent_id` & co. existed, read by this release
    // (whose record has them): the hash covers what was stored.
    let old: Vec<String> = (1..=4).map(old_body).collect();
    assert_eq!(
        verify_raw(raw_chain(&old)).await,
        Verdict::Intact { events: 4 }
    );
    // Events of a later release, with a field this one does not know.
    let mut newer = old.clone();
    newer[2].pop();
    newer[2].push_str(r#","ticket":"T-1"}"#);
    let chain = raw_chain(&newer);
    assert_eq!(
        verify_raw(chain.clone()).await,
        Verdict::Intact { events: 4 }
    );
    // Editing the unknown field is still found.
    let mut edited = chain;
    edited[2] = String::from_utf8(edited[2].clone())
        .unwrap()
        .replace("T-1", "T-2")
        .into_bytes();
    assert!(matches!(
        verify_raw(edited).await,
        Verdict::Broken { seq: 3, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_added_or_repeated_after_signing_are_found() {
    let old: Vec<String> = (1..=3).map(old_body).collect();
    let chain = raw_chain(&old);
    let with = |i: usize, f: &dyn Fn(String) -> String| {
        let mut c = chain.clone();
        c[i] = f(String::from_utf8(c[i].clone()).unwrap()).into_bytes();
        c
    };
    // A field slipped in after the event was hashed.
    let added = with(1, &|s| {
        s.replacen(r#","prev_hash""#, r#","note":"x","prev_hash""#, 1)
    });
    assert!(matches!(
        verify_raw(added).await,
        Verdict::Broken { seq: 2, .. }
    ));
    // A repeated field, which could show one value and hash another.
    let repeated = with(1, &|s| {
        s.replacen(r#","prev_hash""#, r#","outcome":"denied","prev_hash""#, 1)
    });
    assert!(matches!(
        verify_raw(repeated).await,
        Verdict::Broken { seq: 2, .. }
    ));
    // A hash that is not even hex.
    let garbled = with(2, &|s| {
        let at = s.rfind(r#""hash":""#).unwrap() + 8;
        format!("{}zz{}", &s[..at], &s[at + 2..])
    });
    assert!(matches!(
        verify_raw(garbled).await,
        Verdict::Broken { seq: 3, .. }
    ));
    // The untouched chain verifies, and this release appends onto it.
    assert_eq!(verify_raw(chain).await, Verdict::Intact { events: 3 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_release_appends_onto_an_old_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let log: Arc<dyn EventLog> = store.log("audit").await.unwrap();
    for e in raw_chain(&(1..=3).map(old_body).collect::<Vec<_>>()) {
        log.append(Bytes::from(e), None).await.unwrap();
    }
    let anchor = store
        .kv("audit_anchor", BucketOptions::default())
        .await
        .unwrap();
    let audit = AuditLog::new(log, anchor, KEY);
    let mut r = record(4);
    r.intent_id = Some("i-1".into());
    audit.append(r).await.unwrap();
    assert_eq!(audit.verify().await.unwrap(), Verdict::Intact { events: 4 });
    assert!(audit.has_intent("i-1").await.unwrap());
    assert!(!audit.has_intent("i-2").await.unwrap());
}

/// 64 appends at once through one log, and 4 × 16 through four logs on one
/// store (replicas contending on the head): none is lost or forks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_all_land_within_and_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let anchor = store
        .kv("audit_anchor", BucketOptions::default())
        .await
        .unwrap();
    let log = store.log("audit").await.unwrap();
    let one = Arc::new(AuditLog::new(log.clone(), anchor.clone(), KEY));
    let replicas: Vec<_> = (0..4)
        .map(|_| Arc::new(AuditLog::new(log.clone(), anchor.clone(), KEY)))
        .collect();
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let a = one.clone();
        tasks.push(tokio::spawn(async move { a.append(record(i)).await }));
        let b = replicas[(i % 4) as usize].clone();
        tasks.push(tokio::spawn(
            async move { b.append(record(1000 + i)).await },
        ));
    }
    for t in tasks {
        t.await.unwrap().expect("every append lands");
    }
    assert_eq!(one.verify().await.unwrap(), Verdict::Intact { events: 128 });
}
