//! What a kind of job does: its plan (steps, target, plan hash), and how
//! each step runs. The runner owns everything else (leases, locks,
//! retries, deadlines, cancel, audit).

use super::JobsError;
use crate::gateway::Forward;
use async_trait::async_trait;
use model::jobs::{Job, JobKind, StepError, StepSpec, Target};
use std::sync::Arc;
use std::time::Duration;

/// A step kind's retry policy: attempts come from its `StepSpec`; the
/// delays between them grow exponentially with jitter (backon).
#[derive(Debug, Clone, Copy)]
pub struct StepPolicy {
    pub timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
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
}

/// One attempt of one step.
pub struct StepContext {
    pub job: Arc<Job>,
    pub index: usize,
    pub attempt: u32,
    /// The lease epoch: sent as the fencing token.
    pub epoch: u64,
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

    pub fn step_name(&self) -> &str {
        &self.job.steps[self.index].name
    }
}

/// A failed attempt: its error (stable code) and whether another attempt
/// may help.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub error: StepError,
    pub retryable: bool,
}

impl StepFailure {
    pub fn retry(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: StepError::new(code, message),
            retryable: true,
        }
    }

    pub fn fatal(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: StepError::new(code, message),
            retryable: false,
        }
    }
}

#[async_trait]
pub trait Workflow: Send + Sync {
    fn kind(&self) -> JobKind;
    /// Validates the input and plans the steps; a bad input is a
    /// `BadRequest` and nothing is stored.
    async fn plan(&self, input: &serde_json::Value) -> Result<Planned, JobsError>;
    fn policy(&self, step: &str) -> StepPolicy;
    async fn run(&self, ctx: &StepContext) -> Result<Option<serde_json::Value>, StepFailure>;
}
