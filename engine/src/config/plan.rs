//! The plan of a config change: the document against its base revision,
//! the diff, who it reaches (tenants whose resolution changes, instances
//! that must load it), the gates, and the steps the job will run. Pure
//! over what it read: the same inputs and documents give the same plan.

use super::flow::Core;
use super::store::Stored;
use crate::gates::{evaluate, Gate, ShardHealthy};
use crate::gateway::Forward;
use crate::jobs::JobsError;
use model::config::{
    ApplyInput, ConfigChange, ConfigId, Domain, Impact, RollbackInput, Scope, TenantMove,
};
use model::fleet::{resolve, PlacementMap, RoutingConfig, ServiceKind, ShardId, TenantId};
use model::gates::{code, GateCheck};
use model::jobs::{JobKind, Phase, Target};
use model::moves::{kind_endpoints, Plan, PlanStep, Revisions};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Step names of the config workflows.
pub mod step {
    pub const WRITE: &str = "write";
    /// `reload:<gateway endpoint>`.
    pub const RELOAD: &str = "reload";
    /// `loaded:<kind>:<endpoint>` (fleet) or `loaded` (the control plane).
    pub const LOADED: &str = "loaded";
    pub const VERIFY: &str = "verify";
    pub const PIN: &str = "pin";
    pub const RESTORE: &str = "restore";
}

/// How many moved tenants a plan lists (all are counted).
const LISTED_MOVES: usize = 100;

fn bad(m: impl Into<String>) -> JobsError {
    JobsError::BadRequest(m.into())
}

fn input<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, JobsError> {
    serde_json::from_value(v.clone()).map_err(|e| {
        bad(format!(
            "input: {}",
            model::error::safe_serde_detail(&e.to_string())
        ))
    })
}

/// What a change is, once its input is read.
pub(super) struct Change {
    pub id: ConfigId,
    pub base: Option<Stored>,
    pub document: Value,
    /// The normalised input the job stores.
    pub input: Value,
}

/// Reads the input and the documents it names.
pub(super) async fn change(core: &Core, kind: JobKind, raw: &Value) -> Result<Change, JobsError> {
    let store = core.registry.store();
    let read = |e: super::ConfigStoreError| JobsError::Config(super::ConfigError::Store(e));
    match kind {
        JobKind::ConfigApply => {
            let i: ApplyInput = input(raw)?;
            let id = ConfigId::new(i.domain, &i.name, i.scope.clone()).map_err(bad)?;
            let base = store.get(&id).await.map_err(read)?;
            let current = base.as_ref().map_or(0, |b| b.meta.revision);
            if let Some(b) = i.base_revision {
                if b != current {
                    return Err(JobsError::PlanStale);
                }
            }
            let normal = ApplyInput {
                base_revision: Some(current),
                ..i
            };
            Ok(Change {
                id,
                base,
                document: normal.document.clone(),
                input: serde_json::to_value(&normal).map_err(|e| bad(e.to_string()))?,
            })
        }
        _ => {
            let i: RollbackInput = input(raw)?;
            let id = ConfigId::new(i.domain, &i.name, i.scope.clone()).map_err(bad)?;
            let base = store
                .get(&id)
                .await
                .map_err(read)?
                .ok_or(JobsError::NotFound)?;
            let current = base.meta.revision;
            if let Some(b) = i.base_revision {
                if b != current {
                    return Err(JobsError::PlanStale);
                }
            }
            let to = match i.to_revision {
                Some(r) => r,
                None => store
                    .history(&id)
                    .await
                    .map_err(read)?
                    .iter()
                    .filter(|m| m.revision < current && m.kept && m.sha256 != base.meta.sha256)
                    .map(|m| m.revision)
                    .next()
                    .ok_or_else(|| {
                        bad(format!("{id} has no earlier kept revision to roll back to"))
                    })?,
            };
            if to >= current {
                return Err(bad(format!(
                    "to_revision: must be before the current revision {current}"
                )));
            }
            let target =
                store.at(&id, to).await.map_err(read)?.ok_or_else(|| {
                    bad(format!("to_revision: revision {to} of {id} is not kept"))
                })?;
            let normal = RollbackInput {
                to_revision: Some(to),
                base_revision: Some(current),
                ..i
            };
            Ok(Change {
                id,
                base: Some(base),
                document: target.document,
                input: serde_json::to_value(&normal).map_err(|e| bad(e.to_string()))?,
            })
        }
    }
}

/// The fleet documents with one of them replaced.
struct FleetDocs {
    routing: RoutingConfig,
    placements: BTreeMap<ServiceKind, PlacementMap>,
}

impl FleetDocs {
    fn with(&self, id: &ConfigId, doc: &Value) -> Self {
        let mut next = Self {
            routing: self.routing.clone(),
            placements: self.placements.clone(),
        };
        match (&id.domain, &id.scope) {
            (Domain::Routing, _) => {
                next.routing = serde_json::from_value(doc.clone()).unwrap_or_default()
            }
            (Domain::Placement, Scope::Kind(k)) => {
                next.placements
                    .insert(*k, serde_json::from_value(doc.clone()).unwrap_or_default());
            }
            _ => {}
        }
        next
    }

    /// (shard, state, endpoints) of a tenant for a kind, `None` when it
    /// does not resolve.
    fn resolution(
        &self,
        kind: ServiceKind,
        t: &TenantId,
    ) -> Option<(ShardId, model::fleet::ShardState, Vec<String>)> {
        let map = self.placements.get(&kind)?;
        resolve(kind, t, map, &self.routing)
            .ok()
            .map(|r| (r.shard, r.state, r.endpoints))
    }
}

/// Tenants moved and changed between two sets of documents.
fn impact(before: &FleetDocs, after: &FleetDocs, id: &ConfigId) -> Impact {
    let mut tenants: BTreeSet<&TenantId> = BTreeSet::new();
    for m in before.placements.values().chain(after.placements.values()) {
        tenants.extend(m.tenants.keys());
    }
    let kinds: Vec<ServiceKind> = match (&id.domain, &id.scope) {
        (Domain::Placement, Scope::Kind(k)) => vec![*k],
        _ => ServiceKind::WORKERS.to_vec(),
    };
    let mut imp = Impact::default();
    let mut changed = BTreeSet::new();
    let mut per_shard: BTreeMap<(ServiceKind, ShardId), (u64, u64)> = BTreeMap::new();
    let mut receiving = BTreeSet::new();
    for kind in &kinds {
        for t in &tenants {
            let (b, a) = (before.resolution(*kind, t), after.resolution(*kind, t));
            if let Some((s, _, _)) = &b {
                per_shard.entry((*kind, s.clone())).or_default().0 += 1;
            }
            if b != a {
                changed.insert((*t).clone());
            }
            let (bs, as_) = (b.map(|x| x.0), a.map(|x| x.0));
            if bs != as_ {
                imp.tenants_moved += 1;
                if let Some(s) = &bs {
                    per_shard.entry((*kind, s.clone())).or_default().1 += 1;
                }
                if let Some(s) = &as_ {
                    receiving.insert(format!("{kind}/{s}"));
                }
                if imp.moves.len() < LISTED_MOVES {
                    imp.moves.push(TenantMove {
                        kind: *kind,
                        tenant: (*t).clone(),
                        from: bs.map(|s| s.as_str().to_owned()),
                        to: as_.map(|s| s.as_str().to_owned()),
                    });
                }
            }
        }
    }
    imp.tenants_changed = changed.len() as u64;
    imp.max_shard_fraction = per_shard
        .values()
        .filter(|(n, _)| *n > 0)
        .map(|(n, out)| *out as f64 / *n as f64)
        .fold(0.0, f64::max);
    imp.receiving_shards = receiving.into_iter().collect();
    imp
}

/// The instances that must load a fleet change: every gateway, and for a
/// placement map every instance of its kind.
pub(super) fn reloads(
    routing: &RoutingConfig,
    id: &ConfigId,
) -> (Vec<String>, Vec<(ServiceKind, String)>) {
    let gateways = kind_endpoints(routing, ServiceKind::Gateway);
    let workers = match (&id.domain, &id.scope) {
        (Domain::Placement, Scope::Kind(k)) => kind_endpoints(routing, *k)
            .into_iter()
            .map(|e| (*k, e))
            .collect(),
        _ => Vec::new(),
    };
    (gateways, workers)
}

fn plan_step(name: String, phase: Phase, attempts: u32, what: String) -> PlanStep {
    PlanStep {
        name,
        phase,
        max_attempts: attempts,
        description: what,
    }
}

pub(super) async fn plan(
    core: &Core,
    kind: JobKind,
    raw: &Value,
    fwd: &Forward,
) -> Result<Plan, JobsError> {
    let c = change(core, kind, raw).await?;
    let registry = &core.registry;
    let base_revision = c.base.as_ref().map_or(0, |b| b.meta.revision);
    let empty = Value::Object(Default::default());
    let base_doc = c.base.as_ref().map_or(&empty, |b| &b.document);
    let cx = registry.context().await.map_err(JobsError::Config)?;
    let issues = super::Registry::issues_in(&c.id, &c.document, cx.clone());
    let mut gates = vec![GateCheck::new(
        code::CONFIG_VALID,
        c.id.to_string(),
        issues.is_empty(),
        issues
            .iter()
            .take(20)
            .map(|i| format!("{} at {}: {}", i.code, i.pointer, i.message))
            .collect::<Vec<_>>(),
        "no issues",
        if issues.is_empty() {
            "the document passes its schema and rules".to_owned()
        } else {
            format!(
                "{} issue(s); the first: {} at {:?}",
                issues.len(),
                issues[0].code,
                issues[0].pointer
            )
        },
    )];
    if kind == JobKind::ConfigApply {
        let pin = registry
            .store()
            .pin(&c.id)
            .await
            .map_err(|e| JobsError::Config(e.into()))?;
        gates.push(GateCheck::new(
            code::NOT_PINNED,
            c.id.to_string(),
            pin.is_none(),
            pin.as_ref()
                .map(|p| json!({"by": p.by, "revision": p.revision, "reason": p.reason})),
            "not pinned",
            match &pin {
                None => "the document is not pinned".to_owned(),
                Some(p) => format!(
                    "pinned by {} after a rollback to revision {}: unpin it first",
                    p.by, p.revision
                ),
            },
        ));
    }
    let mut revisions = Revisions::default();
    revisions.config.insert(c.id.to_string(), base_revision);
    let mut imp = Impact::default();
    let mut steps = vec![plan_step(
        step::WRITE.into(),
        Phase::Reversible,
        5,
        format!(
            "write {} by compare-and-set on revision {base_revision}",
            c.id
        ),
    )];
    if c.id.domain.is_fleet() {
        let before = FleetDocs {
            routing: cx.routing.clone(),
            placements: cx.placements.clone(),
        };
        let after = before.with(&c.id, &c.document);
        imp = impact(&before, &after, &c.id);
        let t = core.gates.thresholds();
        gates.push(GateCheck::new(
            code::IMPACT_TENANTS,
            c.id.to_string(),
            imp.tenants_moved <= t.max_tenants_moved,
            imp.tenants_moved,
            t.max_tenants_moved,
            format!("the change moves {} tenant(s)", imp.tenants_moved),
        ));
        gates.push(GateCheck::new(
            code::IMPACT_SHARD_FRACTION,
            c.id.to_string(),
            imp.max_shard_fraction <= t.max_shard_fraction,
            (imp.max_shard_fraction * 1000.0).round() / 1000.0,
            t.max_shard_fraction,
            "the largest share of one shard's tenants it moves",
        ));
        let healthy: Vec<Box<dyn Gate>> = imp
            .receiving_shards
            .iter()
            .filter_map(|s| s.split_once('/'))
            .filter_map(|(k, s)| Some((ServiceKind::parse(k)?, ShardId::parse(s).ok()?)))
            .map(|(kind, shard)| Box::new(ShardHealthy { kind, shard }) as Box<dyn Gate>)
            .collect();
        gates.extend(evaluate(&core.gates, fwd, &healthy).await);
        // The instances that load it are the ones of the routing in force
        // after the change.
        let (gws, workers) = reloads(&after.routing, &c.id);
        for g in &gws {
            steps.push(plan_step(
                format!("{}:{g}", step::RELOAD),
                Phase::Reversible,
                3,
                format!("tell the gateway {g} to reload, wait until it reports the new revision"),
            ));
        }
        for (k, e) in &workers {
            steps.push(plan_step(
                format!("{}:{k}:{e}", step::LOADED),
                Phase::Reversible,
                3,
                format!("wait until {k} {e} reports the new placement revision"),
            ));
        }
        steps.push(plan_step(
            step::VERIFY.into(),
            Phase::Reversible,
            3,
            format!(
                "resolve the moved tenants and a sample of {} others at every gateway; each answer must equal the new documents'",
                core.settings.verify_sample
            ),
        ));
        imp.reload = gws
            .iter()
            .map(|g| format!("gateway {g}"))
            .chain(workers.iter().map(|(k, e)| format!("{k} {e}")))
            .collect();
    } else if matches!(c.id.domain, Domain::Flags | Domain::Gates) {
        imp.reload = vec!["the control plane".into()];
        steps.push(plan_step(
            step::LOADED.into(),
            Phase::Reversible,
            3,
            "wait until the control plane reads the new revision".into(),
        ));
    }
    if kind == JobKind::ConfigRollback {
        steps.push(plan_step(
            step::PIN.into(),
            Phase::Reversible,
            3,
            "pin the document: applies are refused until an operator unpins it".into(),
        ));
    }
    steps.push(plan_step(
        step::RESTORE.into(),
        Phase::Compensation,
        5,
        format!("on failure or cancel: write revision {base_revision}'s document back and reload"),
    ));
    let change = ConfigChange {
        id: c.id.clone(),
        base_revision,
        diff: super::diff::diff(base_doc, &c.document),
        impact: imp,
    };
    let plan = Plan::new(
        kind,
        Target::Config {
            document: c.id.to_string(),
        },
        c.input,
        steps,
        gates,
        revisions,
        None,
        crate::identity::now_ms(),
    );
    Ok(plan.with_change(change))
}
