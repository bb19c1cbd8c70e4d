//! What the fleet API and pages show: document metadata (revision, source),
//! placement overviews, paged tenant lists, and the fleet health snapshot.

use crate::fleet::{
    FleetIssue, Resolution, RoutingConfig, ServiceKind, ShardId, ShardState, TenantId,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The dev files (`config/placement/dev.json`, `config/routing/dev.json`).
    File,
    /// The substrate's KV buckets (NATS in production, embedded otherwise).
    Kv,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocSource {
    pub kind: SourceKind,
    /// `file`, `nats` or `embedded`.
    pub backend: String,
    /// File path, or `bucket/key`.
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocMeta {
    /// 0 until a document was loaded.
    pub revision: u64,
    pub source: DocSource,
    /// Why the stored document is not the one shown (the last good one is).
    pub error: Option<String>,
    /// Unix milliseconds of the last successful load.
    pub loaded_at_ms: u64,
}

/// The Gateway's shard directory as shown: the document, where it came
/// from, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingView {
    pub routing: RoutingConfig,
    pub meta: DocMeta,
    pub issues: Vec<FleetIssue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Unready,
    Down,
    Timeout,
    /// Not polled yet.
    Unknown,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Unready => "unready",
            Self::Down => "down",
            Self::Timeout => "timeout",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Healthy,
            Self::Unready,
            Self::Down,
            Self::Timeout,
            Self::Unknown,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
    }

    /// The worse of two: for a shard with several endpoints.
    pub fn worst(self, other: Self) -> Self {
        fn rank(h: HealthStatus) -> u8 {
            match h {
                HealthStatus::Healthy => 0,
                HealthStatus::Unknown => 1,
                HealthStatus::Unready => 2,
                HealthStatus::Timeout => 3,
                HealthStatus::Down => 4,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointSummary {
    pub url: String,
    pub status: HealthStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShardSummary {
    pub shard: ShardId,
    pub tenant_count: usize,
    pub is_default: bool,
    pub state: Option<ShardState>,
    pub endpoints: Vec<EndpointSummary>,
    /// Tenants moving off or onto this shard right now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moving: Vec<crate::moves::Moving>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacementOverview {
    pub kind: ServiceKind,
    pub placement: DocMeta,
    pub routing: DocMeta,
    pub default_shard: Option<ShardId>,
    pub tenant_count: usize,
    pub shards: Vec<ShardSummary>,
    pub issues: Vec<FleetIssue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantSort {
    #[default]
    Tenant,
    Shard,
}

pub const MAX_PAGE_SIZE: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct TenantQuery {
    /// Substring of the tenant id.
    pub q: Option<String>,
    /// With `shard`: only tenants placed on that shard of this kind; also
    /// the kind `sort = shard` sorts by.
    #[cfg_attr(feature = "openapi", param(inline))]
    pub kind: Option<ServiceKind>,
    pub shard: Option<String>,
    #[cfg_attr(feature = "openapi", param(inline))]
    pub sort: TenantSort,
    pub desc: bool,
    pub page: usize,
    /// 1..=200; 0 means the default (50).
    pub page_size: usize,
}

impl TenantQuery {
    pub fn effective_page_size(&self) -> usize {
        match self.page_size {
            0 => 50,
            n => n.min(MAX_PAGE_SIZE),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantPlacement {
    pub kind: ServiceKind,
    pub shard: Option<ShardId>,
    pub by_default: bool,
    pub health: HealthStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantRow {
    pub tenant: TenantId,
    pub placements: Vec<TenantPlacement>,
    /// The unfinished job on this tenant, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<crate::jobs::ActiveJob>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantPage {
    pub items: Vec<TenantRow>,
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
    pub placement: DocMeta,
    pub routing: DocMeta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantDetail {
    pub tenant: TenantId,
    /// Whether any placement map names the tenant explicitly.
    pub known: bool,
    /// Per kind: `{"Ok": Resolution}` or `{"Err": FleetIssue}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<(ServiceKind, Object)>))]
    pub resolutions: Vec<(ServiceKind, Result<Resolution, FleetIssue>)>,
    pub placement: DocMeta,
    pub routing: DocMeta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceHealth {
    pub kind: ServiceKind,
    pub shard: ShardId,
    pub endpoint: String,
    pub status: HealthStatus,
    pub latency_ms: Option<u64>,
    pub version: Option<String>,
    pub git_sha: Option<String>,
    pub loaded_placement_revision: Option<u64>,
    pub loaded_routing_revision: Option<u64>,
    pub current_placement_revision: u64,
    pub current_routing_revision: u64,
    /// Loaded revisions behind the current ones: the instance has not
    /// picked up the latest placement/routing yet.
    pub not_reloaded: bool,
    pub draining_tenants: Vec<String>,
    pub last_error: Option<String>,
    /// Unix milliseconds of the last probe (0: never).
    pub checked_at_ms: u64,
    /// Latencies of the recent probes, oldest first, this one last (at most
    /// `RECENT_PROBES`; `None`: the probe got no answer).
    #[serde(default)]
    pub recent_latency_ms: Vec<Option<u64>>,
    /// `(requests, 5xx)` summed over the `<kind>_http_requests_total`
    /// counters of this probe's `/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_counts: Option<(f64, f64)>,
    /// The share of 5xx answers between the previous probe and this one
    /// (`None` until two probes read the counters; 0 without traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_ratio: Option<f64>,
    /// Since when (Unix ms) the instance has been `not_reloaded` without a
    /// break (`None`: it is not behind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind_since_ms: Option<u64>,
}

/// How many probes of one endpoint `InstanceHealth::recent_latency_ms` keeps.
pub const RECENT_PROBES: usize = 20;

impl InstanceHealth {
    /// This probe's latency appended to the history of the previous one,
    /// keeping the last `RECENT_PROBES`.
    pub fn with_history(mut self, previous: Option<&InstanceHealth>) -> Self {
        let mut recent = previous
            .map(|p| p.recent_latency_ms.clone())
            .unwrap_or_default();
        recent.push(self.latency_ms);
        let excess = recent.len().saturating_sub(RECENT_PROBES);
        recent.drain(..excess);
        self.recent_latency_ms = recent;
        self.behind_since_ms = self.not_reloaded.then(|| {
            previous
                .and_then(|p| p.behind_since_ms)
                .unwrap_or(self.checked_at_ms)
        });
        let before = previous.and_then(|p| p.request_counts);
        self.error_ratio = match (before, self.request_counts) {
            // A restart resets counters: no ratio from that pair.
            (Some((t0, e0)), Some((t1, e1))) if t1 >= t0 && e1 >= e0 => {
                Some(if t1 > t0 { (e1 - e0) / (t1 - t0) } else { 0.0 })
            }
            _ => None,
        };
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KindSummary {
    pub kind: ServiceKind,
    pub instances: usize,
    pub healthy: usize,
    pub unhealthy: usize,
    pub not_reloaded: usize,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetSnapshot {
    pub instances: Vec<InstanceHealth>,
    /// Unix milliseconds when this snapshot was assembled.
    pub generated_at_ms: u64,
    pub interval_ms: u64,
}

impl FleetSnapshot {
    pub fn summary(&self) -> Vec<KindSummary> {
        ServiceKind::ALL
            .into_iter()
            .map(|kind| {
                let of_kind: Vec<_> = self.instances.iter().filter(|i| i.kind == kind).collect();
                KindSummary {
                    kind,
                    instances: of_kind.len(),
                    healthy: of_kind
                        .iter()
                        .filter(|i| i.status == HealthStatus::Healthy)
                        .count(),
                    unhealthy: of_kind
                        .iter()
                        .filter(|i| {
                            !matches!(i.status, HealthStatus::Healthy | HealthStatus::Unknown)
                        })
                        .count(),
                    not_reloaded: of_kind.iter().filter(|i| i.not_reloaded).count(),
                }
            })
            .collect()
    }

    /// Health of one endpoint, `Unknown` if it is not polled (yet).
    pub fn status_of(&self, endpoint: &str) -> HealthStatus {
        self.instances
            .iter()
            .find(|i| i.endpoint == endpoint)
            .map(|i| i.status)
            .unwrap_or(HealthStatus::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_history_keeps_the_last_probes_oldest_first() {
        let probe = |lat: Option<u64>| InstanceHealth {
            kind: crate::fleet::ServiceKind::Runner,
            shard: crate::fleet::ShardId::parse("s1").unwrap(),
            endpoint: "http://r1".into(),
            status: HealthStatus::Healthy,
            latency_ms: lat,
            version: None,
            git_sha: None,
            loaded_placement_revision: None,
            loaded_routing_revision: None,
            current_placement_revision: 0,
            current_routing_revision: 0,
            not_reloaded: false,
            draining_tenants: vec![],
            last_error: None,
            checked_at_ms: 1,
            recent_latency_ms: vec![],
            request_counts: None,
            error_ratio: None,
            behind_since_ms: None,
        };
        let first = probe(Some(5)).with_history(None);
        assert_eq!(first.recent_latency_ms, [Some(5)]);
        let second = probe(None).with_history(Some(&first));
        assert_eq!(second.recent_latency_ms, [Some(5), None]);
        let mut h = second;
        for i in 0..(RECENT_PROBES as u64 + 3) {
            h = probe(Some(i)).with_history(Some(&h));
        }
        assert_eq!(h.recent_latency_ms.len(), RECENT_PROBES);
        assert_eq!(
            h.recent_latency_ms.last(),
            Some(&Some(RECENT_PROBES as u64 + 2))
        );
        assert_eq!(h.recent_latency_ms[0], Some(3));
    }

    /// A healthy probe with nothing else set.
    fn bare() -> InstanceHealth {
        serde_json::from_value(serde_json::json!({
            "kind": "runner", "shard": "s1", "endpoint": "http://r1",
            "status": "healthy", "latency_ms": null, "version": null,
            "git_sha": null, "loaded_placement_revision": null,
            "loaded_routing_revision": null, "current_placement_revision": 0,
            "current_routing_revision": 0, "not_reloaded": false,
            "draining_tenants": [], "last_error": null, "checked_at_ms": 1,
        }))
        .unwrap()
    }

    #[test]
    fn error_ratio_is_the_share_of_5xx_between_two_probes() {
        let probe = |counts: Option<(f64, f64)>| InstanceHealth {
            request_counts: counts,
            ..bare()
        };
        let first = probe(Some((100.0, 10.0))).with_history(None);
        assert_eq!(first.error_ratio, None, "one sample is no ratio");
        let second = probe(Some((200.0, 60.0))).with_history(Some(&first));
        assert_eq!(second.error_ratio, Some(0.5));
        let idle = probe(Some((200.0, 60.0))).with_history(Some(&second));
        assert_eq!(idle.error_ratio, Some(0.0));
        let restarted = probe(Some((5.0, 0.0))).with_history(Some(&idle));
        assert_eq!(restarted.error_ratio, None, "counters reset");
        assert_eq!(probe(None).with_history(Some(&idle)).error_ratio, None);
    }

    #[test]
    fn behind_since_is_when_an_instance_fell_behind_without_a_break() {
        let probe = |behind: bool, at: u64| InstanceHealth {
            not_reloaded: behind,
            checked_at_ms: at,
            ..bare()
        };
        let a = probe(true, 100).with_history(None);
        assert_eq!(a.behind_since_ms, Some(100));
        let b = probe(true, 200).with_history(Some(&a));
        assert_eq!(b.behind_since_ms, Some(100));
        let c = probe(false, 300).with_history(Some(&b));
        assert_eq!(c.behind_since_ms, None);
        assert_eq!(
            probe(true, 400).with_history(Some(&c)).behind_since_ms,
            Some(400)
        );
    }

    #[test]
    fn worst_health_wins() {
        assert_eq!(
            HealthStatus::Healthy.worst(HealthStatus::Down),
            HealthStatus::Down
        );
        assert_eq!(
            HealthStatus::Timeout.worst(HealthStatus::Unready),
            HealthStatus::Timeout
        );
        assert_eq!(
            HealthStatus::Healthy.worst(HealthStatus::Unknown),
            HealthStatus::Unknown
        );
    }

    #[test]
    fn page_size_is_bounded() {
        assert_eq!(TenantQuery::default().effective_page_size(), 50);
        assert_eq!(
            TenantQuery {
                page_size: 10_000,
                ..Default::default()
            }
            .effective_page_size(),
            MAX_PAGE_SIZE
        );
        let bad: Result<TenantQuery, _> = serde_json::from_str(r#"{"sort":"nope"}"#);
        assert!(bad.is_err());
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct InstanceQuery {
    #[cfg_attr(feature = "openapi", param(inline))]
    pub kind: Option<ServiceKind>,
    #[cfg_attr(feature = "openapi", param(inline))]
    pub status: Option<HealthStatus>,
    /// Only instances that have not loaded the current revisions.
    pub not_reloaded: bool,
    pub page: usize,
    /// 1..=200; 0 means the default (50).
    pub page_size: usize,
}

/// One page of the health snapshot, with the summary of all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetHealthPage {
    pub summary: Vec<KindSummary>,
    pub generated_at_ms: u64,
    pub interval_ms: u64,
    pub instances: Vec<InstanceHealth>,
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
}

impl FleetSnapshot {
    pub fn page(&self, q: &InstanceQuery) -> FleetHealthPage {
        let size = match q.page_size {
            0 => 50,
            n => n.min(MAX_PAGE_SIZE),
        };
        let matching: Vec<&InstanceHealth> = self
            .instances
            .iter()
            .filter(|i| q.kind.is_none_or(|k| i.kind == k))
            .filter(|i| q.status.is_none_or(|s| i.status == s))
            .filter(|i| !q.not_reloaded || i.not_reloaded)
            .collect();
        FleetHealthPage {
            summary: self.summary(),
            generated_at_ms: self.generated_at_ms,
            interval_ms: self.interval_ms,
            total: matching.len(),
            instances: matching
                .into_iter()
                .skip(q.page.saturating_mul(size))
                .take(size)
                .cloned()
                .collect(),
            page: q.page,
            page_size: size,
        }
    }
}

/// What the live feed says whenever health or documents change: small, so
/// pages refetch only what they show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetPulse {
    pub generated_at_ms: u64,
    pub summary: Vec<KindSummary>,
    pub placement_revisions: Vec<(ServiceKind, u64)>,
    pub routing_revision: u64,
}
