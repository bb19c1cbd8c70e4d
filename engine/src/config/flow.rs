//! `config.apply` and `config.rollback`: write by CAS on the planned base
//! revision (inside an audited action, before/after digests), then the
//! domain's post-conditions (fleet documents: every gateway reloads and
//! reports the revision, every instance of the kind loads it, sampled
//! tenant resolutions at the gateways equal the pure resolution of the new
//! documents; flags and thresholds: the control plane reads them). A
//! failed post-condition or a cancel runs `restore`: the base document is
//! written back and reloaded, and the job says so. A rollback pins the
//! document last.

use super::plan::{self, step};
use super::store::{ConfigStore, WriteMeta};
use super::Registry;
use crate::action::{Done, Plan as ActionPlan};
use crate::gates::GateContext;
use crate::gateway::Forward;
use crate::jobs::workflow::{Planned, StepContext, StepFailure, StepPolicy, Workflow};
use crate::jobs::JobsError;
use crate::moves::instances;
use async_trait::async_trait;
use model::audit::Outcome;
use model::config::{ConfigId, Domain, Pin, Scope};
use model::fleet::{resolve, PlacementMap, RoutingConfig, ServiceKind, TenantId};
use model::jobs::{Job, JobKind, JobState, StepState};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timings of the config workflows (config `[config]` and `[moves]`).
#[derive(Debug, Clone, Copy)]
pub struct FlowSettings {
    /// How long an instance may take to report the new revision loaded.
    pub load_timeout: Duration,
    pub poll: Duration,
    /// Tenants resolved at the gateways besides the moved ones.
    pub verify_sample: usize,
}

impl Default for FlowSettings {
    fn default() -> Self {
        Self {
            load_timeout: Duration::from_secs(30),
            poll: Duration::from_millis(200),
            verify_sample: 20,
        }
    }
}

pub struct Core {
    pub registry: Registry,
    pub gates: GateContext,
    pub settings: FlowSettings,
}

pub struct ConfigFlow {
    kind: JobKind,
    core: Arc<Core>,
}

pub fn workflows(
    registry: Registry,
    gates: GateContext,
    settings: FlowSettings,
) -> Vec<Arc<dyn Workflow>> {
    let core = Arc::new(Core {
        registry,
        gates,
        settings,
    });
    [JobKind::ConfigApply, JobKind::ConfigRollback]
        .into_iter()
        .map(|kind| {
            Arc::new(ConfigFlow {
                kind,
                core: core.clone(),
            }) as Arc<dyn Workflow>
        })
        .collect()
}

type StepResult = Result<Option<Value>, StepFailure>;

fn unavailable(e: impl std::fmt::Display) -> StepFailure {
    StepFailure::retry("config_source", e.to_string())
}

/// What the job's input names, read again at run time (never trusted from
/// a previous attempt).
struct Ran {
    id: ConfigId,
    base: u64,
    document: Value,
}

async fn ran(core: &Core, job: &Job) -> Result<Ran, StepFailure> {
    let bad = |e: JobsError| StepFailure::fatal("bad_input", e.to_string());
    let c = plan::change(core, job.kind, &normalised_for_run(&job.input))
        .await
        .map_err(bad)?;
    let base = job.input["base_revision"].as_u64().unwrap_or(0);
    Ok(Ran {
        id: c.id,
        base,
        document: c.document,
    })
}

/// The document a job changes and its base revision, from its input
/// alone (the steps after `write` need no document).
fn target(job: &Job) -> Result<(ConfigId, u64), StepFailure> {
    #[derive(serde::Deserialize)]
    struct Named {
        domain: Domain,
        name: String,
        #[serde(default = "platform")]
        scope: Scope,
        #[serde(default)]
        base_revision: u64,
    }
    fn platform() -> Scope {
        Scope::Platform
    }
    let n: Named = serde_json::from_value(job.input.clone()).map_err(|e| {
        StepFailure::fatal("bad_input", model::error::safe_serde_detail(&e.to_string()))
    })?;
    let id = ConfigId::new(n.domain, &n.name, n.scope)
        .map_err(|e| StepFailure::fatal("bad_input", e))?;
    Ok((id, n.base_revision))
}

/// The stored input without its base revision: at run time the document
/// is past its base once `write` has run.
fn normalised_for_run(input: &Value) -> Value {
    let mut v = input.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("base_revision");
    }
    v
}

/// The revision this job's `write` produced.
fn written(ctx: &StepContext) -> Option<u64> {
    ctx.output_of(step::WRITE)
        .and_then(|o| o["revision"].as_u64())
}

/// One document write inside an audited action (`config.<what>`), with the
/// document's digest before and after.
async fn audited_write(
    core: &Core,
    ctx: &StepContext,
    what: &str,
    id: &ConfigId,
    doc: &Value,
    expected: u64,
    reason: String,
) -> Result<u64, StepFailure> {
    let job = &ctx.job;
    let store: Arc<dyn ConfigStore> = core.registry.store().clone();
    let (s2, id2) = (store.clone(), id.clone());
    let action = ActionPlan::new(
        &crate::jobs::caller_of(job),
        &format!("config.{what}"),
        format!("config:{id}"),
    )
    .with_job(Some(job.idempotency_key.clone()), Some(job.id.to_string()))
    .on_behalf(&job.principal.sub, &job.principal.session, reason.clone())
    .with_digest(move || {
        let (s, id) = (s2.clone(), id2.clone());
        async move { super::digest(&*s, &id).await }
    });
    let meta = WriteMeta {
        updated_by: job.principal.sub.clone(),
        job: Some(job.id.clone()),
        reason: Some(reason),
    };
    let (id2, doc2) = (id.clone(), doc.clone());
    let r = core
        .registry
        .actions()
        .run(action, async move {
            let r = store.write(&id2, &doc2, expected, &meta).await;
            Done::new(
                if r.is_ok() {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                },
                r,
            )
        })
        .await
        .map_err(|e| StepFailure::retry("audit_unavailable", e.to_string()))?;
    match r {
        Ok(m) => Ok(m.revision),
        Err(super::ConfigStoreError::Conflict { current, .. }) => Err(StepFailure::fatal(
            "conflict",
            format!("{id} moved to revision {current} since the plan (base {expected}): nothing was written; plan again"),
        )),
        Err(e) => Err(unavailable(e)),
    }
}

async fn write(core: &Core, ctx: &StepContext) -> StepResult {
    let r = ran(core, &ctx.job).await?;
    let store = core.registry.store();
    let cur = store.get(&r.id).await.map_err(unavailable)?;
    let sha = model::config::sha256(&r.document);
    if let Some(c) = &cur {
        // Written by this job before a crash: done, nothing written again.
        if c.meta.job.as_ref() == Some(&ctx.job.id) && c.meta.sha256 == sha {
            return Ok(Some(json!({"revision": c.meta.revision, "replayed": true})));
        }
    }
    let what = if ctx.job.kind == JobKind::ConfigRollback {
        "rollback"
    } else {
        "apply"
    };
    let revision = audited_write(
        core,
        ctx,
        what,
        &r.id,
        &r.document,
        r.base,
        ctx.job.reason.clone(),
    )
    .await?;
    Ok(Some(
        json!({"revision": revision, "previous": r.base, "sha256": sha}),
    ))
}

/// Which revision a gateway must report for the document: routing's own,
/// or (placement) the newest placement revision.
fn wanted(id: &ConfigId, rev: u64) -> (Option<u64>, Option<u64>) {
    match id.domain {
        Domain::Routing => (None, Some(rev)),
        _ => (Some(rev), None),
    }
}

async fn wait_loaded(
    core: &Core,
    fwd: &Forward,
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
    instances::wait_loaded(&core.gates.http, ep, fwd, want).await
}

async fn reload(core: &Core, ctx: &StepContext, ep: &str, id: &ConfigId, rev: u64) -> StepResult {
    let url = format!("{}/admin/routing/reload", ep.trim_end_matches('/'));
    let answer = instances::effect(&core.gates.http, &url, &ctx.forward(), "reload_failed").await?;
    let (p, r) = wanted(id, rev);
    let mut out = wait_loaded(core, &ctx.forward(), ep, p, r).await?;
    if let Some(o) = out.as_mut() {
        o["replayed"] = answer
            .get("replayed")
            .cloned()
            .unwrap_or(Value::Bool(false));
    }
    Ok(out)
}

/// The documents in force now, for the pure resolution.
async fn fleet_now(
    store: &dyn ConfigStore,
) -> Result<(RoutingConfig, Vec<(ServiceKind, PlacementMap)>), StepFailure> {
    let routing = match store.get(&ConfigId::routing()).await.map_err(unavailable)? {
        Some(s) => serde_json::from_value(s.document).unwrap_or_default(),
        None => RoutingConfig::default(),
    };
    let mut maps = Vec::new();
    for k in ServiceKind::WORKERS {
        if let Some(s) = store
            .get(&ConfigId::placement(k))
            .await
            .map_err(unavailable)?
        {
            maps.push((k, serde_json::from_value(s.document).unwrap_or_default()));
        }
    }
    Ok((routing, maps))
}

/// Sampled routing verification: the tenants the change moved plus a
/// random sample, resolved at every gateway; each answer must equal the
/// pure resolution of the documents now in force.
async fn verify(core: &Core, ctx: &StepContext, id: &ConfigId, base: u64) -> StepResult {
    let store = core.registry.store();
    let (routing, maps) = fleet_now(&**store).await?;
    let before: Option<PlacementMap> = match (&id.domain, &id.scope) {
        (Domain::Placement, Scope::Kind(_)) => store
            .at(id, base)
            .await
            .map_err(unavailable)?
            .and_then(|s| serde_json::from_value(s.document).ok()),
        _ => None,
    };
    let mut sample: Vec<(ServiceKind, TenantId)> = Vec::new();
    for (k, m) in &maps {
        let moved = before
            .as_ref()
            .filter(|_| id.scope == Scope::Kind(*k))
            .map(|b| {
                m.tenants
                    .iter()
                    .filter(|(t, s)| b.shard_of(t) != Some(s))
                    .map(|(t, _)| t.clone())
                    .take(200)
                    .collect::<Vec<_>>()
            });
        sample.extend(moved.into_iter().flatten().map(|t| (*k, t)));
        let all: Vec<&TenantId> = m.tenants.keys().collect();
        for _ in 0..core.settings.verify_sample.min(all.len()) {
            let i = rand::random_range(0..all.len());
            sample.push((*k, all[i].clone()));
        }
    }
    sample.sort();
    sample.dedup();
    let gateways = model::moves::kind_endpoints(&routing, ServiceKind::Gateway);
    let fwd = instances::read_only(&ctx.forward());
    let mut wrong = Vec::new();
    for gw in &gateways {
        for (k, t) in &sample {
            let Some((_, map)) = maps.iter().find(|(mk, _)| mk == k) else {
                continue;
            };
            let want = resolve(*k, t, map, &routing).ok();
            let url = format!(
                "{}/admin/routing/resolve?kind={k}&tenant={t}",
                gw.trim_end_matches('/')
            );
            let got = match core
                .gates
                .http
                .call_url(http::Method::GET, &url, &fwd, None)
                .await
            {
                Ok(r) if r.is_success() => {
                    serde_json::from_slice::<model::fleet::Resolution>(&r.body).ok()
                }
                Ok(r) if r.status == 404 || r.status == 422 => None,
                Ok(r) => {
                    return Err(StepFailure::retry(
                        "verify_unreachable",
                        format!("{url} answered {}", r.status),
                    ))
                }
                Err(e) => return Err(StepFailure::retry("verify_unreachable", e.to_string())),
            };
            let same = match (&want, &got) {
                (Some(w), Some(g)) => w.shard == g.shard && w.endpoints == g.endpoints,
                (None, None) => true,
                _ => false,
            };
            if !same {
                wrong.push(format!(
                    "{gw}: {k}/{t} resolves to {} instead of {}",
                    got.map_or("nothing".into(), |g| g.shard.as_str().to_owned()),
                    want.map_or("nothing".into(), |w| w.shard.as_str().to_owned())
                ));
            }
        }
    }
    if wrong.is_empty() {
        Ok(Some(
            json!({"gateways": gateways.len(), "tenants": sample.len()}),
        ))
    } else {
        let n = wrong.len();
        wrong.truncate(5);
        Err(StepFailure::fatal(
            "verify_failed",
            format!(
                "{n} resolution(s) differ from the new documents: {}",
                wrong.join("; ")
            ),
        ))
    }
}

/// The control plane reads the new flags or thresholds.
async fn control_loaded(core: &Core, id: &ConfigId, rev: u64) -> StepResult {
    let deadline = Instant::now() + core.settings.load_timeout;
    let mut rx = core.registry.loaded();
    loop {
        core.registry.refresh().await;
        let (f, g) = *rx.borrow_and_update();
        let have = if id.domain == Domain::Flags { f } else { g };
        if have >= rev {
            return Ok(Some(json!({"loaded_revision": have})));
        }
        if Instant::now() >= deadline {
            return Err(StepFailure::retry(
                "not_loaded",
                format!("the control plane still reads revision {have}, not {rev}"),
            ));
        }
        let _ = tokio::time::timeout(core.settings.poll, rx.changed()).await;
    }
}

async fn pin(core: &Core, ctx: &StepContext, id: &ConfigId, rev: u64) -> StepResult {
    let job = &ctx.job;
    let store = core.registry.store().clone();
    let p = Pin {
        by: job.principal.sub.clone(),
        at_ms: crate::identity::now_ms(),
        reason: job.reason.clone(),
        revision: rev,
        job: Some(job.id.clone()),
    };
    let (s2, id2) = (store.clone(), id.clone());
    let action = ActionPlan::new(
        &crate::jobs::caller_of(job),
        "config.pin",
        format!("config:{id}"),
    )
    .with_job(Some(job.idempotency_key.clone()), Some(job.id.to_string()))
    .on_behalf(
        &job.principal.sub,
        &job.principal.session,
        job.reason.clone(),
    )
    .with_digest(move || {
        let (s, id) = (s2.clone(), id2.clone());
        async move { super::digest(&*s, &id).await }
    });
    let (id2, p2) = (id.clone(), p.clone());
    core.registry
        .actions()
        .run(action, async move {
            let r = store.set_pin(&id2, Some(&p2)).await;
            Done::new(
                if r.is_ok() {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                },
                r,
            )
        })
        .await
        .map_err(|e| StepFailure::retry("audit_unavailable", e.to_string()))?
        .map_err(unavailable)?;
    Ok(Some(json!({"pinned": rev})))
}

/// Writes the base document back (CAS on the revision this job wrote)
/// and reloads the instances; nothing to do if `write` never ran.
async fn restore(core: &Core, ctx: &StepContext) -> StepResult {
    let Some(rev) = written(ctx) else {
        return Ok(Some(json!({"nothing_to_restore": true})));
    };
    let r = ran(core, &ctx.job).await?;
    let store = core.registry.store();
    if r.base == 0 {
        return Ok(Some(json!({
            "nothing_to_restore": true,
            "note": "the document did not exist before this job; it stays at its new revision",
        })));
    }
    let base = store
        .at(&r.id, r.base)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            StepFailure::fatal(
                "base_not_kept",
                format!("revision {} of {} is no longer kept", r.base, r.id),
            )
        })?;
    let cur = store
        .get(&r.id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| StepFailure::fatal("gone", format!("{} is gone", r.id)))?;
    let restored = if cur.meta.sha256 == base.meta.sha256 {
        cur.meta.revision
    } else if cur.meta.revision != rev {
        return Err(StepFailure::fatal(
            "moved",
            format!(
                "{} moved to revision {} after this job wrote {rev}: not restored (someone else changed it)",
                r.id, cur.meta.revision
            ),
        ));
    } else {
        let why = format!(
            "restore revision {} after job {} failed or was cancelled",
            r.base, ctx.job.id
        );
        audited_write(core, ctx, "restore", &r.id, &base.document, rev, why).await?
    };
    // The document is back; an instance that cannot load it (the one
    // that failed the post-condition, often) is reported, not waited for.
    let (mut reloaded, mut not_reloaded) = (Vec::new(), Vec::new());
    if r.id.domain.is_fleet() {
        let (routing, _) = fleet_now(&**store).await?;
        let (gws, workers) = plan::reloads(&routing, &r.id);
        for g in &gws {
            match reload(core, ctx, g, &r.id, restored).await {
                Ok(_) => reloaded.push(g.clone()),
                Err(f) => not_reloaded.push(format!("{g}: {}", f.error.message)),
            }
        }
        let (p, _) = wanted(&r.id, restored);
        for (_, e) in &workers {
            if let Err(f) = wait_loaded(core, &ctx.forward(), e, p, None).await {
                not_reloaded.push(format!("{e}: {}", f.error.message));
            }
        }
    } else if matches!(r.id.domain, Domain::Flags | Domain::Gates) {
        core.registry.refresh().await;
    }
    Ok(Some(json!({
        "restored_revision": restored,
        "document_of_revision": r.base,
        "sha256": base.meta.sha256,
        "reloaded": reloaded,
        "not_reloaded": not_reloaded,
    })))
}

#[async_trait]
impl Workflow for ConfigFlow {
    fn kind(&self) -> JobKind {
        self.kind
    }

    async fn plan(&self, input: &Value, fwd: &Forward) -> Result<Planned, JobsError> {
        Ok(Planned::of(
            plan::plan(&self.core, self.kind, input, fwd).await?,
        ))
    }

    /// One job per base revision: a claim whose job is still unfinished,
    /// or finished having written, refuses the second (409 `locked`).
    async fn reserve(&self, job: &model::ids::JobId, input: &Value) -> Result<(), JobsError> {
        let c = plan::change(&self.core, self.kind, &normalised_for_run(input)).await?;
        let base = input["base_revision"].as_u64().unwrap_or(0);
        let jobs = self.core.gates.jobs.clone();
        let store = self.core.registry.store().clone();
        let id = c.id.clone();
        let live = move |other: model::ids::JobId| {
            let (jobs, store, id) = (jobs.clone(), store.clone(), id.clone());
            Box::pin(async move {
                let j = jobs.get()?.get(&other).await.ok()?;
                if !j.state.is_terminal() {
                    return Some(true);
                }
                // Ended: its claim stands only if it wrote the document.
                let cur = store.get(&id).await.ok()??;
                Some(cur.meta.job.as_ref() == Some(&other) || cur.meta.revision != base)
            }) as futures::future::BoxFuture<'static, Option<bool>>
        };
        match self.core.registry.claim(&c.id, base, job, live).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(m)) => Err(JobsError::Locked(m)),
            Err(e) => Err(JobsError::Config(e.into())),
        }
    }

    fn policy(&self, _step: &str) -> StepPolicy {
        StepPolicy {
            timeout: self.core.settings.load_timeout + Duration::from_secs(10),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            idempotent: true,
        }
    }

    async fn run(&self, ctx: &StepContext) -> StepResult {
        let core = &*self.core;
        let name = ctx.step_name().to_owned();
        if name == step::WRITE {
            return write(core, ctx).await;
        }
        if name == step::RESTORE {
            return restore(core, ctx).await;
        }
        let (id, base) = target(&ctx.job)?;
        let rev = written(ctx).ok_or_else(|| {
            StepFailure::fatal("no_revision", "the write step recorded no revision")
        })?;
        if let Some(ep) = name.strip_prefix(&format!("{}:", step::RELOAD)) {
            return reload(core, ctx, ep, &id, rev).await;
        }
        if let Some(rest) = name.strip_prefix(&format!("{}:", step::LOADED)) {
            let ep = rest.split_once(':').map_or(rest, |(_, e)| e);
            return wait_loaded(core, &ctx.forward(), ep, Some(rev), None).await;
        }
        match name.as_str() {
            step::LOADED => control_loaded(core, &id, rev).await,
            step::VERIFY => verify(core, ctx, &id, base).await,
            step::PIN => pin(core, ctx, &id, rev).await,
            other => Err(StepFailure::fatal(
                "unknown_step",
                format!("no step {other}"),
            )),
        }
    }

    /// Restored after a failure or cancel: says so, with the revision;
    /// succeeded: offers the rollback to the base revision.
    fn result(&self, job: &Job) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        let restore = job.steps.iter().find(|s| s.name == step::RESTORE);
        if let Some(o) = restore
            .filter(|s| s.state == StepState::Succeeded)
            .and_then(|s| s.output.clone())
        {
            if o.get("restored_revision").is_some() {
                out.insert("rolled_back".into(), o);
            }
        }
        let base = job.input["base_revision"].as_u64().unwrap_or(0);
        // Called before the terminal write: no error and no compensation
        // means it is succeeding.
        let walked_back =
            restore.is_some_and(|s| s.state != StepState::Pending && s.state != StepState::Skipped);
        if job.error.is_none() && !walked_back && job.state != JobState::Cancelling && base > 0 {
            let mut input = normalised_for_run(&job.input);
            if let Some(o) = input.as_object_mut() {
                o.remove("document");
                o.remove("to_revision");
                o.insert("to_revision".into(), json!(base));
            }
            out.insert(
                "reverse".into(),
                json!({"kind": JobKind::ConfigRollback, "input": input}),
            );
        }
        out
    }
}
