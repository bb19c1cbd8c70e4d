//! The OpenAPI document at `/admin/v1/openapi.json` describes exactly the
//! routes the server registers, as the capability table defines them:
//! same methods and paths, one operation per capability, path parameters
//! as in the template, security for everything not public, the tenant
//! header where the route is tenant-scoped, and every `$ref` resolvable.
//! schemathesis checks the answers against it on a live server
//! (scripts/schemathesis.sh).

mod common;

use axum::http::StatusCode;
use common::{app, body_json};
use model::policy::{self, Access, Scope};
use serde_json::Value;
use std::collections::BTreeSet;

async fn document() -> Value {
    let a = app().await;
    let res = a.get_anon("/admin/v1/openapi.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    body_json(res).await
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Every operation of the document: (METHOD, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn capability_of(method: &str, path: &str) -> &'static policy::Capability {
    policy::CAPABILITIES
        .iter()
        .find(|c| c.rest == Some((method, path)))
        .unwrap_or_else(|| panic!("{method} {path} is no capability's REST door"))
}

#[tokio::test]
async fn the_document_lists_exactly_the_registered_routes() {
    let doc = document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], policy::REST_PREFIX);
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let registered: BTreeSet<(String, String)> = server::admin_routes()
        .into_iter()
        .map(|(m, p, _)| (m.to_owned(), p.to_owned()))
        .collect();
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "registered, not documented: {missing:?}"
    );
    assert!(extra.is_empty(), "documented, not registered: {extra:?}");
}

#[tokio::test]
async fn every_operation_is_documented_as_its_capability_defines_it() {
    let doc = document().await;
    for (method, path, op) in operations(&doc) {
        let cap = capability_of(&method, &path);
        let at = format!("{method} {path}");
        assert_eq!(op["operationId"], cap.name, "{at}: operationId");

        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let declared = |place: &str| -> BTreeSet<String> {
            params
                .iter()
                .filter(|p| p["in"] == place)
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        assert_eq!(declared("path"), in_template, "{at}: path parameters");
        for p in params.iter().filter(|p| p["in"] == "path") {
            assert_eq!(p["required"], true, "{at}: path parameter {}", p["name"]);
        }
        assert_eq!(
            declared("header").contains("x-tenant-id"),
            cap.scope == Scope::Tenant,
            "{at}: x-tenant-id header"
        );

        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(secured, cap.access != Access::Public, "{at}: security");
        let responses = op["responses"].as_object().expect("responses");
        if cap.access != Access::Public {
            assert!(responses.contains_key("401"), "{at}: 401 documented");
            assert!(responses.contains_key("403"), "{at}: 403 documented");
        }
        assert!(responses.contains_key("400"), "{at}: 400 documented");
        if cap.name != "jobs.kind.unknown" {
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{at}: a success answer"
            );
        }
        for (status, r) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{at}: {status} is an ErrorBody"
                );
            }
        }
        if cap.audit.is_some() {
            assert!(
                op.get("requestBody").is_some(),
                "{at}: an audited action takes a body (its reason)"
            );
        }
    }
}

#[tokio::test]
async fn job_creation_documents_the_idempotency_contract() {
    let doc = document().await;
    let op = &doc["paths"]["/jobs/routing.reload"]["post"];
    let key = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("Idempotency-Key documented");
    assert_eq!(key["in"], "header");
    assert_eq!(key["required"], true);
    for s in ["202", "409", "422"] {
        assert!(op["responses"].get(s).is_some(), "{s} documented");
    }
    let headers = &op["responses"]["202"]["headers"];
    assert!(headers.get("Location").is_some());
    assert!(headers.get("Idempotent-Replayed").is_some());
}

/// Every `$ref` anywhere in the document names a schema it defines.
#[tokio::test]
async fn every_reference_resolves() {
    let doc = document().await;
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "the document references its schemas");
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(schemas.contains_key(name), "{r} is not defined");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}
