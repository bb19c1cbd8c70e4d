//! Moving tenants (docs/moves.md): drain, resume and migrate a tenant,
//! evacuate a shard, set a default shard, mark a shard's state, each a job
//! with a plan (`model::moves`) and safety gates (`crate::gates`).
//!
//! One `MoveFlow` per job kind; they share `Moves` (the gate context, the
//! document writer, the timings). `plan.rs` observes and plans, `steps.rs`
//! runs the steps the plan listed.

pub mod instances;
mod plan;
mod steps;

use crate::fleet::writer::DocWriter;
use crate::gates::GateContext;
use crate::gateway::Forward;
use crate::jobs::workflow::{Planned, StepContext, StepFailure, StepPolicy, Workflow};
use crate::jobs::JobsError;
use async_trait::async_trait;
use model::jobs::{Job, JobKind, JobState};
use std::sync::Arc;
use std::time::Duration;

/// Timings of the move steps (config section `[moves]`).
#[derive(Debug, Clone, Copy)]
pub struct MoveSettings {
    /// How long a drain may take to reach inflight 0 on one instance.
    pub drain_timeout: Duration,
    /// How long an instance may take to report a new revision loaded.
    pub load_timeout: Duration,
    /// How often instances are asked while waiting.
    pub poll: Duration,
    /// The window over which the post-check reads a tenant's error ratio.
    pub error_window: Duration,
}

impl Default for MoveSettings {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(60),
            load_timeout: Duration::from_secs(30),
            poll: Duration::from_millis(200),
            error_window: Duration::from_secs(2),
        }
    }
}

pub struct Moves {
    pub gates: GateContext,
    pub writer: DocWriter,
    pub settings: MoveSettings,
}

/// The workflow of one move kind.
pub struct MoveFlow {
    kind: JobKind,
    core: Arc<Moves>,
}

/// Every move workflow over one shared core.
pub fn workflows(core: Arc<Moves>) -> Vec<Arc<dyn Workflow>> {
    JobKind::ALL
        .into_iter()
        .filter(|k| k.is_move())
        .map(|kind| {
            Arc::new(MoveFlow {
                kind,
                core: core.clone(),
            }) as Arc<dyn Workflow>
        })
        .collect()
}

fn input<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, JobsError> {
    serde_json::from_value(v.clone()).map_err(|e| {
        JobsError::BadRequest(format!(
            "input: {}",
            model::error::safe_serde_detail(&e.to_string())
        ))
    })
}

#[async_trait]
impl Workflow for MoveFlow {
    fn kind(&self) -> JobKind {
        self.kind
    }

    async fn plan(&self, input: &serde_json::Value, fwd: &Forward) -> Result<Planned, JobsError> {
        // A child's parent holds the shard lock on its behalf.
        let parent: Vec<model::ids::JobId> = input
            .get("parent")
            .and_then(|p| p.as_str())
            .and_then(|p| model::ids::JobId::parse(p).ok())
            .into_iter()
            .collect();
        Ok(Planned::of(
            plan::plan(&self.core, self.kind, input, &parent, fwd).await?,
        ))
    }

    fn policy(&self, step: &str) -> StepPolicy {
        let s = &self.core.settings;
        let slack = Duration::from_secs(5);
        let timeout = match step.split(':').next().unwrap_or_default() {
            "drain" => s.drain_timeout + slack,
            "check" => s.load_timeout + s.error_window + slack,
            "evacuate" => Duration::from_secs(24 * 3600),
            _ => s.load_timeout + slack,
        };
        StepPolicy {
            timeout,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            idempotent: true,
        }
    }

    async fn run(&self, ctx: &StepContext) -> Result<Option<serde_json::Value>, StepFailure> {
        steps::run(&self.core, self.kind, ctx).await
    }

    fn result(&self, job: &Job) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        // Evacuations report per tenant; everything else offers its reverse
        // as a new planned job (a finished or failed move can always be
        // walked back that way; a cancelled one was walked back already).
        if self.kind == JobKind::ShardsEvacuate {
            if let Some(report) = job
                .steps
                .iter()
                .find(|s| s.name == model::moves::step::EVACUATE)
                .and_then(|s| s.output.clone())
            {
                out.insert("evacuation".into(), report);
            }
            return out;
        }
        let compensates = job
            .steps
            .iter()
            .any(|s| s.phase == model::jobs::Phase::Compensation);
        let walked_back = compensates
            && (job.state == JobState::Cancelling
                || (job.error.is_some() && !job.past_point_of_no_return()));
        if !walked_back {
            if let Some(r) = plan::reverse_input(self.kind, &job.input) {
                out.insert("reverse".into(), r);
            }
        }
        out
    }
}
