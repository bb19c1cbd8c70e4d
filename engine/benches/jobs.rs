//! The job engine: create latency (embedded, and NATS when
//! CONTROL_TEST_NATS_URL is set), throughput of one-step no-op jobs on one
//! runner and on two, the delay from a step finishing to a subscriber
//! seeing it, and 1,000 jobs in flight at once (memory, time to finish).
//!
//!   cargo bench -p engine --bench jobs
//!   CONTROL_TEST_NATS_URL=nats://127.0.0.1:4222 cargo bench -p engine --bench jobs

use async_trait::async_trait;
use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::identity::{AccessToken, Caller, Identity};
use engine::jobs::workflow::{Planned, StepContext, StepFailure, StepPolicy, Workflow};
use engine::jobs::{CreateRequest, JobSettings, Jobs, JobsError};
use engine::store::embedded::EmbeddedStore;
use engine::store::namespaced::Namespaced;
use engine::store::nats::{NatsOptions, NatsStore};
use engine::store::Substrate;
use engine::token::Principal;
use model::jobs::{CreateJob, JobKind, JobState, Phase, StepSpec, Target};
use model::rights::Grants;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// One no-op step; each job its own target (no lock waits).
struct Noop {
    finished: Arc<Mutex<HashMap<String, Instant>>>,
}

#[async_trait]
impl Workflow for Noop {
    fn kind(&self) -> JobKind {
        JobKind::RoutingReload
    }
    async fn plan(
        &self,
        input: &serde_json::Value,
        _: &engine::gateway::Forward,
    ) -> Result<Planned, JobsError> {
        Ok(Planned {
            target: Target::Service {
                service: input["n"].to_string(),
            },
            steps: vec![StepSpec::new("noop", Phase::Reversible, 1)],
            plan_hash: None,
            input: None,
            plan: None,
        })
    }
    fn policy(&self, _: &str) -> StepPolicy {
        StepPolicy {
            timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(10),
            idempotent: false,
        }
    }
    async fn run(&self, ctx: &StepContext) -> Result<Option<serde_json::Value>, StepFailure> {
        self.finished
            .lock()
            .unwrap()
            .insert(ctx.job.id.to_string(), Instant::now());
        Ok(None)
    }
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

fn jobs(store: &Arc<dyn Substrate>, finished: &Arc<Mutex<HashMap<String, Instant>>>) -> Jobs {
    let audit = Arc::new(AuditLog::lazy(
        store.clone(),
        b"bench-chain-key-0123456789abcdef",
    ));
    let actions = Actions::new(
        audit,
        store.clone(),
        Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(600),
        },
    );
    Jobs::new(
        store.clone(),
        actions,
        vec![Arc::new(Noop {
            finished: finished.clone(),
        })],
        JobSettings {
            poll: Duration::from_millis(100),
            max_running: 1024,
            ..JobSettings::default()
        },
    )
}

async fn create(j: &Jobs, n: usize) -> model::JobId {
    j.create(
        &caller(),
        JobKind::RoutingReload,
        CreateRequest {
            idempotency_key: Some(&format!("k{n}-{}", rand::random::<u64>())),
            method: "POST",
            route: "/bench",
            body: CreateJob {
                reason: "benchmark".into(),
                input: serde_json::json!({ "n": n }),
                plan_hash: None,
            },
        },
    )
    .await
    .unwrap()
    .job_id
}

async fn all_done(j: &Jobs, ids: &[model::JobId]) {
    for id in ids {
        loop {
            if j.get(id).await.unwrap().state == JobState::Succeeded {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

async fn run(name: &str, store: Arc<dyn Substrate>) {
    let finished = Arc::new(Mutex::new(HashMap::new()));
    let a = jobs(&store, &finished);

    // Create latency, no runner (the create path alone).
    let mut lat = Vec::new();
    for n in 0..300 {
        let t = Instant::now();
        create(&a, n).await;
        lat.push(t.elapsed());
    }
    println!(
        "[{name}] job create: p50 {:?}, p99 {:?} (300 creates, sequential)",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    // Drain those before measuring throughput.
    let ra = a.start();
    let backlog: Vec<_> = a
        .list(&model::jobs::JobQuery {
            page_size: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.id)
        .collect();
    all_done(&a, &backlog).await;

    // Throughput and step-to-subscriber delay, one runner.
    let mut rx = a.subscribe();
    let seen: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let watcher = {
        let (finished, seen) = (finished.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok(c) = rx.recv().await {
                if c.job.steps[0].state == model::jobs::StepState::Succeeded
                    && c.job.state != JobState::Succeeded
                {
                    if let Some(t) = finished.lock().unwrap().get(c.job.id.as_str()) {
                        seen.lock().unwrap().push(t.elapsed());
                    }
                }
            }
        })
    };
    let n = 300;
    let t = Instant::now();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(create(&a, 1000 + i).await);
    }
    all_done(&a, &ids).await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "[{name}] one runner: {n} jobs in {secs:.2} s = {:.0} jobs/s (create + run)",
        n as f64 / secs
    );
    let mut d = seen.lock().unwrap().clone();
    if !d.is_empty() {
        println!(
            "[{name}] step finished → subscriber got the write: p50 {:?}, p99 {:?} ({} samples)",
            pct(&mut d, 0.5),
            pct(&mut d, 0.99),
            d.len()
        );
    }
    watcher.abort();

    // Two runners.
    let b = jobs(&store, &finished);
    let rb = b.start();
    let t = Instant::now();
    let mut ids = Vec::new();
    for i in 0..n {
        let via = if i % 2 == 0 { &a } else { &b };
        ids.push(create(via, 5000 + i).await);
    }
    all_done(&a, &ids).await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "[{name}] two runners: {n} jobs in {secs:.2} s = {:.0} jobs/s (create + run)",
        n as f64 / secs
    );
    rb.abort();

    // 1,000 in flight: create them all with the runner stopped, then start.
    ra.abort();
    let c = jobs(&store, &finished);
    let before = rss_kib();
    let mut ids = Vec::new();
    for i in 0..1000 {
        ids.push(create(&c, 10_000 + i).await);
    }
    let t = Instant::now();
    let rc = c.start();
    all_done(&c, &ids).await;
    println!(
        "[{name}] 1,000 jobs in flight: all finished {:.2} s after the runner started; RSS {} → {} KiB",
        t.elapsed().as_secs_f64(),
        before,
        rss_kib()
    );
    rc.abort();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let embedded: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    run("embedded", embedded).await;
    if let Ok(url) = std::env::var("CONTROL_TEST_NATS_URL") {
        let store = NatsStore::connect(&NatsOptions {
            url,
            name: "control-bench".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let ns = format!("bench{}", rand::random::<u32>());
        run(
            "nats",
            Arc::new(Namespaced::new(Arc::new(store), &ns).unwrap()),
        )
        .await;
    } else {
        println!("*** nats half SKIPPED: CONTROL_TEST_NATS_URL not set ***");
    }
}
