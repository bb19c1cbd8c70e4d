//! The calls a move makes to service instances (platform contract):
//! drain/resume/status of a tenant on a worker, `/ready`'s loaded
//! revisions, and a tenant's request counters from `/metrics`.

use crate::fleet::health::sample;
use crate::gates::TenantStatus;
use crate::gateway::{Forward, GatewayClient};
use crate::jobs::workflow::StepFailure;
use model::fleet::{ServiceKind, TenantId};

fn base(endpoint: &str) -> &str {
    endpoint.trim_end_matches('/')
}

/// A side effect (`POST`), carrying the step's marker and fencing token:
/// 409 means this runner's lease was taken over (never retried); another
/// error answer fails the attempt with `code` (`reload_failed`…).
pub async fn effect(
    http: &GatewayClient,
    url: &str,
    fwd: &Forward,
    code: &str,
) -> Result<serde_json::Value, StepFailure> {
    let reply = http
        .call_url(http::Method::POST, url, fwd, None)
        .await
        .map_err(|e| StepFailure::retry("unreachable", e.to_string()))?;
    if reply.status == 409 {
        return Err(StepFailure::fatal(
            "fenced",
            "the instance refused a stale fencing token: this runner lost its lease",
        ));
    }
    if !reply.is_success() {
        return Err(StepFailure::retry(
            code,
            format!("{url} answered {}: {}", reply.status, reply.error_text()),
        ));
    }
    Ok(serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null))
}

pub fn tenant_url(endpoint: &str, tenant: &TenantId, verb: Option<&str>) -> String {
    match verb {
        Some(v) => format!("{}/admin/tenants/{}/{v}", base(endpoint), tenant.as_str()),
        None => format!("{}/admin/tenants/{}", base(endpoint), tenant.as_str()),
    }
}

/// Ids only: reads carry no step marker (they are not effects).
pub fn read_only(fwd: &Forward) -> Forward {
    Forward {
        job_step: None,
        fencing_token: None,
        ..fwd.clone()
    }
}

pub async fn tenant_status(
    http: &GatewayClient,
    endpoint: &str,
    tenant: &TenantId,
    fwd: &Forward,
) -> Result<TenantStatus, String> {
    let r = http
        .call_url(
            http::Method::GET,
            &tenant_url(endpoint, tenant, None),
            &read_only(fwd),
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    if !r.is_success() {
        return Err(format!("answered {}", r.status));
    }
    serde_json::from_slice(&r.body).map_err(|e| format!("unreadable status: {e}"))
}

/// What `/ready` says: ready, loaded placement and routing revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub ready: bool,
    pub placement: Option<u64>,
    pub routing: Option<u64>,
}

pub async fn ready(http: &GatewayClient, endpoint: &str, fwd: &Forward) -> Result<Loaded, String> {
    let r = http
        .call_url(
            http::Method::GET,
            &format!("{}/ready", base(endpoint)),
            &read_only(fwd),
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("unreadable /ready: {e}"))?;
    Ok(Loaded {
        ready: r.is_success() && v["ready"].as_bool().unwrap_or(false),
        placement: v["loaded"]["placement_revision"].as_u64(),
        routing: v["loaded"]["routing_revision"].as_u64(),
    })
}

/// What a wait for loaded revisions waits for, and how long.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub placement: Option<u64>,
    pub routing: Option<u64>,
    pub timeout: std::time::Duration,
    pub poll: std::time::Duration,
}

/// Waits until `endpoint` reports at least the wanted revisions loaded;
/// after the timeout fails (retryably) with what it last saw.
pub async fn wait_loaded(
    http: &GatewayClient,
    endpoint: &str,
    fwd: &Forward,
    want: Want,
) -> Result<Option<serde_json::Value>, StepFailure> {
    let deadline = std::time::Instant::now() + want.timeout;
    let (placement, routing) = (want.placement, want.routing);
    loop {
        let seen = ready(http, endpoint, fwd).await;
        if let Ok(l) = &seen {
            let ok = placement.is_none_or(|p| l.placement.is_some_and(|x| x >= p))
                && routing.is_none_or(|r| l.routing.is_some_and(|x| x >= r));
            if ok {
                return Ok(Some(serde_json::json!({
                    "loaded_placement_revision": l.placement,
                    "loaded_routing_revision": l.routing,
                })));
            }
        }
        if std::time::Instant::now() >= deadline {
            return Err(StepFailure::retry(
                "not_loaded",
                format!(
                    "{endpoint} has not loaded placement {placement:?} / routing {routing:?} after {} ms ({})",
                    want.timeout.as_millis(),
                    match seen {
                        Ok(l) => format!("loaded: placement {:?}, routing {:?}", l.placement, l.routing),
                        Err(e) => e,
                    }
                ),
            ));
        }
        tokio::time::sleep(want.poll).await;
    }
}

/// `(requests, 5xx)` of one tenant on one instance, from
/// `<kind>_tenant_requests_total{tenant=..,status=..}`.
pub async fn tenant_counts(
    http: &GatewayClient,
    endpoint: &str,
    kind: ServiceKind,
    tenant: &TenantId,
    fwd: &Forward,
) -> Result<(f64, f64), String> {
    let r = http
        .call_url(
            http::Method::GET,
            &format!("{}/metrics", base(endpoint)),
            &read_only(fwd),
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    if !r.is_success() {
        return Err(format!("/metrics answered {}", r.status));
    }
    Ok(parse_tenant_counts(
        &String::from_utf8_lossy(&r.body),
        kind,
        tenant,
    ))
}

pub fn parse_tenant_counts(metrics: &str, kind: ServiceKind, tenant: &TenantId) -> (f64, f64) {
    let name = format!("{}_tenant_requests_total", kind.as_str());
    let (mut all, mut errors) = (0.0, 0.0);
    for (labels, value) in metrics.lines().filter_map(|l| sample(l, &name)) {
        let label = |n: &str| labels.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        if label("tenant") != Some(tenant.as_str()) {
            continue;
        }
        all += value;
        if label("status").is_some_and(|s| s.starts_with('5')) {
            errors += value;
        }
    }
    (all, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_counters_are_its_own() {
        let m = "aggregate_tenant_requests_total{tenant=\"acme\",status=\"200\"} 90\n\
                 aggregate_tenant_requests_total{tenant=\"acme\",status=\"500\"} 10\n\
                 aggregate_tenant_requests_total{tenant=\"acme-2\",status=\"500\"} 99\n\
                 runner_tenant_requests_total{tenant=\"acme\",status=\"500\"} 99\n";
        let t = TenantId::parse("acme").unwrap();
        assert_eq!(
            parse_tenant_counts(m, ServiceKind::Aggregate, &t),
            (100.0, 10.0)
        );
        assert_eq!(
            parse_tenant_counts("", ServiceKind::Aggregate, &t),
            (0.0, 0.0)
        );
    }
}
