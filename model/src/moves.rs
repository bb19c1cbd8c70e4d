//! Moving tenants (docs/moves.md): the inputs of the tenant and shard
//! workflows, their plans, and the pure rules that turn an input and what
//! was observed into the ordered steps and the plan hash.
//!
//! A plan is deterministic: the same input and the same observed state give
//! the same steps and the same hash. The hash covers what a job's safety
//! depends on — the steps, the revisions read, each gate's pass/fail and
//! threshold, the point of no return and the reverse — not values that move
//! every second (a lag of 21 or 22 is the same plan while its gate passes).

use crate::fleet::{RoutingConfig, ServiceKind, ShardId, ShardState, TenantId};
use crate::gates::GateCheck;
use crate::ids::JobId;
use crate::jobs::{JobKind, Phase, StepSpec, Target};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Step names: `<verb>:<what>`; the engine dispatches on the verb.
pub mod step {
    pub const PREFLIGHT: &str = "gate:preflight";
    pub const CHECK_PLACEMENT: &str = "check:placement";
    pub const DRAIN: &str = "drain";
    pub const RESUME: &str = "resume";
    pub const PLACEMENT: &str = "placement";
    pub const ROUTING: &str = "routing";
    pub const RELOAD: &str = "reload";
    pub const LOADED: &str = "loaded";
    pub const CHECK_RESOLVES: &str = "check:resolves";
    pub const CHECK_TARGET_READY: &str = "check:target_ready";
    pub const CHECK_ERROR_RATE: &str = "check:error_rate";
    pub const UNDO_RESUME: &str = "undo:resume";
    pub const EVACUATE: &str = "evacuate";
}

fn bad(field: &str, what: impl std::fmt::Display) -> String {
    format!("input.{field}: {what}")
}

/// `tenants.drain` and `tenants.resume`: one tenant, some worker kinds
/// (none named: every worker kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DrainInput {
    pub tenant: TenantId,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ServiceKind>,
}

impl DrainInput {
    /// The kinds, sorted and unique; the gateway is refused.
    pub fn kinds(&self) -> Result<Vec<ServiceKind>, String> {
        if self.kinds.contains(&ServiceKind::Gateway) {
            return Err(bad("kinds", "the gateway has no tenants to drain"));
        }
        let mut k = if self.kinds.is_empty() {
            ServiceKind::WORKERS.to_vec()
        } else {
            self.kinds.clone()
        };
        k.sort();
        k.dedup();
        Ok(k)
    }
}

/// `tenants.migrate`: one tenant of one kind to another shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MigrateInput {
    pub tenant: TenantId,
    pub kind: ServiceKind,
    pub target: ShardId,
    /// Where the plan found the tenant (set by the engine): the job moves it
    /// only from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ShardId>,
    /// Set by the engine on the moves of a `shards.evacuate`, never by a
    /// client: the parent's shard lock is not a conflict for its children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<JobId>,
}

/// `shards.evacuate`: every tenant placed on a shard, moved to the targets
/// (spread round-robin in tenant order), `concurrency` at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EvacuateInput {
    pub kind: ServiceKind,
    pub shard: ShardId,
    pub targets: Vec<ShardId>,
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    #[serde(default)]
    pub stop_on_first_failure: bool,
    /// Tenant → target, fixed by the plan (set by the engine).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub moves: BTreeMap<TenantId, ShardId>,
}

fn default_concurrency() -> u32 {
    4
}

pub const MAX_EVACUATE_CONCURRENCY: u32 = 64;

impl EvacuateInput {
    pub fn check(&self) -> Result<(), String> {
        if self.kind == ServiceKind::Gateway {
            return Err(bad("kind", "the gateway has no placement"));
        }
        if self.targets.is_empty() {
            return Err(bad("targets", "name at least one target shard"));
        }
        let mut unique = self.targets.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != self.targets.len() {
            return Err(bad("targets", "a target is named twice"));
        }
        if self.targets.contains(&self.shard) {
            return Err(bad("targets", "the evacuated shard cannot be a target"));
        }
        if !(1..=MAX_EVACUATE_CONCURRENCY).contains(&self.concurrency) {
            return Err(bad(
                "concurrency",
                format!("between 1 and {MAX_EVACUATE_CONCURRENCY}"),
            ));
        }
        Ok(())
    }

    /// The target of the `i`-th tenant (in tenant order); `targets` is
    /// non-empty once checked.
    pub fn target_of(&self, i: usize) -> &ShardId {
        &self.targets[i % self.targets.len()]
    }
}

/// `placement.set_default`: the shard of every tenant the map does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetDefaultInput {
    pub kind: ServiceKind,
    pub shard: ShardId,
}

/// `shards.set_state`: mark a shard active, draining or disabled in routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ShardStateInput {
    pub kind: ServiceKind,
    pub shard: ShardId,
    pub state: ShardState,
}

/// A tenant being moved right now (an unfinished `tenants.migrate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Moving {
    pub tenant: TenantId,
    pub from: ShardId,
    pub to: ShardId,
    pub job: JobId,
}

/// A step as a plan shows it: the job runs exactly these, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanStep {
    pub name: String,
    pub phase: Phase,
    pub max_attempts: u32,
    /// What it does, for the operator.
    pub description: String,
}

impl PlanStep {
    fn new(name: String, phase: Phase, max_attempts: u32, description: String) -> Self {
        Self {
            name,
            phase,
            max_attempts,
            description,
        }
    }

    pub fn spec(&self) -> StepSpec {
        StepSpec::new(self.name.clone(), self.phase, self.max_attempts)
    }
}

/// The document revisions a plan read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revisions {
    pub placement: BTreeMap<ServiceKind, u64>,
    pub routing: u64,
    /// Config documents read (`domain/name@scope` → revision).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, u64>,
}

/// The job that walks a move back, to plan when it is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reverse {
    pub kind: JobKind,
    pub input: serde_json::Value,
    /// Its steps as they would be planned today.
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub kind: JobKind,
    pub target: Target,
    /// The input as the job will read it (normalised).
    pub input: serde_json::Value,
    pub steps: Vec<PlanStep>,
    pub gates: Vec<GateCheck>,
    pub revisions: Revisions,
    /// The first step that cannot be undone (`None`: everything can).
    pub point_of_no_return: Option<String>,
    pub reverse: Option<Reverse>,
    /// A config plan's document change: diff and impact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<crate::config::ConfigChange>,
    /// A service rollback's spec change: from what runs to what it restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::deploy::DeployChange>,
    /// A gate failed: a job with this plan is refused (`gate_failed`).
    pub blocked: bool,
    /// SHA-256 (hex) over everything above except observed values.
    pub hash: String,
    /// When the state was observed (not hashed).
    pub observed_at_ms: u64,
}

/// The parts of a plan its hash covers.
#[derive(Serialize)]
struct Hashed<'a> {
    kind: JobKind,
    target: &'a Target,
    input: &'a serde_json::Value,
    steps: &'a [PlanStep],
    gates: Vec<(&'a str, &'a str, bool, &'a serde_json::Value)>,
    revisions: &'a Revisions,
    point_of_no_return: &'a Option<String>,
    reverse: &'a Option<Reverse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: &'a Option<crate::config::ConfigChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deploy: &'a Option<crate::deploy::DeployChange>,
}

impl Plan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: JobKind,
        target: Target,
        input: serde_json::Value,
        steps: Vec<PlanStep>,
        gates: Vec<GateCheck>,
        revisions: Revisions,
        reverse: Option<Reverse>,
        observed_at_ms: u64,
    ) -> Self {
        let point_of_no_return = steps
            .iter()
            .find(|s| s.phase == Phase::Irreversible)
            .map(|s| s.name.clone());
        let blocked = gates.iter().any(|g| !g.pass);
        let mut plan = Self {
            kind,
            target,
            input,
            steps,
            gates,
            revisions,
            point_of_no_return,
            reverse,
            change: None,
            deploy: None,
            blocked,
            hash: String::new(),
            observed_at_ms,
        };
        plan.hash = plan.compute_hash();
        plan
    }

    pub fn compute_hash(&self) -> String {
        let h = Hashed {
            kind: self.kind,
            target: &self.target,
            input: &self.input,
            steps: &self.steps,
            gates: self
                .gates
                .iter()
                .map(|g| (g.code.as_str(), g.subject.as_str(), g.pass, &g.threshold))
                .collect(),
            revisions: &self.revisions,
            point_of_no_return: &self.point_of_no_return,
            reverse: &self.reverse,
            change: &self.change,
            deploy: &self.deploy,
        };
        // serde_json writes struct fields in order and maps sorted: stable.
        let bytes = serde_json::to_vec(&h).unwrap_or_default();
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The plan with a config change shown and hashed.
    pub fn with_change(mut self, change: crate::config::ConfigChange) -> Self {
        self.change = Some(change);
        self.hash = self.compute_hash();
        self
    }

    pub fn with_deploy(mut self, change: crate::deploy::DeployChange) -> Self {
        self.deploy = Some(change);
        self.hash = self.compute_hash();
        self
    }

    /// An evacuation's tenant moves (tenant → target), as its input fixes
    /// them; empty for the other kinds.
    pub fn moves(&self) -> BTreeMap<TenantId, ShardId> {
        self.input
            .get("moves")
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default()
    }

    pub fn step_specs(&self) -> Vec<StepSpec> {
        self.steps.iter().map(PlanStep::spec).collect()
    }
}

/// The body of `POST /plans/{kind}`: the input the job would get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub input: serde_json::Value,
}

/// Instance endpoints of one shard of a kind, sorted.
pub fn endpoints(routing: &RoutingConfig, kind: ServiceKind, shard: &ShardId) -> Vec<String> {
    let mut e = routing
        .shard(kind, shard)
        .map(|r| r.endpoints.clone())
        .unwrap_or_default();
    e.sort();
    e.dedup();
    e
}

/// Every instance endpoint of a kind (all shards), sorted.
pub fn kind_endpoints(routing: &RoutingConfig, kind: ServiceKind) -> Vec<String> {
    let mut e: Vec<String> = routing
        .kinds
        .get(&kind)
        .into_iter()
        .flat_map(|s| s.values())
        .flat_map(|r| r.endpoints.iter().cloned())
        .collect();
    e.sort();
    e.dedup();
    e
}

/// `<verb>:<kind>:<endpoint>`.
pub fn instance_step(verb: &str, kind: ServiceKind, endpoint: &str) -> String {
    format!("{verb}:{}:{endpoint}", kind.as_str())
}

/// `(kind, endpoint)` of an instance step named `<verb>:<kind>:<endpoint>`.
pub fn parse_instance_step<'a>(verb: &str, name: &'a str) -> Option<(ServiceKind, &'a str)> {
    let rest = name.strip_prefix(verb)?.strip_prefix(':')?;
    let (kind, endpoint) = rest.split_once(':')?;
    Some((ServiceKind::parse(kind)?, endpoint))
}

const ATTEMPTS: u32 = 3;

fn preflight() -> PlanStep {
    // Read-only, so safe to run again after a crash; a failing gate is
    // final, not retried.
    PlanStep::new(
        step::PREFLIGHT.into(),
        Phase::Reversible,
        ATTEMPTS,
        "check every gate again, before any side effect".into(),
    )
}

/// Drain (or resume) steps: one per instance of the tenant's shard, per kind.
fn per_instance(
    verb: &str,
    phase: Phase,
    shards: &[(ServiceKind, ShardId)],
    routing: &RoutingConfig,
    what: &str,
) -> Vec<PlanStep> {
    let mut out = Vec::new();
    for (kind, shard) in shards {
        for e in endpoints(routing, *kind, shard) {
            out.push(PlanStep::new(
                instance_step(verb, *kind, &e),
                phase,
                ATTEMPTS,
                format!("{what} on {kind} {shard} instance {e}"),
            ));
        }
    }
    out
}

/// `tenants.drain`: every instance of the tenant's shard drains it and
/// reports `drained`. Nothing here is past a point of no return: resume
/// walks it back.
pub fn drain_steps(shards: &[(ServiceKind, ShardId)], routing: &RoutingConfig) -> Vec<PlanStep> {
    let mut s = vec![preflight()];
    s.extend(per_instance(
        step::DRAIN,
        Phase::Reversible,
        shards,
        routing,
        "drain the tenant and wait for inflight 0",
    ));
    s
}

pub fn resume_steps(shards: &[(ServiceKind, ShardId)], routing: &RoutingConfig) -> Vec<PlanStep> {
    let mut s = vec![preflight()];
    s.extend(per_instance(
        step::RESUME,
        Phase::Reversible,
        shards,
        routing,
        "resume the tenant",
    ));
    s
}

/// Reload every gateway, then wait for the worker instances in `workers`
/// to report the new placement revision.
fn reload_and_wait(
    kind: ServiceKind,
    workers: &[String],
    routing: &RoutingConfig,
) -> Vec<PlanStep> {
    let mut out = Vec::new();
    for g in kind_endpoints(routing, ServiceKind::Gateway) {
        out.push(PlanStep::new(
            format!("{}:{g}", step::RELOAD),
            Phase::Irreversible,
            ATTEMPTS,
            format!("gateway {g} reloads routing and reports the new revisions"),
        ));
    }
    for e in workers {
        out.push(PlanStep::new(
            instance_step(step::LOADED, kind, e),
            Phase::Irreversible,
            ATTEMPTS,
            format!("{kind} instance {e} reports the new placement revision loaded"),
        ));
    }
    out
}

/// `tenants.migrate` from `source`: gates, drain on the source, the
/// placement CAS (the point of no return), reload, wait for every instance,
/// resume on the target, post-checks. Before the point of no return a
/// failure or cancel resumes the tenant on the source.
pub fn migrate_steps(
    input: &MigrateInput,
    source: &ShardId,
    routing: &RoutingConfig,
) -> Vec<PlanStep> {
    let kind = input.kind;
    let src = [(kind, source.clone())];
    let dst = [(kind, input.target.clone())];
    let mut s = vec![preflight()];
    s.extend(per_instance(
        step::DRAIN,
        Phase::Reversible,
        &src,
        routing,
        "drain the tenant and wait for inflight 0",
    ));
    s.push(PlanStep::new(
        step::CHECK_PLACEMENT.into(),
        Phase::Reversible,
        ATTEMPTS,
        format!(
            "the tenant is still on {source} and {} is still active",
            input.target
        ),
    ));
    s.push(PlanStep::new(
        format!("{}:{}", step::PLACEMENT, kind.as_str()),
        Phase::Irreversible,
        ATTEMPTS,
        format!(
            "write {kind} placement {} → {} (compare-and-set)",
            input.tenant, input.target
        ),
    ));
    // The instances that stop and start serving the tenant; the other
    // shards do not serve it, so one of them down does not hold the move.
    let mut involved = endpoints(routing, kind, source);
    involved.extend(endpoints(routing, kind, &input.target));
    s.extend(reload_and_wait(kind, &involved, routing));
    s.extend(per_instance(
        step::RESUME,
        Phase::Irreversible,
        &dst,
        routing,
        "resume the tenant",
    ));
    for (name, what) in [
        (step::CHECK_RESOLVES, "the tenant resolves to the target"),
        (
            step::CHECK_TARGET_READY,
            "every target instance is healthy and ready",
        ),
        (
            step::CHECK_ERROR_RATE,
            "the tenant's error ratio on the target is within the threshold",
        ),
    ] {
        s.push(PlanStep::new(
            name.into(),
            Phase::Irreversible,
            ATTEMPTS,
            what.into(),
        ));
    }
    s.extend(per_instance(
        step::UNDO_RESUME,
        Phase::Compensation,
        &src,
        routing,
        "walk back: resume the tenant on the source",
    ));
    s
}

/// `shards.evacuate`: the gates, then one step that runs the tenant moves
/// as child jobs (its progress counts tenants).
pub fn evacuate_steps(tenants: usize) -> Vec<PlanStep> {
    vec![
        preflight(),
        PlanStep::new(
            step::EVACUATE.into(),
            Phase::Irreversible,
            ATTEMPTS,
            format!("move {tenants} tenants, each as a tenants.migrate job"),
        ),
    ]
}

/// `placement.set_default` and `shards.set_state`: one CAS on the document,
/// then reload and wait.
pub fn edit_steps(kind: ServiceKind, routing_doc: bool, routing: &RoutingConfig) -> Vec<PlanStep> {
    let (name, what) = if routing_doc {
        (
            format!("{}:{}", step::ROUTING, kind.as_str()),
            format!("write the {kind} shard state in routing (compare-and-set)"),
        )
    } else {
        (
            format!("{}:{}", step::PLACEMENT, kind.as_str()),
            format!("write the {kind} default shard (compare-and-set)"),
        )
    };
    let mut s = vec![
        preflight(),
        PlanStep::new(name, Phase::Irreversible, ATTEMPTS, what),
    ];
    // A default shard concerns every instance of the kind; a shard's
    // routing state only the gateways.
    let workers = if routing_doc {
        Vec::new()
    } else {
        kind_endpoints(routing, kind)
    };
    s.extend(reload_and_wait(kind, &workers, routing));
    s
}

/// Steps' names only: what a reverse plan lists.
pub fn names(steps: &[PlanStep]) -> Vec<String> {
    steps.iter().map(|s| s.name.clone()).collect()
}

#[cfg(test)]
mod tests;
