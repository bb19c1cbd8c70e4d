//! The rules a JSON Schema cannot say, per domain, over the raw value (so
//! every issue has a JSON pointer), then a typed decode as the last word:
//! nothing passes that the typed document would refuse.

use super::{code, ConfigId, ConfigIssue, Domain, Flags, FLAGS};
use crate::fleet::{
    check_endpoint, PlacementMap, RoutingConfig, ServiceKind, ShardId, ShardState, TenantId,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What the other documents say, for the cross-document rules.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub routing: RoutingConfig,
    pub placements: BTreeMap<ServiceKind, PlacementMap>,
    /// The names of the runner definitions that exist.
    pub definitions: BTreeSet<String>,
}

/// RFC 6901: `~` → `~0`, `/` → `~1`.
fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn ptr(parts: &[&str]) -> String {
    parts.iter().map(|p| format!("/{}", esc(p))).collect()
}

/// Every issue of `doc` as the document `id`, in document order.
pub fn validate(id: &ConfigId, doc: &Value, cx: &Context) -> Vec<ConfigIssue> {
    let mut out = Vec::new();
    match id.domain {
        Domain::Routing => routing(doc, cx, &mut out),
        Domain::Placement => {
            if let crate::config::Scope::Kind(kind) = &id.scope {
                placement(*kind, doc, cx, &mut out)
            }
        }
        Domain::Flags => flags(doc, &mut out),
        Domain::Definitions => {}
        Domain::Activation => activation(doc, cx, &mut out),
        Domain::Gates => gates(doc, &mut out),
    }
    if out.is_empty() {
        typed(id.domain, doc, &mut out);
    }
    out
}

/// The typed decode, with the path of the first value it refuses.
fn typed(domain: Domain, doc: &Value, out: &mut Vec<ConfigIssue>) {
    fn decode<T: serde::de::DeserializeOwned>(doc: &Value) -> Result<(), ConfigIssue> {
        serde_path_to_error::deserialize::<_, T>(doc.clone())
            .map(drop)
            .map_err(|e| {
                let pointer: String = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Seq { index } => Some(format!("/{index}")),
                        serde_path_to_error::Segment::Map { key } => Some(format!("/{}", esc(key))),
                        serde_path_to_error::Segment::Enum { .. } => None,
                        serde_path_to_error::Segment::Unknown => None,
                    })
                    .collect();
                ConfigIssue::new(
                    code::SCHEMA,
                    pointer,
                    crate::error::safe_serde_detail(&e.into_inner().to_string()),
                )
            })
    }
    let r = match domain {
        // By string keys first: a path through an enum-keyed map loses
        // the key.
        Domain::Routing => {
            decode::<BTreeMap<String, BTreeMap<String, crate::fleet::ShardRoute>>>(doc)
                .and_then(|()| decode::<RoutingConfig>(doc))
        }
        Domain::Placement => decode::<PlacementMap>(doc),
        Domain::Flags => decode::<Flags>(doc),
        Domain::Definitions => decode::<super::Definition>(doc),
        Domain::Activation => decode::<super::Activation>(doc),
        Domain::Gates => decode::<crate::gates::Thresholds>(doc),
    };
    if let Err(i) = r {
        out.push(i);
    }
}

fn routing(doc: &Value, cx: &Context, out: &mut Vec<ConfigIssue>) {
    let Some(kinds) = doc.as_object() else { return };
    let mut shards_now: BTreeMap<ServiceKind, BTreeSet<String>> = BTreeMap::new();
    for (k, shards) in kinds {
        let Some(kind) = ServiceKind::parse(k) else {
            out.push(ConfigIssue::new(
                code::SCHEMA,
                ptr(&[k]),
                "not a service kind",
            ));
            continue;
        };
        let Some(shards) = shards.as_object() else {
            continue;
        };
        let mut seen = HashSet::new();
        for (shard, route) in shards {
            shards_now.entry(kind).or_default().insert(shard.clone());
            if ShardId::parse(shard).is_err() {
                out.push(ConfigIssue::new(
                    code::BAD_SHARD_ID,
                    ptr(&[k, shard]),
                    "not a shard id: 1-32 of a-z 0-9 _ -, starting with a letter or digit",
                ));
            }
            let state = route
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or("active");
            let eps = route.get("endpoints").and_then(Value::as_array);
            if eps.is_none_or(|e| e.is_empty()) && state != "disabled" {
                out.push(ConfigIssue::new(
                    code::EMPTY_ENDPOINTS,
                    ptr(&[k, shard, "endpoints"]),
                    "an active or draining shard needs endpoints",
                ));
            }
            for (i, ep) in eps.into_iter().flatten().enumerate() {
                let Some(ep) = ep.as_str() else { continue };
                let at = ptr(&[k, shard, "endpoints", &i.to_string()]);
                if let Err(m) = check_endpoint(ep) {
                    out.push(ConfigIssue::new(code::MALFORMED_URL, at.clone(), m));
                }
                if !seen.insert(ep.to_owned()) {
                    out.push(ConfigIssue::new(
                        code::DUPLICATE_ENDPOINT,
                        at,
                        format!("this endpoint appears twice in {kind}"),
                    ));
                }
            }
        }
    }
    // Every shard a placement names must stay in routing.
    for (kind, map) in &cx.placements {
        let now = shards_now.get(kind);
        let named: BTreeSet<&ShardId> = map
            .tenants
            .values()
            .chain(map.default_shard.iter())
            .collect();
        for s in named {
            if !now.is_some_and(|n| n.contains(s.as_str())) {
                out.push(ConfigIssue::new(
                    code::SHARD_IN_USE,
                    ptr(&[kind.as_str()]),
                    format!("shard {s} is named by the {kind} placement: move its tenants first"),
                ));
            }
        }
    }
}

fn placement(kind: ServiceKind, doc: &Value, cx: &Context, out: &mut Vec<ConfigIssue>) {
    let Some(obj) = doc.as_object() else { return };
    let shard_check = |s: &str, at: String, out: &mut Vec<ConfigIssue>| {
        let Ok(id) = ShardId::parse(s) else {
            out.push(ConfigIssue::new(code::BAD_SHARD_ID, at, "not a shard id"));
            return;
        };
        match cx.routing.shard(kind, &id).map(|r| r.state) {
            None => out.push(ConfigIssue::new(
                code::UNKNOWN_SHARD,
                at,
                format!("shard {id} is not in the {kind} routing directory"),
            )),
            Some(ShardState::Disabled) => out.push(ConfigIssue::new(
                code::SHARD_DISABLED,
                at,
                format!("shard {id} is disabled in routing"),
            )),
            Some(_) => {}
        }
    };
    let default = obj.get("default_shard").and_then(Value::as_str);
    if let Some(d) = default {
        shard_check(d, "/default_shard".into(), out);
    }
    let mut placed = BTreeSet::new();
    if let Some(tenants) = obj.get("tenants").and_then(Value::as_object) {
        for (t, s) in tenants {
            let at = ptr(&["tenants", t]);
            match TenantId::parse(t) {
                Ok(t) => {
                    placed.insert(t);
                }
                Err(_) => out.push(ConfigIssue::new(
                    code::BAD_TENANT_ID,
                    at.clone(),
                    "not a tenant id: 1-63 of a-z 0-9 -, not starting or ending with -",
                )),
            }
            if let Some(s) = s.as_str() {
                shard_check(s, at, out);
            }
        }
    }
    if default.is_none() {
        // A tenant known to any placement (this kind's current one
        // included) must keep a shard of this kind.
        let known: BTreeSet<&TenantId> = cx
            .placements
            .values()
            .flat_map(|m| m.tenants.keys())
            .collect();
        let lost: Vec<&&TenantId> = known.iter().filter(|t| !placed.contains(**t)).collect();
        if let Some(first) = lost.first() {
            out.push(ConfigIssue::new(
                code::UNPLACED_TENANT,
                "/tenants",
                format!(
                    "{} tenant(s) would have no {kind} shard and there is no default (first: {first})",
                    lost.len()
                ),
            ));
        }
    }
}

fn flags(doc: &Value, out: &mut Vec<ConfigIssue>) {
    let Some(obj) = doc.as_object() else { return };
    for (name, v) in obj {
        let Some((_, ty)) = FLAGS.iter().find(|(n, _)| n == name) else {
            out.push(ConfigIssue::new(
                code::UNKNOWN_FLAG,
                ptr(&[name]),
                format!(
                    "not a flag; the flags are {}",
                    FLAGS.map(|(n, _)| n).join(", ")
                ),
            ));
            continue;
        };
        let ok = match name.as_str() {
            "banner" => v.is_string() || v.is_null(),
            _ => v.is_boolean(),
        };
        if !ok {
            out.push(ConfigIssue::new(
                code::FLAG_TYPE,
                ptr(&[name]),
                format!("must be a {ty}"),
            ));
        }
    }
}

fn activation(doc: &Value, cx: &Context, out: &mut Vec<ConfigIssue>) {
    let Some(active) = doc.get("active").and_then(Value::as_array) else {
        return;
    };
    for (i, d) in active.iter().enumerate() {
        if let Some(d) = d.as_str() {
            if !cx.definitions.contains(d) {
                out.push(ConfigIssue::new(
                    code::UNKNOWN_DEFINITION,
                    ptr(&["active", &i.to_string()]),
                    "no runner definition has this name",
                ));
            }
        }
    }
}

fn gates(doc: &Value, out: &mut Vec<ConfigIssue>) {
    for share in ["max_error_ratio", "max_shard_fraction"] {
        if let Some(v) = doc.get(share).and_then(Value::as_f64) {
            if !(0.0..=1.0).contains(&v) {
                out.push(ConfigIssue::new(
                    code::OUT_OF_RANGE,
                    ptr(&[share]),
                    "a share: 0 to 1",
                ));
            }
        }
    }
}
