//! Safety gates (docs/gates.md): checks a mutation passes before any side
//! effect, each with a stable code, a threshold from config and the value
//! it observed. A workflow lists the gates it needs; `evaluate` runs them
//! (concurrently) and returns every verdict in the listed order, so a plan
//! and the job's preflight step show the same checks.
//!
//! Gates read through a `GateContext` (the fleet's documents and health, a
//! client for the instances, the job locks); gates that are not about
//! tenants (a service healthy, no update in progress) implement `Gate` over
//! the same context.

use crate::error::ClientError;
use crate::fleet::FleetService;
use crate::gateway::{Forward, GatewayClient};
use crate::jobs::Jobs;
use async_trait::async_trait;
use model::fleet::{ServiceKind, ShardId, ShardState, TenantId};
use model::gates::{code, GateCheck};
use model::ids::JobId;
use model::views::HealthStatus;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

pub use model::gates::Thresholds;

/// What gates read. `jobs` is set once the job engine exists (it holds the
/// workflows that hold this context).
#[derive(Clone)]
pub struct GateContext {
    pub fleet: FleetService,
    pub http: GatewayClient,
    pub jobs: Arc<OnceLock<Jobs>>,
    /// Live: the config registry's `gates/thresholds` document, or the
    /// boot defaults of `[gates]` while there is none.
    pub thresholds: tokio::sync::watch::Receiver<Thresholds>,
}

impl GateContext {
    pub fn thresholds(&self) -> Thresholds {
        *self.thresholds.borrow()
    }
}

/// Thresholds that never change (tests, benches).
pub fn fixed_thresholds(t: Thresholds) -> tokio::sync::watch::Receiver<Thresholds> {
    tokio::sync::watch::channel(t).1
}

#[async_trait]
pub trait Gate: Send + Sync {
    /// The stable code of its checks (`model::gates::code`).
    fn code(&self) -> &'static str;
    /// One verdict per subject it covers, in a stable order.
    async fn check(&self, cx: &GateContext, fwd: &Forward) -> Vec<GateCheck>;
}

/// Runs the gates concurrently; verdicts in the order the gates are listed.
pub async fn evaluate(cx: &GateContext, fwd: &Forward, gates: &[Box<dyn Gate>]) -> Vec<GateCheck> {
    futures::future::join_all(gates.iter().map(|g| g.check(cx, fwd)))
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn shard_label(kind: ServiceKind, shard: &ShardId) -> String {
    format!("{}/{}", kind.as_str(), shard.as_str())
}

/// The shard exists in routing and is `active`.
pub struct ShardActive {
    pub kind: ServiceKind,
    pub shard: ShardId,
}

#[async_trait]
impl Gate for ShardActive {
    fn code(&self) -> &'static str {
        code::TARGET_SHARD_ACTIVE
    }

    async fn check(&self, cx: &GateContext, _: &Forward) -> Vec<GateCheck> {
        let (routing, _) = cx.fleet.routing();
        let state = routing.shard(self.kind, &self.shard).map(|r| r.state);
        let (pass, msg) = match state {
            Some(ShardState::Active) => (true, "the shard is active".to_owned()),
            Some(s) => (false, format!("the shard is {s:?}").to_lowercase()),
            None => (false, "the shard is not in routing".to_owned()),
        };
        vec![GateCheck::new(
            self.code(),
            shard_label(self.kind, &self.shard),
            pass,
            state.map(|s| format!("{s:?}").to_lowercase()),
            "active",
            msg,
        )]
    }
}

/// Every instance of the shard is healthy and ready (as last probed).
pub struct ShardHealthy {
    pub kind: ServiceKind,
    pub shard: ShardId,
}

#[async_trait]
impl Gate for ShardHealthy {
    fn code(&self) -> &'static str {
        code::TARGET_HEALTHY
    }

    async fn check(&self, cx: &GateContext, _: &Forward) -> Vec<GateCheck> {
        let snap = cx.fleet.health();
        let eps = model::moves::endpoints(&cx.fleet.routing().0, self.kind, &self.shard);
        if eps.is_empty() {
            return vec![GateCheck::new(
                self.code(),
                shard_label(self.kind, &self.shard),
                false,
                serde_json::Value::Null,
                "healthy",
                "the shard lists no instance",
            )];
        }
        eps.iter()
            .map(|e| {
                let st = snap.status_of(e);
                GateCheck::new(
                    self.code(),
                    e.clone(),
                    st == HealthStatus::Healthy,
                    st.as_str(),
                    "healthy",
                    format!("{} instance is {}", self.kind, st.as_str()),
                )
            })
            .collect()
    }
}

/// The shard's instances do not already drain too many tenants.
pub struct DrainingLimit {
    pub kind: ServiceKind,
    pub shard: ShardId,
}

#[async_trait]
impl Gate for DrainingLimit {
    fn code(&self) -> &'static str {
        code::DRAINING_LIMIT
    }

    async fn check(&self, cx: &GateContext, _: &Forward) -> Vec<GateCheck> {
        let snap = cx.fleet.health();
        let most = snap
            .instances
            .iter()
            .filter(|i| i.kind == self.kind && i.shard == self.shard)
            .map(|i| i.draining_tenants.len())
            .max()
            .unwrap_or(0);
        let max = cx.thresholds().max_draining_tenants as usize;
        vec![GateCheck::new(
            self.code(),
            shard_label(self.kind, &self.shard),
            most <= max,
            most,
            max,
            format!("{most} tenants draining on one instance"),
        )]
    }
}

/// The 5xx share of every instance of the shard, between its last two
/// probes, is within the threshold.
pub struct ShardErrorRate {
    pub kind: ServiceKind,
    pub shard: ShardId,
}

#[async_trait]
impl Gate for ShardErrorRate {
    fn code(&self) -> &'static str {
        code::TARGET_ERROR_RATE
    }

    async fn check(&self, cx: &GateContext, _: &Forward) -> Vec<GateCheck> {
        let snap = cx.fleet.health();
        let max = cx.thresholds().max_error_ratio;
        let eps = model::moves::endpoints(&cx.fleet.routing().0, self.kind, &self.shard);
        eps.iter()
            .map(|e| {
                let ratio = snap
                    .instances
                    .iter()
                    .find(|i| &i.endpoint == e)
                    .and_then(|i| i.error_ratio);
                let (pass, msg) = match ratio {
                    Some(r) if r <= max => (true, format!("{:.1}% of answers are 5xx", r * 100.0)),
                    Some(r) => (false, format!("{:.1}% of answers are 5xx", r * 100.0)),
                    None => (
                        false,
                        "no error ratio yet (two /metrics probes are needed)".to_owned(),
                    ),
                };
                GateCheck::new(self.code(), e.clone(), pass, ratio, max, msg)
            })
            .collect()
    }
}

/// No probed instance of these kinds has been behind the current
/// revisions for longer than the grace (a write a moment ago is still
/// being loaded; an instance stuck on an old revision is not).
pub struct RoutingLoaded {
    pub kinds: Vec<ServiceKind>,
}

#[async_trait]
impl Gate for RoutingLoaded {
    fn code(&self) -> &'static str {
        code::ROUTING_LOADED
    }

    async fn check(&self, cx: &GateContext, _: &Forward) -> Vec<GateCheck> {
        let snap = cx.fleet.health();
        let grace = cx.thresholds().reload_grace_ms;
        let now = crate::fleet::now_ms();
        let behind: Vec<&str> = snap
            .instances
            .iter()
            .filter(|i| self.kinds.contains(&i.kind))
            .filter(|i| {
                i.behind_since_ms
                    .is_some_and(|since| now.saturating_sub(since) >= grace)
            })
            .map(|i| i.endpoint.as_str())
            .collect();
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        vec![GateCheck::new(
            self.code(),
            kinds.join("+"),
            behind.is_empty(),
            &behind,
            serde_json::json!({ "behind_for_at_most_ms": grace }),
            if behind.is_empty() {
                "every instance has the current revisions loaded (or is loading them)".to_owned()
            } else {
                format!(
                    "{} instances have not reloaded for {grace} ms or more",
                    behind.len()
                )
            },
        )]
    }
}

/// No other unfinished job holds one of these locks (`Target::lock_key`).
pub struct NoConflictingJob {
    pub locks: Vec<String>,
    /// Jobs that are not a conflict: the job itself, its parent.
    pub except: Vec<JobId>,
}

#[async_trait]
impl Gate for NoConflictingJob {
    fn code(&self) -> &'static str {
        code::NO_CONFLICTING_JOB
    }

    async fn check(&self, cx: &GateContext, _: &Forward) -> Vec<GateCheck> {
        let Some(jobs) = cx.jobs.get() else {
            return vec![GateCheck::new(
                self.code(),
                self.locks.join(","),
                false,
                serde_json::Value::Null,
                serde_json::Value::Null,
                "the job engine is not running",
            )];
        };
        let mut out = Vec::new();
        for lock in &self.locks {
            let holder = match jobs.lock_holder(lock).await {
                Ok(h) => h.filter(|h| !self.except.iter().any(|e| e.as_str() == h)),
                Err(e) => {
                    out.push(GateCheck::new(
                        self.code(),
                        lock.clone(),
                        false,
                        serde_json::Value::Null,
                        serde_json::Value::Null,
                        format!("the locks cannot be read: {}", e.client_view().message),
                    ));
                    continue;
                }
            };
            out.push(GateCheck::new(
                self.code(),
                lock.clone(),
                holder.is_none(),
                &holder,
                serde_json::Value::Null,
                match &holder {
                    Some(h) => format!("job {h} is running on it"),
                    None => "no other job holds it".to_owned(),
                },
            ));
        }
        out
    }
}

/// The tenant is placed where the plan says.
pub struct PlacementUnchanged {
    pub tenant: TenantId,
    pub kind: ServiceKind,
    pub source: ShardId,
}

#[async_trait]
impl Gate for PlacementUnchanged {
    fn code(&self) -> &'static str {
        code::PLACEMENT_UNCHANGED
    }

    async fn check(&self, cx: &GateContext, _: &Forward) -> Vec<GateCheck> {
        let st = cx.fleet.docs.current();
        let now = st.shard_of(self.kind, &self.tenant).map(|(s, _)| s.clone());
        vec![GateCheck::new(
            self.code(),
            format!("tenant:{}/{}", self.tenant.as_str(), self.kind.as_str()),
            now.as_ref() == Some(&self.source),
            &now,
            &self.source,
            "where the tenant is placed now",
        )]
    }
}

/// A shard leaving `active` is not the kind's default shard and leaves
/// another active shard.
pub struct ActiveShardRemains {
    pub kind: ServiceKind,
    pub shard: ShardId,
}

#[async_trait]
impl Gate for ActiveShardRemains {
    fn code(&self) -> &'static str {
        code::ACTIVE_SHARD_REMAINS
    }

    async fn check(&self, cx: &GateContext, _: &Forward) -> Vec<GateCheck> {
        let (routing, _) = cx.fleet.routing();
        let others: Vec<&str> = routing
            .kinds
            .get(&self.kind)
            .into_iter()
            .flatten()
            .filter(|(s, r)| **s != self.shard && r.state == ShardState::Active)
            .map(|(s, _)| s.as_str())
            .collect();
        let st = cx.fleet.docs.current();
        let default = st
            .placement(self.kind)
            .and_then(|(m, _)| m.default_shard.clone());
        let is_default = default.as_ref() == Some(&self.shard);
        vec![GateCheck::new(
            self.code(),
            shard_label(self.kind, &self.shard),
            !others.is_empty() && !is_default,
            serde_json::json!({ "other_active": others, "is_default": is_default }),
            "another active shard; not the default shard",
            if is_default {
                "the shard is the default shard: set another default first".to_owned()
            } else {
                format!("{} other active shards", others.len())
            },
        )]
    }
}

/// What a worker reports for a tenant (`GET /admin/tenants/{tenant}`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TenantStatus {
    pub state: String,
    pub inflight: u64,
    pub lag: u64,
}

/// Every instance of the source answers for the tenant, with lag and
/// inflight within the thresholds (three gates: reachable, lag, inflight).
pub struct SourceLoad {
    pub tenant: TenantId,
    pub kind: ServiceKind,
    pub shard: ShardId,
    /// Check lag and inflight too (a resume needs only the instances).
    pub load: bool,
}

impl SourceLoad {
    async fn status(
        cx: &GateContext,
        fwd: &Forward,
        endpoint: &str,
        tenant: &TenantId,
    ) -> Result<TenantStatus, String> {
        let url = format!(
            "{}/admin/tenants/{}",
            endpoint.trim_end_matches('/'),
            tenant.as_str()
        );
        let r = cx
            .http
            .call_url(http::Method::GET, &url, fwd, None)
            .await
            .map_err(|e| e.to_string())?;
        if !r.is_success() {
            return Err(format!("answered {}", r.status));
        }
        serde_json::from_slice(&r.body).map_err(|e| format!("unreadable status: {e}"))
    }
}

#[async_trait]
impl Gate for SourceLoad {
    fn code(&self) -> &'static str {
        code::SOURCE_REACHABLE
    }

    async fn check(&self, cx: &GateContext, fwd: &Forward) -> Vec<GateCheck> {
        let eps = model::moves::endpoints(&cx.fleet.routing().0, self.kind, &self.shard);
        let t = cx.thresholds();
        let statuses =
            futures::future::join_all(eps.iter().map(|e| Self::status(cx, fwd, e, &self.tenant)))
                .await;
        let mut out = Vec::new();
        if eps.is_empty() {
            out.push(GateCheck::new(
                code::SOURCE_REACHABLE,
                shard_label(self.kind, &self.shard),
                false,
                serde_json::Value::Null,
                "answers",
                "the shard lists no instance",
            ));
        }
        for (e, st) in eps.iter().zip(statuses) {
            match st {
                Err(err) => out.push(GateCheck::new(
                    code::SOURCE_REACHABLE,
                    e.clone(),
                    false,
                    serde_json::Value::Null,
                    "answers",
                    err,
                )),
                Ok(s) => {
                    out.push(GateCheck::new(
                        code::SOURCE_REACHABLE,
                        e.clone(),
                        true,
                        &s.state,
                        "answers",
                        format!("the tenant is {} here", s.state),
                    ));
                    if self.load {
                        out.push(GateCheck::new(
                            code::SOURCE_LAG,
                            e.clone(),
                            s.lag <= t.max_source_lag,
                            s.lag,
                            t.max_source_lag,
                            "the tenant's lag on this instance",
                        ));
                        out.push(GateCheck::new(
                            code::SOURCE_INFLIGHT,
                            e.clone(),
                            s.inflight <= t.max_source_inflight,
                            s.inflight,
                            t.max_source_inflight,
                            "the tenant's inflight work on this instance",
                        ));
                    }
                }
            }
        }
        out
    }
}
