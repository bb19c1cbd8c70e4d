//! Service kinds, tenant and shard ids, placement maps, the Gateway's
//! routing directory, and the pure resolution (kind, tenant) → shard →
//! endpoints shared by the UI, the API, plans and tests.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    Gateway,
    Aggregate,
    Projection,
    Runner,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 4] = [
        Self::Gateway,
        Self::Aggregate,
        Self::Projection,
        Self::Runner,
    ];
    /// The kinds that host tenants (and so have a placement map).
    pub const WORKERS: [ServiceKind; 3] = [Self::Aggregate, Self::Projection, Self::Runner];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Aggregate => "aggregate",
            Self::Projection => "projection",
            Self::Runner => "runner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The KV key of this kind's placement map (`aggregate_placement`, ...).
    pub fn placement_key(self) -> Option<&'static str> {
        match self {
            Self::Gateway => None,
            Self::Aggregate => Some("aggregate_placement"),
            Self::Projection => Some("projection_placement"),
            Self::Runner => Some("runner_placement"),
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stable codes for everything wrong with a placement or routing document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetErrorCode {
    BadTenantId,
    BadShardId,
    UnknownShard,
    EmptyEndpoints,
    DuplicateEndpoint,
    MalformedUrl,
    NoPlacement,
    UnknownKind,
}

impl FleetErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadTenantId => "bad_tenant_id",
            Self::BadShardId => "bad_shard_id",
            Self::UnknownShard => "unknown_shard",
            Self::EmptyEndpoints => "empty_endpoints",
            Self::DuplicateEndpoint => "duplicate_endpoint",
            Self::MalformedUrl => "malformed_url",
            Self::NoPlacement => "no_placement",
            Self::UnknownKind => "unknown_kind",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message} (at {path})", code.as_str())]
pub struct FleetIssue {
    pub code: FleetErrorCode,
    /// Where in the document, e.g. `routing.aggregate.a1.endpoints[0]`.
    pub path: String,
    pub message: String,
}

fn issue(code: FleetErrorCode, path: impl Into<String>, message: impl Into<String>) -> FleetIssue {
    FleetIssue {
        code,
        path: path.into(),
        message: message.into(),
    }
}

/// A tenant id, by the Gateway's rule: 1-63 chars of `[a-z0-9-]`, starting
/// and ending with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, FleetIssue> {
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(issue(
                FleetErrorCode::BadTenantId,
                "tenant",
                // The value is not quoted: it is the caller's input.
                "not a tenant id: 1-63 of a-z 0-9 -, not starting or ending with -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A shard id: 1-32 chars of `[a-z0-9_-]`, starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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

macro_rules! id_traits {
    ($t:ident) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.0)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
id_traits!(TenantId);
id_traits!(ShardId);

/// One kind's placement: tenant → shard, and the shard for everyone else.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    #[default]
    Active,
    Draining,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardRoute {
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub state: ShardState,
}

/// The Gateway's shard directory: for each kind, shard → endpoints + state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoutingConfig {
    pub kinds: BTreeMap<ServiceKind, BTreeMap<ShardId, ShardRoute>>,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The dev placement file (`config/placement/dev.json`): the three maps and
/// the revision its writer gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// The dev routing file (`config/routing/dev.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingDoc {
    pub revision: u64,
    pub routing: RoutingConfig,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }
    fn s(x: &str) -> ShardId {
        ShardId::parse(x).unwrap()
    }

    fn routing() -> RoutingConfig {
        let mut r = RoutingConfig::default();
        let mut agg = BTreeMap::new();
        agg.insert(
            s("a0"),
            ShardRoute {
                endpoints: vec!["http://127.0.0.1:4101".into()],
                state: ShardState::Active,
            },
        );
        agg.insert(
            s("a1"),
            ShardRoute {
                endpoints: vec![
                    "http://127.0.0.1:4102".into(),
                    "http://127.0.0.1:4103".into(),
                ],
                state: ShardState::Draining,
            },
        );
        r.kinds.insert(ServiceKind::Aggregate, agg);
        r
    }

    #[test]
    fn ids_follow_the_gateway_rules() {
        assert!(TenantId::parse("acme-1").is_ok());
        for bad in ["", "-a", "a-", "Acme", "a_b", "a b", &"a".repeat(64)] {
            assert_eq!(
                TenantId::parse(bad).unwrap_err().code,
                FleetErrorCode::BadTenantId,
                "{bad:?}"
            );
        }
        assert!(ShardId::parse("a_0").is_ok());
        assert_eq!(
            ShardId::parse("_a").unwrap_err().code,
            FleetErrorCode::BadShardId
        );
        let bad: Result<PlacementMap, _> = serde_json::from_str(r#"{"tenants":{"BAD":"a0"}}"#);
        assert!(bad.unwrap_err().to_string().contains("bad_tenant_id"));
    }

    #[test]
    fn resolves_explicit_default_and_errors() {
        let r = routing();
        let mut p = PlacementMap {
            default_shard: Some(s("a0")),
            ..Default::default()
        };
        p.tenants.insert(t("acme"), s("a1"));
        let got = resolve(ServiceKind::Aggregate, &t("acme"), &p, &r).unwrap();
        assert_eq!(
            (got.shard.as_str(), got.by_default, got.state),
            ("a1", false, ShardState::Draining)
        );
        assert_eq!(got.endpoints.len(), 2);
        let got = resolve(ServiceKind::Aggregate, &t("other"), &p, &r).unwrap();
        assert_eq!((got.shard.as_str(), got.by_default), ("a0", true));
        p.default_shard = None;
        assert_eq!(
            resolve(ServiceKind::Aggregate, &t("other"), &p, &r)
                .unwrap_err()
                .code,
            FleetErrorCode::NoPlacement
        );
        p.tenants.insert(t("lost"), s("a9"));
        assert_eq!(
            resolve(ServiceKind::Aggregate, &t("lost"), &p, &r)
                .unwrap_err()
                .code,
            FleetErrorCode::UnknownShard
        );
        assert_eq!(
            validate_placement(ServiceKind::Aggregate, &p, &r)[0].code,
            FleetErrorCode::UnknownShard
        );
    }

    #[test]
    fn routing_validation_reports_each_problem_with_its_code() {
        let mut r = routing();
        let agg = r.kinds.get_mut(&ServiceKind::Aggregate).unwrap();
        agg.insert(
            s("a2"),
            ShardRoute {
                endpoints: vec![],
                state: ShardState::Active,
            },
        );
        agg.insert(
            s("a3"),
            ShardRoute {
                endpoints: vec![
                    "http://127.0.0.1:4101".into(),
                    "ftp://x:1".into(),
                    "http://nohost".into(),
                ],
                state: ShardState::Active,
            },
        );
        agg.insert(
            s("a4"),
            ShardRoute {
                endpoints: vec![],
                state: ShardState::Disabled,
            },
        );
        let codes: Vec<_> = r.validate().into_iter().map(|i| i.code).collect();
        assert_eq!(
            codes
                .iter()
                .filter(|c| **c == FleetErrorCode::EmptyEndpoints)
                .count(),
            1
        );
        assert_eq!(
            codes
                .iter()
                .filter(|c| **c == FleetErrorCode::DuplicateEndpoint)
                .count(),
            1
        );
        assert_eq!(
            codes
                .iter()
                .filter(|c| **c == FleetErrorCode::MalformedUrl)
                .count(),
            2
        );
        assert!(routing().validate().is_empty());
    }

    #[test]
    fn endpoint_urls_are_checked() {
        assert!(check_endpoint("http://aggregate-1:8080").is_ok());
        assert!(check_endpoint("http://10.0.0.1:80/x").is_ok());
        for bad in [
            "aggregate:80",
            "http://:80",
            "http://h",
            "http://h:0",
            "http://u:p@h:1",
            "http://h:99999",
            "http://h :1",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn resolution_is_total_over_valid_documents(
            tenants in proptest::collection::btree_map("[a-z][a-z0-9]{0,8}", 0..4usize, 0..40),
            probe in "[a-z][a-z0-9]{0,8}",
            with_default in any::<bool>(),
        ) {
            let shards: Vec<ShardId> = (0..4).map(|i| s(&format!("s{i}"))).collect();
            let mut r = RoutingConfig::default();
            r.kinds.insert(ServiceKind::Runner, shards.iter().enumerate().map(|(i, sh)| (sh.clone(), ShardRoute { endpoints: vec![format!("http://127.0.0.1:{}", 5000 + i)], state: ShardState::Active })).collect());
            let p = PlacementMap {
                default_shard: with_default.then(|| shards[0].clone()),
                tenants: tenants.iter().map(|(k, v)| (t(k), shards[*v].clone())).collect(),
            };
            prop_assert!(validate_placement(ServiceKind::Runner, &p, &r).is_empty());
            let probe = t(&probe);
            match resolve(ServiceKind::Runner, &probe, &p, &r) {
                Ok(res) => {
                    prop_assert_eq!(Some(&res.shard), p.shard_of(&probe));
                    prop_assert_eq!(res.by_default, !p.tenants.contains_key(&probe));
                    prop_assert_eq!(res.endpoints.len(), 1);
                }
                Err(e) => {
                    prop_assert_eq!(e.code, FleetErrorCode::NoPlacement);
                    prop_assert!(!with_default && !p.tenants.contains_key(&probe));
                }
            }
        }
    }
}
