//! Shard ids and the per-kind placement maps (tenant → shard).

use super::{issue, FleetErrorCode, FleetIssue, RoutingConfig, ServiceKind, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A shard id: 1-32 chars of `[a-z0-9_-]`, starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct ShardId(String);

impl ShardId {
    pub fn parse(s: &str) -> Result<Self, FleetIssue> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && s.as_bytes()[0].is_ascii_alphanumeric();
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(issue(
                FleetErrorCode::BadShardId,
                "shard",
                "not a shard id: 1-32 of a-z 0-9 _ -, starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

id_traits!(ShardId);

/// One kind's placement: tenant → shard, and the shard for everyone else.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlacementMap {
    #[serde(default)]
    pub default_shard: Option<ShardId>,
    #[serde(default)]
    pub tenants: BTreeMap<TenantId, ShardId>,
}

impl PlacementMap {
    pub fn shard_of(&self, tenant: &TenantId) -> Option<&ShardId> {
        self.tenants.get(tenant).or(self.default_shard.as_ref())
    }
}

/// Placement checked against routing: every shard it names must exist.
pub fn validate_placement(
    kind: ServiceKind,
    p: &PlacementMap,
    routing: &RoutingConfig,
) -> Vec<FleetIssue> {
    let mut out = Vec::new();
    let known = |s: &ShardId| routing.shard(kind, s).is_some();
    if let Some(d) = &p.default_shard {
        if !known(d) {
            out.push(issue(
                FleetErrorCode::UnknownShard,
                format!("{kind}_placement.default_shard"),
                format!("shard {d} is not in the {kind} routing directory"),
            ));
        }
    }
    for (t, s) in &p.tenants {
        if !known(s) {
            out.push(issue(
                FleetErrorCode::UnknownShard,
                format!("{kind}_placement.tenants.{t}"),
                format!("shard {s} is not in the {kind} routing directory"),
            ));
        }
    }
    out
}

/// The dev placement file (`config/placement/dev.json`): the three maps and
/// the revision its writer gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlacementDoc {
    pub revision: u64,
    #[serde(default)]
    pub aggregate_placement: PlacementMap,
    #[serde(default)]
    pub projection_placement: PlacementMap,
    #[serde(default)]
    pub runner_placement: PlacementMap,
}

impl PlacementDoc {
    pub fn map(&self, kind: ServiceKind) -> Option<&PlacementMap> {
        match kind {
            ServiceKind::Gateway => None,
            ServiceKind::Aggregate => Some(&self.aggregate_placement),
            ServiceKind::Projection => Some(&self.projection_placement),
            ServiceKind::Runner => Some(&self.runner_placement),
        }
    }

    pub fn map_mut(&mut self, kind: ServiceKind) -> Option<&mut PlacementMap> {
        match kind {
            ServiceKind::Gateway => None,
            ServiceKind::Aggregate => Some(&mut self.aggregate_placement),
            ServiceKind::Projection => Some(&mut self.projection_placement),
            ServiceKind::Runner => Some(&mut self.runner_placement),
        }
    }
}
