//! The job engine (docs/jobs.md): every multi-step mutation of the platform
//! is a job. One facade (`Jobs`) both doors call: create (idempotent,
//! audited), list, get, cancel, live changes; and the runner every replica
//! starts, which shares the work with the others through the store.
//!
//! Records, in the substrate so both backends give the same semantics:
//! - bucket `jobs`: one key per job holding its whole progress, written only
//!   by CAS (`update` on the revision last read);
//! - log `job_events`: one entry per write, the step-by-step history;
//! - bucket `job_locks`: one key per locked target, holding the job id;
//! - bucket `job_idempotency`: one key per (principal, method, route,
//!   Idempotency-Key), claimed with `create`.

pub mod idempotency;
pub mod metrics;
pub mod routing_reload;
mod runner;
pub mod workflow;

use crate::action::{ActionError, Actions, Done, Plan};
use crate::error::{ClientError, ClientView};
use crate::identity::{now_ms, Caller};
use crate::store::{
    BucketOptions, EventLog, Key, KeyPrefix, Kv, KvEvent, StoreError, Substrate, TypedKv,
};
use futures::StreamExt;
use model::audit::Outcome;
use model::ids::JobId;
use model::jobs::{CancelRequest, CreateJob, Ids, Job, JobKind, JobPage, JobQuery, Principal};
use model::ErrorCode;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, OnceCell};
use workflow::Workflow;

pub use metrics::JobMetrics;

pub const JOBS_BUCKET: &str = "jobs";
pub const EVENTS_LOG: &str = "job_events";
pub const LOCKS_BUCKET: &str = "job_locks";
pub const IDEMPOTENCY_BUCKET: &str = "job_idempotency";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobsError {
    #[error("no such job")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("Idempotency-Key required")]
    IdempotencyKeyRequired,
    #[error("Idempotency-Key malformed")]
    BadIdempotencyKey,
    #[error("Idempotency-Key reused with another request")]
    KeyReused,
    #[error("the first request with this key is in progress")]
    InFlight { retry_after_s: u64 },
    #[error("target locked by {0}")]
    Locked(String),
    #[error("cancel refused: {0}")]
    CancelRefused(String),
    #[error("the plan is stale")]
    PlanStale,
    #[error("x-tenant-id names another tenant than the input")]
    TenantMismatch,
    #[error("gate failed: {0}")]
    GateFailed(String),
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("audit: {0}")]
    Audit(#[from] ActionError),
    #[error("config: {0}")]
    Config(crate::config::ConfigError),
    /// A deployment error as its client sees it (logged where it happened).
    #[error("deploy: {}", .0.message)]
    Deploy(crate::error::ClientView),
    #[error("a change freeze is on")]
    Frozen,
}

impl JobsError {
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::InFlight { retry_after_s } => Some(*retry_after_s),
            _ => None,
        }
    }
}

impl ClientError for JobsError {
    fn client_view(&self) -> ClientView {
        match self {
            Self::NotFound => ClientView::new(ErrorCode::NotFound, "no such job"),
            Self::BadRequest(m) => ClientView::new(ErrorCode::BadRequest, m.clone()),
            Self::IdempotencyKeyRequired => ClientView::new(
                ErrorCode::IdempotencyKeyRequired,
                "an Idempotency-Key header is required to create a job",
            ),
            Self::BadIdempotencyKey => ClientView::new(
                ErrorCode::BadIdempotencyKey,
                "Idempotency-Key must be a quoted string (or a token) of 1-255 printable characters",
            ),
            Self::KeyReused => ClientView::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with another request body; use a new key",
            ),
            Self::InFlight { .. } => ClientView::new(
                ErrorCode::IdempotencyInFlight,
                "a request with this Idempotency-Key is still being processed; retry later",
            ),
            Self::Locked(m) => ClientView::new(ErrorCode::Locked, m.clone()),
            Self::CancelRefused(m) => ClientView::new(ErrorCode::CancelRefused, m.clone()),
            Self::PlanStale => ClientView::new(
                ErrorCode::PlanStale,
                "what the plan read has changed since (a revision, a gate's verdict): ask for a new plan",
            ),
            Self::GateFailed(m) => ClientView::new(ErrorCode::GateFailed, m.clone()),
            Self::TenantMismatch => ClientView::new(
                ErrorCode::TenantMismatch,
                "x-tenant-id does not match input.tenant",
            ),
            Self::Forbidden(m) => ClientView::new(ErrorCode::Forbidden, m.clone()),
            Self::Store(e) => ClientView {
                message: format!("the job store: {}", e.client_view().message),
                ..e.client_view()
            },
            Self::Audit(ActionError::BadRequest(m)) => ClientView::new(ErrorCode::BadRequest, m.clone()),
            Self::Audit(_) => ClientView::new(
                ErrorCode::Unavailable,
                "the audit log is unavailable; nothing was done",
            ),
            Self::Config(e) => e.client_view(),
            Self::Deploy(v) => v.clone(),
            Self::Frozen => ClientView::new(
                ErrorCode::Frozen,
                "a change freeze is on (flag `freeze`): only config changes run until it is lifted",
            ),
        }
    }
}

/// Timings of the engine (config section `[jobs]`).
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// How long a lease lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// How often a runner looks for work besides the change feed.
    pub poll: Duration,
    /// How long an Idempotency-Key is remembered (at least 24 h).
    pub key_retention: Duration,
    /// A claim in `creating` older than this is taken over.
    pub creating_stale: Duration,
    /// The whole-job deadline for jobs that do not say.
    pub deadline: Duration,
    /// Jobs one runner runs at once.
    pub max_running: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            poll: Duration::from_millis(500),
            key_retention: Duration::from_secs(24 * 3600),
            creating_stale: Duration::from_secs(30),
            deadline: Duration::from_secs(15 * 60),
            max_running: 64,
        }
    }
}

/// One write of a job, as every replica sees it (from the `jobs` watch).
#[derive(Debug, Clone)]
pub struct JobChange {
    pub revision: u64,
    pub job: Arc<Job>,
}

/// What a create answers: the job, and whether it is a replay.
#[derive(Debug, Clone)]
pub struct Created {
    pub job: serde_json::Value,
    pub job_id: JobId,
    pub replayed: bool,
}

/// A create as a door hands it over: the raw header, the route it came
/// through (for the key's scope and the fingerprint) and the body.
pub struct CreateRequest<'a> {
    pub idempotency_key: Option<&'a str>,
    pub method: &'a str,
    pub route: &'a str,
    pub body: CreateJob,
}

/// Who asks for a job: a client through a door, or a job for its children
/// (an evacuation's moves), whose plans are made on the spot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Client,
    Parent,
}

/// The outbound headers of plans and gates: the caller's ids, never its
/// token (instances get no user credentials).
/// The caller a job's own audit events are recorded under: the ids of
/// the request that created it, no live identity.
pub(crate) fn caller_of(job: &Job) -> Caller {
    Caller {
        identity: None,
        request_id: job.ids.request_id.clone(),
        correlation_id: job.ids.correlation_id.clone(),
        traceparent: job.ids.traceparent.clone(),
        trace_id: job.ids.trace_id.clone(),
        tenant: job.target.tenant().map(|t| t.as_str().to_owned()),
    }
}

pub fn forward_of(caller: &Caller) -> crate::gateway::Forward {
    crate::gateway::Forward {
        request_id: Some(caller.request_id.clone()),
        correlation_id: Some(caller.correlation_id.clone()),
        traceparent: (!caller.traceparent.is_empty()).then(|| caller.traceparent.clone()),
        ..Default::default()
    }
}

struct Stores {
    jobs: Arc<dyn Kv>,
    locks: Arc<dyn Kv>,
    keys: Arc<dyn Kv>,
    events: Arc<dyn EventLog>,
}

pub(crate) struct Inner {
    store: Arc<dyn Substrate>,
    stores: OnceCell<Stores>,
    actions: Actions,
    workflows: BTreeMap<JobKind, Arc<dyn Workflow>>,
    settings: JobSettings,
    /// This runner, in leases.
    me: String,
    changes: broadcast::Sender<JobChange>,
    metrics: Arc<JobMetrics>,
    /// Every unfinished job by target (`Target`'s display form), from the
    /// change feed: what lists show next to a tenant or a shard.
    active: std::sync::RwLock<BTreeMap<String, ActiveEntry>>,
    /// The control plane's flags (the `freeze` flag), once the config
    /// registry that holds them is wired.
    flags: std::sync::OnceLock<tokio::sync::watch::Receiver<model::config::Flags>>,
}

#[derive(Clone)]
pub(crate) struct ActiveEntry {
    pub(crate) job: model::jobs::ActiveJob,
    pub(crate) input: serde_json::Value,
}

#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

fn random_hex() -> String {
    let b: [u8; 8] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn key(s: &str) -> Result<Key, JobsError> {
    Key::parse(s).map_err(JobsError::Store)
}

impl Jobs {
    pub fn new(
        store: Arc<dyn Substrate>,
        actions: Actions,
        workflows: Vec<Arc<dyn Workflow>>,
        settings: JobSettings,
    ) -> Self {
        let (changes, _) = broadcast::channel(4096);
        Self {
            inner: Arc::new(Inner {
                store,
                stores: OnceCell::new(),
                actions,
                workflows: workflows.into_iter().map(|w| (w.kind(), w)).collect(),
                settings,
                me: format!("r-{}", random_hex()),
                changes,
                metrics: Arc::new(JobMetrics::default()),
                active: std::sync::RwLock::new(BTreeMap::new()),
                flags: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Follows the registry's flags: a change freeze refuses new jobs
    /// other than config changes.
    pub fn follow_flags(&self, flags: tokio::sync::watch::Receiver<model::config::Flags>) {
        let _ = self.inner.flags.set(flags);
    }

    fn frozen(&self) -> bool {
        self.inner.flags.get().is_some_and(|f| f.borrow().freeze)
    }

    pub fn metrics(&self) -> &Arc<JobMetrics> {
        &self.inner.metrics
    }

    pub fn settings(&self) -> JobSettings {
        self.inner.settings
    }

    /// This runner's id (in leases).
    pub fn runner_id(&self) -> &str {
        &self.inner.me
    }

    /// Opened on first use, so a store that is down at start does not stop
    /// the server from starting.
    async fn stores(&self) -> Result<&Stores, JobsError> {
        Ok(self
            .inner
            .stores
            .get_or_try_init(|| async {
                let s = &self.inner.store;
                let opts = BucketOptions {
                    history: 8,
                    ..BucketOptions::default()
                };
                Ok::<_, StoreError>(Stores {
                    jobs: s.kv(JOBS_BUCKET, opts).await?,
                    locks: s
                        .kv(LOCKS_BUCKET, BucketOptions { history: 2, ..opts })
                        .await?,
                    keys: s
                        .kv(IDEMPOTENCY_BUCKET, BucketOptions { history: 2, ..opts })
                        .await?,
                    events: s.log(EVENTS_LOG).await?,
                })
            })
            .await?)
    }

    fn workflow(&self, kind: JobKind) -> Result<&Arc<dyn Workflow>, JobsError> {
        self.inner
            .workflows
            .get(&kind)
            .ok_or_else(|| JobsError::BadRequest(format!("job kind {kind} is not enabled here")))
    }

    /// Creates a job, once per Idempotency-Key: the key is checked first,
    /// the input validated and planned (a bad request stores nothing), the
    /// key claimed with a KV create (first writer wins), and the job written
    /// inside one audited action (event `job.<kind>` with the reason, plan
    /// hash, key and job id).
    pub async fn create(
        &self,
        caller: &Caller,
        kind: JobKind,
        req: CreateRequest<'_>,
    ) -> Result<Created, JobsError> {
        self.create_from(caller, kind, req, Origin::Client).await
    }

    /// A create through either door: the key is scoped to the REST route
    /// `POST /admin/v1/jobs/{kind}`, so the UI and REST share one scope and
    /// a retry through either finds the same job.
    pub async fn create_at_door(
        &self,
        caller: &Caller,
        kind: JobKind,
        idempotency_key: Option<&str>,
        body: CreateJob,
    ) -> Result<Created, JobsError> {
        let route = format!("{}/jobs/{kind}", model::policy::REST_PREFIX);
        let req = CreateRequest {
            idempotency_key,
            method: "POST",
            route: &route,
            body,
        };
        self.create(caller, kind, req).await
    }

    /// A child job of `parent` (a move of an evacuation), once per `key`:
    /// created on behalf of the parent's principal, whose right the parent
    /// was checked for, with a plan made now (siblings move the revisions
    /// all the time, so there is no client plan to compare).
    pub async fn create_child(
        &self,
        parent: &Job,
        kind: JobKind,
        key: &str,
        input: serde_json::Value,
    ) -> Result<Created, JobsError> {
        let identity = crate::identity::Identity {
            principal: crate::token::Principal {
                sub: parent.principal.sub.clone(),
                session_id: parent.principal.session.clone(),
            },
            username: parent.principal.sub.clone(),
            display_name: parent.principal.sub.clone(),
            roles: Vec::new(),
            grants: model::rights::Grants(vec![kind.right().as_str().to_owned()]),
            token: crate::identity::AccessToken::new(""),
        };
        let caller = Caller {
            identity: Some(Arc::new(identity)),
            request_id: parent.ids.request_id.clone(),
            correlation_id: parent.ids.correlation_id.clone(),
            traceparent: parent.ids.traceparent.clone(),
            trace_id: parent.ids.trace_id.clone(),
            tenant: None,
        };
        let quoted = format!("\"{key}\"");
        let route = format!("job/{}/{kind}", parent.id);
        let req = CreateRequest {
            idempotency_key: Some(&quoted),
            method: "CHILD",
            route: &route,
            body: CreateJob {
                reason: format!("{} (part of {})", parent.reason, parent.id),
                input,
                plan_hash: None,
            },
        };
        self.create_from(&caller, kind, req, Origin::Parent).await
    }

    /// The plan a job of `kind` with `input` would run now: steps, gates
    /// with their observed values, revisions, point of no return, reverse
    /// and hash. Reads only; the kind's right is required.
    pub async fn plan(
        &self,
        caller: &Caller,
        kind: JobKind,
        input: &serde_json::Value,
    ) -> Result<model::moves::Plan, JobsError> {
        let identity = caller
            .identity
            .as_ref()
            .ok_or_else(|| JobsError::Forbidden("sign in to plan jobs".into()))?;
        if !identity.allows(kind.right()) {
            return Err(JobsError::Forbidden(format!(
                "{} is required",
                kind.right().as_str()
            )));
        }
        check_client_input(caller, input)?;
        let planned = self
            .workflow(kind)?
            .plan(input, &forward_of(caller))
            .await?;
        planned
            .plan
            .ok_or_else(|| JobsError::BadRequest(format!("{kind} jobs have no plan")))
    }

    async fn create_from(
        &self,
        caller: &Caller,
        kind: JobKind,
        req: CreateRequest<'_>,
        origin: Origin,
    ) -> Result<Created, JobsError> {
        let idem = idempotency::parse_key(req.idempotency_key).inspect_err(|e| {
            self.conflict(e);
        })?;
        let identity = caller
            .identity
            .as_ref()
            .ok_or_else(|| JobsError::Forbidden("sign in to create jobs".into()))?;
        if !identity.allows(kind.right()) {
            return Err(JobsError::Forbidden(format!(
                "{} is required",
                kind.right().as_str()
            )));
        }
        let reason = model::iam::check_reason(&req.body.reason).map_err(JobsError::BadRequest)?;
        let body =
            serde_json::to_value(&req.body).map_err(|e| JobsError::BadRequest(e.to_string()))?;
        let fingerprint = idempotency::fingerprint(req.method, req.route, &body);
        let wf = self.workflow(kind)?.clone();
        // A retry of a create that was answered (the answer lost on the
        // way) gets that answer, whatever moved since: check the key first.
        let stores = self.stores().await?;
        let scope = key(&idempotency::scope_key(
            &identity.principal.sub,
            req.method,
            req.route,
            &idem,
        ))?;
        let typed = TypedKv::<idempotency::Record>::new(stores.keys.clone());
        if let Some((rec, _)) = typed.get(&scope).await? {
            if rec.stage == idempotency::Stage::Done || rec.fingerprint != fingerprint {
                if let Existing::Replay(created) =
                    self.existing_claim(&typed, &scope, &fingerprint).await?
                {
                    return Ok(created);
                }
            }
        }
        if origin == Origin::Client {
            // After the replay check: a retry of a create answered before
            // the freeze still gets its answer.
            if self.frozen() && !kind.is_config() {
                return Err(JobsError::Frozen);
            }
            check_client_input(caller, &req.body.input)?;
            if kind.is_planned() && req.body.plan_hash.is_none() {
                return Err(JobsError::BadRequest(format!(
                    "plan_hash: required; ask POST /admin/v1/plans/{kind} for the plan first"
                )));
            }
        }
        let planned = wf.plan(&req.body.input, &forward_of(caller)).await?;
        if origin == Origin::Client
            && req.body.plan_hash.is_some()
            && req.body.plan_hash != planned.plan_hash
        {
            return Err(JobsError::PlanStale);
        }
        let failed: Vec<String> = planned
            .plan
            .iter()
            .flat_map(|p| p.gates.iter().filter(|g| !g.pass).map(|g| g.describe()))
            .collect();
        if !failed.is_empty() {
            let message = failed.join("; ");
            let mut rec = caller.record(
                &format!("job.{kind}"),
                planned.target.to_string(),
                Some(reason.clone()),
                Outcome::Denied,
            );
            rec.tenant = planned.target.tenant().map(|t| t.as_str().to_owned());
            rec.detail = Some(message.clone());
            self.inner.actions.audit().append_or_log(rec).await;
            return Err(JobsError::GateFailed(message));
        }
        if !kind.waits_for_lock() {
            if let Some(holder) = self.lock_holder(&planned.target.lock_key()).await? {
                return Err(JobsError::Locked(format!(
                    "{} is locked by {holder}",
                    planned.target
                )));
            }
        }

        // Claim the key. The job id is fixed in the claim, so a taken-over
        // stale claim creates the same job, never a second one.
        let now = now_ms();
        let id = JobId::from_random(uuid::Uuid::now_v7().into_bytes());
        let claim = idempotency::Record {
            fingerprint: fingerprint.clone(),
            stage: idempotency::Stage::Creating,
            job_id: id.clone(),
            since_ms: now,
            response: None,
        };
        let (claim, claim_rev) = match typed.create(&scope, &claim).await {
            Ok(rev) => (claim, rev),
            Err(StoreError::AlreadyExists | StoreError::Conflict { .. }) => {
                match self.existing_claim(&typed, &scope, &fingerprint).await? {
                    Existing::Replay(created) => return Ok(created),
                    Existing::TakeOver(rec, rev) => (rec, rev),
                }
            }
            Err(e) => return Err(e.into()),
        };
        let id = claim.job_id.clone();

        let job = Job::new(
            id.clone(),
            kind,
            planned.target.clone(),
            &planned.steps,
            Principal {
                sub: identity.principal.sub.clone(),
                session: identity.principal.session_id.clone(),
            },
            reason.clone(),
            idem.clone(),
            fingerprint,
            Ids {
                request_id: caller.request_id.clone(),
                correlation_id: caller.correlation_id.clone(),
                trace_id: caller.trace_id.clone(),
                traceparent: caller.traceparent.clone(),
            },
            planned
                .input
                .clone()
                .unwrap_or_else(|| req.body.input.clone()),
            now,
            now + self.inner.settings.deadline.as_millis() as u64,
        );
        let job = Job {
            plan_hash: planned.plan_hash.clone(),
            ..job
        };

        // A kind that allows one job per observed state claims it now,
        // atomically; the loser is refused before anything is stored.
        if let Err(e) = wf.reserve(&id, &job.input).await {
            let _ = stores.keys.delete(&scope, Some(claim_rev)).await;
            return Err(e);
        }
        let mut audit_caller = caller.clone();
        audit_caller.tenant = planned.target.tenant().map(|t| t.as_str().to_owned());
        let plan = Plan::new(&audit_caller, &format!("job.{kind}"), format!("job/{id}"))
            .with_reason(&reason)?
            .with_job(Some(idem.clone()), Some(id.to_string()));
        let jobs_kv = TypedKv::<Job>::new(stores.jobs.clone());
        let job_key = key(id.as_str())?;
        let written = {
            let job = job.clone();
            let job_key = job_key.clone();
            let events = stores.events.clone();
            self.inner
                .actions
                .run(plan, async move {
                    let r = match jobs_kv.create(&job_key, &job).await {
                        Ok(rev) => Ok(rev),
                        // A taken-over claim whose job was written already.
                        Err(StoreError::AlreadyExists) => Ok(0),
                        Err(e) => Err(e),
                    };
                    if let Ok(rev) = r {
                        if rev > 0 {
                            append_event(&*events, &job, rev).await;
                        }
                    }
                    let outcome = if r.is_ok() {
                        Outcome::Succeeded
                    } else {
                        Outcome::Failed
                    };
                    Done::new(outcome, r)
                })
                .await?
        };
        let current = match written {
            // The answer is the job as created, whatever the runner did since.
            Ok(rev) if rev > 0 => job,
            // A taken-over claim: the job was written by the first creator.
            Ok(_) => match TypedKv::<Job>::new(stores.jobs.clone())
                .get(&job_key)
                .await?
            {
                Some((j, _)) => j,
                None => job,
            },
            Err(e) => {
                // Nothing was created: free the key so a retry can create it.
                let _ = stores.keys.delete(&scope, Some(claim_rev)).await;
                return Err(e.into());
            }
        };
        let response =
            serde_json::to_value(&current).map_err(|e| JobsError::BadRequest(e.to_string()))?;
        let done = idempotency::Record {
            stage: idempotency::Stage::Done,
            since_ms: now_ms(),
            response: Some(response.clone()),
            ..claim
        };
        if let Err(e) = typed.update(&scope, &done, claim_rev).await {
            // The job exists; a replay reads it from the job record instead.
            tracing::warn!(error = %e, job = %id, "idempotency record not marked done");
        }
        self.inner
            .metrics
            .created
            .get_or_create(&metrics::kind(kind))
            .inc();
        Ok(Created {
            job: response,
            job_id: id,
            replayed: false,
        })
    }

    fn conflict(&self, e: &JobsError) {
        let code = e.client_view().code.as_str().to_owned();
        self.inner
            .metrics
            .idempotency_conflicts
            .get_or_create(&metrics::CodeLabel { code })
            .inc();
    }

    async fn existing_claim(
        &self,
        typed: &TypedKv<idempotency::Record>,
        scope: &Key,
        fingerprint: &str,
    ) -> Result<Existing, JobsError> {
        let Some((rec, rev)) = typed.get(scope).await? else {
            // Deleted meanwhile (a failed create freed it): the client retries.
            let e = JobsError::InFlight { retry_after_s: 1 };
            self.conflict(&e);
            return Err(e);
        };
        if rec.fingerprint != fingerprint {
            let e = JobsError::KeyReused;
            self.conflict(&e);
            return Err(e);
        }
        match rec.stage {
            idempotency::Stage::Done => {
                self.inner.metrics.replays.inc();
                let job = match rec.response {
                    Some(r) => r,
                    None => serde_json::to_value(self.get(&rec.job_id).await?)
                        .map_err(|e| JobsError::BadRequest(e.to_string()))?,
                };
                Ok(Existing::Replay(Created {
                    job,
                    job_id: rec.job_id,
                    replayed: true,
                }))
            }
            idempotency::Stage::Creating => {
                let age = now_ms().saturating_sub(rec.since_ms);
                if u128::from(age) < self.inner.settings.creating_stale.as_millis() {
                    let e = JobsError::InFlight { retry_after_s: 1 };
                    self.conflict(&e);
                    return Err(e);
                }
                // The creator died mid-way: take the claim over by CAS.
                let taken = idempotency::Record {
                    since_ms: now_ms(),
                    ..rec
                };
                match typed.update(scope, &taken, rev).await {
                    Ok(rev) => Ok(Existing::TakeOver(taken, rev)),
                    Err(StoreError::Conflict { .. } | StoreError::NotFound) => {
                        let e = JobsError::InFlight { retry_after_s: 1 };
                        self.conflict(&e);
                        Err(e)
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// The unfinished job holding the lock `lock` (a `Target::lock_key`).
    pub async fn lock_holder(&self, lock: &str) -> Result<Option<String>, JobsError> {
        let stores = self.stores().await?;
        let Some(e) = stores.locks.get(&key(&format!("lock.{lock}"))?).await? else {
            return Ok(None);
        };
        let holder = String::from_utf8_lossy(&e.value).into_owned();
        match JobId::parse(&holder) {
            Ok(id) => match self.get(&id).await {
                Ok(j) if !j.state.is_terminal() => Ok(Some(holder)),
                _ => Ok(None),
            },
            Err(_) => Ok(None),
        }
    }

    pub async fn get(&self, id: &JobId) -> Result<Job, JobsError> {
        let stores = self.stores().await?;
        TypedKv::<Job>::new(stores.jobs.clone())
            .get(&key(id.as_str())?)
            .await?
            .map(|(j, _)| j)
            .ok_or(JobsError::NotFound)
    }

    /// A job id as a client sent it.
    pub fn parse_id(s: &str) -> Result<JobId, JobsError> {
        JobId::parse(s).map_err(|e| JobsError::BadRequest(format!("job id: {e}")))
    }

    /// Newest first (job ids are time-ordered), filtered, one page.
    pub async fn list(&self, q: &JobQuery) -> Result<JobPage, JobsError> {
        let stores = self.stores().await?;
        let typed = TypedKv::<Job>::new(stores.jobs.clone());
        let mut ids = stores.jobs.keys(&KeyPrefix::All).await?;
        ids.reverse();
        let size = q.page_size();
        let skip = q.page * size;
        let mut jobs = Vec::new();
        let mut total = 0;
        for id in ids {
            let Some((job, _)) = typed.get(&key(&id)?).await? else {
                continue;
            };
            if !q.matches(&job) {
                continue;
            }
            if total >= skip && jobs.len() < size {
                jobs.push(job);
            }
            total += 1;
        }
        Ok(JobPage {
            jobs,
            total,
            page: q.page,
            page_size: size,
        })
    }

    /// Cooperative cancel: recorded on the job (who, why) by CAS; the
    /// runner then compensates. Refused on a finished job and past the
    /// point of no return. Audited (`job.cancel`) whatever the outcome.
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &JobId,
        reason: &str,
    ) -> Result<Job, JobsError> {
        let identity = caller
            .identity
            .as_ref()
            .ok_or_else(|| JobsError::Forbidden("sign in to cancel jobs".into()))?;
        let stores = self.stores().await?;
        let typed = TypedKv::<Job>::new(stores.jobs.clone());
        let k = key(id.as_str())?;
        let (job, _) = typed.get(&k).await?.ok_or(JobsError::NotFound)?;
        let plan = Plan::new(caller, "job.cancel", format!("job/{id}"))
            .with_reason(reason)?
            .with_job(Some(job.idempotency_key.clone()), Some(id.to_string()));
        if !identity.allows(job.kind.right()) {
            let mut rec = caller.record(
                "job.cancel",
                format!("job/{id}"),
                Some(reason.to_owned()),
                Outcome::Denied,
            );
            rec.job_id = Some(id.to_string());
            self.inner.actions.audit().append_or_log(rec).await;
            return Err(JobsError::Forbidden(format!(
                "{} is required",
                job.kind.right().as_str()
            )));
        }
        let req = CancelRequest {
            by: Principal {
                sub: identity.principal.sub.clone(),
                session: identity.principal.session_id.clone(),
            },
            reason: model::iam::check_reason(reason).map_err(JobsError::BadRequest)?,
            at_ms: now_ms(),
        };
        let events = stores.events.clone();
        let result = self
            .inner
            .actions
            .run(plan, async move {
                let r = loop {
                    let (mut job, rev) = match typed.get(&k).await {
                        Ok(Some(x)) => x,
                        Ok(None) => break Err(JobsError::NotFound),
                        Err(e) => break Err(e.into()),
                    };
                    if let Err(e) = job.request_cancel(req.clone()) {
                        break Err(JobsError::CancelRefused(e.to_string()));
                    }
                    match typed.update(&k, &job, rev).await {
                        Ok(rev) => {
                            append_event(&*events, &job, rev).await;
                            break Ok(job);
                        }
                        // The runner wrote meanwhile: read again.
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => break Err(e.into()),
                    }
                };
                let outcome = match &r {
                    Ok(_) => Outcome::Succeeded,
                    Err(JobsError::CancelRefused(_)) => Outcome::Denied,
                    Err(_) => Outcome::Failed,
                };
                Done::new(outcome, r)
            })
            .await?;
        result
    }

    /// Records a job write in the index of unfinished jobs by target.
    pub(crate) fn note_active(&self, job: &Job) {
        let mut active = self.inner.active.write().unwrap_or_else(|p| p.into_inner());
        let key = job.target.to_string();
        if job.state.is_terminal() {
            if active.get(&key).is_some_and(|a| a.job.id == job.id) {
                active.remove(&key);
            }
        } else {
            active.insert(
                key,
                ActiveEntry {
                    job: model::jobs::ActiveJob {
                        id: job.id.clone(),
                        kind: job.kind,
                        state: job.state,
                    },
                    input: job.input.clone(),
                },
            );
        }
    }

    /// The unfinished job on a tenant, as this replica's feed saw it.
    pub fn active_on(&self, target: &model::jobs::Target) -> Option<model::jobs::ActiveJob> {
        let active = self.inner.active.read().unwrap_or_else(|p| p.into_inner());
        active.get(&target.to_string()).map(|a| a.job.clone())
    }

    /// The tenants of `kind` being migrated right now.
    pub fn moving(&self, kind: model::fleet::ServiceKind) -> Vec<model::moves::Moving> {
        let active = self.inner.active.read().unwrap_or_else(|p| p.into_inner());
        active
            .values()
            .filter(|a| a.job.kind == JobKind::TenantsMigrate)
            .filter_map(|a| {
                let i: model::moves::MigrateInput = serde_json::from_value(a.input.clone()).ok()?;
                let from = i.source.filter(|_| i.kind == kind)?;
                Some(model::moves::Moving {
                    tenant: i.tenant,
                    from,
                    to: i.target,
                    job: a.job.id.clone(),
                })
            })
            .collect()
    }

    /// Every job write, live (this replica's view of the `jobs` watch).
    pub fn subscribe(&self) -> broadcast::Receiver<JobChange> {
        self.inner.changes.subscribe()
    }

    /// One job's changes after `after` (a revision): its current state
    /// first when newer, then every later write. The stream stays open
    /// after the job ends (an ended SSE stream makes browsers reconnect).
    pub async fn follow(
        &self,
        id: &JobId,
        after: Option<u64>,
    ) -> Result<futures::stream::BoxStream<'static, JobChange>, JobsError> {
        let mut rx = self.subscribe();
        let stores = self.stores().await?;
        let entry = stores
            .jobs
            .get(&key(id.as_str())?)
            .await?
            .ok_or(JobsError::NotFound)?;
        let job: Job = serde_json::from_slice(&entry.value)
            .map_err(|e| JobsError::Store(StoreError::Decode(e.to_string())))?;
        let first = JobChange {
            revision: entry.revision,
            job: Arc::new(job),
        };
        let id = id.clone();
        let stream = async_stream(move |tx| async move {
            let mut last = after.unwrap_or(0);
            if first.revision > last {
                last = first.revision;
                if tx.send(first).await.is_err() {
                    return;
                }
            }
            loop {
                match rx.recv().await {
                    Ok(c) if c.job.id == id && c.revision > last => {
                        last = c.revision;
                        if tx.send(c).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Fell behind: the client reconnects with its last id
                    // and gets the current state.
                    Err(broadcast::error::RecvError::Lagged(_))
                    | Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(stream)
    }

    /// Starts this replica's runner and the change feed.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        // The id job records name as lease holder: which replica runs what.
        tracing::info!(runner = %self.inner.me, "job runner started");
        runner::start(self.clone())
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

/// A client's input: no field only the engine sets, and the tenant the
/// request is scoped to (`x-tenant-id`), if any, is the input's tenant.
fn check_client_input(caller: &Caller, input: &serde_json::Value) -> Result<(), JobsError> {
    if let (Some(scoped), Some(t)) = (&caller.tenant, input.get("tenant")) {
        if t.as_str() != Some(scoped.as_str()) {
            return Err(JobsError::TenantMismatch);
        }
    }
    refuse_engine_fields(input)
}

/// Fields of an input only the engine sets.
fn refuse_engine_fields(input: &serde_json::Value) -> Result<(), JobsError> {
    for f in ["parent", "source", "moves"] {
        if input.get(f).is_some() {
            return Err(JobsError::BadRequest(format!(
                "input.{f}: set by the engine, not by a client"
            )));
        }
    }
    Ok(())
}

enum Existing {
    Replay(Created),
    TakeOver(idempotency::Record, u64),
}

/// A stream fed by a task through a small channel.
fn async_stream<F, Fut>(f: F) -> futures::stream::BoxStream<'static, JobChange>
where
    F: FnOnce(tokio::sync::mpsc::Sender<JobChange>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    tokio_stream_from(rx)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<JobChange>,
) -> futures::stream::BoxStream<'static, JobChange> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// The history entry of one job write (best effort: the record is the
/// truth; a missing entry is logged).
async fn append_event(events: &dyn EventLog, job: &Job, revision: u64) {
    let entry = serde_json::json!({
        "job_id": job.id,
        "revision": revision,
        "at_ms": job.updated_ms,
        "state": job.state,
        "steps": job.steps.iter().map(|s| serde_json::json!({
            "name": s.name, "state": s.state, "attempts": s.attempts,
        })).collect::<Vec<_>>(),
    });
    let bytes = bytes::Bytes::from(serde_json::to_vec(&entry).unwrap_or_default());
    if let Err(e) = events.append(bytes, None).await {
        tracing::warn!(error = %e, job = %job.id, "job event not appended");
    }
}

/// Decodes a watch event into a change (deletes and bad records are none).
fn change_of(ev: &KvEvent) -> Option<JobChange> {
    match ev {
        KvEvent::Put(e) => serde_json::from_slice::<Job>(&e.value)
            .ok()
            .map(|j| JobChange {
                revision: e.revision,
                job: Arc::new(j),
            }),
        KvEvent::Delete { .. } => None,
    }
}
