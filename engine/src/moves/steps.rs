//! Running the steps a move's plan listed. Every side effect carries the
//! step's marker and the lease's fencing token; every step can be run
//! again after a crash (a drain already asked is asked again under the
//! same marker, a placement already written is recognised, not rewritten).

use super::instances;
use super::{input, plan, Moves};
use crate::fleet::writer::WriteError;
use crate::jobs::workflow::{StepContext, StepFailure};
use crate::jobs::JobsError;
use model::fleet::{ServiceKind, ShardId, TenantId};
use model::gates::first_failure;
use model::ids::JobId;
use model::jobs::{Items, JobKind, JobState, StepState};
use model::moves::{
    self as mv, step, DrainInput, EvacuateInput, MigrateInput, SetDefaultInput, ShardStateInput,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use tokio::time::{sleep, Instant};

type StepResult = Result<Option<Value>, StepFailure>;

fn bad_input(e: JobsError) -> StepFailure {
    StepFailure::fatal("bad_input", e.client_view().message)
}

use crate::error::ClientError;

pub async fn run(core: &Moves, kind: JobKind, ctx: &StepContext) -> StepResult {
    let name = ctx.step_name().to_owned();
    let raw = &ctx.job.input;
    if name == step::PREFLIGHT {
        return preflight(core, kind, ctx).await;
    }
    if name == step::EVACUATE {
        return evacuate(core, ctx, input(raw).map_err(bad_input)?).await;
    }
    let tenant = || -> Result<TenantId, StepFailure> {
        match kind {
            JobKind::TenantsMigrate => Ok(input::<MigrateInput>(raw).map_err(bad_input)?.tenant),
            _ => Ok(input::<DrainInput>(raw).map_err(bad_input)?.tenant),
        }
    };
    if let Some((_, ep)) = mv::parse_instance_step(step::DRAIN, &name) {
        return drain(core, ctx, ep, &tenant()?).await;
    }
    if let Some((_, ep)) = mv::parse_instance_step(step::UNDO_RESUME, &name) {
        return undo_resume(core, ctx, ep, &tenant()?).await;
    }
    if let Some((_, ep)) = mv::parse_instance_step(step::RESUME, &name) {
        let url = instances::tenant_url(ep, &tenant()?, Some("resume"));
        let out =
            instances::effect(&core.gates.http, &url, &ctx.forward(), "resume_failed").await?;
        return Ok(Some(out));
    }
    if let Some((k, ep)) = mv::parse_instance_step(step::LOADED, &name) {
        let want = written_revision(ctx, k)?;
        return wait_loaded(core, ctx, ep, Some(want), None).await;
    }
    if let Some(ep) = name.strip_prefix(&format!("{}:", step::RELOAD)) {
        return reload(core, kind, ctx, ep).await;
    }
    if name.starts_with(&format!("{}:", step::PLACEMENT)) {
        return match kind {
            JobKind::PlacementSetDefault => {
                write_default(core, ctx, input(raw).map_err(bad_input)?).await
            }
            _ => write_move(core, ctx, input(raw).map_err(bad_input)?).await,
        };
    }
    if name.starts_with(&format!("{}:", step::ROUTING)) {
        return write_state(core, ctx, input(raw).map_err(bad_input)?).await;
    }
    let m = || input::<MigrateInput>(raw).map_err(bad_input);
    match name.as_str() {
        step::CHECK_PLACEMENT => check_placement(core, ctx, m()?).await,
        step::CHECK_RESOLVES => check_resolves(core, m()?).await,
        step::CHECK_TARGET_READY => check_target_ready(core, ctx, m()?).await,
        step::CHECK_ERROR_RATE => check_error_rate(core, ctx, m()?).await,
        _ => Err(StepFailure::fatal(
            "unknown_step",
            format!("no step {name:?}"),
        )),
    }
}

/// The job's own id and its parent's: their locks are not conflicts.
fn except(ctx: &StepContext) -> Vec<JobId> {
    let mut out = vec![ctx.job.id.clone()];
    if let Some(p) = ctx
        .job
        .input
        .get("parent")
        .and_then(|p| p.as_str())
        .and_then(|p| JobId::parse(p).ok())
    {
        out.push(p);
    }
    out
}

/// Every gate again, now: a failing one fails the job with its code and
/// values before any side effect.
async fn preflight(core: &Moves, kind: JobKind, ctx: &StepContext) -> StepResult {
    let p = plan::plan(core, kind, &ctx.job.input, &except(ctx), &ctx.forward())
        .await
        .map_err(|e| StepFailure::fatal("bad_input", e.client_view().message))?;
    if let Some(g) = first_failure(&p.gates) {
        let mut f = StepFailure::fatal(&g.code, g.describe());
        f.output = Some(json!({ "gates": p.gates }));
        return Err(f);
    }
    Ok(Some(json!({ "gates": p.gates.len() })))
}

async fn drain(core: &Moves, ctx: &StepContext, ep: &str, tenant: &TenantId) -> StepResult {
    let http = &core.gates.http;
    let fwd = ctx.forward();
    instances::effect(
        http,
        &instances::tenant_url(ep, tenant, Some("drain")),
        &fwd,
        "drain_failed",
    )
    .await?;
    let deadline = Instant::now() + core.settings.drain_timeout;
    loop {
        let seen = instances::tenant_status(http, ep, tenant, &fwd).await;
        if let Ok(s) = &seen {
            if s.state == "drained" && s.inflight == 0 {
                return Ok(Some(json!({ "state": s.state, "inflight": 0 })));
            }
        }
        if Instant::now() >= deadline {
            let observed = match seen {
                Ok(s) => format!("inflight {} ({})", s.inflight, s.state),
                Err(e) => format!("no status: {e}"),
            };
            // Not retried: the operator decides (resume, or drain again).
            return Err(StepFailure::fatal(
                "drain_timeout",
                format!(
                    "{ep} did not drain within {} ms: {observed}",
                    core.settings.drain_timeout.as_millis()
                ),
            ));
        }
        sleep(core.settings.poll).await;
    }
}

/// Walks a drain back: only on instances whose drain step started.
async fn undo_resume(core: &Moves, ctx: &StepContext, ep: &str, tenant: &TenantId) -> StepResult {
    let kind = mv::parse_instance_step(step::UNDO_RESUME, ctx.step_name()).map(|(k, _)| k);
    let drained = kind.is_some_and(|k| {
        let name = mv::instance_step(step::DRAIN, k, ep);
        ctx.job.steps.iter().any(|s| {
            s.name == name && s.state != StepState::Pending && s.state != StepState::Skipped
        })
    });
    if !drained {
        return Ok(Some(json!({ "nothing_to_undo": true })));
    }
    let url = instances::tenant_url(ep, tenant, Some("resume"));
    Ok(Some(
        instances::effect(&core.gates.http, &url, &ctx.forward(), "resume_failed").await?,
    ))
}

fn store_failure(e: WriteError) -> StepFailure {
    match e {
        WriteError::ReadOnly(m) => StepFailure::fatal("read_only", m),
        e => StepFailure::retry("store_unavailable", e.to_string()),
    }
}

/// The placement revision the job's write produced (the reload and load
/// steps wait for it).
fn written_revision(ctx: &StepContext, kind: ServiceKind) -> Result<u64, StepFailure> {
    ctx.output_of(&format!("{}:{}", step::PLACEMENT, kind.as_str()))
        .and_then(|o| o["revision"].as_u64())
        .ok_or_else(|| StepFailure::fatal("no_revision", "the placement step recorded no revision"))
}

/// The tenant is still where the plan found it, and the target is still
/// active: the last check before the point of no return.
async fn check_placement(core: &Moves, ctx: &StepContext, i: MigrateInput) -> StepResult {
    let source = i
        .source
        .clone()
        .ok_or_else(|| StepFailure::fatal("bad_input", "input.source: missing"))?;
    let list: Vec<Box<dyn crate::gates::Gate>> = vec![
        Box::new(crate::gates::PlacementUnchanged {
            tenant: i.tenant.clone(),
            kind: i.kind,
            source,
        }),
        Box::new(crate::gates::ShardActive {
            kind: i.kind,
            shard: i.target.clone(),
        }),
    ];
    let checks = crate::gates::evaluate(&core.gates, &ctx.forward(), &list).await;
    match first_failure(&checks) {
        Some(g) => Err(StepFailure::fatal(&g.code, g.describe())),
        None => Ok(None),
    }
}

/// The point of no return: tenant → target in the kind's map, by CAS. A
/// conflict with a write that did not touch this tenant is re-based on the
/// new revision; one that moved the tenant fails the step. Found already
/// on the target (this step ran before a crash): done, nothing written.
async fn write_move(core: &Moves, ctx: &StepContext, i: MigrateInput) -> StepResult {
    let source = i
        .source
        .clone()
        .ok_or_else(|| StepFailure::fatal("bad_input", "input.source: missing"))?;
    loop {
        let (mut map, rev) = core
            .writer
            .read_placement(i.kind)
            .await
            .map_err(store_failure)?;
        let now = map.shard_of(&i.tenant).cloned();
        if now.as_ref() == Some(&i.target) && map.tenants.get(&i.tenant) == Some(&i.target) {
            return Ok(Some(json!({ "revision": rev, "replayed": true })));
        }
        if now.as_ref() != Some(&source) {
            return Err(StepFailure::fatal(
                "placement_moved",
                format!(
                    "the tenant is on {} now, not {}: nothing was written",
                    now.map_or("no shard".into(), |s| s.as_str().to_owned()),
                    source.as_str()
                ),
            ));
        }
        map.tenants.insert(i.tenant.clone(), i.target.clone());
        match core
            .writer
            .write_placement(i.kind, &map, rev, &ctx.write_meta())
            .await
        {
            Ok(next) => return Ok(Some(json!({ "revision": next, "previous": rev }))),
            Err(WriteError::Conflict { .. }) => continue,
            Err(e) => return Err(store_failure(e)),
        }
    }
}

async fn write_default(core: &Moves, ctx: &StepContext, i: SetDefaultInput) -> StepResult {
    loop {
        let (mut map, rev) = core
            .writer
            .read_placement(i.kind)
            .await
            .map_err(store_failure)?;
        if map.default_shard.as_ref() == Some(&i.shard) {
            return Ok(Some(json!({ "revision": rev, "replayed": true })));
        }
        let previous = map.default_shard.replace(i.shard.clone());
        match core
            .writer
            .write_placement(i.kind, &map, rev, &ctx.write_meta())
            .await
        {
            Ok(next) => {
                return Ok(Some(
                    json!({ "revision": next, "previous_default": previous }),
                ))
            }
            Err(WriteError::Conflict { .. }) => continue,
            Err(e) => return Err(store_failure(e)),
        }
    }
}

async fn write_state(core: &Moves, ctx: &StepContext, i: ShardStateInput) -> StepResult {
    loop {
        let (mut routing, rev) = core.writer.read_routing().await.map_err(store_failure)?;
        let Some(route) = routing
            .kinds
            .get_mut(&i.kind)
            .and_then(|m| m.get_mut(&i.shard))
        else {
            return Err(StepFailure::fatal(
                "unknown_shard",
                format!("{} is no longer in routing", i.shard.as_str()),
            ));
        };
        if route.state == i.state {
            return Ok(Some(json!({ "routing_revision": rev, "replayed": true })));
        }
        route.state = i.state;
        match core
            .writer
            .write_routing(&routing, rev, &ctx.write_meta())
            .await
        {
            Ok(next) => return Ok(Some(json!({ "routing_revision": next }))),
            Err(WriteError::Conflict { .. }) => continue,
            Err(e) => return Err(store_failure(e)),
        }
    }
}

/// A gateway reloads, then reports the revisions this job wrote loaded.
async fn reload(core: &Moves, kind: JobKind, ctx: &StepContext, ep: &str) -> StepResult {
    let url = format!("{}/admin/routing/reload", ep.trim_end_matches('/'));
    let answer = instances::effect(&core.gates.http, &url, &ctx.forward(), "reload_failed").await?;
    let (placement, routing) = match kind {
        JobKind::ShardsSetState => {
            let r = ctx
                .job
                .steps
                .iter()
                .find(|s| s.name.starts_with(step::ROUTING))
                .and_then(|s| s.output.as_ref())
                .and_then(|o| o["routing_revision"].as_u64());
            (None, r)
        }
        _ => {
            let k: ServiceKind = ctx
                .job
                .input
                .get("kind")
                .and_then(|k| serde_json::from_value(k.clone()).ok())
                .ok_or_else(|| StepFailure::fatal("bad_input", "input.kind: missing"))?;
            (Some(written_revision(ctx, k)?), None)
        }
    };
    let mut out = wait_loaded(core, ctx, ep, placement, routing).await?;
    if let Some(o) = out.as_mut() {
        o["replayed"] = answer
            .get("replayed")
            .cloned()
            .unwrap_or(Value::Bool(false));
    }
    Ok(out)
}

async fn wait_loaded(
    core: &Moves,
    ctx: &StepContext,
    ep: &str,
    placement: Option<u64>,
    routing: Option<u64>,
) -> StepResult {
    let want = instances::Want {
        placement,
        routing,
        timeout: core.settings.load_timeout,
        poll: core.settings.poll,
    };
    instances::wait_loaded(&core.gates.http, ep, &ctx.forward(), want).await
}

/// The fleet's own view resolves the tenant to the target.
async fn check_resolves(core: &Moves, i: MigrateInput) -> StepResult {
    let deadline = Instant::now() + core.settings.load_timeout;
    loop {
        let st = core.gates.fleet.docs.current();
        let now = st.shard_of(i.kind, &i.tenant).map(|(s, _)| s.clone());
        if now.as_ref() == Some(&i.target) {
            return Ok(Some(json!({ "shard": now })));
        }
        if Instant::now() >= deadline {
            return Err(StepFailure::retry(
                "not_resolved",
                format!(
                    "the tenant resolves to {:?}, not {}",
                    now.map(|s| s.as_str().to_owned()),
                    i.target.as_str()
                ),
            ));
        }
        sleep(core.settings.poll).await;
    }
}

async fn check_target_ready(core: &Moves, ctx: &StepContext, i: MigrateInput) -> StepResult {
    let (routing, _) = core.gates.fleet.routing();
    let eps = mv::endpoints(&routing, i.kind, &i.target);
    let fwd = ctx.forward();
    let mut unready = Vec::new();
    for e in &eps {
        match instances::ready(&core.gates.http, e, &fwd).await {
            Ok(l) if l.ready => {}
            Ok(_) => unready.push(format!("{e} is not ready")),
            Err(err) => unready.push(format!("{e}: {err}")),
        }
    }
    if unready.is_empty() {
        Ok(Some(json!({ "ready": eps.len() })))
    } else {
        Err(StepFailure::retry("target_unready", unready.join("; ")))
    }
}

/// The tenant's own 5xx share on the target over the window.
async fn check_error_rate(core: &Moves, ctx: &StepContext, i: MigrateInput) -> StepResult {
    let (routing, _) = core.gates.fleet.routing();
    let eps = mv::endpoints(&routing, i.kind, &i.target);
    let fwd = ctx.forward();
    let http = &core.gates.http;
    let sample = || async {
        let mut sum = (0.0, 0.0);
        for e in &eps {
            let (a, b) = instances::tenant_counts(http, e, i.kind, &i.tenant, &fwd)
                .await
                .map_err(|err| StepFailure::retry("metrics_unavailable", format!("{e}: {err}")))?;
            sum = (sum.0 + a, sum.1 + b);
        }
        Ok::<_, StepFailure>(sum)
    };
    let before = sample().await?;
    sleep(core.settings.error_window).await;
    let after = sample().await?;
    let (requests, errors) = (after.0 - before.0, after.1 - before.1);
    let ratio = if requests > 0.0 {
        errors / requests
    } else {
        0.0
    };
    let max = core.gates.thresholds().max_error_ratio;
    let out = json!({
        "requests": requests, "errors": errors, "error_ratio": ratio, "threshold": max,
        "window_ms": core.settings.error_window.as_millis() as u64,
    });
    if ratio > max {
        let mut f = StepFailure::fatal(
            "error_rate_over",
            format!(
                "the tenant's error ratio on {} is {:.1}% ({errors} of {requests} requests), above {:.1}%",
                i.target.as_str(),
                ratio * 100.0,
                max * 100.0
            ),
        );
        f.output = Some(out);
        return Err(f);
    }
    Ok(Some(out))
}

/// One tenant's outcome in an evacuation's report.
#[derive(Debug, Clone, serde::Serialize)]
struct Outcome {
    target: ShardId,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs the planned moves as `tenants.migrate` child jobs, `concurrency`
/// at a time, each created once (its key is the parent and the tenant, so
/// a re-run of this step after a crash follows the same children).
async fn evacuate(core: &Moves, ctx: &StepContext, i: EvacuateInput) -> StepResult {
    let Some(jobs) = core.gates.jobs.get() else {
        return Err(StepFailure::retry(
            "no_engine",
            "the job engine is not running",
        ));
    };
    let total = i.moves.len() as u64;
    let mut queue: VecDeque<(TenantId, ShardId)> = i
        .moves
        .iter()
        .map(|(t, s)| (t.clone(), s.clone()))
        .collect();
    let mut running: BTreeMap<TenantId, (ShardId, JobId)> = BTreeMap::new();
    let mut report: BTreeMap<TenantId, Outcome> = BTreeMap::new();
    let mut stop = false;
    let progress = |report: &BTreeMap<TenantId, Outcome>| {
        let _ = ctx.progress.send(Items {
            done: report.len() as u64,
            total,
        });
    };
    progress(&report);
    loop {
        while !stop && running.len() < i.concurrency as usize {
            let Some((tenant, target)) = queue.pop_front() else {
                break;
            };
            let child = MigrateInput {
                tenant: tenant.clone(),
                kind: i.kind,
                target: target.clone(),
                source: None,
                parent: Some(ctx.job.id.clone()),
            };
            let key = format!("evacuate/{}/{}", ctx.job.id, tenant.as_str());
            let created = jobs
                .create_child(
                    &ctx.job,
                    JobKind::TenantsMigrate,
                    &key,
                    serde_json::to_value(&child).unwrap_or(Value::Null),
                )
                .await;
            match created {
                Ok(c) => {
                    running.insert(tenant, (target, c.job_id));
                }
                Err(JobsError::Store(e)) => {
                    queue.push_front((tenant, target));
                    return Err(StepFailure::retry("store_unavailable", e.to_string()));
                }
                Err(e) => {
                    report.insert(
                        tenant,
                        Outcome {
                            target,
                            outcome: "refused",
                            job: None,
                            error: Some(e.client_view().message),
                        },
                    );
                    stop |= i.stop_on_first_failure;
                    progress(&report);
                }
            }
        }
        if running.is_empty() {
            break;
        }
        sleep(core.settings.poll).await;
        let mut ended = Vec::new();
        for (tenant, (target, id)) in &running {
            let Ok(job) = jobs.get(id).await else {
                continue;
            };
            if !job.state.is_terminal() {
                continue;
            }
            let outcome = match job.state {
                JobState::Succeeded => "moved",
                JobState::Cancelled => "cancelled",
                _ if job.past_point_of_no_return() => "failed_after_move",
                _ => "not_moved",
            };
            stop |= i.stop_on_first_failure && job.state != JobState::Succeeded;
            ended.push(tenant.clone());
            report.insert(
                tenant.clone(),
                Outcome {
                    target: target.clone(),
                    outcome,
                    job: Some(id.to_string()),
                    error: job
                        .error
                        .as_ref()
                        .map(|e| format!("{}: {}", e.code, e.message)),
                },
            );
        }
        for t in ended {
            running.remove(&t);
        }
        if !running.is_empty() || !queue.is_empty() {
            progress(&report);
        }
    }
    for (tenant, target) in queue {
        report.insert(
            tenant,
            Outcome {
                target,
                outcome: "not_started",
                job: None,
                error: None,
            },
        );
    }
    progress(&report);
    let moved = report.values().filter(|o| o.outcome == "moved").count();
    let out = json!({
        "moved": moved,
        "total": total,
        "tenants": report,
    });
    if moved as u64 == total {
        Ok(Some(out))
    } else {
        let mut f = StepFailure::fatal(
            "evacuation_incomplete",
            format!("{} of {total} tenants were not moved", total - moved as u64),
        );
        f.output = Some(out);
        Err(f)
    }
}
