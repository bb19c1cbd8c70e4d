//! The JSON Schema of every domain, derived from the model's types (so the
//! published schema and the typed decode cannot drift apart), compiled
//! once, without remote `$ref`s (the crate is built without its
//! resolvers).

use model::config::{code, ConfigIssue, Domain};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The schema of a domain's documents.
pub fn schema(domain: Domain) -> Value {
    use schemars::schema_for;
    let s = match domain {
        Domain::Routing => schema_for!(model::fleet::RoutingConfig),
        Domain::Placement => schema_for!(model::fleet::PlacementMap),
        Domain::Flags => schema_for!(model::config::Flags),
        Domain::Definitions => schema_for!(model::config::Definition),
        Domain::Activation => schema_for!(model::config::Activation),
        Domain::Gates => schema_for!(model::gates::Thresholds),
    };
    let mut v = s.to_value();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "$id".into(),
            Value::String(format!("/admin/v1/config/schemas/{domain}")),
        );
    }
    v
}

static VALIDATORS: LazyLock<BTreeMap<Domain, jsonschema::Validator>> = LazyLock::new(|| {
    Domain::ALL
        .into_iter()
        .filter_map(|d| match jsonschema::validator_for(&schema(d)) {
            Ok(v) => Some((d, v)),
            // A schema the validator refuses is a build defect: the test
            // `every_schema_compiles` fails on it.
            Err(e) => {
                tracing::error!(domain = %d, error = %e, "config schema does not compile");
                None
            }
        })
        .collect()
});

/// Every place the schema refuses `doc`, by JSON pointer.
pub fn issues(domain: Domain, doc: &Value) -> Vec<ConfigIssue> {
    let Some(v) = VALIDATORS.get(&domain) else {
        return vec![ConfigIssue::new(
            code::SCHEMA,
            "",
            "the schema of this domain is unavailable",
        )];
    };
    v.iter_errors(doc)
        .take(50)
        .map(|e| {
            let message: String = e.to_string().chars().take(200).collect();
            ConfigIssue::new(code::SCHEMA, e.instance_path().as_str(), message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_schema_compiles_and_refuses_what_the_types_refuse() {
        for d in Domain::ALL {
            assert!(VALIDATORS.contains_key(&d), "{d}");
        }
        assert!(issues(Domain::Flags, &json!({"freeze": true})).is_empty());
        let i = issues(Domain::Flags, &json!({"freeze": "yes"}));
        assert_eq!(i[0].pointer, "/freeze");
        assert!(!issues(Domain::Placement, &json!({"tenants": {"acme": 3}})).is_empty());
        assert!(!issues(
            Domain::Definitions,
            &json!({"kind": "effect", "version": 0, "triggers": ["a"]})
        )
        .is_empty());
        assert!(issues(
            Domain::Definitions,
            &json!({"kind": "effect", "version": 1, "triggers": ["a"]})
        )
        .is_empty());
        assert!(!issues(
            Domain::Routing,
            &json!({"aggregate": {"a-1": {"endpoints": "x"}}})
        )
        .is_empty());
        assert!(issues(
            Domain::Routing,
            &json!({"aggregate": {"a-1": {"endpoints": ["http://a:1"]}}})
        )
        .is_empty());
    }

    #[test]
    fn a_remote_ref_is_not_fetched() {
        let s = json!({"$ref": "http://127.0.0.1:9/schema.json"});
        // Built without resolvers, a remote reference cannot be compiled.
        assert!(jsonschema::validator_for(&s).is_err());
    }
}
