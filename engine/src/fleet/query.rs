//! Reads over a `FleetState` (and the health snapshot): placement
//! overviews, the paged tenant list, tenant detail. Pure functions.

use super::FleetState;
use model::fleet::{resolve, validate_placement, ServiceKind, ShardId, TenantId};
use model::views::{
    EndpointSummary, FleetSnapshot, HealthStatus, PlacementOverview, ShardSummary, TenantDetail,
    TenantPage, TenantPlacement, TenantQuery, TenantRow, TenantSort,
};
use std::collections::BTreeMap;

fn shard_health(
    state: &FleetState,
    snap: &FleetSnapshot,
    kind: ServiceKind,
    shard: &ShardId,
) -> HealthStatus {
    match state.routing.0.shard(kind, shard) {
        None => HealthStatus::Unknown,
        Some(r) if r.endpoints.is_empty() => HealthStatus::Down,
        Some(r) => r
            .endpoints
            .iter()
            .map(|e| snap.status_of(e))
            .fold(HealthStatus::Healthy, HealthStatus::worst),
    }
}

pub fn placement_overview(
    state: &FleetState,
    snap: &FleetSnapshot,
    kind: ServiceKind,
) -> Option<PlacementOverview> {
    let (map, meta) = state.placement(kind)?;
    let mut counts: BTreeMap<ShardId, usize> = BTreeMap::new();
    for s in map.tenants.values() {
        *counts.entry(s.clone()).or_default() += 1;
    }
    let routes = state.routing.0.kinds.get(&kind);
    let mut shards: Vec<ShardId> = counts.keys().cloned().collect();
    if let Some(r) = routes {
        shards.extend(r.keys().cloned());
    }
    shards.sort();
    shards.dedup();
    let shards = shards
        .into_iter()
        .map(|s| {
            let route = routes.and_then(|r| r.get(&s));
            ShardSummary {
                moving: Vec::new(),
                tenant_count: counts.get(&s).copied().unwrap_or(0),
                is_default: map.default_shard.as_ref() == Some(&s),
                state: route.map(|r| r.state),
                endpoints: route
                    .map(|r| {
                        r.endpoints
                            .iter()
                            .map(|e| EndpointSummary {
                                url: e.clone(),
                                status: snap.status_of(e),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                shard: s,
            }
        })
        .collect();
    let mut issues = validate_placement(kind, map, &state.routing.0);
    issues.extend(
        state
            .routing
            .0
            .validate()
            .into_iter()
            .filter(|i| i.path.starts_with(&format!("routing.{kind}."))),
    );
    Some(PlacementOverview {
        kind,
        placement: meta.clone(),
        routing: state.routing.1.clone(),
        default_shard: map.default_shard.clone(),
        tenant_count: map.tenants.len(),
        shards,
        issues,
    })
}

fn row(state: &FleetState, snap: &FleetSnapshot, t: &TenantId) -> TenantRow {
    TenantRow {
        job: None,
        tenant: t.clone(),
        placements: ServiceKind::WORKERS
            .into_iter()
            .map(|kind| {
                let found = state.shard_of(kind, t);
                TenantPlacement {
                    kind,
                    health: found
                        .map(|(s, _)| shard_health(state, snap, kind, s))
                        .unwrap_or(HealthStatus::Unknown),
                    by_default: found.is_some_and(|(_, d)| d),
                    shard: found.map(|(s, _)| s.clone()),
                }
            })
            .collect(),
    }
}

/// Filters, sorts and pages on the server; the page holds at most
/// `MAX_PAGE_SIZE` rows whatever the fleet size.
pub fn tenant_page(state: &FleetState, snap: &FleetSnapshot, q: &TenantQuery) -> TenantPage {
    let size = q.effective_page_size();
    let needle =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase);
    let shard_filter = match (q.kind, q.shard.as_deref().filter(|s| !s.is_empty())) {
        (Some(k), Some(s)) => Some((k, s)),
        _ => None,
    };
    let mut ids: Vec<&TenantId> = state
        .tenants
        .iter()
        .filter(|t| needle.as_deref().is_none_or(|n| t.as_str().contains(n)))
        .filter(|t| {
            shard_filter
                .is_none_or(|(k, s)| state.shard_of(k, t).is_some_and(|(sh, _)| sh.as_str() == s))
        })
        .collect();
    if q.sort == TenantSort::Shard {
        let kind = q.kind.unwrap_or(ServiceKind::Aggregate);
        // One lookup per tenant, not two per comparison.
        ids.sort_by_cached_key(|t| (state.shard_of(kind, t).map(|(s, _)| s.as_str()), *t));
    }
    if q.desc {
        ids.reverse();
    }
    let total = ids.len();
    let items = ids
        .into_iter()
        .skip(q.page.saturating_mul(size))
        .take(size)
        .map(|t| row(state, snap, t))
        .collect();
    TenantPage {
        items,
        total,
        page: q.page,
        page_size: size,
        placement: state
            .placement(ServiceKind::Aggregate)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| state.routing.1.clone()),
        routing: state.routing.1.clone(),
    }
}

pub fn tenant_detail(state: &FleetState, t: &TenantId) -> TenantDetail {
    TenantDetail {
        tenant: t.clone(),
        known: state.tenants.binary_search(t).is_ok(),
        resolutions: ServiceKind::WORKERS
            .into_iter()
            .map(|kind| {
                let map = state
                    .placement(kind)
                    .map(|(m, _)| m.clone())
                    .unwrap_or_default();
                (kind, resolve(kind, t, &map, &state.routing.0))
            })
            .collect(),
        placement: state
            .placement(ServiceKind::Aggregate)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| state.routing.1.clone()),
        routing: state.routing.1.clone(),
    }
}
