//! Observing and planning: the current documents and health, the gates of
//! the kind, and the pure step rules of `model::moves`.

use super::{input, Moves};
use crate::fleet::now_ms;
use crate::gates::{
    evaluate, ActiveShardRemains, DrainingLimit, Gate, NoConflictingJob, PlacementUnchanged,
    RoutingLoaded, ShardActive, ShardErrorRate, ShardHealthy, SourceLoad,
};
use crate::gateway::Forward;
use crate::jobs::JobsError;
use model::fleet::{ServiceKind, ShardId, ShardState, TenantId};
use model::gates::GateCheck;
use model::ids::JobId;
use model::jobs::{JobKind, Target};
use model::moves::{
    self as mv, DrainInput, EvacuateInput, MigrateInput, Plan, Reverse, Revisions, SetDefaultInput,
    ShardStateInput,
};

fn worker(kind: ServiceKind, field: &str) -> Result<ServiceKind, JobsError> {
    if kind == ServiceKind::Gateway {
        return Err(JobsError::BadRequest(format!(
            "input.{field}: the gateway has no placement; one of aggregate, projection, runner"
        )));
    }
    Ok(kind)
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn tenant_lock(t: &TenantId) -> String {
    Target::Tenant { tenant: t.clone() }.lock_key()
}

fn shard_lock(kind: ServiceKind, shard: &ShardId) -> String {
    Target::Shard {
        kind,
        shard: shard.clone(),
    }
    .lock_key()
}

fn placement_doc_target(kind: ServiceKind) -> Target {
    Target::Config {
        document: format!("placement.{}", kind.as_str()),
    }
}

/// Plans a job of `kind` for `raw` input. `except` are jobs whose locks are
/// not conflicts (the job itself and its parent, at its preflight).
pub async fn plan(
    core: &Moves,
    kind: JobKind,
    raw: &serde_json::Value,
    except: &[JobId],
    fwd: &Forward,
) -> Result<Plan, JobsError> {
    match kind {
        JobKind::TenantsDrain | JobKind::TenantsResume => {
            drain(core, kind, input(raw)?, except, fwd).await
        }
        JobKind::TenantsMigrate => migrate(core, input(raw)?, except, fwd).await,
        JobKind::ShardsEvacuate => evacuate(core, input(raw)?, except, fwd).await,
        JobKind::PlacementSetDefault => set_default(core, input(raw)?, except, fwd).await,
        JobKind::ShardsSetState => set_state(core, input(raw)?, except, fwd).await,
        JobKind::RoutingReload
        | JobKind::ConfigApply
        | JobKind::ConfigRollback
        | JobKind::DeployRollback => Err(JobsError::BadRequest(format!("{kind} is not a move"))),
    }
}

fn revisions(core: &Moves) -> Revisions {
    let st = core.gates.fleet.docs.current();
    Revisions {
        placement: st
            .placements
            .iter()
            .map(|(k, (_, m))| (*k, m.revision))
            .collect(),
        routing: st.routing.1.revision,
        config: Default::default(),
    }
}

async fn gates(core: &Moves, fwd: &Forward, list: Vec<Box<dyn Gate>>) -> Vec<GateCheck> {
    evaluate(&core.gates, fwd, &list).await
}

async fn drain(
    core: &Moves,
    kind: JobKind,
    mut i: DrainInput,
    except: &[JobId],
    fwd: &Forward,
) -> Result<Plan, JobsError> {
    let kinds = i.kinds().map_err(JobsError::BadRequest)?;
    let st = core.gates.fleet.docs.current();
    let shards: Vec<(ServiceKind, ShardId)> = kinds
        .iter()
        .filter_map(|k| st.shard_of(*k, &i.tenant).map(|(s, _)| (*k, s.clone())))
        .collect();
    if shards.is_empty() {
        return Err(JobsError::BadRequest(format!(
            "input.tenant: {} is placed on no shard of {}",
            i.tenant.as_str(),
            kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let draining = kind == JobKind::TenantsDrain;
    let mut locks = vec![tenant_lock(&i.tenant)];
    locks.extend(shards.iter().map(|(k, s)| shard_lock(*k, s)));
    let mut list: Vec<Box<dyn Gate>> = vec![Box::new(NoConflictingJob {
        locks,
        except: except.to_vec(),
    })];
    for (k, s) in &shards {
        list.push(Box::new(SourceLoad {
            tenant: i.tenant.clone(),
            kind: *k,
            shard: s.clone(),
            load: false,
        }));
        if draining {
            list.push(Box::new(DrainingLimit {
                kind: *k,
                shard: s.clone(),
            }));
        }
    }
    let checks = gates(core, fwd, list).await;
    let (routing, _) = core.gates.fleet.routing();
    i.kinds = kinds;
    let (steps, back, back_steps) = if draining {
        (
            mv::drain_steps(&shards, &routing),
            JobKind::TenantsResume,
            mv::resume_steps(&shards, &routing),
        )
    } else {
        (
            mv::resume_steps(&shards, &routing),
            JobKind::TenantsDrain,
            mv::drain_steps(&shards, &routing),
        )
    };
    Ok(Plan::new(
        kind,
        Target::Tenant {
            tenant: i.tenant.clone(),
        },
        json(&i),
        steps,
        checks,
        revisions(core),
        Some(Reverse {
            kind: back,
            input: json(&i),
            steps: mv::names(&back_steps),
        }),
        now_ms(),
    ))
}

fn migrate_gates(i: &MigrateInput, source: &ShardId, except: &[JobId]) -> Vec<Box<dyn Gate>> {
    let k = i.kind;
    let mut gates: Vec<Box<dyn Gate>> = vec![
        Box::new(NoConflictingJob {
            locks: vec![
                tenant_lock(&i.tenant),
                shard_lock(k, source),
                shard_lock(k, &i.target),
            ],
            except: except.to_vec(),
        }),
        Box::new(PlacementUnchanged {
            tenant: i.tenant.clone(),
            kind: k,
            source: source.clone(),
        }),
        Box::new(ShardActive {
            kind: k,
            shard: i.target.clone(),
        }),
        Box::new(ShardHealthy {
            kind: k,
            shard: i.target.clone(),
        }),
        Box::new(DrainingLimit {
            kind: k,
            shard: source.clone(),
        }),
        Box::new(DrainingLimit {
            kind: k,
            shard: i.target.clone(),
        }),
        Box::new(SourceLoad {
            tenant: i.tenant.clone(),
            kind: k,
            shard: source.clone(),
            load: true,
        }),
        Box::new(ShardErrorRate {
            kind: k,
            shard: i.target.clone(),
        }),
    ];
    // The moves of an evacuation keep the placement revision moving, so
    // some instance is always a write behind: the parent checked this gate
    // before its first move, and each move waits for the instances it needs.
    if i.parent.is_none() {
        gates.push(Box::new(RoutingLoaded {
            kinds: vec![k, ServiceKind::Gateway],
        }));
    }
    gates
}

async fn migrate(
    core: &Moves,
    mut i: MigrateInput,
    except: &[JobId],
    fwd: &Forward,
) -> Result<Plan, JobsError> {
    worker(i.kind, "kind")?;
    let st = core.gates.fleet.docs.current();
    let now = st.shard_of(i.kind, &i.tenant).map(|(s, _)| s.clone());
    // A job's own input names the source its plan read; a new plan reads it.
    let source = match (&i.source, now) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => s,
        (None, None) => {
            return Err(JobsError::BadRequest(format!(
                "input.tenant: {} is placed on no {} shard (and there is no default shard)",
                i.tenant.as_str(),
                i.kind
            )))
        }
    };
    if source == i.target {
        return Err(JobsError::BadRequest(format!(
            "input.target: the tenant is on {} already",
            source.as_str()
        )));
    }
    let checks = gates(core, fwd, migrate_gates(&i, &source, except)).await;
    let (routing, _) = core.gates.fleet.routing();
    i.source = Some(source.clone());
    let back = MigrateInput {
        tenant: i.tenant.clone(),
        kind: i.kind,
        target: source.clone(),
        source: None,
        parent: None,
    };
    let reverse = Reverse {
        kind: JobKind::TenantsMigrate,
        input: json(&back),
        steps: mv::names(&mv::migrate_steps(&back, &i.target, &routing)),
    };
    Ok(Plan::new(
        JobKind::TenantsMigrate,
        Target::Tenant {
            tenant: i.tenant.clone(),
        },
        json(&i),
        mv::migrate_steps(&i, &source, &routing),
        checks,
        revisions(core),
        Some(reverse),
        now_ms(),
    ))
}

async fn evacuate(
    core: &Moves,
    mut i: EvacuateInput,
    except: &[JobId],
    fwd: &Forward,
) -> Result<Plan, JobsError> {
    worker(i.kind, "kind")?;
    i.check().map_err(JobsError::BadRequest)?;
    let most = core.gates.thresholds().max_draining_tenants as usize;
    if i.concurrency as usize > most {
        // More moves at once would drain more tenants on the source than
        // its gate allows: the surplus would only be refused.
        return Err(JobsError::BadRequest(format!(
            "input.concurrency: at most {most} (gates.max_draining_tenants)"
        )));
    }
    let (routing, _) = core.gates.fleet.routing();
    if routing.shard(i.kind, &i.shard).is_none() {
        return Err(JobsError::BadRequest(format!(
            "input.shard: {} is not a {} shard in routing",
            i.shard.as_str(),
            i.kind
        )));
    }
    // A job's own input holds the moves its plan fixed.
    if i.moves.is_empty() {
        let st = core.gates.fleet.docs.current();
        let placed: Vec<&TenantId> = st
            .placement(i.kind)
            .map(|(m, _)| {
                m.tenants
                    .iter()
                    .filter(|(_, s)| **s == i.shard)
                    .map(|(t, _)| t)
                    .collect()
            })
            .unwrap_or_default();
        i.moves = placed
            .into_iter()
            .enumerate()
            .map(|(n, t)| (t.clone(), i.target_of(n).clone()))
            .collect();
    }
    let mut locks = vec![shard_lock(i.kind, &i.shard)];
    locks.extend(i.targets.iter().map(|t| shard_lock(i.kind, t)));
    let mut list: Vec<Box<dyn Gate>> = vec![
        Box::new(NoConflictingJob {
            locks,
            except: except.to_vec(),
        }),
        Box::new(ActiveShardRemains {
            kind: i.kind,
            shard: i.shard.clone(),
        }),
        Box::new(RoutingLoaded {
            kinds: vec![i.kind, ServiceKind::Gateway],
        }),
    ];
    for t in &i.targets {
        list.push(Box::new(ShardActive {
            kind: i.kind,
            shard: t.clone(),
        }));
        list.push(Box::new(ShardHealthy {
            kind: i.kind,
            shard: t.clone(),
        }));
        list.push(Box::new(DrainingLimit {
            kind: i.kind,
            shard: t.clone(),
        }));
        list.push(Box::new(ShardErrorRate {
            kind: i.kind,
            shard: t.clone(),
        }));
    }
    let checks = gates(core, fwd, list).await;
    Ok(Plan::new(
        JobKind::ShardsEvacuate,
        Target::Shard {
            kind: i.kind,
            shard: i.shard.clone(),
        },
        json(&i),
        mv::evacuate_steps(i.moves.len()),
        checks,
        revisions(core),
        None,
        now_ms(),
    ))
}

async fn set_default(
    core: &Moves,
    i: SetDefaultInput,
    except: &[JobId],
    fwd: &Forward,
) -> Result<Plan, JobsError> {
    worker(i.kind, "kind")?;
    let st = core.gates.fleet.docs.current();
    let previous = st
        .placement(i.kind)
        .and_then(|(m, _)| m.default_shard.clone());
    let list: Vec<Box<dyn Gate>> = vec![
        Box::new(NoConflictingJob {
            locks: vec![
                placement_doc_target(i.kind).lock_key(),
                shard_lock(i.kind, &i.shard),
            ],
            except: except.to_vec(),
        }),
        Box::new(ShardActive {
            kind: i.kind,
            shard: i.shard.clone(),
        }),
        Box::new(ShardHealthy {
            kind: i.kind,
            shard: i.shard.clone(),
        }),
        Box::new(RoutingLoaded {
            kinds: vec![i.kind, ServiceKind::Gateway],
        }),
    ];
    let checks = gates(core, fwd, list).await;
    let (routing, _) = core.gates.fleet.routing();
    let reverse = previous.filter(|p| *p != i.shard).map(|p| Reverse {
        kind: JobKind::PlacementSetDefault,
        input: json(&SetDefaultInput {
            kind: i.kind,
            shard: p,
        }),
        steps: mv::names(&mv::edit_steps(i.kind, false, &routing)),
    });
    Ok(Plan::new(
        JobKind::PlacementSetDefault,
        placement_doc_target(i.kind),
        json(&i),
        mv::edit_steps(i.kind, false, &routing),
        checks,
        revisions(core),
        reverse,
        now_ms(),
    ))
}

async fn set_state(
    core: &Moves,
    i: ShardStateInput,
    except: &[JobId],
    fwd: &Forward,
) -> Result<Plan, JobsError> {
    worker(i.kind, "kind")?;
    let (routing, _) = core.gates.fleet.routing();
    let Some(current) = routing.shard(i.kind, &i.shard).map(|r| r.state) else {
        return Err(JobsError::BadRequest(format!(
            "input.shard: {} is not a {} shard in routing",
            i.shard.as_str(),
            i.kind
        )));
    };
    let mut list: Vec<Box<dyn Gate>> = vec![
        Box::new(NoConflictingJob {
            locks: vec![shard_lock(i.kind, &i.shard)],
            except: except.to_vec(),
        }),
        Box::new(RoutingLoaded {
            kinds: vec![ServiceKind::Gateway],
        }),
    ];
    if i.state != ShardState::Active {
        list.push(Box::new(ActiveShardRemains {
            kind: i.kind,
            shard: i.shard.clone(),
        }));
    }
    let checks = gates(core, fwd, list).await;
    let reverse = (current != i.state).then(|| Reverse {
        kind: JobKind::ShardsSetState,
        input: json(&ShardStateInput {
            kind: i.kind,
            shard: i.shard.clone(),
            state: current,
        }),
        steps: mv::names(&mv::edit_steps(i.kind, true, &routing)),
    });
    Ok(Plan::new(
        JobKind::ShardsSetState,
        Target::Shard {
            kind: i.kind,
            shard: i.shard.clone(),
        },
        json(&i),
        mv::edit_steps(i.kind, true, &routing),
        checks,
        revisions(core),
        reverse,
        now_ms(),
    ))
}

/// The reverse job of a finished one, from its stored input, as a client
/// would plan it: `{kind, input}`.
pub fn reverse_input(kind: JobKind, stored: &serde_json::Value) -> Option<serde_json::Value> {
    let (back, input) = match kind {
        JobKind::TenantsDrain | JobKind::TenantsResume => {
            let i: DrainInput = serde_json::from_value(stored.clone()).ok()?;
            let back = if kind == JobKind::TenantsDrain {
                JobKind::TenantsResume
            } else {
                JobKind::TenantsDrain
            };
            (back, json(&i))
        }
        JobKind::TenantsMigrate => {
            let i: MigrateInput = serde_json::from_value(stored.clone()).ok()?;
            let back = MigrateInput {
                tenant: i.tenant,
                kind: i.kind,
                target: i.source?,
                source: None,
                parent: None,
            };
            (JobKind::TenantsMigrate, json(&back))
        }
        _ => return None,
    };
    Some(serde_json::json!({ "kind": back, "input": input }))
}
