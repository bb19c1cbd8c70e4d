//! `deploy.rollback`: a service back to a recorded spec, as a planned,
//! gated, audited job (docs/deployments.md). Plan first: the target spec
//! (the previous recorded one, or any earlier), what changes from the
//! running spec, and the gates (the service exists, no update in
//! progress, the target image present, the service not pinned). Then the
//! update, fenced by the `Version.Index` the plan read (the point of no
//! return), the wait for the daemon to finish it, the post-checks (every
//! task of the target spec running; the service's platform instances ready
//! by their probes), and a pin that stops further rollbacks until an
//! operator lifts it.

use super::deployments::{DeployError, Deployments};
use super::history::Stored;
use super::SwarmError;
use crate::fleet::FleetService;
use crate::gateway::Forward;
use crate::jobs::workflow::{Planned, StepContext, StepFailure, StepPolicy, Workflow};
use crate::jobs::JobsError;
use async_trait::async_trait;
use model::deploy::{
    DeployChange, Pin, RollbackInput, ServiceName, SpecRecord, TaskState, UpdateState, BY_LABEL,
    JOB_LABEL, KIND_LABEL,
};
use model::gates::{code, GateCheck};
use model::jobs::{Job, JobKind, Phase, Target};
use model::moves::{Plan, PlanStep, Reverse, Revisions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

mod step {
    pub const GATES: &str = "gate:preflight";
    pub const UPDATE: &str = "update";
    pub const WAIT: &str = "wait:update";
    pub const TASKS: &str = "check:tasks";
    pub const READY: &str = "check:ready";
    pub const PIN: &str = "pin";
}

#[derive(Debug, Clone, Copy)]
pub struct RollbackSettings {
    /// How long the daemon may take to finish the update, and the tasks
    /// and instances to come up after it.
    pub update_timeout: Duration,
    pub poll: Duration,
}

struct Flow {
    deploy: Deployments,
    fleet: Option<FleetService>,
    settings: RollbackSettings,
}

/// The `deploy.rollback` workflow. `fleet`: the platform's instances, for
/// the readiness post-check of services labelled with their kind.
pub fn workflow(
    deploy: Deployments,
    fleet: Option<FleetService>,
    settings: RollbackSettings,
) -> Arc<dyn Workflow> {
    Arc::new(Flow {
        deploy,
        fleet,
        settings,
    })
}

type StepResult = Result<Option<Value>, StepFailure>;

fn deploy_err(e: impl Into<DeployError>) -> JobsError {
    use crate::error::ClientError;
    let e = e.into();
    tracing::warn!(error = %e, "deploy.rollback not planned");
    JobsError::Deploy(e.client_view())
}

fn retry(e: impl std::fmt::Display) -> StepFailure {
    StepFailure::retry("swarm_unavailable", e.to_string())
}

fn swarm_failure(e: SwarmError) -> StepFailure {
    match e {
        SwarmError::Conflict(m) => StepFailure::fatal(
            "service_changed",
            format!("the service changed since the plan: {m}; nothing was written"),
        ),
        SwarmError::NotFound(m) => StepFailure::fatal("service_gone", m),
        other => retry(other),
    }
}

fn read_input(v: &Value) -> Result<RollbackInput, JobsError> {
    serde_json::from_value(v.clone()).map_err(|e| {
        JobsError::BadRequest(format!(
            "input: {}",
            model::error::safe_serde_detail(&e.to_string())
        ))
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a plan reads: the service now, its running record, the target.
struct Read {
    name: ServiceName,
    version: u64,
    running: SpecRecord,
    target: Stored,
    gates: Vec<GateCheck>,
}

impl Flow {
    async fn read(&self, i: &RollbackInput) -> Result<Read, JobsError> {
        let d = &self.deploy;
        let name = i.service.clone();
        let history = d.history_store();
        // Level-based: the running spec is recorded before it is compared.
        d.refresh().await.map_err(deploy_err)?;
        let svc = d.swarm().service(name.as_str()).await.map_err(deploy_err)?;
        let records = history.list(&name, usize::MAX).await.map_err(deploy_err)?;
        let Some(svc) = svc else {
            return Err(deploy_err(DeployError::NotFound(format!(
                "no service {name} on this Swarm"
            ))));
        };
        let version = svc.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let running_sha = super::deployments::sha256_of(&svc.spec.clone().unwrap_or_default());
        let running = records
            .iter()
            .find(|r| r.spec_sha256 == running_sha)
            .cloned()
            .ok_or_else(|| {
                deploy_err(DeployError::BadRequest(format!(
                    "the running spec of {name} is not recorded yet; retry in a moment"
                )))
            })?;
        let to_seq = match i.to_seq {
            Some(s) => s,
            None => records
                .iter()
                .find(|r| r.seq < running.seq && r.spec_sha256 != running_sha)
                .map(|r| r.seq)
                .ok_or_else(|| {
                    deploy_err(DeployError::BadRequest(format!(
                        "{name} has no earlier recorded spec to roll back to"
                    )))
                })?,
        };
        let target = history
            .get(&name, to_seq)
            .await
            .map_err(deploy_err)?
            .ok_or_else(|| {
                deploy_err(DeployError::BadRequest(format!(
                    "to_seq: {name} has no recorded spec #{to_seq}"
                )))
            })?;
        if target.record.spec_sha256 == running_sha {
            return Err(deploy_err(DeployError::BadRequest(format!(
                "to_seq: spec #{to_seq} is the one running"
            ))));
        }
        if let Some(b) = i.base_version {
            if b != version {
                return Err(JobsError::PlanStale);
            }
        }
        let gates = self.gates(&svc, &name, &target).await?;
        Ok(Read {
            name,
            version,
            running,
            target,
            gates,
        })
    }

    async fn gates(
        &self,
        svc: &bollard::models::Service,
        name: &ServiceName,
        target: &Stored,
    ) -> Result<Vec<GateCheck>, JobsError> {
        let d = &self.deploy;
        let update = svc
            .update_status
            .as_ref()
            .and_then(|u| u.state)
            .and_then(|s| UpdateState::parse(s.as_ref()));
        let image = target.record.summary.image.clone();
        let present = d.swarm().image_present(&image).await.map_err(deploy_err)?;
        let pin = d.history_store().pin(name).await.map_err(deploy_err)?;
        Ok(vec![
            GateCheck::new(
                code::SERVICE_EXISTS,
                name.as_str(),
                true,
                svc.id.clone(),
                "exists",
                "the service exists",
            ),
            GateCheck::new(
                code::NO_UPDATE_IN_PROGRESS,
                name.as_str(),
                !update.is_some_and(UpdateState::in_progress),
                update.map(UpdateState::as_str),
                "no update or rollback in progress",
                "another update must finish first",
            ),
            GateCheck::new(
                code::IMAGE_PRESENT,
                &image,
                present,
                present,
                true,
                "the target image is on the manager's engine (the other nodes' images are not visible through its API)",
            ),
            GateCheck::new(
                code::SERVICE_NOT_PINNED,
                name.as_str(),
                pin.is_none(),
                pin.as_ref().map(|p| format!("pinned by {} ({})", p.job, p.reason)),
                "not pinned",
                "a rollback pinned this service; unpin it with a reason first",
            ),
        ])
    }

    fn steps() -> Vec<PlanStep> {
        let s = |name: &str, phase, what: &str| PlanStep {
            name: name.to_owned(),
            phase,
            max_attempts: 3,
            description: what.to_owned(),
        };
        vec![
            s(step::GATES, Phase::Reversible, "check the gates again"),
            s(
                step::UPDATE,
                Phase::Irreversible,
                "update the service to the target spec, fenced by the version the plan read",
            ),
            s(
                step::WAIT,
                Phase::Irreversible,
                "wait for the daemon to complete the update (fails when it pauses or rolls back)",
            ),
            s(
                step::TASKS,
                Phase::Irreversible,
                "every task of the target spec is running",
            ),
            s(
                step::READY,
                Phase::Irreversible,
                "the service's platform instances are healthy and ready",
            ),
            s(
                step::PIN,
                Phase::Irreversible,
                "pin the service until an operator unpins it",
            ),
        ]
    }

    async fn plan(&self, raw: &Value) -> Result<Plan, JobsError> {
        let i = read_input(raw)?;
        let r = self.read(&i).await?;
        let input = RollbackInput {
            service: r.name.clone(),
            to_seq: Some(r.target.record.seq),
            base_version: Some(r.version),
            base_seq: Some(r.running.seq),
        };
        let plan = Plan::new(
            JobKind::DeployRollback,
            Target::Service {
                service: r.name.to_string(),
            },
            serde_json::to_value(&input).map_err(|e| JobsError::BadRequest(e.to_string()))?,
            Self::steps(),
            r.gates,
            Revisions::default(),
            Some(Reverse {
                kind: JobKind::DeployRollback,
                input: json!({ "service": r.name, "to_seq": r.running.seq }),
                steps: Self::steps().into_iter().map(|s| s.name).collect(),
            }),
            now_ms(),
        );
        Ok(plan.with_deploy(DeployChange {
            service: r.name,
            from_seq: r.running.seq,
            to_seq: r.target.record.seq,
            spec_version: r.version,
            changes: model::deploy::diff(&r.running.summary, &r.target.record.summary),
        }))
    }
}

#[async_trait]
impl Workflow for Flow {
    fn kind(&self) -> JobKind {
        JobKind::DeployRollback
    }

    async fn plan(&self, input: &Value, _fwd: &Forward) -> Result<Planned, JobsError> {
        Ok(Planned::of(Flow::plan(self, input).await?))
    }

    fn policy(&self, step: &str) -> StepPolicy {
        StepPolicy {
            timeout: match step {
                step::WAIT | step::TASKS | step::READY => {
                    self.settings.update_timeout + Duration::from_secs(10)
                }
                _ => Duration::from_secs(60),
            },
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            // The update recognises its own write by the job label; the
            // others read, or write the same pin again.
            idempotent: true,
        }
    }

    async fn run(&self, ctx: &StepContext) -> StepResult {
        let i = read_input(&ctx.job.input)
            .map_err(|e| StepFailure::fatal("bad_input", e.to_string()))?;
        match ctx.step_name() {
            step::GATES => self.recheck(&i).await,
            step::UPDATE => self.update(ctx, &i).await,
            step::WAIT => self.wait(ctx, &i).await,
            step::TASKS => self.tasks(&i).await,
            step::READY => self.ready(&i).await,
            step::PIN => self.pin(ctx, &i).await,
            other => Err(StepFailure::fatal("unknown_step", other.to_owned())),
        }
    }

    /// Once the update ran, the way back: a rollback to the spec that ran
    /// before (as the plan recorded it in the input).
    fn result(&self, job: &Job) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        let updated = job
            .steps
            .iter()
            .any(|s| s.name == step::UPDATE && s.state == model::jobs::StepState::Succeeded);
        if let (true, Ok(i)) = (updated, read_input(&job.input)) {
            if let Some(back) = i.base_seq {
                out.insert(
                    "reverse".into(),
                    json!({ "kind": "deploy.rollback", "input": { "service": i.service, "to_seq": back } }),
                );
            }
        }
        out
    }
}

impl Flow {
    fn target_seq(i: &RollbackInput) -> Result<u64, StepFailure> {
        i.to_seq
            .ok_or_else(|| StepFailure::fatal("bad_input", "input.to_seq: missing"))
    }

    async fn stored(&self, i: &RollbackInput) -> Result<Stored, StepFailure> {
        let seq = Self::target_seq(i)?;
        self.deploy
            .history_store()
            .get(&i.service, seq)
            .await
            .map_err(retry)?
            .ok_or_else(|| {
                StepFailure::fatal("record_gone", format!("spec #{seq} is no longer recorded"))
            })
    }

    async fn service(&self, i: &RollbackInput) -> Result<bollard::models::Service, StepFailure> {
        self.deploy
            .swarm()
            .service(i.service.as_str())
            .await
            .map_err(swarm_failure)?
            .ok_or_else(|| StepFailure::fatal("service_gone", format!("{} is gone", i.service)))
    }

    async fn recheck(&self, i: &RollbackInput) -> StepResult {
        let svc = self.service(i).await?;
        let target = self.stored(i).await?;
        let gates = self.gates(&svc, &i.service, &target).await.map_err(retry)?;
        match gates.iter().find(|g| !g.pass) {
            Some(g) => Err(StepFailure::fatal(
                &g.code,
                format!("{}: {}", g.subject, g.message),
            )),
            None => Ok(Some(json!({ "gates": gates.len() }))),
        }
    }

    /// The point of no return. A spec already carrying this job's label
    /// is this step's own earlier write (a crash after it): done.
    async fn update(&self, ctx: &StepContext, i: &RollbackInput) -> StepResult {
        let svc = self.service(i).await?;
        let job = ctx.job.id.to_string();
        let version = svc.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let labels = svc
            .spec
            .as_ref()
            .and_then(|s| s.labels.clone())
            .unwrap_or_default();
        if labels.get(JOB_LABEL) == Some(&job) {
            return Ok(Some(json!({ "version": version, "replayed": true })));
        }
        if i.base_version != Some(version) {
            return Err(StepFailure::fatal(
                "service_changed",
                format!(
                    "{} is at version {version}, the plan read {}: nothing was written",
                    i.service,
                    i.base_version.unwrap_or(0)
                ),
            ));
        }
        let target = self.stored(i).await?;
        let mut spec = target.spec;
        let l = spec.labels.get_or_insert_with(Default::default);
        l.insert(JOB_LABEL.into(), job);
        l.insert(BY_LABEL.into(), ctx.job.principal.sub.clone());
        let id = svc.id.clone().unwrap_or_default();
        self.deploy
            .swarm()
            .update_service(&id, spec, version)
            .instrument(crate::telemetry::docker("service.update"))
            .await
            .map_err(swarm_failure)?;
        Ok(Some(
            json!({ "version": version, "to_seq": target.record.seq }),
        ))
    }

    /// Polls until `done` says the wait is over (Ok) or failed (Err).
    async fn poll<F>(&self, service: &str, mut done: F) -> StepResult
    where
        F: FnMut(&bollard::models::Service) -> Option<Result<Value, StepFailure>>,
        F: Send,
    {
        let deadline = tokio::time::Instant::now() + self.settings.update_timeout;
        let mut last;
        loop {
            match self.deploy.swarm().service(service).await {
                Ok(Some(svc)) => {
                    if let Some(r) = done(&svc) {
                        return r.map(Some);
                    }
                    last = svc
                        .update_status
                        .as_ref()
                        .and_then(|u| u.message.clone())
                        .unwrap_or_default();
                }
                Ok(None) => return Err(StepFailure::fatal("service_gone", service.to_owned())),
                Err(e) => last = e.to_string(),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepFailure::fatal(
                    "timeout",
                    format!(
                        "{service}: not done after {:?} ({last})",
                        self.settings.update_timeout
                    ),
                ));
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    async fn wait(&self, ctx: &StepContext, i: &RollbackInput) -> StepResult {
        let job = ctx.job.id.to_string();
        self.poll(i.service.as_str(), |svc| {
            let ours = svc
                .spec
                .as_ref()
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get(JOB_LABEL))
                == Some(&job);
            if !ours {
                return Some(Err(StepFailure::fatal(
                    "service_changed",
                    "someone else updated the service meanwhile",
                )));
            }
            let u = svc.update_status.as_ref();
            let state = u
                .and_then(|u| u.state)
                .and_then(|s| UpdateState::parse(s.as_ref()));
            let message = u.and_then(|u| u.message.clone()).unwrap_or_default();
            match state {
                Some(UpdateState::Completed) | None => {
                    Some(Ok(json!({ "state": "completed", "message": message })))
                }
                Some(
                    s @ (UpdateState::Paused
                    | UpdateState::RollbackStarted
                    | UpdateState::RollbackPaused
                    | UpdateState::RollbackCompleted),
                ) => Some(Err(StepFailure::fatal(
                    "update_failed",
                    format!("the daemon reports {}: {message}", s.as_str()),
                ))),
                Some(UpdateState::Updating) => None,
            }
        })
        .await
    }

    async fn tasks(&self, i: &RollbackInput) -> StepResult {
        let deadline = tokio::time::Instant::now() + self.settings.update_timeout;
        loop {
            let svc = self.service(i).await?;
            let id = svc.id.clone().unwrap_or_default();
            let image = svc
                .spec
                .as_ref()
                .and_then(|s| s.task_template.as_ref())
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let want = svc
                .spec
                .as_ref()
                .and_then(|s| s.mode.as_ref())
                .and_then(|m| m.replicated.as_ref())
                .and_then(|r| r.replicas)
                .and_then(|r| u64::try_from(r).ok());
            let tasks: Vec<_> = self
                .deploy
                .swarm()
                .tasks(Some(&id))
                .await
                .map_err(retry)?
                .iter()
                .filter_map(super::task_view)
                .filter(|t| t.desired_state == TaskState::Running)
                .collect();
            let running = tasks
                .iter()
                .filter(|t| t.state == TaskState::Running && t.image == image)
                .count() as u64;
            let all_new = tasks.iter().all(|t| t.image == image);
            if all_new && want.is_none_or(|w| running >= w) && running == tasks.len() as u64 {
                return Ok(Some(json!({ "running": running, "desired": want })));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepFailure::fatal(
                    "tasks_not_running",
                    format!(
                        "{running} of {} tasks running the target image",
                        want.unwrap_or(tasks.len() as u64)
                    ),
                ));
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    /// The platform contract's readiness, for a service labelled with its
    /// kind: every instance of that kind healthy and ready in the fleet's
    /// latest probes.
    async fn ready(&self, i: &RollbackInput) -> StepResult {
        let svc = self.service(i).await?;
        let kind = svc
            .spec
            .as_ref()
            .and_then(|s| s.labels.as_ref())
            .and_then(|l| l.get(KIND_LABEL))
            .and_then(|k| model::fleet::ServiceKind::parse(k));
        let (Some(kind), Some(fleet)) = (kind, &self.fleet) else {
            return Ok(Some(
                json!({ "checked": false, "why": "no platform kind label: task states only" }),
            ));
        };
        let deadline = tokio::time::Instant::now() + self.settings.update_timeout;
        loop {
            let snap = fleet.health();
            let of_kind: Vec<_> = snap.instances.iter().filter(|x| x.kind == kind).collect();
            let bad: Vec<&str> = of_kind
                .iter()
                .filter(|x| x.status != model::views::HealthStatus::Healthy)
                .map(|x| x.endpoint.as_str())
                .collect();
            if !of_kind.is_empty() && bad.is_empty() {
                return Ok(Some(
                    json!({ "checked": true, "kind": kind, "instances": of_kind.len() }),
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepFailure::fatal(
                    "instances_not_ready",
                    format!(
                        "{} of {} {kind} instances not healthy and ready: {bad:?}",
                        bad.len(),
                        of_kind.len()
                    ),
                ));
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    async fn pin(&self, ctx: &StepContext, i: &RollbackInput) -> StepResult {
        let pin = Pin {
            seq: Self::target_seq(i)?,
            job: ctx.job.id.clone(),
            by: ctx.job.principal.sub.clone(),
            at_ms: now_ms(),
            reason: ctx.job.reason.clone(),
        };
        self.deploy
            .history_store()
            .set_pin(&i.service, Some(&pin))
            .await
            .map_err(retry)?;
        Ok(Some(json!({ "pinned": true })))
    }
}
