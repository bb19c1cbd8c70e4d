//! What a kind of job does: its plan (steps, target, plan hash), and how
//! each step runs. The runner owns everything else (leases, locks,
//! retries, deadlines, cancel, audit).

use super::JobsError;
use crate::gateway::Forward;
use async_trait::async_trait;
use model::jobs::{Items, Job, JobKind, StepError, StepSpec, Target};
use std::sync::Arc;
use std::time::Duration;

/// A step kind's retry policy: attempts come from its `StepSpec`; the
/// delays between them grow exponentially with jitter (backon).
#[derive(Debug, Clone, Copy)]
pub struct StepPolicy {
    pub timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// The step recognises its own earlier effect (a write it already
    /// made, a call deduplicated by its marker), so an attempt cut by a
    /// crash is re-run without counting (up to `MAX_INTERRUPTIONS`)
    /// instead of failing the step with an unknown effect.
    pub idempotent: bool,
}

impl StepPolicy {
    /// The delay before attempt `next_attempt` (2, 3…).
    pub fn delay(&self, next_attempt: u32) -> Duration {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::default()
            .with_min_delay(self.backoff_min)
            .with_max_delay(self.backoff_max)
            .with_jitter()
            .with_max_times(next_attempt as usize)
            .build()
            .nth(next_attempt.saturating_sub(2) as usize)
            .unwrap_or(self.backoff_max)
    }
}

/// What a workflow plans at creation, before anything runs.
pub struct Planned {
    pub target: Target,
    pub steps: Vec<StepSpec>,
    pub plan_hash: Option<String>,
    /// The input as the job stores it, when the workflow completes it
    /// (a move's source shard, an evacuation's tenant list).
    pub input: Option<serde_json::Value>,
    /// The whole plan, for kinds that show one (`POST /plans/{kind}`).
    pub plan: Option<model::moves::Plan>,
}

impl Planned {
    /// From a plan: its steps, target, hash and normalised input.
    pub fn of(plan: model::moves::Plan) -> Self {
        Self {
            target: plan.target.clone(),
            steps: plan.step_specs(),
            plan_hash: Some(plan.hash.clone()),
            input: Some(plan.input.clone()),
            plan: Some(plan),
        }
    }
}

/// One attempt of one step.
pub struct StepContext {
    pub job: Arc<Job>,
    pub index: usize,
    pub attempt: u32,
    /// The lease epoch: sent as the fencing token.
    pub epoch: u64,
    /// Progress of a step that moves many items (written to the job).
    pub progress: tokio::sync::mpsc::UnboundedSender<Items>,
}

impl StepContext {
    /// Headers for the step's outbound calls: the creating request's ids,
    /// the step's marker `<job>/<step index>` and the fencing token.
    pub fn forward(&self) -> Forward {
        let ids = &self.job.ids;
        Forward {
            bearer: None,
            request_id: Some(ids.request_id.clone()),
            correlation_id: Some(ids.correlation_id.clone()),
            traceparent: (!ids.traceparent.is_empty()).then(|| ids.traceparent.clone()),
            job_step: Some(format!("{}/{}", self.job.id, self.index)),
            fencing_token: Some(self.epoch),
        }
    }

    /// Who a document write of this step is recorded for: the job's
    /// principal, the job, its reason.
    pub fn write_meta(&self) -> crate::config::store::WriteMeta {
        crate::config::store::WriteMeta {
            updated_by: self.job.principal.sub.clone(),
            job: Some(self.job.id.clone()),
            reason: Some(self.job.reason.clone()),
        }
    }

    pub fn step_name(&self) -> &str {
        &self.job.steps[self.index].name
    }

    /// The output of the named step, if it succeeded.
    pub fn output_of(&self, name: &str) -> Option<&serde_json::Value> {
        self.job
            .steps
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.output.as_ref())
    }
}

/// A failed attempt: its error (stable code) and whether another attempt
/// may help.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub error: StepError,
    pub retryable: bool,
    /// What the step did before it failed (an evacuation's report).
    pub output: Option<serde_json::Value>,
}

impl StepFailure {
    pub fn retry(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: StepError::new(code, message),
            retryable: true,
            output: None,
        }
    }

    pub fn fatal(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: StepError::new(code, message),
            retryable: false,
            output: None,
        }
    }
}

#[async_trait]
pub trait Workflow: Send + Sync {
    fn kind(&self) -> JobKind;
    /// Validates the input and plans the steps; a bad input is a
    /// `BadRequest` and nothing is stored. `fwd` carries the creating
    /// request's ids on the reads a plan makes.
    async fn plan(&self, input: &serde_json::Value, fwd: &Forward) -> Result<Planned, JobsError>;
    /// Called once per new job, its id fixed, before it is stored: a kind
    /// that allows one job per observed state claims that state here (a
    /// config change: its base revision), so that of two concurrent
    /// creates exactly one is accepted. A retry with the same job id finds
    /// its own claim.
    async fn reserve(
        &self,
        _job: &model::ids::JobId,
        _input: &serde_json::Value,
    ) -> Result<(), JobsError> {
        Ok(())
    }
    fn policy(&self, step: &str) -> StepPolicy;
    async fn run(&self, ctx: &StepContext) -> Result<Option<serde_json::Value>, StepFailure>;
    /// What the finished job's result adds to its state and error (the
    /// reverse job to offer, an evacuation's per-tenant outcomes).
    fn result(&self, _job: &Job) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
}
