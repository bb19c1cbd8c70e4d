//! The runner every replica starts. It follows the `jobs` bucket (one
//! watch: the live feed for the UI and the list of unfinished jobs), claims
//! a job whose lease is free or expired by CAS, renews its lease while it
//! runs, and drives it through the state machine of `model::jobs`.
//!
//! Fencing: every write of a job is a CAS on the revision last read. When
//! a CAS loses, the runner re-reads: if the lease is still its own (same
//! holder, same epoch: somebody recorded a cancel), it applies its change
//! again on the fresh record; otherwise it has lost the job and stops, and
//! its late result is never written. The epoch travels with every side
//! effect as the fencing token, and the step's marker lets the target
//! deduplicate a retried attempt.

use super::metrics::{self, StepLabels};
use super::workflow::{StepContext, Workflow};
use super::{append_event, change_of, key, JobChange, Jobs, JobsError, Stores};
use crate::action::{Done, Plan};
use crate::identity::now_ms;
use crate::store::{Key, KeyPrefix, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use model::audit::Outcome;
use model::jobs::{AfterFailure, Job, JobState, Next, StepError, TransitionError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::Instrument;

/// What the feed knows of an unfinished job.
#[derive(Debug, Clone)]
struct Open {
    kind: model::jobs::JobKind,
    lease_free_at: u64,
    holder: Option<String>,
}

struct Shared {
    open: Mutex<BTreeMap<String, Open>>,
    running: Mutex<BTreeSet<String>>,
    /// Of `running`, the jobs waiting for a lock. They do not count against
    /// `max_running`: a replica full of waiters must still take over the
    /// lock holder when its runner dies, or they would wait for ever.
    waiting: AtomicUsize,
    wake: Notify,
}

pub(super) fn start(jobs: Jobs) -> tokio::task::JoinHandle<()> {
    let shared = Arc::new(Shared {
        open: Mutex::new(BTreeMap::new()),
        running: Mutex::new(BTreeSet::new()),
        waiting: AtomicUsize::new(0),
        wake: Notify::new(),
    });
    let feed = tokio::spawn(follow_feed(jobs.clone(), shared.clone()));
    tokio::spawn(async move {
        let _feed = AbortOnDrop(feed);
        claim_loop(jobs, shared).await;
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `jobs` watch, re-opened after an error from the last revision seen.
async fn follow_feed(jobs: Jobs, shared: Arc<Shared>) {
    let mut after = None;
    loop {
        let stores = match jobs.stores().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "job store unavailable; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut watch = match stores.jobs.watch(&KeyPrefix::All, after).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "job watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(ev) = watch.next().await {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::warn!(error = %e, "job watch interrupted; resuming");
                    break;
                }
            };
            after = Some(ev.revision());
            let Some(change) = change_of(&ev) else {
                shared.open.lock().unwrap().remove(ev.key());
                continue;
            };
            note(&jobs, &shared, &change);
            jobs.note_active(&change.job);
            let _ = jobs.inner().changes.send(change);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn note(jobs: &Jobs, shared: &Shared, c: &JobChange) {
    let id = c.job.id.to_string();
    let mut open = shared.open.lock().unwrap();
    if c.job.state.is_terminal() {
        open.remove(&id);
    } else {
        open.insert(
            id,
            Open {
                kind: c.job.kind,
                lease_free_at: c.job.lease.as_ref().map_or(0, |l| l.expires_ms),
                holder: c.job.lease.as_ref().map(|l| l.holder.clone()),
            },
        );
        shared.wake.notify_one();
    }
    // This replica's view of every unfinished job, by kind.
    for kind in model::jobs::JobKind::ALL {
        let n = open.values().filter(|o| o.kind == kind).count();
        jobs.inner()
            .metrics
            .in_flight
            .get_or_create(&metrics::kind(kind))
            .set(n as i64);
    }
}

async fn claim_loop(jobs: Jobs, shared: Arc<Shared>) {
    let poll = jobs.inner().settings.poll;
    loop {
        let _ = tokio::time::timeout(poll, shared.wake.notified()).await;
        let now = now_ms();
        let me = &jobs.inner().me;
        let max = jobs.inner().settings.max_running;
        let candidates: Vec<String> = {
            let open = shared.open.lock().unwrap();
            let running = shared.running.lock().unwrap();
            // A kind without a workflow here (written by a newer replica)
            // is left to a replica that knows it, unclaimed.
            open.iter()
                .filter(|(id, o)| {
                    !running.contains(*id)
                        && jobs.inner().workflows.contains_key(&o.kind)
                        && (o.lease_free_at <= now || o.holder.as_deref() == Some(me.as_str()))
                })
                .map(|(id, _)| id.clone())
                .take(
                    max.saturating_sub(
                        running
                            .len()
                            .saturating_sub(shared.waiting.load(Ordering::SeqCst)),
                    ),
                )
                .collect()
        };
        for id in candidates {
            if let Some(handle) = claim(&jobs, &id).await {
                shared.running.lock().unwrap().insert(id.clone());
                let jobs = jobs.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    drive(&jobs, handle, &shared).await;
                    shared.running.lock().unwrap().remove(&id);
                    shared.wake.notify_one();
                });
            }
        }
    }
}

/// A claimed job: the record and revision this runner last wrote.
pub(super) struct Handle {
    key: Key,
    workflow: Arc<dyn Workflow>,
    state: tokio::sync::Mutex<(Job, u64)>,
    epoch: u64,
    me: String,
    lost: flag::Flag,
}

mod flag {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::sync::Notify;

    /// Set once, awaited by many.
    #[derive(Default, Clone)]
    pub struct Flag(Arc<(AtomicBool, Notify)>);

    impl Flag {
        pub fn set(&self) {
            self.0 .0.store(true, Ordering::SeqCst);
            self.0 .1.notify_waiters();
        }
        pub fn is_set(&self) -> bool {
            self.0 .0.load(Ordering::SeqCst)
        }
        pub async fn wait(&self) {
            loop {
                let n = self.0 .1.notified();
                if self.is_set() {
                    return;
                }
                n.await;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("lease lost")]
    LeaseLost,
    #[error("refused: {0}")]
    Refused(#[from] TransitionError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

async fn claim(jobs: &Jobs, id: &str) -> Option<Handle> {
    let stores = jobs.stores().await.ok()?;
    let k = key(id).ok()?;
    let entry = stores.jobs.get(&k).await.ok()??;
    let mut job: Job = serde_json::from_slice(&entry.value).ok()?;
    let workflow = jobs.inner().workflows.get(&job.kind)?.clone();
    let now = now_ms();
    let me = jobs.inner().me.clone();
    let free = match &job.lease {
        None => true,
        Some(l) => l.holder == me || l.expires_ms <= now,
    };
    if !free || job.state.is_terminal() {
        return None;
    }
    let takeover = job.lease.as_ref().is_some_and(|l| l.holder != me);
    let expires = now + jobs.inner().settings.lease.as_millis() as u64;
    let epoch = job.claim(&me, expires, now).ok()?;
    let bytes = encode(&job).ok()?;
    match stores.jobs.update(&k, bytes, entry.revision).await {
        Ok(rev) => {
            if takeover {
                jobs.inner()
                    .metrics
                    .takeovers
                    .get_or_create(&metrics::kind(job.kind))
                    .inc();
                tracing::warn!(job = id, epoch, "took over a job whose lease expired");
            }
            append_event(&*stores.events, &job, rev).await;
            Some(Handle {
                key: k,
                workflow,
                state: tokio::sync::Mutex::new((job, rev)),
                epoch,
                me,
                lost: Default::default(),
            })
        }
        // Another runner claimed it first.
        Err(_) => None,
    }
}

fn encode(job: &Job) -> Result<Bytes, StoreError> {
    serde_json::to_vec(job)
        .map(Bytes::from)
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Handle {
    /// Applies `f` to the record and writes it by CAS; on a lost CAS,
    /// re-reads and applies again while the lease is still ours.
    async fn write<T>(
        &self,
        stores: &Stores,
        f: impl Fn(&mut Job) -> Result<T, TransitionError>,
    ) -> Result<(T, Job), WriteError> {
        if self.lost.is_set() {
            return Err(WriteError::LeaseLost);
        }
        let mut st = self.state.lock().await;
        let mut unavailable = 0;
        loop {
            let mut next = st.0.clone();
            let out = f(&mut next)?;
            next.updated_ms = now_ms();
            match stores.jobs.update(&self.key, encode(&next)?, st.1).await {
                Ok(rev) => {
                    append_event(&*stores.events, &next, rev).await;
                    *st = (next.clone(), rev);
                    return Ok((out, next));
                }
                Err(StoreError::Conflict { .. } | StoreError::NotFound) => {
                    *st = self.read_ours(stores).await?;
                }
                Err(e) if e.is_retryable() && unavailable < 20 => {
                    unavailable += 1;
                    drop(st);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    st = self.state.lock().await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Re-reads the record (a cancel recorded by someone else); fails
    /// when the lease is no longer ours.
    async fn refresh(&self, stores: &Stores) -> Result<(), WriteError> {
        let fresh = self.read_ours(stores).await?;
        *self.state.lock().await = fresh;
        Ok(())
    }

    /// The stored record and revision, while the lease is still ours
    /// (same holder, same epoch); otherwise the lease is lost for good.
    async fn read_ours(&self, stores: &Stores) -> Result<(Job, u64), WriteError> {
        let Some(entry) = stores.jobs.get(&self.key).await? else {
            self.lost.set();
            return Err(WriteError::LeaseLost);
        };
        let fresh: Job =
            serde_json::from_slice(&entry.value).map_err(|e| StoreError::Decode(e.to_string()))?;
        let ours = fresh
            .lease
            .as_ref()
            .is_some_and(|l| l.holder == self.me && l.epoch == self.epoch);
        if !ours {
            self.lost.set();
            return Err(WriteError::LeaseLost);
        }
        Ok((fresh, entry.revision))
    }

    async fn job(&self) -> Job {
        self.state.lock().await.0.clone()
    }
}

/// Renews the lease every third of its length until `done`.
async fn renew(jobs: Jobs, handle: Arc<Handle>) {
    let lease = jobs.inner().settings.lease;
    let Ok(stores) = jobs.stores().await else {
        return;
    };
    loop {
        tokio::time::sleep(lease / 3).await;
        let me = handle.me.clone();
        let r = handle
            .write(stores, |j| {
                let now = now_ms();
                j.claim(&me, now + lease.as_millis() as u64, now)
                    .map(|_| ())
            })
            .await;
        match r {
            Ok(_) => {}
            Err(WriteError::LeaseLost) => return,
            Err(WriteError::Refused(_)) => return,
            Err(e) => tracing::warn!(error = %e, "lease renewal failed; retrying"),
        }
    }
}

async fn drive(jobs: &Jobs, handle: Handle, shared: &Shared) {
    let handle = Arc::new(handle);
    let renewal = AbortOnDrop(tokio::spawn(renew(jobs.clone(), handle.clone())));
    let span = job_span(&handle.job().await);
    let r = tokio::select! {
        r = run(jobs, &handle, shared).instrument(span) => r,
        _ = handle.lost.wait() => Err(WriteError::LeaseLost),
    };
    drop(renewal);
    match r {
        Ok(()) => {}
        Err(WriteError::LeaseLost) => {
            tracing::warn!(job = %handle.key, "lost the lease; another runner has the job")
        }
        Err(e) => {
            tracing::error!(job = %handle.key, error = %e, "job runner stopped; the job is taken over after its lease")
        }
    }
}

/// The job's span, a child of the request that created it (its recorded
/// `traceparent`), whichever replica runs it and however often it is taken
/// over: one trace per job.
fn job_span(job: &Job) -> tracing::Span {
    let span = tracing::info_span!(
        "job",
        otel.name = %format!("job {}", job.kind.as_str()),
        job_id = %job.id,
        kind = job.kind.as_str(),
        tenant_id = job.target.tenant().map(|t| t.as_str()).unwrap_or_default(),
        request_id = %job.ids.request_id,
        correlation_id = %job.ids.correlation_id,
    );
    crate::telemetry::continue_trace_from(&span, &job.ids.traceparent);
    span
}

/// Counts a job as waiting while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Self(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn run(jobs: &Jobs, handle: &Arc<Handle>, shared: &Shared) -> Result<(), WriteError> {
    let stores = jobs.stores().await.map_err(|e| match e {
        JobsError::Store(s) => WriteError::Store(s),
        other => WriteError::Store(StoreError::Unavailable(other.to_string())),
    })?;
    let wf = &handle.workflow;
    let mut waiting: Option<Waiting> = None;
    loop {
        let job = handle.job().await;
        if now_ms() > job.deadline_ms && job.error.is_none() && job.state != JobState::Cancelling {
            handle
                .write(stores, |j| {
                    j.fail(
                        StepError::new("deadline_exceeded", "the job ran past its deadline"),
                        now_ms(),
                    )
                })
                .await?;
            continue;
        }
        match job.next()? {
            Next::Finish(state) => return finish(jobs, stores, handle, state).await,
            Next::Run(i) => {
                if !lock(jobs, stores, handle, &job).await? {
                    if waiting.is_none() {
                        waiting = Some(Waiting::new(&shared.waiting));
                        // A slot is free again: maybe for a dead lock holder's job.
                        shared.wake.notify_one();
                    }
                    tokio::time::sleep(jobs.inner().settings.poll).await;
                    // A cancel is written by others: see it while waiting.
                    handle.refresh(stores).await?;
                    continue;
                }
                waiting = None;
                run_step(jobs, stores, handle, wf, i).await?;
            }
        }
    }
}

/// Takes the target's lock for this job (once held, it stays until the
/// job ends). Answers false when another unfinished job holds it: the job
/// is then `waiting`, naming the holder.
async fn lock(
    jobs: &Jobs,
    stores: &Stores,
    handle: &Handle,
    job: &Job,
) -> Result<bool, WriteError> {
    let lk = Key::parse(&format!("lock.{}", job.target.lock_key()))?;
    let mine = Bytes::from(job.id.to_string());
    let holder = match stores.locks.get(&lk).await? {
        None => match stores.locks.create(&lk, mine.clone()).await {
            Ok(_) => return Ok(true),
            Err(StoreError::AlreadyExists) => return Ok(false),
            Err(e) => return Err(e.into()),
        },
        Some(e) if e.value == mine => return Ok(true),
        Some(e) => e,
    };
    let other = String::from_utf8_lossy(&holder.value).into_owned();
    let other_live = match model::ids::JobId::parse(&other) {
        Ok(id) => matches!(jobs.get(&id).await, Ok(j) if !j.state.is_terminal()),
        Err(_) => false,
    };
    if !other_live {
        // Its job ended without releasing it (a crash): take it over.
        return match stores.locks.update(&lk, mine, holder.revision).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict { .. } | StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        };
    }
    if job.state != JobState::Waiting {
        let what = format!("lock on {} held by {other}", job.target);
        let r = handle
            .write(stores, |j| j.wait_for(what.clone(), now_ms()))
            .await;
        match r {
            Ok(_) => {
                jobs.inner()
                    .metrics
                    .waiting
                    .get_or_create(&metrics::kind(job.kind))
                    .inc();
            }
            // Cancelled meanwhile, or already started: the loop re-reads.
            Err(WriteError::Refused(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

async fn release(stores: &Stores, job: &Job) {
    let Ok(lk) = Key::parse(&format!("lock.{}", job.target.lock_key())) else {
        return;
    };
    if let Ok(Some(e)) = stores.locks.get(&lk).await {
        if e.value == job.id.as_str().as_bytes() {
            if let Err(err) = stores.locks.delete(&lk, Some(e.revision)).await {
                tracing::warn!(error = %err, job = %job.id, "lock not released; the next job takes it over");
            }
        }
    }
}

async fn run_step(
    jobs: &Jobs,
    stores: &Stores,
    handle: &Handle,
    wf: &Arc<dyn Workflow>,
    i: usize,
) -> Result<(), WriteError> {
    let current = handle.job().await;
    let mut rerun = false;
    if let Some(s) = current.steps.get(i) {
        rerun = s.state == model::jobs::StepState::Running && wf.policy(&s.name).idempotent;
        if s.state == model::jobs::StepState::Running
            && s.attempts >= s.max_attempts
            && !(rerun && s.interruptions < model::jobs::MAX_INTERRUPTIONS)
        {
            // Its runner died in the step's last attempt: the effect of that
            // attempt is unknown and no attempt is left. Fail the step (the
            // job then walks back, or ends failed past its point of no
            // return) instead of leaving it running for ever.
            let e = StepError::new(
                "interrupted",
                "the runner stopped during the last attempt of this step",
            );
            handle
                .write(stores, |j| j.step_failed(i, e.clone(), false, now_ms()))
                .await?;
            return Ok(());
        }
    }
    let was_waiting = current.state == JobState::Waiting;
    let (attempt, job) = handle
        .write(stores, |j| {
            // An idempotent step cut by a crash: the re-run finds out what
            // the cut attempt did, without using up an attempt.
            if rerun {
                j.interrupted(i, now_ms())?;
            }
            j.start_step(i, now_ms())
        })
        .await?;
    if was_waiting {
        jobs.inner()
            .metrics
            .waiting
            .get_or_create(&metrics::kind(job.kind))
            .dec();
    }
    let name = job.steps[i].name.clone();
    let policy = wf.policy(&name);
    let (progress, mut progress_rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = StepContext {
        job: Arc::new(job.clone()),
        index: i,
        attempt,
        epoch: handle.epoch,
        progress,
    };
    let labels = StepLabels {
        kind: job.kind.as_str().to_owned(),
        step: metrics::step_class(&name),
    };
    let started = std::time::Instant::now();
    let attempt_run = async {
        let run = wf.run(&ctx);
        tokio::pin!(run);
        loop {
            tokio::select! {
                r = &mut run => return r,
                Some(mut items) = progress_rx.recv() => {
                    // Only the newest counts: skip what queued meanwhile.
                    while let Ok(next) = progress_rx.try_recv() {
                        items = next;
                    }
                    if let Err(e) = handle.write(stores, |j| j.step_progress(i, items, now_ms())).await {
                        tracing::warn!(error = ?e, job = %job.id, "step progress not written");
                    }
                }
            }
        }
    };
    let step_span = tracing::info_span!(
        "step",
        otel.name = %format!("step {}", metrics::step_class(&name)),
        step = %name,
        attempt,
    );
    let result = match tokio::time::timeout(policy.timeout, attempt_run.instrument(step_span)).await
    {
        Ok(r) => r,
        Err(_) => Err(super::workflow::StepFailure::retry(
            "step_timeout",
            format!(
                "the attempt took longer than {} ms",
                policy.timeout.as_millis()
            ),
        )),
    };
    jobs.inner()
        .metrics
        .step_attempt(&labels, started.elapsed().as_secs_f64());
    match result {
        Ok(output) => {
            handle
                .write(stores, |j| j.step_succeeded(i, output.clone(), now_ms()))
                .await?;
        }
        Err(f) => {
            let (after, _) = handle
                .write(stores, |j| {
                    if let Some(o) = &f.output {
                        j.record_output(i, o.clone(), now_ms())?;
                    }
                    j.step_failed(i, f.error.clone(), f.retryable, now_ms())
                })
                .await?;
            if after == AfterFailure::Retry {
                jobs.inner()
                    .metrics
                    .step_retries
                    .get_or_create(&labels)
                    .inc();
                tokio::time::sleep(policy.delay(attempt + 1)).await;
            }
        }
    }
    Ok(())
}

/// The terminal write inside one audited action (event
/// `job.<kind>.finished` with the outcome, linked by job id: its intent is
/// durable before the write), then the lock is released.
async fn finish(
    jobs: &Jobs,
    stores: &Stores,
    handle: &Arc<Handle>,
    state: JobState,
) -> Result<(), WriteError> {
    let job = handle.job().await;
    let caller = super::caller_of(&job);
    let reason = job
        .cancel
        .as_ref()
        .map_or(&job.reason, |c| &c.reason)
        .clone();
    let plan = Plan::new(
        &caller,
        &format!("job.{}.finished", job.kind),
        format!("job/{}", job.id),
    )
    .with_job(Some(job.idempotency_key.clone()), Some(job.id.to_string()))
    .on_behalf(&job.principal.sub, &job.principal.session, reason);
    let outcome = match state {
        JobState::Succeeded => Outcome::Succeeded,
        _ => Outcome::Failed,
    };
    let mut result = handle.workflow.result(&job);
    result.insert("state".into(), serde_json::json!(state));
    result.insert("error".into(), serde_json::json!(job.error));
    let result = serde_json::Value::Object(result);
    let (jobs2, handle2) = (jobs.clone(), handle.clone());
    let written = jobs
        .inner()
        .actions
        .run(plan, async move {
            let r = match jobs2.stores().await {
                Ok(stores) => {
                    handle2
                        .write(stores, |j| j.finish(state, Some(result.clone()), now_ms()))
                        .await
                }
                Err(e) => Err(WriteError::Store(StoreError::Unavailable(e.to_string()))),
            };
            let o = if r.is_ok() { outcome } else { Outcome::Failed };
            Done::new(o, r)
        })
        .await;
    let (_, job) = match written {
        Ok(r) => r?,
        // The terminal write happened; its event is pending in the intent.
        Err(e) => {
            tracing::error!(error = %e, job = %job.id, "terminal audit event pending");
            ((), handle.job().await)
        }
    };
    release(stores, &job).await;
    jobs.inner()
        .metrics
        .finished
        .get_or_create(&metrics::OutcomeLabels {
            kind: job.kind.as_str().to_owned(),
            outcome: state.as_str().to_owned(),
        })
        .inc();
    Ok(())
}
