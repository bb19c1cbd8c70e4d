use super::*;
use crate::fleet::{PlacementMap, RoutingConfig, ShardId};
use serde_json::json;

fn ctx() -> Context {
    let routing: RoutingConfig = serde_json::from_value(json!({
        "aggregate": {
            "a-1": {"endpoints": ["http://a1:8080"]},
            "a-2": {"endpoints": ["http://a2:8080"], "state": "disabled"},
        }
    }))
    .unwrap();
    let mut placements = std::collections::BTreeMap::new();
    placements.insert(
        ServiceKind::Aggregate,
        serde_json::from_value::<PlacementMap>(json!({"tenants": {"acme": "a-1"}})).unwrap(),
    );
    Context {
        routing,
        placements,
        definitions: ["send-mail".to_owned()].into(),
    }
}

fn codes(id: &ConfigId, doc: serde_json::Value) -> Vec<(String, String)> {
    validate(id, &doc, &ctx())
        .into_iter()
        .map(|i| (i.code, i.pointer))
        .collect()
}

fn one(code: &str, pointer: &str) -> Vec<(String, String)> {
    vec![(code.to_owned(), pointer.to_owned())]
}

#[test]
fn each_routing_rule_refuses_its_crafted_config() {
    let id = ConfigId::routing();
    let ok = json!({"aggregate": {"a-1": {"endpoints": ["http://a1:8080"]}}});
    assert!(codes(&id, ok).is_empty());
    assert_eq!(
        codes(
            &id,
            json!({"aggregate": {"A 1": {"endpoints": ["http://a1:8080"]}, "a-1": {"endpoints": ["http://a9:8080"]}}})
        ),
        one(code::BAD_SHARD_ID, "/aggregate/A 1")
    );
    assert_eq!(
        codes(&id, json!({"aggregate": {"a-1": {"endpoints": []}}})),
        one(code::EMPTY_ENDPOINTS, "/aggregate/a-1/endpoints")
    );
    assert_eq!(
        codes(
            &id,
            json!({"aggregate": {"a-1": {"endpoints": ["ftp://x"]}}})
        ),
        one(code::MALFORMED_URL, "/aggregate/a-1/endpoints/0")
    );
    assert_eq!(
        codes(
            &id,
            json!({"aggregate": {"a-1": {"endpoints": ["http://a:1", "http://a:1"]}}})
        ),
        one(code::DUPLICATE_ENDPOINT, "/aggregate/a-1/endpoints/1")
    );
    assert_eq!(
        codes(
            &id,
            json!({"aggregate": {"a-3": {"endpoints": ["http://a:1"]}}})
        ),
        one(code::SHARD_IN_USE, "/aggregate")
    );
    assert_eq!(
        codes(
            &id,
            json!({"aggregate": {"a-1": {"endpoints": ["http://a:1"], "weight": 3}}})
        ),
        one(code::SCHEMA, "/aggregate/a-1/weight"),
        "the typed decode is the last word"
    );
}

#[test]
fn each_placement_rule_refuses_its_crafted_config() {
    let id = ConfigId::placement(ServiceKind::Aggregate);
    assert!(codes(&id, json!({"tenants": {"acme": "a-1", "new": "a-1"}})).is_empty());
    assert_eq!(
        codes(&id, json!({"tenants": {"acme": "a-2"}})),
        one(code::SHARD_DISABLED, "/tenants/acme"),
        "passes any schema, breaks resolution"
    );
    assert_eq!(
        codes(&id, json!({"tenants": {"acme": "a-9"}})),
        one(code::UNKNOWN_SHARD, "/tenants/acme")
    );
    assert_eq!(
        codes(&id, json!({"tenants": {"acme": "a-1", "Bad_Id": "a-1"}})),
        one(code::BAD_TENANT_ID, "/tenants/Bad_Id")
    );
    assert_eq!(
        codes(&id, json!({"tenants": {"acme": "A!"}})),
        one(code::BAD_SHARD_ID, "/tenants/acme")
    );
    assert_eq!(
        codes(&id, json!({"tenants": {}})),
        one(code::UNPLACED_TENANT, "/tenants")
    );
    assert!(
        codes(&id, json!({"default_shard": "a-1", "tenants": {}})).is_empty(),
        "a default keeps every tenant placed"
    );
    assert_eq!(
        codes(
            &id,
            json!({"default_shard": "a-2", "tenants": {"acme": "a-1"}})
        ),
        one(code::SHARD_DISABLED, "/default_shard")
    );
}

#[test]
fn flags_activation_and_gates_rules() {
    let f = ConfigId::flags();
    assert!(codes(
        &f,
        json!({"banner": "maintenance at 02:00", "freeze": false})
    )
    .is_empty());
    assert_eq!(
        codes(&f, json!({"frezee": true})),
        one(code::UNKNOWN_FLAG, "/frezee")
    );
    assert_eq!(
        codes(&f, json!({"freeze": "yes"})),
        one(code::FLAG_TYPE, "/freeze")
    );
    let a = ConfigId::new(Domain::Activation, "activation", Scope::Platform).unwrap();
    assert!(codes(&a, json!({"active": ["send-mail"]})).is_empty());
    assert_eq!(
        codes(&a, json!({"active": ["send-mail", "nope"]})),
        one(code::UNKNOWN_DEFINITION, "/active/1")
    );
    let g = ConfigId::gates();
    assert!(codes(&g, json!({"max_error_ratio": 0.1})).is_empty());
    assert_eq!(
        codes(&g, json!({"max_shard_fraction": 1.5})),
        one(code::OUT_OF_RANGE, "/max_shard_fraction")
    );
    assert_eq!(
        codes(&g, json!({"max_source_lag": -1})),
        one(code::SCHEMA, "/max_source_lag")
    );
}

#[test]
fn ids_follow_their_domain_rules() {
    assert!(ConfigId::new(Domain::Routing, "routing", Scope::Platform).is_ok());
    assert!(ConfigId::new(Domain::Routing, "other", Scope::Platform).is_err());
    assert!(ConfigId::new(Domain::Placement, "placement", Scope::Platform).is_err());
    assert!(ConfigId::new(
        Domain::Placement,
        "placement",
        Scope::Kind(ServiceKind::Gateway)
    )
    .is_err());
    assert!(ConfigId::new(Domain::Definitions, "send-mail", Scope::Platform).is_ok());
    assert!(ConfigId::new(Domain::Definitions, "Send Mail", Scope::Platform).is_err());
    let t = Scope::parse("tenant:acme").unwrap();
    assert!(ConfigId::new(Domain::Activation, "activation", t.clone()).is_ok());
    assert!(ConfigId::new(Domain::Flags, "control", t).is_err());
    assert_eq!(
        ConfigId::placement(ServiceKind::Runner).key(),
        "placement.kind=runner.placement"
    );
    for bad in ["", "kind:", "kind:web", "tenant:-x", "tenant:", "Platform"] {
        assert!(Scope::parse(bad).is_err(), "{bad}");
    }
    let id: ConfigId =
        serde_json::from_value(json!({"domain": "flags", "name": "control"})).unwrap();
    assert_eq!(id, ConfigId::flags());
    assert!(serde_json::from_value::<ConfigId>(json!({"domain": "flags", "name": "x"})).is_err());
}

#[test]
fn canonical_form_ignores_formatting_and_key_order() {
    let a: serde_json::Value =
        serde_json::from_str("{\"b\": [1, {\"y\":1,\"x\":2}], \"a\": \"\\u00e9\"}").unwrap();
    let b = json!({"a": "é", "b": [1, {"x": 2, "y": 1}]});
    assert_eq!(canonical_json(&a), r#"{"a":"é","b":[1,{"x":2,"y":1}]}"#);
    assert_eq!(sha256(&a), sha256(&b));
    assert_ne!(
        sha256(&a),
        sha256(&json!({"a": "é", "b": [{"x": 2, "y": 1}, 1]}))
    );
    assert_eq!(sha256(&a).len(), 64);
}

#[test]
fn every_value_has_its_line() {
    let text = "{\n  \"aggregate\": {\n    \"a/1\": {\n      \"endpoints\": [\n        \"http://a:1\",\n        \"x\"\n      ]\n    }\n  }\n}\n";
    let lines = pointer_lines(text);
    assert_eq!(lines[""], 1);
    assert_eq!(lines["/aggregate"], 2);
    assert_eq!(lines["/aggregate/a~11"], 3);
    assert_eq!(lines["/aggregate/a~11/endpoints/1"], 6);
    // A broken text keeps what came before the break.
    let lines = pointer_lines("{\n \"a\": 1,\n \"b\": [tru\n");
    assert_eq!(lines["/a"], 2);
}

#[test]
fn typed_documents_round_trip() {
    let docs = [
        (Domain::Flags, json!({"banner": null, "freeze": true})),
        (
            Domain::Definitions,
            json!({"kind": "saga", "version": 2, "description": "d", "triggers": ["order.placed"], "spec": {"steps": [1]}}),
        ),
        (Domain::Activation, json!({"active": ["a", "b"]})),
        (
            Domain::Gates,
            serde_json::to_value(crate::gates::Thresholds::default()).unwrap(),
        ),
        (
            Domain::Placement,
            json!({"default_shard": "a-1", "tenants": {"acme": "a-1"}}),
        ),
        (
            Domain::Routing,
            json!({"aggregate": {"a-1": {"endpoints": ["http://a:1"], "state": "draining"}}}),
        ),
    ];
    fn again<T: serde::de::DeserializeOwned + serde::Serialize>(
        v: &serde_json::Value,
    ) -> serde_json::Value {
        serde_json::to_value(serde_json::from_value::<T>(v.clone()).unwrap()).unwrap()
    }
    for (d, v) in docs {
        let back = match d {
            Domain::Flags => again::<Flags>(&v),
            Domain::Definitions => again::<Definition>(&v),
            Domain::Activation => again::<Activation>(&v),
            Domain::Gates => again::<crate::gates::Thresholds>(&v),
            Domain::Placement => again::<PlacementMap>(&v),
            Domain::Routing => again::<RoutingConfig>(&v),
        };
        assert_eq!(sha256(&back), sha256(&v), "{d}");
    }
    let _ = ShardId::parse("a-1").unwrap();
}

mod props {
    use super::super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            (-1e9f64..1e9).prop_map(|n| serde_json::json!(n)),
            prop_oneof![
                Just("a-1".to_owned()),
                Just("http://a:1".to_owned()),
                Just("disabled".to_owned()),
                Just("acme".to_owned()),
                ".{0,12}"
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("aggregate".to_owned()),
                        Just("a-1".to_owned()),
                        Just("endpoints".to_owned()),
                        Just("state".to_owned()),
                        Just("tenants".to_owned()),
                        Just("default_shard".to_owned()),
                        Just("active".to_owned()),
                        Just("banner".to_owned()),
                        "[a-z~/]{0,6}"
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn ids() -> Vec<ConfigId> {
        vec![
            ConfigId::routing(),
            ConfigId::placement(crate::fleet::ServiceKind::Aggregate),
            ConfigId::flags(),
            ConfigId::gates(),
            ConfigId::new(Domain::Activation, "activation", Scope::Platform).unwrap(),
            ConfigId::new(Domain::Definitions, "d", Scope::Platform).unwrap(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Any value, as any domain's document: issues, never a panic; every
        /// issue's code is a documented one and its pointer well-formed.
        #[test]
        fn validators_never_panic(doc in json()) {
            for id in ids() {
                for i in validate(&id, &doc, &super::ctx()) {
                    prop_assert!(code::ALL.contains(&i.code.as_str()), "{}", i.code);
                    prop_assert!(i.pointer.is_empty() || i.pointer.starts_with('/'));
                }
            }
            let _ = sha256(&doc);
        }

        /// Any text: the line scanner ends; for JSON text, every pointer it
        /// finds names a value that exists.
        #[test]
        fn the_line_scanner_finds_only_real_values(doc in json(), junk in ".{0,40}") {
            let text = serde_json::to_string_pretty(&doc).unwrap();
            for (p, line) in pointer_lines(&text) {
                prop_assert!(doc.pointer(&p).is_some(), "{p}");
                prop_assert!(line >= 1 && line as usize <= text.lines().count().max(1));
            }
            let _ = pointer_lines(&junk);
            let _ = pointer_lines(&format!("{text}{junk}"));
        }
    }
}
