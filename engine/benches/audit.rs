//! The audit chain on the embedded store (fsync per commit): append cost
//! (what each privileged action pays), then listing, export and
//! verification over the whole chain.
//!
//!   cargo bench -p engine --bench audit

use engine::audit::{AuditLog, AuditQuery, AuditRecord, Outcome};
use engine::store::embedded::EmbeddedStore;
use engine::store::Substrate;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn record(i: usize) -> AuditRecord {
    AuditRecord {
        time_ms: 1_700_000_000_000 + i as u64,
        principal_sub: format!("u-{}", i % 50),
        principal_session: format!("s-{i:024x}"),
        action: if i.is_multiple_of(10) {
            "iam.role.assign"
        } else {
            "iam.session.revoke"
        }
        .into(),
        target: format!("session/s-{i:024x}"),
        tenant: None,
        reason: Some("benchmark".into()),
        outcome: if i.is_multiple_of(7) {
            Outcome::Denied
        } else {
            Outcome::Succeeded
        },
        request_id: format!("req_{i:032x}"),
        correlation_id: format!("cor_{i:032x}"),
        trace_id: format!("{i:032x}"),
        before_digest: None,
        after_digest: None,
        intent_id: None,
        idempotency_key: None,
        job_id: None,
        detail: None,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let audit = AuditLog::lazy(store, b"benchmark-key-benchmark-key-0123");
    let mut appends = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        audit.append(record(i)).await.unwrap();
        appends.push(t.elapsed());
    }
    let total: Duration = appends.iter().sum();
    println!(
        "append ({n} events): p50 {:?}, p99 {:?}, {:.0} events/s",
        pct(&mut appends.clone(), 0.5),
        pct(&mut appends, 0.99),
        n as f64 / total.as_secs_f64()
    );
    let t = Instant::now();
    audit.query(&AuditQuery::default()).await.unwrap();
    println!(
        "first listing (reads and decodes all {n}): {:?}",
        t.elapsed()
    );
    for (what, q) in [
        ("newest page, no filter", AuditQuery::default()),
        (
            "filtered: principal + outcome",
            AuditQuery {
                principal: Some("u-7".into()),
                outcome: Some(Outcome::Denied),
                ..Default::default()
            },
        ),
        (
            "by id (one match)",
            AuditQuery {
                id: Some(format!("cor_{:032x}", 12_345)),
                ..Default::default()
            },
        ),
    ] {
        let mut s: Vec<Duration> = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let page = audit.query(&q).await.unwrap();
            s.push(t.elapsed());
            assert!(page.total > 0);
        }
        println!(
            "listing, {what}: p50 {:?}, p99 {:?}",
            pct(&mut s.clone(), 0.5),
            pct(&mut s, 0.99)
        );
    }
    let t = Instant::now();
    let all = audit.export(&AuditQuery::default()).await.unwrap();
    println!("export of {} events: {:?}", all.len(), t.elapsed());
    let t = Instant::now();
    let v = audit.verify().await.unwrap();
    println!("verify: {:?} in {:?}", v, t.elapsed());
}
