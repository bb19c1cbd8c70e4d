//! `routing.reload`: every gateway instance reloads routing and reports the
//! current routing revision as loaded. One step per instance, so progress
//! shows which one is slow; gated by every instance answering first.

use super::workflow::{Planned, StepContext, StepFailure, StepPolicy, Workflow};
use super::JobsError;
use crate::fleet::FleetService;
use crate::gateway::GatewayClient;
use async_trait::async_trait;
use model::fleet::ServiceKind;
use model::jobs::{JobKind, Phase, StepSpec, Target};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const GATE: &str = "gate:gateways_reachable";
const RELOAD: &str = "reload:";

/// The input: nothing yet (an empty object or absent).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {}

pub struct RoutingReload {
    pub fleet: FleetService,
    pub http: GatewayClient,
    /// How long one instance may take to report the revision loaded.
    pub load_timeout: Duration,
    /// How often `/ready` is asked while waiting.
    pub poll: Duration,
}

impl RoutingReload {
    fn endpoints(&self) -> (Vec<String>, u64) {
        let (routing, meta) = self.fleet.routing();
        let mut out: Vec<String> = routing
            .kinds
            .get(&ServiceKind::Gateway)
            .into_iter()
            .flat_map(|shards| shards.values())
            .flat_map(|r| r.endpoints.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        (out, meta.revision)
    }

    async fn reachable(&self, ctx: &StepContext) -> Result<Option<serde_json::Value>, StepFailure> {
        let fwd = ctx.forward();
        let mut down = Vec::new();
        for e in endpoints_of(ctx) {
            let url = format!("{}/health", e.trim_end_matches('/'));
            match self
                .http
                .call_url(http::Method::GET, &url, &fwd, None)
                .await
            {
                Ok(r) if r.is_success() => {}
                Ok(r) => down.push(format!("{e} answered {}", r.status)),
                Err(err) => down.push(format!("{e}: {err}")),
            }
        }
        if down.is_empty() {
            Ok(Some(
                serde_json::json!({ "reachable": endpoints_of(ctx).len() }),
            ))
        } else {
            Err(StepFailure::retry("gate_unreachable", down.join("; ")))
        }
    }

    async fn reload(
        &self,
        ctx: &StepContext,
        endpoint: &str,
    ) -> Result<Option<serde_json::Value>, StepFailure> {
        let base = endpoint.trim_end_matches('/');
        let fwd = ctx.forward();
        let answer = crate::moves::instances::effect(
            &self.http,
            &format!("{base}/admin/routing/reload"),
            &fwd,
            "reload_failed",
        )
        .await?;
        let replayed = answer
            .get("replayed")
            .and_then(|r| r.as_bool())
            .unwrap_or(false);
        // Wait until the instance reports the current revision loaded.
        let (_, current) = self.endpoints();
        let deadline = tokio::time::Instant::now() + self.load_timeout;
        let mut observed = None;
        loop {
            let ready = self
                .http
                .call_url(http::Method::GET, &format!("{base}/ready"), &fwd, None)
                .await;
            if let Ok(r) = ready {
                observed = serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["loaded"]["routing_revision"].as_u64());
                if observed.is_some_and(|o| o >= current) {
                    return Ok(Some(serde_json::json!({
                        "loaded_routing_revision": observed,
                        "replayed": replayed,
                    })));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepFailure::retry(
                    "not_loaded",
                    format!(
                        "routing revision {current} not loaded after {} ms (loaded: {})",
                        self.load_timeout.as_millis(),
                        observed.map_or("unknown".to_owned(), |o| o.to_string())
                    ),
                ));
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// The endpoints the job planned (its step names), not today's list.
fn endpoints_of(ctx: &StepContext) -> Vec<&str> {
    ctx.job
        .steps
        .iter()
        .filter_map(|s| s.name.strip_prefix(RELOAD))
        .collect()
}

#[async_trait]
impl Workflow for RoutingReload {
    fn kind(&self) -> JobKind {
        JobKind::RoutingReload
    }

    async fn plan(
        &self,
        input: &serde_json::Value,
        _: &crate::gateway::Forward,
    ) -> Result<Planned, JobsError> {
        if !input.is_null() {
            serde_json::from_value::<Input>(input.clone()).map_err(|e| {
                JobsError::BadRequest(format!(
                    "input: {}",
                    model::error::safe_serde_detail(&e.to_string())
                ))
            })?;
        }
        let (endpoints, revision) = self.endpoints();
        if endpoints.is_empty() {
            return Err(JobsError::BadRequest(
                "the routing directory lists no gateway instance".into(),
            ));
        }
        let mut steps = vec![StepSpec::new(GATE, Phase::Reversible, 3)];
        steps.extend(
            endpoints
                .iter()
                .map(|e| StepSpec::new(format!("{RELOAD}{e}"), Phase::Irreversible, 3)),
        );
        let mut h = Sha256::new();
        h.update(revision.to_be_bytes());
        for e in &endpoints {
            h.update(e.as_bytes());
            h.update([0]);
        }
        Ok(Planned {
            target: Target::Config {
                document: "routing".into(),
            },
            steps,
            plan_hash: Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect()),
            input: None,
            plan: None,
        })
    }

    fn policy(&self, step: &str) -> StepPolicy {
        StepPolicy {
            timeout: if step == GATE {
                Duration::from_secs(10)
            } else {
                self.load_timeout + Duration::from_secs(5)
            },
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            idempotent: true,
        }
    }

    async fn run(&self, ctx: &StepContext) -> Result<Option<serde_json::Value>, StepFailure> {
        let name = ctx.step_name().to_owned();
        match name.strip_prefix(RELOAD) {
            Some(endpoint) => self.reload(ctx, endpoint).await,
            None if name == GATE => self.reachable(ctx).await,
            None => Err(StepFailure::fatal(
                "unknown_step",
                format!("no step {name:?}"),
            )),
        }
    }
}
