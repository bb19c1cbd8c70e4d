//! The Gateway's routing directory (kind → shard → endpoints and state) and
//! the pure resolution of a tenant to its endpoints.

use super::{issue, FleetErrorCode, FleetIssue, PlacementMap, ServiceKind, ShardId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ShardState {
    #[default]
    Active,
    Draining,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ShardRoute {
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub state: ShardState,
}

/// The Gateway's shard directory: for each kind, shard → endpoints + state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoutingConfig {
    pub kinds: BTreeMap<ServiceKind, BTreeMap<ShardId, ShardRoute>>,
}

// By hand: utoipa's derive does not follow `serde(transparent)` on a
// struct with a named field; on the wire this is the map itself.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RoutingConfig {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <BTreeMap<ServiceKind, BTreeMap<ShardId, ShardRoute>> as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RoutingConfig {
    fn schemas(
        out: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <BTreeMap<ServiceKind, BTreeMap<ShardId, ShardRoute>> as utoipa::ToSchema>::schemas(out);
    }
}

/// `http://host:port[/path]` with a host and a port: what the platform uses.
pub fn check_endpoint(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| "must start with http:// or https://".to_owned())?;
    let hostport = rest.split('/').next().unwrap_or("");
    if hostport.contains('@') || url.contains(char::is_whitespace) {
        return Err("must not contain credentials or spaces".into());
    }
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| "needs an explicit port".to_owned())?;
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    {
        return Err("bad host".into());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err("bad port".into()),
    }
}

impl RoutingConfig {
    /// Every problem in the directory, each with its stable code.
    pub fn validate(&self) -> Vec<FleetIssue> {
        let mut out = Vec::new();
        for (kind, shards) in &self.kinds {
            let mut seen = std::collections::HashSet::new();
            for (shard, route) in shards {
                let base = format!("routing.{kind}.{shard}");
                if route.endpoints.is_empty() && route.state != ShardState::Disabled {
                    out.push(issue(
                        FleetErrorCode::EmptyEndpoints,
                        &base,
                        "an active or draining shard needs endpoints",
                    ));
                }
                for (i, ep) in route.endpoints.iter().enumerate() {
                    let path = format!("{base}.endpoints[{i}]");
                    if let Err(m) = check_endpoint(ep) {
                        out.push(issue(
                            FleetErrorCode::MalformedUrl,
                            &path,
                            format!("{:?}: {m}", truncate(ep)),
                        ));
                    }
                    if !seen.insert(ep.as_str()) {
                        out.push(issue(
                            FleetErrorCode::DuplicateEndpoint,
                            &path,
                            format!("{ep} appears twice in {kind}"),
                        ));
                    }
                }
            }
        }
        out
    }

    pub fn shard(&self, kind: ServiceKind, shard: &ShardId) -> Option<&ShardRoute> {
        self.kinds.get(&kind).and_then(|s| s.get(shard))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resolution {
    pub kind: ServiceKind,
    pub tenant: TenantId,
    pub shard: ShardId,
    /// True when the tenant has no entry and the default shard applies.
    pub by_default: bool,
    pub state: ShardState,
    pub endpoints: Vec<String>,
}

/// (kind, tenant) → shard → endpoints. Pure: the same answer for the same
/// documents, wherever it runs.
pub fn resolve(
    kind: ServiceKind,
    tenant: &TenantId,
    placement: &PlacementMap,
    routing: &RoutingConfig,
) -> Result<Resolution, FleetIssue> {
    let (shard, by_default) = match placement.tenants.get(tenant) {
        Some(s) => (s, false),
        None => match &placement.default_shard {
            Some(d) => (d, true),
            None => {
                return Err(issue(
                    FleetErrorCode::NoPlacement,
                    format!("{kind}_placement"),
                    format!("tenant {tenant} has no shard and there is no default"),
                ))
            }
        },
    };
    let route = routing.shard(kind, shard).ok_or_else(|| {
        issue(
            FleetErrorCode::UnknownShard,
            format!("routing.{kind}"),
            format!("shard {shard} is not in the {kind} routing directory"),
        )
    })?;
    if route.endpoints.is_empty() {
        return Err(issue(
            FleetErrorCode::EmptyEndpoints,
            format!("routing.{kind}.{shard}"),
            "shard has no endpoints",
        ));
    }
    Ok(Resolution {
        kind,
        tenant: tenant.clone(),
        shard: shard.clone(),
        by_default,
        state: route.state,
        endpoints: route.endpoints.clone(),
    })
}

/// The dev routing file (`config/routing/dev.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoutingDoc {
    pub revision: u64,
    pub routing: RoutingConfig,
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
