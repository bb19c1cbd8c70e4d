//! The config registry at the REST door against a simulated fleet: reads
//! (list, document, revision, history, diff, schema), validation with
//! codes, pointers and lines, rights, plan then job with an
//! Idempotency-Key (202, replay, success, new revision, diff), a stale
//! plan (409), and random bodies that never make a server error.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app_with, body_json, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn fleet_app() -> (TestApp, sim::Fleet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let topo = sim::Topology {
        workers: vec![model::fleet::ServiceKind::Aggregate],
        gateways: 1,
        shards: 3,
        replicas: 1,
        tenants: 6,
        ..sim::Topology::default()
    };
    let fleet = sim::Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let (p, r) = (fleet.placement_path.clone(), fleet.routing_path.clone());
    let app = app_with(move |c| {
        c.fleet.source = server::config::FleetSource::File;
        c.fleet.placement_file = p;
        c.fleet.routing_file = r;
        c.fleet.poll_interval_ms = 150;
        c.jobs.poll_ms = 50;
        c.moves.poll_ms = 50;
    })
    .await;
    (app, fleet, dir)
}

async fn post(
    a: &TestApp,
    uri: &str,
    token: &str,
    key: Option<&str>,
    body: &str,
) -> (StatusCode, Value, bool) {
    let mut req = Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = a.send(req.body(Body::from(body.to_owned())).unwrap()).await;
    let status = res.status();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, body_json(res).await, replayed)
}

async fn get(a: &TestApp, uri: &str) -> (StatusCode, Value) {
    let res = a.get(uri).await;
    let s = res.status();
    (s, body_json(res).await)
}

async fn job_done(a: &TestApp, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let (_, j) = get(a, &format!("/admin/v1/jobs/{id}")).await;
        if ["succeeded", "failed", "cancelled"].contains(&j["state"].as_str().unwrap_or("")) {
            return j;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_validation_and_rights() {
    let (a, _fleet, _dir) = fleet_app().await;
    let (s, list) = get(&a, "/admin/v1/config").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}@{}",
                i["id"]["domain"].as_str().unwrap(),
                i["id"]["name"].as_str().unwrap(),
                i["id"]["scope"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        ids.contains(&"routing/routing@platform".to_owned()),
        "{ids:?}"
    );
    assert!(
        ids.contains(&"placement/placement@kind:aggregate".to_owned()),
        "{ids:?}"
    );
    assert_eq!(
        list["items"][0]["meta"]["sha256"].as_str().unwrap().len(),
        64
    );
    let (s, l) = get(&a, "/admin/v1/config?domain=routing").await;
    assert_eq!(
        (s, l["items"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    let (s, b) = get(&a, "/admin/v1/config?scope=kind:web").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );

    let (s, doc) = get(
        &a,
        "/admin/v1/config/placement/placement?scope=kind:aggregate",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert!(doc["document"]["tenants"].is_object());
    assert_eq!(doc["source"]["kind"], "file");
    for (uri, status, code) in [
        (
            "/admin/v1/config/placement/placement",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/admin/v1/config/nope/x",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/admin/v1/config/flags/Bad_Name",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/admin/v1/config/flags/control",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/admin/v1/config/routing/routing?revision=999",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/admin/v1/config/routing/routing?revision=x",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/admin/v1/config/routing/routing/diff",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/admin/v1/config/schemas/nope",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        let (s, b) = get(&a, uri).await;
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{uri}: {b}");
    }
    let (s, schema) = get(&a, "/admin/v1/config/schemas/placement").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        schema["$schema"].as_str().unwrap().contains("2020-12"),
        "{schema}"
    );

    // Validation: a syntax error at its line; a rule at its pointer and line.
    let text = "{\n  \"aggregate\": {\n    \"a0\": {\"endpoints\": [\"ftp://x\"]}\n  }\n";
    let body = json!({"domain": "routing", "name": "routing", "text": text}).to_string();
    let (s, v, _) = post(&a, "/admin/v1/config/validate", &a.admin, None, &body).await;
    assert_eq!(
        (s, v["valid"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{v}"
    );
    assert_eq!(v["issues"][0]["code"], "syntax");
    assert_eq!(v["issues"][0]["line"], 5, "{v}");
    let text = "{\n  \"aggregate\": {\n    \"a0\": {\"endpoints\": [\"ftp://x\"]}\n  }\n}\n";
    let body = json!({"domain": "routing", "name": "routing", "text": text}).to_string();
    let (_, v, _) = post(&a, "/admin/v1/config/validate", &a.admin, None, &body).await;
    let codes: Vec<&str> = v["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"malformed_url"), "{v}");
    let i = v["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "malformed_url")
        .unwrap();
    assert_eq!(
        (i["pointer"].as_str(), i["line"].as_u64()),
        (Some("/aggregate/a0/endpoints/0"), Some(3))
    );
    assert!(
        codes.contains(&"shard_in_use"),
        "dropping shards a placement names: {v}"
    );
    let body = json!({"domain": "routing", "name": "routing"}).to_string();
    let (s, b, _) = post(&a, "/admin/v1/config/validate", &a.admin, None, &body).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );

    // Rights: a viewer reads, but may neither plan nor apply.
    let viewer = a.login("viewer");
    let res = a.get_as("/admin/v1/config", &viewer).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json!({"input": {"domain": "flags", "name": "control", "document": {}}}).to_string();
    let (s, _, _) = post(&a, "/admin/v1/plans/config.apply", &viewer, None, &body).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let nobody = a.login("nobody");
    let res = a.get_as("/admin/v1/config", &nobody).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_then_apply_with_a_key_then_rollback_pins() {
    let (a, _fleet, _dir) = fleet_app().await;
    let input = json!({"domain": "flags", "name": "control", "document": {"banner": "rest"}});
    let (s, plan, _) = post(
        &a,
        "/admin/v1/plans/config.apply",
        &a.admin,
        None,
        &json!({"input": input}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(plan["change"]["base_revision"], 0);
    assert_eq!(plan["blocked"], false, "{plan}");
    let create =
        json!({"reason": "set the banner", "input": input, "plan_hash": plan["hash"]}).to_string();
    let (s, b, _) = post(&a, "/admin/v1/jobs/config.apply", &a.admin, None, &create).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("idempotency_key_required"))
    );
    let (s, job, replayed) = post(
        &a,
        "/admin/v1/jobs/config.apply",
        &a.admin,
        Some("\"cfg-1\""),
        &create,
    )
    .await;
    assert_eq!((s, replayed), (StatusCode::ACCEPTED, false), "{job}");
    let (s, again, replayed) = post(
        &a,
        "/admin/v1/jobs/config.apply",
        &a.admin,
        Some("\"cfg-1\""),
        &create,
    )
    .await;
    assert_eq!((s, replayed), (StatusCode::ACCEPTED, true));
    assert_eq!(again["id"], job["id"]);
    let done = job_done(&a, job["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let (_, doc) = get(&a, "/admin/v1/config/flags/control").await;
    assert_eq!(doc["document"]["banner"], "rest");
    assert_eq!(doc["meta"]["job"], job["id"]);
    assert!(doc["meta"]["updated_by"].as_str().is_some());

    // The plan made before is stale now (the base moved).
    let (s, b, _) = post(
        &a,
        "/admin/v1/jobs/config.apply",
        &a.admin,
        Some("\"cfg-2\""),
        &create,
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("plan_stale")),
        "{b}"
    );

    let input2 = json!({"domain": "flags", "name": "control", "document": {"banner": "second"}});
    let (_, plan2, _) = post(
        &a,
        "/admin/v1/plans/config.apply",
        &a.admin,
        None,
        &json!({"input": input2}).to_string(),
    )
    .await;
    let body = json!({"reason": "change the banner", "input": input2, "plan_hash": plan2["hash"]})
        .to_string();
    let (s, j2, _) = post(
        &a,
        "/admin/v1/jobs/config.apply",
        &a.admin,
        Some("\"cfg-3\""),
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{j2}");
    assert_eq!(
        job_done(&a, j2["id"].as_str().unwrap()).await["state"],
        "succeeded"
    );
    let (_, h) = get(&a, "/admin/v1/config/flags/control/history").await;
    let revs = h["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 2, "{h}");
    let (s, d) = get(&a, "/admin/v1/config/flags/control/diff").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["patch"][0]["op"], "replace");
    assert!(d["lines"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["tag"] == "insert" && l["text"].as_str().unwrap().contains("second")));

    // Roll back to the first revision: the document is pinned.
    let rb = json!({"domain": "flags", "name": "control"});
    let (s, plan, _) = post(
        &a,
        "/admin/v1/plans/config.rollback",
        &a.admin,
        None,
        &json!({"input": rb}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    let body = json!({"reason": "the banner was wrong", "input": rb, "plan_hash": plan["hash"]})
        .to_string();
    let (s, j3, _) = post(
        &a,
        "/admin/v1/jobs/config.rollback",
        &a.admin,
        Some("\"cfg-4\""),
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{j3}");
    assert_eq!(
        job_done(&a, j3["id"].as_str().unwrap()).await["state"],
        "succeeded"
    );
    let (_, doc) = get(&a, "/admin/v1/config/flags/control").await;
    assert_eq!(doc["document"]["banner"], "rest");
    assert!(doc["pinned"].is_object(), "{doc}");
    let (s, p, _) = post(
        &a,
        "/admin/v1/plans/config.apply",
        &a.admin,
        None,
        &json!({"input": input2}).to_string(),
    )
    .await;
    assert_eq!((s, p["blocked"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, b, _) = post(
        &a,
        "/admin/v1/config/flags/control/unpin",
        &a.admin,
        None,
        r#"{"reason":"x"}"#,
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{b}"
    );
    let (s, b, _) = post(
        &a,
        "/admin/v1/config/flags/control/unpin",
        &a.admin,
        None,
        r#"{"reason":"incident closed"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["pinned"].is_null());
    let (s, b, _) = post(
        &a,
        "/admin/v1/config/flags/control/unpin",
        &a.admin,
        None,
        r#"{"reason":"incident closed"}"#,
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

/// A random JSON value, up to `depth` levels.
fn arbitrary(rng: &mut impl rand::Rng, depth: u32) -> Value {
    let pick = rng.random_range(0..if depth == 0 { 5 } else { 7 });
    match pick {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => json!(rng.random_range(-1e12f64..1e12)),
        3 => json!(rng.random::<i64>()),
        4 => {
            let pool = [
                "routing",
                "placement",
                "flags",
                "gates",
                "control",
                "kind:aggregate",
                "tenant:acme",
                "a0",
                "http://x:1",
                "",
                "é\u{0}",
                "../../etc",
            ];
            json!(pool[rng.random_range(0..pool.len())])
        }
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| arbitrary(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "domain",
                "name",
                "scope",
                "document",
                "text",
                "input",
                "base_revision",
                "to_revision",
                "reason",
                "plan_hash",
                "aggregate",
                "tenants",
                "banner",
                "freeze",
            ];
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..6) {
                m.insert(
                    keys[rng.random_range(0..keys.len())].to_owned(),
                    arbitrary(rng, depth - 1),
                );
            }
            Value::Object(m)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_bodies_never_make_a_server_error() {
    use rand::SeedableRng;
    let (a, _fleet, _dir) = fleet_app().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let uris = [
        "/admin/v1/config/validate",
        "/admin/v1/plans/config.apply",
        "/admin/v1/plans/config.rollback",
        "/admin/v1/jobs/config.apply",
        "/admin/v1/config/flags/control/unpin",
    ];
    for i in 0..400 {
        let uri = uris[i % uris.len()];
        let mut v = arbitrary(&mut rng, 4);
        // Half the time a body of the right outer shape, so the inner
        // validators see the noise.
        if i % 2 == 0 {
            v = match uri {
                "/admin/v1/config/validate" => {
                    json!({"domain": "routing", "name": "routing", "document": v})
                }
                "/admin/v1/config/flags/control/unpin" => json!({"reason": v}),
                _ => {
                    json!({"input": {"domain": "placement", "name": "placement", "scope": "kind:aggregate", "document": v}, "reason": "fuzzing it", "plan_hash": "x"})
                }
            };
        }
        let (s, b, _) = post(
            &a,
            uri,
            &a.admin,
            Some(&format!("\"fz-{i}\"")),
            &v.to_string(),
        )
        .await;
        assert!(s.as_u16() < 500, "{uri} {v}: {s} {b}");
        assert!(b["code"].is_string() || s.is_success(), "{uri}: {b}");
    }
}
