//! The fleet's documents, by what operators call them: service kinds and
//! document problems here; tenant ids (`tenants`), shard ids and the
//! per-kind placement maps (`placement`), and the Gateway's routing
//! directory with the pure resolution (kind, tenant) → shard → endpoints
//! shared by the UI, the API, plans and tests (`routing`).

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

mod placement;
mod routing;
mod tenants;

pub use placement::{validate_placement, PlacementDoc, PlacementMap, ShardId};
pub use routing::{
    check_endpoint, resolve, Resolution, RoutingConfig, RoutingDoc, ShardRoute, ShardState,
};
pub use tenants::TenantId;

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{}: {message} (at {path})", code.as_str())]
pub struct FleetIssue {
    pub code: FleetErrorCode,
    /// Where in the document, e.g. `routing.aggregate.a1.endpoints[0]`.
    pub path: String,
    pub message: String,
}

pub(crate) fn issue(
    code: FleetErrorCode,
    path: impl Into<String>,
    message: impl Into<String>,
) -> FleetIssue {
    FleetIssue {
        code,
        path: path.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

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

/// The ids' schemas say the rules their `parse` enforces.
#[cfg(feature = "schema")]
mod schema {
    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
    use std::borrow::Cow;

    impl JsonSchema for super::ShardId {
        fn schema_name() -> Cow<'static, str> {
            "ShardId".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"})
        }
    }

    impl JsonSchema for super::TenantId {
        fn schema_name() -> Cow<'static, str> {
            "TenantId".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"})
        }
    }
}
