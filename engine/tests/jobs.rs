//! The job engine on both backends (embedded, and a real nats-server from
//! CONTROL_TEST_NATS_URL): routing reload against the simulated fleet,
//! the idempotency contract, two runners sharing work, lease fencing,
//! locks, cancel and deadlines. Side effects are counted where they
//! happen: at the simulator (by marker) or at a test target that checks
//! fencing tokens, never in the engine.

use async_trait::async_trait;
use bytes::Bytes;
use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
use engine::gateway::GatewayClient;
use engine::identity::{AccessToken, Caller, Identity};
use engine::jobs::routing_reload::RoutingReload;
use engine::jobs::workflow::{Planned, StepContext, StepFailure, StepPolicy, Workflow};
use engine::jobs::{CreateRequest, JobSettings, Jobs, JobsError};
use engine::store::embedded::EmbeddedStore;
use engine::store::namespaced::Namespaced;
use engine::store::nats::{NatsOptions, NatsStore};
use engine::store::{
    BucketOptions, EventLog, Key, KeyPrefix, Kv, KvEntry, KvEvent, LogRecord, Revision, StoreError,
    Substrate, TailStream, WatchStream,
};
use engine::token::Principal;
use model::jobs::{
    CreateJob, Job, JobKind, JobQuery, JobState, Phase, StepSpec, StepState, Target,
};
use model::rights::Grants;
use sim::{Fleet, Topology};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use test_support::BusyCores;

struct Backend {
    store: Arc<dyn Substrate>,
    _dir: Option<tempfile::TempDir>,
}

fn namespace() -> String {
    let b: [u8; 6] = rand::random();
    format!(
        "t{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

async fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    Backend {
        store: Arc::new(EmbeddedStore::open(dir.path()).await.unwrap()),
        _dir: Some(dir),
    }
}

async fn nats(test: &str) -> Option<Backend> {
    let url = test_support::nats_url(&format!("jobs::{test}"))?;
    let store = NatsStore::connect(&NatsOptions {
        url,
        name: "control-jobs-test".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let ns = Namespaced::new(Arc::new(store), &namespace()).unwrap();
    Some(Backend {
        store: Arc::new(ns),
        _dir: None,
    })
}

fn caller(sub: &str) -> Caller {
    Caller {
        identity: Some(Arc::new(Identity {
            principal: Principal {
                sub: sub.into(),
                session_id: format!("s-{sub}"),
            },
            username: sub.into(),
            display_name: sub.into(),
            roles: vec!["operator".into()],
            grants: Grants(vec!["control.*".into()]),
            token: AccessToken::new("t"),
        })),
        request_id: "req_0123".into(),
        correlation_id: "cor_0123".into(),
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        tenant: None,
    }
}

fn settings() -> JobSettings {
    JobSettings {
        lease: Duration::from_millis(900),
        poll: Duration::from_millis(50),
        ..JobSettings::default()
    }
}

fn jobs_on(store: &Arc<dyn Substrate>, wfs: Vec<Arc<dyn Workflow>>, s: JobSettings) -> Jobs {
    let audit = Arc::new(AuditLog::lazy(
        store.clone(),
        b"jobs-test-chain-key-0123456789ab",
    ));
    let actions = Actions::new(
        audit,
        store.clone(),
        Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    Jobs::new(store.clone(), actions, wfs, s)
}

fn body(reason: &str) -> CreateJob {
    CreateJob {
        reason: reason.into(),
        input: serde_json::Value::Null,
        plan_hash: None,
    }
}

async fn create(jobs: &Jobs, key: &str, reason: &str) -> Result<engine::jobs::Created, JobsError> {
    jobs.create(
        &caller("op"),
        JobKind::RoutingReload,
        CreateRequest {
            idempotency_key: Some(key),
            method: "POST",
            route: "/admin/v1/jobs/routing.reload",
            body: body(reason),
        },
    )
    .await
}

async fn wait_terminal(jobs: &Jobs, id: &model::JobId, within: Duration) -> Job {
    let start = std::time::Instant::now();
    loop {
        let j = jobs.get(id).await.unwrap();
        if j.state.is_terminal() {
            return j;
        }
        assert!(
            start.elapsed() < within,
            "job {id} still {:?}: {j:#?}",
            j.state
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_until(
    jobs: &Jobs,
    id: &model::JobId,
    what: &str,
    within: Duration,
    pred: impl Fn(&Job) -> bool,
) -> Job {
    let start = std::time::Instant::now();
    loop {
        if let Ok(j) = jobs.get(id).await {
            if pred(&j) {
                return j;
            }
        }
        assert!(start.elapsed() < within, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A store that can be cut off from one runner (a network partition):
/// while `cut`, every call fails as unreachable.
struct Partition {
    inner: Arc<dyn Substrate>,
    cut: Arc<AtomicBool>,
}

struct PartitionKv {
    inner: Arc<dyn Kv>,
    cut: Arc<AtomicBool>,
}

struct PartitionLog {
    inner: Arc<dyn EventLog>,
    cut: Arc<AtomicBool>,
}

fn cut_off(cut: &AtomicBool) -> Result<(), StoreError> {
    if cut.load(Ordering::SeqCst) {
        return Err(StoreError::Unavailable("partitioned".into()));
    }
    Ok(())
}

#[async_trait]
impl Substrate for Partition {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn kv(&self, bucket: &str, opts: BucketOptions) -> Result<Arc<dyn Kv>, StoreError> {
        Ok(Arc::new(PartitionKv {
            inner: self.inner.kv(bucket, opts).await?,
            cut: self.cut.clone(),
        }))
    }
    async fn log(&self, name: &str) -> Result<Arc<dyn EventLog>, StoreError> {
        Ok(Arc::new(PartitionLog {
            inner: self.inner.log(name).await?,
            cut: self.cut.clone(),
        }))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        cut_off(&self.cut)?;
        self.inner.ping().await
    }
}

#[async_trait]
impl Kv for PartitionKv {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }
    async fn get(&self, key: &Key) -> Result<Option<KvEntry>, StoreError> {
        cut_off(&self.cut)?;
        self.inner.get(key).await
    }
    async fn create(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError> {
        cut_off(&self.cut)?;
        self.inner.create(key, value).await
    }
    async fn update(
        &self,
        key: &Key,
        value: Bytes,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        cut_off(&self.cut)?;
        self.inner.update(key, value, expected).await
    }
    async fn put(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError> {
        cut_off(&self.cut)?;
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &Key, expected: Option<Revision>) -> Result<(), StoreError> {
        cut_off(&self.cut)?;
        self.inner.delete(key, expected).await
    }
    async fn keys(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StoreError> {
        cut_off(&self.cut)?;
        self.inner.keys(prefix).await
    }
    async fn history(&self, key: &Key) -> Result<Vec<KvEvent>, StoreError> {
        cut_off(&self.cut)?;
        self.inner.history(key).await
    }
    async fn watch(
        &self,
        prefix: &KeyPrefix,
        after: Option<Revision>,
    ) -> Result<WatchStream, StoreError> {
        cut_off(&self.cut)?;
        self.inner.watch(prefix, after).await
    }
}

#[async_trait]
impl EventLog for PartitionLog {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn append(&self, data: Bytes, expected_last: Option<u64>) -> Result<u64, StoreError> {
        cut_off(&self.cut)?;
        self.inner.append(data, expected_last).await
    }
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        cut_off(&self.cut)?;
        self.inner.read(from, limit).await
    }
    async fn tail(&self, from: u64) -> Result<TailStream, StoreError> {
        cut_off(&self.cut)?;
        self.inner.tail(from).await
    }
    async fn last_seq(&self) -> Result<u64, StoreError> {
        cut_off(&self.cut)?;
        self.inner.last_seq().await
    }
}

struct SimFleet {
    fleet: Fleet,
    service: FleetService,
    _dir: tempfile::TempDir,
}

async fn sim_fleet(gateways: usize) -> SimFleet {
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology {
        gateways,
        shards: 1,
        replicas: 1,
        tenants: 2,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let docs = FleetDocs::from_files(
        fleet.placement_path.clone(),
        fleet.routing_path.clone(),
        Duration::from_millis(50),
    );
    let health = HealthPoller::start(docs.clone(), PollerConfig::default());
    SimFleet {
        fleet,
        service: FleetService { docs, health },
        _dir: dir,
    }
}

fn reload_workflow(f: &SimFleet) -> Arc<dyn Workflow> {
    Arc::new(RoutingReload {
        fleet: f.service.clone(),
        http: GatewayClient::new("http://127.0.0.1:1", Duration::from_secs(2)).unwrap(),
        load_timeout: Duration::from_secs(3),
        poll: Duration::from_millis(50),
    })
}

/// Every marker the simulator saw, summed over instances.
fn effects(f: &SimFleet) -> BTreeMap<String, sim::Effect> {
    let mut out: BTreeMap<String, sim::Effect> = BTreeMap::new();
    for (inst, by_marker) in f.fleet.effects() {
        for (m, e) in by_marker {
            out.insert(format!("{inst}@{m}"), e);
        }
    }
    out
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let b = super::embedded().await;
                    super::$name(b.store.clone()).await;
                }
            )*
        }
        mod nats_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(b) = super::nats(stringify!($name)).await else { return };
                    super::$name(b.store.clone()).await;
                }
            )*
        }
    };
}

both_backends!(
    routing_reload_runs_every_instance_once,
    the_idempotency_contract_holds,
    concurrent_creates_with_one_key_make_one_job,
    two_runners_share_the_work_and_never_run_a_step_twice,
    a_runner_that_lost_its_lease_cannot_write_and_its_effect_is_fenced,
    two_jobs_on_one_target_never_run_at_once,
    cancel_compensates_before_the_point_of_no_return_and_is_refused_after,
    a_job_past_its_deadline_fails_after_compensating,
    a_failing_instance_fails_its_step_with_the_error,
    a_replica_without_the_kind_leaves_its_jobs_alone,
);

async fn routing_reload_runs_every_instance_once(store: Arc<dyn Substrate>) {
    let f = sim_fleet(3).await;
    let jobs = jobs_on(&store, vec![reload_workflow(&f)], settings());
    let _runner = jobs.start();
    let c = create(&jobs, "\"k-1\"", "reload after edit").await.unwrap();
    assert!(!c.replayed);
    let job = wait_terminal(&jobs, &c.job_id, Duration::from_secs(20)).await;
    assert_eq!(job.state, JobState::Succeeded, "{job:#?}");
    assert_eq!(job.steps.len(), 4, "a gate and one step per gateway");
    assert!(job.steps.iter().all(|s| s.state == StepState::Succeeded));
    assert_eq!(job.ids.request_id, "req_0123");
    assert!(job.plan_hash.is_some());
    let eff = effects(&f);
    assert_eq!(eff.len(), 3, "one marker per gateway: {eff:?}");
    for (m, e) in &eff {
        assert!(m.contains(job.id.as_str()), "{m}");
        assert_eq!(e.applied, 1, "{m}: {e:?}");
        assert_eq!(e.requests, 1, "{m}: {e:?}");
    }
    // Audited: created and finished, linked by job id.
    let start = std::time::Instant::now();
    loop {
        let actions: Vec<_> = jobs_audit(&store)
            .await
            .into_iter()
            .filter(|e| e.1.as_deref() == Some(job.id.as_str()))
            .map(|e| e.0)
            .collect();
        if actions.len() >= 2 || start.elapsed() > Duration::from_secs(10) {
            assert_eq!(
                actions,
                ["job.routing.reload", "job.routing.reload.finished"]
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn jobs_audit(store: &Arc<dyn Substrate>) -> Vec<(String, Option<String>)> {
    let audit = AuditLog::lazy(store.clone(), b"jobs-test-chain-key-0123456789ab");
    let all = audit
        .export(&model::audit::AuditQuery::default())
        .await
        .unwrap();
    let mut v: Vec<_> = all
        .into_iter()
        .map(|e| (e.record.action.clone(), e.record.job_id.clone(), e.seq))
        .collect();
    v.sort_by_key(|x| x.2);
    v.into_iter().map(|(a, j, _)| (a, j)).collect()
}

async fn the_idempotency_contract_holds(store: Arc<dyn Substrate>) {
    let f = sim_fleet(1).await;
    let jobs = jobs_on(&store, vec![reload_workflow(&f)], settings());
    assert!(matches!(
        jobs.create(
            &caller("op"),
            JobKind::RoutingReload,
            CreateRequest {
                idempotency_key: None,
                method: "POST",
                route: "/r",
                body: body("x reason")
            }
        )
        .await,
        Err(JobsError::IdempotencyKeyRequired)
    ));
    assert!(matches!(
        create(&jobs, "\"unterminated", "x reason").await,
        Err(JobsError::BadIdempotencyKey)
    ));
    // Validation failures store nothing: the key is still free after.
    assert!(matches!(
        create(&jobs, "\"k\"", "").await,
        Err(JobsError::BadRequest(_))
    ));
    let first = create(&jobs, "\"k\"", "first reason").await.unwrap();
    let again = create(&jobs, "\"k\"", "first reason").await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.job_id, first.job_id);
    assert_eq!(again.job, first.job, "the stored response, as first sent");
    assert!(matches!(
        create(&jobs, "\"k\"", "another reason").await,
        Err(JobsError::KeyReused)
    ));
    // Another principal's key of the same value is another key.
    let other = jobs
        .create(
            &caller("someone-else"),
            JobKind::RoutingReload,
            CreateRequest {
                idempotency_key: Some("\"k\""),
                method: "POST",
                route: "/admin/v1/jobs/routing.reload",
                body: body("first reason"),
            },
        )
        .await
        .unwrap();
    assert_ne!(other.job_id, first.job_id);
    let page = jobs.list(&JobQuery::default()).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.jobs[0].id, other.job_id, "newest first");
}

async fn concurrent_creates_with_one_key_make_one_job(store: Arc<dyn Substrate>) {
    let _busy = BusyCores::start();
    let f = sim_fleet(1).await;
    let jobs = jobs_on(&store, vec![reload_workflow(&f)], settings());
    let _runner = jobs.start();
    let n = 1000;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let jobs = jobs.clone();
        tasks.push(tokio::spawn(async move {
            create(&jobs, "\"same\"", "one reload").await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let (mut created, mut in_flight) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => {
                ids.insert(c.job_id.clone());
                if !c.replayed {
                    created += 1;
                }
            }
            Err(JobsError::InFlight { retry_after_s }) => {
                assert!(retry_after_s >= 1);
                in_flight += 1;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(created, 1, "exactly one create won");
    assert!(ids.len() <= 1);
    let page = jobs.list(&JobQuery::default()).await.unwrap();
    assert_eq!(page.total, 1, "one job ({in_flight} answered 409)");
    let job = wait_terminal(&jobs, &page.jobs[0].id, Duration::from_secs(20)).await;
    assert_eq!(job.state, JobState::Succeeded);
    let eff = effects(&f);
    assert_eq!(eff.len(), 1, "one set of side effects: {eff:?}");
    assert!(eff.values().all(|e| e.applied == 1));
}

async fn two_runners_share_the_work_and_never_run_a_step_twice(store: Arc<dyn Substrate>) {
    let _busy = BusyCores::start();
    let f = sim_fleet(2).await;
    let a = jobs_on(&store, vec![reload_workflow(&f)], settings());
    let b = jobs_on(&store, vec![reload_workflow(&f)], settings());
    let _ra = a.start();
    let _rb = b.start();
    let n = 60;
    let mut ids = Vec::new();
    for i in 0..n {
        let via = if i % 2 == 0 { &a } else { &b };
        ids.push(
            create(via, &format!("\"k{i}\""), "share")
                .await
                .unwrap()
                .job_id,
        );
    }
    let mut holders = std::collections::BTreeSet::new();
    for id in &ids {
        let j = wait_terminal(&a, id, Duration::from_secs(90)).await;
        assert_eq!(j.state, JobState::Succeeded, "{j:#?}");
        holders.extend(history_holders(&store, id).await);
    }
    let eff = effects(&f);
    assert_eq!(eff.len(), n * 2, "one marker per (job, gateway)");
    for (m, e) in &eff {
        assert_eq!(e.applied, 1, "{m} applied {e:?}");
    }
    assert!(
        holders.contains(a.runner_id()) && holders.contains(b.runner_id()),
        "both runners took jobs: {holders:?}"
    );
}

/// The lease holders a job's history names.
async fn history_holders(store: &Arc<dyn Substrate>, id: &model::JobId) -> Vec<String> {
    let kv = store
        .kv(
            engine::jobs::JOBS_BUCKET,
            engine::store::BucketOptions {
                history: 8,
                replicas: 1,
            },
        )
        .await
        .unwrap();
    let key = engine::store::Key::parse(id.as_str()).unwrap();
    kv.history(&key)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|ev| match ev {
            engine::store::KvEvent::Put(e) => serde_json::from_slice::<Job>(&e.value)
                .ok()
                .and_then(|j| j.lease.map(|l| l.holder)),
            _ => None,
        })
        .collect()
}

/// A target that checks fencing tokens and counts what it applied, by
/// (job, step).
#[derive(Default)]
struct Recorder {
    fences: Mutex<BTreeMap<String, u64>>,
    applied: Mutex<BTreeMap<(String, String), Vec<u64>>>,
    refused: Mutex<Vec<(String, u64)>>,
    running: Mutex<usize>,
    overlaps: Mutex<usize>,
}

impl Recorder {
    fn apply(&self, ctx: &StepContext) -> Result<(), StepFailure> {
        let job = ctx.job.id.to_string();
        let mut fences = self.fences.lock().unwrap();
        let seen = fences.get(&job).copied().unwrap_or(0);
        if ctx.epoch < seen {
            self.refused.lock().unwrap().push((job, ctx.epoch));
            return Err(StepFailure::fatal("fenced", "stale token"));
        }
        fences.insert(job.clone(), ctx.epoch);
        self.applied
            .lock()
            .unwrap()
            .entry((job, ctx.step_name().to_owned()))
            .or_default()
            .push(ctx.epoch);
        Ok(())
    }
}

/// Steps `a` (reversible), `b` (the point of no return), `c`, and the
/// compensation `undo-a`. Behaviour per step set by the test.
struct Scripted {
    target: Arc<Recorder>,
    /// Sleeps in step `a` of the first attempt (a paused runner).
    pause_first_a: Option<Duration>,
    /// Every step takes this long.
    each: Duration,
    lock_target: Target,
    /// Step `a` waits until this is set.
    gate: Arc<tokio::sync::Notify>,
    gated: bool,
}

#[async_trait]
impl Workflow for Scripted {
    fn kind(&self) -> JobKind {
        JobKind::RoutingReload
    }
    async fn plan(
        &self,
        _: &serde_json::Value,
        _: &engine::gateway::Forward,
    ) -> Result<Planned, JobsError> {
        Ok(Planned {
            target: self.lock_target.clone(),
            steps: vec![
                StepSpec::new("a", Phase::Reversible, 3),
                StepSpec::new("b", Phase::Irreversible, 3),
                StepSpec::new("c", Phase::Irreversible, 3),
                StepSpec::new("undo-a", Phase::Compensation, 3),
            ],
            plan_hash: None,
            input: None,
            plan: None,
        })
    }
    fn policy(&self, _: &str) -> StepPolicy {
        StepPolicy {
            timeout: Duration::from_secs(30),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            idempotent: false,
        }
    }
    async fn run(&self, ctx: &StepContext) -> Result<Option<serde_json::Value>, StepFailure> {
        {
            let mut r = self.target.running.lock().unwrap();
            *r += 1;
            if *r > 1 {
                *self.target.overlaps.lock().unwrap() += 1;
            }
        }
        if ctx.step_name() == "a" {
            if self.gated {
                self.gate.notified().await;
            }
            if let (Some(p), 1) = (self.pause_first_a, ctx.attempt) {
                tokio::time::sleep(p).await;
            }
        }
        tokio::time::sleep(self.each).await;
        let r = self.target.apply(ctx);
        *self.target.running.lock().unwrap() -= 1;
        r.map(|()| Some(serde_json::json!({ "epoch": ctx.epoch })))
    }
}

fn scripted(target: &Arc<Recorder>) -> Scripted {
    Scripted {
        target: target.clone(),
        pause_first_a: None,
        each: Duration::from_millis(5),
        lock_target: Target::Platform,
        gate: Arc::new(tokio::sync::Notify::new()),
        gated: false,
    }
}

async fn a_runner_that_lost_its_lease_cannot_write_and_its_effect_is_fenced(
    store: Arc<dyn Substrate>,
) {
    let target = Arc::new(Recorder::default());
    let s = settings();
    // Runner A is slow in step `a` (three leases) and partitioned from the
    // store meanwhile, so it cannot renew: B takes the job over.
    let cut = Arc::new(AtomicBool::new(false));
    let a_store: Arc<dyn Substrate> = Arc::new(Partition {
        inner: store.clone(),
        cut: cut.clone(),
    });
    let a = jobs_on(
        &a_store,
        vec![Arc::new(Scripted {
            pause_first_a: Some(s.lease * 3),
            ..scripted(&target)
        })],
        s,
    );
    let c = create(&a, "\"fence\"", "fencing").await.unwrap();
    let _ra = a.start();
    wait_until(
        &a,
        &c.job_id,
        "A runs step a",
        Duration::from_secs(10),
        |j| {
            j.steps[0].state == StepState::Running
                && j.lease.as_ref().is_some_and(|l| l.holder == a.runner_id())
        },
    )
    .await;
    cut.store(true, Ordering::SeqCst);
    let b = jobs_on(&store, vec![Arc::new(scripted(&target))], s);
    let _rb = b.start();
    let job = wait_terminal(&b, &c.job_id, Duration::from_secs(30)).await;
    assert_eq!(job.state, JobState::Succeeded, "{job:#?}");
    assert_eq!(
        job.steps[0].attempts, 2,
        "B ran `a` again after the takeover"
    );
    // A wakes, still cut off, and makes its effect: the target refuses the
    // old token. Then A is reconnected and tries its late write.
    test_support::eventually(
        "A's effect reaches the target",
        Duration::from_secs(10),
        || (!target.refused.lock().unwrap().is_empty()).then_some(()),
    )
    .await;
    cut.store(false, Ordering::SeqCst);
    tokio::time::sleep(s.lease * 2).await;
    let after = b.get(&c.job_id).await.unwrap();
    assert_eq!(after, job, "A's late result was never written");
    let applied = target.applied.lock().unwrap().clone();
    for step in ["a", "b", "c"] {
        let by: Vec<u64> = applied
            .iter()
            .filter(|((_, s), _)| s == step)
            .flat_map(|(_, v)| v.clone())
            .collect();
        assert_eq!(by, [2], "step {step} applied once, under epoch 2");
    }
    let refused = target.refused.lock().unwrap().clone();
    assert_eq!(
        refused.len(),
        1,
        "A's late effect was fenced at the target: {refused:?}"
    );
    assert_eq!(refused[0].1, 1);
}

async fn two_jobs_on_one_target_never_run_at_once(store: Arc<dyn Substrate>) {
    let _busy = BusyCores::start();
    let target = Arc::new(Recorder::default());
    let wf = || -> Arc<dyn Workflow> {
        Arc::new(Scripted {
            each: Duration::from_millis(40),
            ..scripted(&target)
        })
    };
    let a = jobs_on(&store, vec![wf()], settings());
    let b = jobs_on(&store, vec![wf()], settings());
    let _ra = a.start();
    let _rb = b.start();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            create(&a, &format!("\"l{i}\""), "locked")
                .await
                .unwrap()
                .job_id,
        );
    }
    let mut waited = false;
    for id in &ids {
        let j = wait_terminal(&a, id, Duration::from_secs(60)).await;
        assert_eq!(j.state, JobState::Succeeded);
        waited |= j.steps[0].started_ms.unwrap_or(0) > j.created_ms + 100;
    }
    assert_eq!(
        *target.overlaps.lock().unwrap(),
        0,
        "two jobs on one target overlapped"
    );
    assert!(waited, "later jobs waited for the lock");
}

async fn cancel_compensates_before_the_point_of_no_return_and_is_refused_after(
    store: Arc<dyn Substrate>,
) {
    let target = Arc::new(Recorder::default());
    let gated = Scripted {
        gated: true,
        ..scripted(&target)
    };
    let gate = gated.gate.clone();
    let jobs = jobs_on(&store, vec![Arc::new(gated)], settings());
    let _r = jobs.start();
    let c = create(&jobs, "\"c1\"", "to cancel").await.unwrap();
    wait_until(
        &jobs,
        &c.job_id,
        "step a running",
        Duration::from_secs(10),
        |j| j.steps[0].state == StepState::Running,
    )
    .await;
    let cancelled = jobs
        .cancel(&caller("op"), &c.job_id, "wrong target")
        .await
        .unwrap();
    assert_eq!(cancelled.state, JobState::Cancelling);
    gate.notify_one();
    let j = wait_terminal(&jobs, &c.job_id, Duration::from_secs(20)).await;
    assert_eq!(j.state, JobState::Cancelled, "{j:#?}");
    assert_eq!(j.steps[3].state, StepState::Succeeded, "compensation ran");
    assert_eq!(j.steps[1].state, StepState::Skipped, "nothing past a ran");
    assert_eq!(j.cancel.as_ref().unwrap().reason, "wrong target");
    assert!(matches!(
        jobs.cancel(&caller("op"), &c.job_id, "again please").await,
        Err(JobsError::CancelRefused(_))
    ));

    // Past the point of no return: refused, and the job finishes.
    let d = create(&jobs, "\"c2\"", "not cancellable").await.unwrap();
    gate.notify_one();
    wait_until(
        &jobs,
        &d.job_id,
        "step b started",
        Duration::from_secs(10),
        |j| j.steps[1].state != StepState::Pending,
    )
    .await;
    assert!(matches!(
        jobs.cancel(&caller("op"), &d.job_id, "too late now").await,
        Err(JobsError::CancelRefused(_))
    ));
    let j = wait_terminal(&jobs, &d.job_id, Duration::from_secs(20)).await;
    assert_eq!(j.state, JobState::Succeeded);
    assert!(j.cancel.is_none());
    assert!(matches!(
        jobs.cancel(&caller("op"), &d.job_id, "reason ok").await,
        Err(JobsError::CancelRefused(_))
    ));
    assert!(matches!(
        jobs.cancel(
            &caller("op"),
            &model::JobId::from_random([9; 16]),
            "reason ok"
        )
        .await,
        Err(JobsError::NotFound)
    ));
}

async fn a_job_past_its_deadline_fails_after_compensating(store: Arc<dyn Substrate>) {
    let target = Arc::new(Recorder::default());
    let gated = Scripted {
        gated: true,
        ..scripted(&target)
    };
    let gate = gated.gate.clone();
    let jobs = jobs_on(
        &store,
        vec![Arc::new(gated)],
        JobSettings {
            deadline: Duration::from_millis(300),
            ..settings()
        },
    );
    let _r = jobs.start();
    let c = create(&jobs, "\"d1\"", "deadline").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    gate.notify_one();
    let j = wait_terminal(&jobs, &c.job_id, Duration::from_secs(20)).await;
    assert_eq!(j.state, JobState::Failed, "{j:#?}");
    assert_eq!(j.error.as_ref().unwrap().code, "deadline_exceeded");
    assert_eq!(j.steps[3].state, StepState::Succeeded, "compensated");
    assert_eq!(j.steps[1].state, StepState::Skipped);
}

async fn a_failing_instance_fails_its_step_with_the_error(store: Arc<dyn Substrate>) {
    let f = sim_fleet(2).await;
    let gw = f
        .fleet
        .instances()
        .into_iter()
        .find(|i| i.kind == model::fleet::ServiceKind::Gateway)
        .unwrap();
    f.fleet
        .set_faults(
            &gw.id,
            sim::Faults {
                reload_fails: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let jobs = jobs_on(&store, vec![reload_workflow(&f)], settings());
    let _r = jobs.start();
    let c = create(&jobs, "\"f1\"", "with a bad gateway").await.unwrap();
    let j = wait_terminal(&jobs, &c.job_id, Duration::from_secs(60)).await;
    assert_eq!(j.state, JobState::Failed, "{j:#?}");
    let failed: Vec<_> = j
        .steps
        .iter()
        .filter(|s| s.state == StepState::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{j:#?}");
    assert!(failed[0].name.contains(&gw.addr.to_string()));
    assert_eq!(failed[0].attempts, 3);
    assert_eq!(failed[0].error.as_ref().unwrap().code, "reload_failed");
    assert_eq!(j.error.as_ref().unwrap().code, "reload_failed");
}

/// A replica that does not know a kind (an older one, mid-upgrade) never
/// claims its jobs: the record is not rewritten, and a replica that knows
/// the kind runs it.
async fn a_replica_without_the_kind_leaves_its_jobs_alone(store: Arc<dyn Substrate>) {
    let f = sim_fleet(1).await;
    let knows = jobs_on(&store, vec![reload_workflow(&f)], settings());
    let older = jobs_on(&store, vec![], settings());
    let _older = older.start();
    let c = create(&knows, "\"k-old\"", "older replica").await.unwrap();
    // Many polls and more than a lease.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let j = knows.get(&c.job_id).await.unwrap();
    assert_eq!(j.state, JobState::Pending, "{j:#?}");
    assert!(
        j.lease.is_none(),
        "claimed by a replica without the workflow"
    );
    assert_eq!(
        history_holders(&store, &c.job_id).await,
        Vec::<String>::new()
    );
    assert!(effects(&f).is_empty());
    let _knows = knows.start();
    let j = wait_terminal(&knows, &c.job_id, Duration::from_secs(20)).await;
    assert_eq!(j.state, JobState::Succeeded, "{j:#?}");
    let holders = history_holders(&store, &c.job_id).await;
    assert!(
        !holders.is_empty() && holders.iter().all(|h| h == knows.runner_id()),
        "{holders:?}"
    );
}
