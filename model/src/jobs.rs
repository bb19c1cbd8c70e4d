//! Jobs: the record of one multi-step mutation of the platform, and the
//! pure state machine every change to it goes through (docs/jobs.md).
//!
//! The engine never edits a job's fields directly: it calls one of the
//! transitions below, which refuse what must never happen (a step out of
//! order, an attempt over the limit, a move out of a terminal state, a
//! cancel past the point of no return), and then writes the record by CAS.

use crate::fleet::{ServiceKind, ShardId, TenantId};
use crate::ids::JobId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of job the engine knows, with the right each needs
/// (the capability table names the same right for its door).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobKind {
    #[serde(rename = "routing.reload")]
    RoutingReload,
    #[serde(rename = "tenants.drain")]
    TenantsDrain,
    #[serde(rename = "tenants.resume")]
    TenantsResume,
    #[serde(rename = "tenants.migrate")]
    TenantsMigrate,
    #[serde(rename = "shards.evacuate")]
    ShardsEvacuate,
    #[serde(rename = "placement.set_default")]
    PlacementSetDefault,
    #[serde(rename = "shards.set_state")]
    ShardsSetState,
    #[serde(rename = "config.apply")]
    ConfigApply,
    #[serde(rename = "config.rollback")]
    ConfigRollback,
    #[serde(rename = "deploy.rollback")]
    DeployRollback,
}

impl JobKind {
    pub const ALL: [JobKind; 10] = [
        JobKind::RoutingReload,
        JobKind::TenantsDrain,
        JobKind::TenantsResume,
        JobKind::TenantsMigrate,
        JobKind::ShardsEvacuate,
        JobKind::PlacementSetDefault,
        JobKind::ShardsSetState,
        JobKind::ConfigApply,
        JobKind::ConfigRollback,
        JobKind::DeployRollback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoutingReload => "routing.reload",
            Self::TenantsDrain => "tenants.drain",
            Self::TenantsResume => "tenants.resume",
            Self::TenantsMigrate => "tenants.migrate",
            Self::ShardsEvacuate => "shards.evacuate",
            Self::PlacementSetDefault => "placement.set_default",
            Self::ShardsSetState => "shards.set_state",
            Self::ConfigApply => "config.apply",
            Self::ConfigRollback => "config.rollback",
            Self::DeployRollback => "deploy.rollback",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn right(self) -> crate::rights::Right {
        use crate::rights::Right;
        match self {
            Self::RoutingReload => Right::RoutingReload,
            Self::TenantsDrain | Self::TenantsResume => Right::TenantsDrain,
            Self::TenantsMigrate | Self::ShardsEvacuate => Right::TenantsMigrate,
            Self::PlacementSetDefault | Self::ShardsSetState => Right::PlacementWrite,
            Self::ConfigApply | Self::ConfigRollback => Right::ConfigWrite,
            Self::DeployRollback => Right::DeployRollback,
        }
    }

    /// What a second job on a locked target does: wait for the lock, or be
    /// refused at creation (409 `locked`). Moves are refused: their plan
    /// would be stale by the time the lock is free.
    pub fn waits_for_lock(self) -> bool {
        match self {
            Self::RoutingReload => true,
            Self::TenantsDrain
            | Self::TenantsResume
            | Self::TenantsMigrate
            | Self::ShardsEvacuate
            | Self::PlacementSetDefault
            | Self::ShardsSetState
            | Self::ConfigApply
            | Self::ConfigRollback
            | Self::DeployRollback => false,
        }
    }

    /// Config changes: the registry's workflows (a change freeze does not
    /// stop them, so the freeze can be lifted).
    pub fn is_config(self) -> bool {
        matches!(self, Self::ConfigApply | Self::ConfigRollback)
    }

    /// A Swarm service rollback (engine::swarm).
    pub fn is_deploy(self) -> bool {
        self == Self::DeployRollback
    }

    /// Tenant moves and placement edits: the move workflows.
    pub fn is_move(self) -> bool {
        self.is_planned() && !self.is_config() && !self.is_deploy()
    }

    /// Kinds whose creation carries the hash of a plan the client was shown
    /// (`POST /plans/{kind}`): a moved revision or gate refuses it.
    pub fn is_planned(self) -> bool {
        self != Self::RoutingReload
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job mutates; also the name of the lock it takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    Platform,
    Tenant { tenant: TenantId },
    Shard { kind: ServiceKind, shard: ShardId },
    Service { service: String },
    Config { document: String },
}

impl Target {
    /// The lock key (dot-separated tokens): one running mutation per value.
    pub fn lock_key(&self) -> String {
        match self {
            Self::Platform => "platform".into(),
            Self::Tenant { tenant } => format!("tenant.{}", tenant.as_str()),
            Self::Shard { kind, shard } => format!("shard.{}.{}", kind.as_str(), shard.as_str()),
            Self::Service { service } => format!("service.{}", token(service)),
            Self::Config { document } => format!("config.{}", token(document)),
        }
    }

    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::Tenant { tenant } => Some(tenant),
            _ => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform => f.write_str("platform"),
            Self::Tenant { tenant } => write!(f, "tenant:{}", tenant.as_str()),
            Self::Shard { kind, shard } => write!(f, "shard:{}/{}", kind.as_str(), shard.as_str()),
            Self::Service { service } => write!(f, "service:{service}"),
            Self::Config { document } => write!(f, "config:{document}"),
        }
    }
}

/// A free-form name as one key token (`[A-Za-z0-9_=-]`).
fn token(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                b as char
            } else {
                '='
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    /// Queued behind a lock (or a gate); `Job::waiting_for` says what.
    Waiting,
    Running,
    /// Cancel requested: compensation is running.
    Cancelling,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        Self::Pending,
        Self::Waiting,
        Self::Running,
        Self::Cancelling,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Cancelling => "cancelling",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Not run: the job was cancelled or failed before it.
    Skipped,
}

impl StepState {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Skipped)
    }
}

/// Where a step stands relative to the job's point of no return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Undoable: cancel and failure run the compensation steps.
    Reversible,
    /// At or after the point of no return: once one such step has started,
    /// cancel is refused.
    Irreversible,
    /// Runs only to walk a cancelled or failed job back.
    Compensation,
}

/// A step's error, with a stable code clients can match on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepError {
    pub code: String,
    pub message: String,
}

impl StepError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    pub name: String,
    pub phase: Phase,
    pub state: StepState,
    pub attempts: u32,
    pub max_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// For steps that move many items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Items>,
    /// Attempts cut by a crash of the runner and re-run because the step
    /// recognises its own earlier effect; they do not count as attempts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interruptions: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How many crashes of the runner one idempotent step survives: a step
/// that brings its runner down every time ends failed instead of looping
/// until the job's deadline.
pub const MAX_INTERRUPTIONS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Items {
    pub done: u64,
    pub total: u64,
}

/// A step as a workflow declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSpec {
    pub name: String,
    pub phase: Phase,
    pub max_attempts: u32,
}

impl StepSpec {
    pub fn new(name: impl Into<String>, phase: Phase, max_attempts: u32) -> Self {
        Self {
            name: name.into(),
            phase,
            max_attempts: max_attempts.max(1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Principal {
    pub sub: String,
    pub session: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelRequest {
    pub by: Principal,
    pub reason: String,
    pub at_ms: u64,
}

/// The runner holding the job. `epoch` grows by one on every claim or
/// takeover: it is the fencing token every side effect carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lease {
    pub holder: String,
    pub epoch: u64,
    pub expires_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ids {
    pub request_id: String,
    pub correlation_id: String,
    pub trace_id: String,
    /// The creating request's `traceparent`, sent on every outbound call.
    #[serde(default)]
    pub traceparent: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub target: Target,
    pub state: JobState,
    pub steps: Vec<Step>,
    pub principal: Principal,
    pub reason: String,
    pub idempotency_key: String,
    /// SHA-256 (hex) of the method, route and canonical body that created it.
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_hash: Option<String>,
    pub ids: Ids,
    /// The job's input, as the workflow reads it.
    #[serde(default)]
    pub input: serde_json::Value,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The whole job must finish by then, or fails `deadline_exceeded`.
    pub deadline_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<CancelRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// How the job ended: the failing step's error, `deadline_exceeded`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Items>,
}

/// Why a transition was refused. The engine treats each as a bug or a
/// lost race, never as something to retry blindly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the job is {0:?}: no transition out of a terminal state")]
    Terminal(JobState),
    #[error("step {0} cannot start: an earlier step has not finished")]
    OutOfOrder(usize),
    #[error("no step {0}")]
    NoSuchStep(usize),
    #[error("step {index} has used its {max} attempts")]
    AttemptsExhausted { index: usize, max: u32 },
    #[error("step {0} is not running")]
    NotRunning(usize),
    #[error("the job is past its point of no return: cancel is refused")]
    PastPointOfNoReturn,
    #[error("cancel already requested")]
    AlreadyCancelling,
    #[error("the job is {0:?}, not runnable")]
    NotRunnable(JobState),
}

/// What the runner should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Run (or re-run) this step.
    Run(usize),
    /// Every step is done: finish in this state.
    Finish(JobState),
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    Retry,
    /// No attempts left: the step failed.
    StepFailed,
}

impl Job {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: JobId,
        kind: JobKind,
        target: Target,
        steps: &[StepSpec],
        principal: Principal,
        reason: String,
        idempotency_key: String,
        fingerprint: String,
        ids: Ids,
        input: serde_json::Value,
        now_ms: u64,
        deadline_ms: u64,
    ) -> Self {
        Self {
            id,
            kind,
            target,
            state: JobState::Pending,
            steps: steps
                .iter()
                .map(|s| Step {
                    name: s.name.clone(),
                    phase: s.phase,
                    state: StepState::Pending,
                    attempts: 0,
                    max_attempts: s.max_attempts.max(1),
                    started_ms: None,
                    finished_ms: None,
                    error: None,
                    output: None,
                    items: None,
                    interruptions: 0,
                })
                .collect(),
            principal,
            reason,
            idempotency_key,
            fingerprint,
            plan_hash: None,
            ids,
            input,
            created_ms: now_ms,
            updated_ms: now_ms,
            deadline_ms,
            waiting_for: None,
            cancel: None,
            lease: None,
            error: None,
            result: None,
            finished_ms: None,
        }
    }

    fn live(&self) -> Result<(), TransitionError> {
        if self.state.is_terminal() {
            return Err(TransitionError::Terminal(self.state));
        }
        Ok(())
    }

    pub fn progress(&self) -> Progress {
        let forward: Vec<&Step> = self
            .steps
            .iter()
            .filter(|s| s.phase != Phase::Compensation)
            .collect();
        Progress {
            done: forward
                .iter()
                .filter(|s| s.state == StepState::Succeeded)
                .count(),
            total: forward.len(),
            items: self.steps.iter().rev().find_map(|s| s.items),
        }
    }

    /// Has a step at or past the point of no return started?
    pub fn past_point_of_no_return(&self) -> bool {
        // Skipped steps never ran (a finished job marks what it left so).
        self.steps.iter().any(|s| {
            s.phase == Phase::Irreversible
                && !matches!(s.state, StepState::Pending | StepState::Skipped)
        })
    }

    /// Takes (or renews, or takes over) the lease. Refused on a terminal job.
    pub fn claim(
        &mut self,
        holder: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<u64, TransitionError> {
        self.live()?;
        let epoch = match &self.lease {
            Some(l) if l.holder == holder => l.epoch,
            Some(l) => l.epoch + 1,
            None => 1,
        };
        self.lease = Some(Lease {
            holder: holder.to_owned(),
            epoch,
            expires_ms,
        });
        self.updated_ms = now_ms;
        Ok(epoch)
    }

    /// Queued behind `what` (a lock).
    pub fn wait_for(&mut self, what: String, now_ms: u64) -> Result<(), TransitionError> {
        self.live()?;
        if self.state == JobState::Cancelling {
            return Err(TransitionError::AlreadyCancelling);
        }
        if self.steps.iter().any(|s| s.state != StepState::Pending) {
            return Err(TransitionError::NotRunnable(self.state));
        }
        self.state = JobState::Waiting;
        self.waiting_for = Some(what);
        self.updated_ms = now_ms;
        Ok(())
    }

    /// The next thing to do: the first unfinished step of the forward path
    /// (or of the compensation path once cancelling), or the end.
    pub fn next(&self) -> Result<Next, TransitionError> {
        self.live()?;
        let compensating = self.state == JobState::Cancelling || self.error.is_some();
        for (i, s) in self.steps.iter().enumerate() {
            let in_path = if compensating {
                s.phase == Phase::Compensation
            } else {
                s.phase != Phase::Compensation
            };
            if !in_path || s.state.is_finished() {
                continue;
            }
            return Ok(Next::Run(i));
        }
        Ok(Next::Finish(if self.state == JobState::Cancelling {
            JobState::Cancelled
        } else if self.error.is_some() {
            JobState::Failed
        } else {
            JobState::Succeeded
        }))
    }

    /// Starts an attempt of step `i`: every earlier step of its path must be
    /// finished, and the step must have an attempt left. A step found
    /// `Running` (its runner died mid-attempt) starts its next attempt.
    /// A step found running was cut by a crash of its runner. When the step
    /// recognises its own earlier effect the cut attempt is given back and
    /// counted as an interruption, so the next attempt (`start_step`, in
    /// the same write: the step never looks pending, so a cancel cannot
    /// slip in past the point of no return) finds out what the cut one
    /// did. Returns false (nothing changed) once the step has used its
    /// `MAX_INTERRUPTIONS`.
    pub fn interrupted(&mut self, i: usize, now_ms: u64) -> Result<bool, TransitionError> {
        self.live()?;
        let step = self.running_step(i)?;
        if step.interruptions >= MAX_INTERRUPTIONS {
            return Ok(false);
        }
        step.interruptions += 1;
        step.attempts = step.attempts.saturating_sub(1);
        self.updated_ms = now_ms;
        Ok(true)
    }

    pub fn start_step(&mut self, i: usize, now_ms: u64) -> Result<u32, TransitionError> {
        self.live()?;
        if self.next()? != Next::Run(i) {
            return Err(if i < self.steps.len() {
                TransitionError::OutOfOrder(i)
            } else {
                TransitionError::NoSuchStep(i)
            });
        }
        let step = &mut self.steps[i];
        if step.attempts >= step.max_attempts {
            return Err(TransitionError::AttemptsExhausted {
                index: i,
                max: step.max_attempts,
            });
        }
        step.attempts += 1;
        step.state = StepState::Running;
        step.started_ms.get_or_insert(now_ms);
        step.error = None;
        if matches!(self.state, JobState::Pending | JobState::Waiting) {
            self.state = JobState::Running;
        }
        self.waiting_for = None;
        self.updated_ms = now_ms;
        Ok(step.attempts)
    }

    fn running_step(&mut self, i: usize) -> Result<&mut Step, TransitionError> {
        self.live()?;
        let step = self
            .steps
            .get_mut(i)
            .ok_or(TransitionError::NoSuchStep(i))?;
        if step.state != StepState::Running {
            return Err(TransitionError::NotRunning(i));
        }
        Ok(step)
    }

    pub fn step_progress(
        &mut self,
        i: usize,
        items: Items,
        now_ms: u64,
    ) -> Result<(), TransitionError> {
        self.running_step(i)?.items = Some(items);
        self.updated_ms = now_ms;
        Ok(())
    }

    /// What a running step did so far, kept when it then fails.
    pub fn record_output(
        &mut self,
        i: usize,
        output: serde_json::Value,
        now_ms: u64,
    ) -> Result<(), TransitionError> {
        self.running_step(i)?.output = Some(output);
        self.updated_ms = now_ms;
        Ok(())
    }

    pub fn step_succeeded(
        &mut self,
        i: usize,
        output: Option<serde_json::Value>,
        now_ms: u64,
    ) -> Result<(), TransitionError> {
        let step = self.running_step(i)?;
        step.state = StepState::Succeeded;
        step.finished_ms = Some(now_ms);
        step.output = output;
        self.updated_ms = now_ms;
        Ok(())
    }

    /// Records a failed attempt. With attempts left (and `retryable`), the
    /// step stays runnable; otherwise it failed, and the job turns to its
    /// compensation path (or ends `failed`).
    pub fn step_failed(
        &mut self,
        i: usize,
        error: StepError,
        retryable: bool,
        now_ms: u64,
    ) -> Result<AfterFailure, TransitionError> {
        let step = self.running_step(i)?;
        let retry = retryable && step.attempts < step.max_attempts;
        step.error = Some(error.clone());
        step.state = if retry {
            StepState::Pending
        } else {
            StepState::Failed
        };
        if !retry {
            step.finished_ms = Some(now_ms);
            if step.phase != Phase::Compensation && self.error.is_none() {
                self.error = Some(error);
            }
            self.skip_compensation_if_irreversible();
        }
        self.updated_ms = now_ms;
        Ok(if retry {
            AfterFailure::Retry
        } else {
            AfterFailure::StepFailed
        })
    }

    /// Cancel: refused on a finished job and once a step past the point of
    /// no return has started. A job that has not started any step is
    /// cancelled at once (its compensation has nothing to undo).
    pub fn request_cancel(&mut self, req: CancelRequest) -> Result<(), TransitionError> {
        self.live()?;
        if self.cancel.is_some() || self.state == JobState::Cancelling {
            return Err(TransitionError::AlreadyCancelling);
        }
        if self.past_point_of_no_return() {
            return Err(TransitionError::PastPointOfNoReturn);
        }
        let now = req.at_ms;
        self.cancel = Some(req);
        self.state = JobState::Cancelling;
        self.waiting_for = None;
        self.skip_compensation_if_irreversible();
        self.updated_ms = now;
        Ok(())
    }

    /// Fails the job where it stands (deadline, a gate): the rest of the
    /// forward path is skipped and the compensation path runs (unless the
    /// job is past its point of no return, where nothing can be undone).
    pub fn fail(&mut self, error: StepError, now_ms: u64) -> Result<(), TransitionError> {
        self.live()?;
        for s in &mut self.steps {
            if s.phase != Phase::Compensation && s.state == StepState::Running {
                s.state = StepState::Failed;
                s.finished_ms = Some(now_ms);
                s.error = Some(error.clone());
            }
        }
        if self.error.is_none() {
            self.error = Some(error);
        }
        self.skip_compensation_if_irreversible();
        self.updated_ms = now_ms;
        Ok(())
    }

    /// Past the point of no return nothing is undone, and with no forward
    /// step started there is nothing to undo: the compensation path is
    /// skipped in both cases.
    fn skip_compensation_if_irreversible(&mut self) {
        let started = self
            .steps
            .iter()
            .any(|s| s.phase != Phase::Compensation && s.state != StepState::Pending);
        if self.past_point_of_no_return() || !started {
            for s in &mut self.steps {
                if s.phase == Phase::Compensation && s.state == StepState::Pending {
                    s.state = StepState::Skipped;
                }
            }
        }
    }

    /// Ends the job in `state` (what `next()` said): the forward steps not
    /// run are marked skipped, the lease is dropped.
    pub fn finish(
        &mut self,
        state: JobState,
        result: Option<serde_json::Value>,
        now_ms: u64,
    ) -> Result<(), TransitionError> {
        self.live()?;
        if self.next()? != Next::Finish(state) {
            return Err(TransitionError::NotRunnable(self.state));
        }
        for s in &mut self.steps {
            match s.state {
                StepState::Pending => s.state = StepState::Skipped,
                // Its runner died mid-attempt and the job ended another way
                // (cancel, deadline): the attempt's effect is unknown.
                StepState::Running => {
                    s.state = StepState::Failed;
                    s.finished_ms = Some(now_ms);
                    s.error = Some(StepError::new("interrupted", "the attempt was interrupted"));
                }
                _ => {}
            }
        }
        self.state = state;
        self.result = result;
        self.lease = None;
        self.waiting_for = None;
        self.finished_ms = Some(now_ms);
        self.updated_ms = now_ms;
        Ok(())
    }
}

/// `GET /jobs` filters; every one optional, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct JobQuery {
    #[cfg_attr(feature = "openapi", param(inline))]
    pub kind: Option<JobKind>,
    #[cfg_attr(feature = "openapi", param(inline))]
    pub state: Option<JobState>,
    /// `Target`'s display form (`platform`, `tenant:t-1`…).
    pub target: Option<String>,
    pub tenant: Option<String>,
    pub principal: Option<String>,
    /// Matches the job id, its request, correlation or trace id, or its
    /// idempotency key.
    pub id: Option<String>,
    pub page: usize,
    /// 1..=200; 0 means the default (50).
    pub page_size: usize,
}

impl JobQuery {
    pub fn page_size(&self) -> usize {
        match self.page_size {
            0 => 50,
            n => n.min(200),
        }
    }

    pub fn matches(&self, j: &Job) -> bool {
        self.kind.is_none_or(|k| k == j.kind)
            && self.state.is_none_or(|s| s == j.state)
            && self
                .target
                .as_deref()
                .is_none_or(|t| j.target.to_string() == t)
            && self
                .tenant
                .as_deref()
                .is_none_or(|t| j.target.tenant().is_some_and(|x| x.as_str() == t))
            && self
                .principal
                .as_deref()
                .is_none_or(|p| j.principal.sub == p)
            && self.id.as_deref().is_none_or(|id| {
                j.id.as_str() == id
                    || j.ids.request_id == id
                    || j.ids.correlation_id == id
                    || j.ids.trace_id == id
                    || j.idempotency_key == id
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
}

/// An unfinished job on a target, as lists show it next to the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveJob {
    pub id: JobId,
    pub kind: JobKind,
    pub state: JobState,
}

/// The body of `POST /jobs/{kind}`: why, and the kind's own input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    pub reason: String,
    /// The kind's input object (absent: none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub input: serde_json::Value,
    /// The hash of the plan the client was shown (required for planned
    /// kinds): the job is refused with `plan_stale` when it has moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CancelJob {
    pub reason: String,
}

#[cfg(test)]
mod tests;
