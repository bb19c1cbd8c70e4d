//! The jobs REST door against a simulated fleet: the Idempotency-Key
//! contract (400 / 409 with Retry-After / 422 / replay), Location, rights,
//! bad ids and kinds, cancel, list filters and the live event stream.

mod common;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use common::{app_with, body_json, TestApp};
use http_body_util::BodyExt;
use serde_json::json;
use std::time::Duration;

const RELOAD: &str = "/admin/v1/jobs/routing.reload";

struct WithFleet {
    app: TestApp,
    fleet: sim::Fleet,
    _dir: tempfile::TempDir,
}

async fn with_fleet() -> WithFleet {
    let dir = tempfile::tempdir().unwrap();
    let topo = sim::Topology {
        gateways: 2,
        shards: 1,
        replicas: 1,
        tenants: 2,
        ..sim::Topology::default()
    };
    let fleet = sim::Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let (p, r) = (fleet.placement_path.clone(), fleet.routing_path.clone());
    let app = app_with(move |c| {
        c.fleet.source = server::config::FleetSource::File;
        c.fleet.placement_file = p;
        c.fleet.routing_file = r;
        c.jobs.poll_ms = 50;
    })
    .await;
    // The routing file is read in the background: wait for its gateways.
    let start = std::time::Instant::now();
    while !common::body_string(app.get("/admin/v1/routing").await)
        .await
        .contains("gateway")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "routing not loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    WithFleet {
        app,
        fleet,
        _dir: dir,
    }
}

async fn post(
    a: &TestApp,
    uri: &str,
    token: &str,
    key: Option<&str>,
    body: serde_json::Value,
) -> Response<Body> {
    let mut req = Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    a.send(req.body(Body::from(body.to_string())).unwrap())
        .await
}

async fn code(res: Response<Body>) -> (StatusCode, String) {
    let status = res.status();
    let v = body_json(res).await;
    (status, v["code"].as_str().unwrap_or_default().to_owned())
}

async fn wait_state(a: &TestApp, id: &str, state: &str) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let j = body_json(a.get(&format!("/admin/v1/jobs/{id}")).await).await;
        if j["state"] == state {
            return j;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "job {id} is {} not {state}: {j:#}",
            j["state"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idempotency_key_contract_at_the_rest_door() {
    let w = with_fleet().await;
    let a = &w.app;
    let admin = a.admin.clone();
    let body = json!({ "reason": "reload after the edit" });

    assert_eq!(
        code(post(a, RELOAD, &admin, None, body.clone()).await).await,
        (StatusCode::BAD_REQUEST, "idempotency_key_required".into())
    );
    assert_eq!(
        code(post(a, RELOAD, &admin, Some("\"open"), body.clone()).await).await,
        (StatusCode::BAD_REQUEST, "bad_idempotency_key".into())
    );
    // Bad bodies store nothing: the key stays usable.
    for bad in [
        json!({ "reason": "" }),
        json!({ "reason": "ok reason", "extra": 1 }),
        json!({ "reason": "ok reason", "input": { "x": 1 } }),
    ] {
        let (status, c) = code(post(a, RELOAD, &admin, Some("\"k1\""), bad).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{c}");
    }

    let first = post(a, RELOAD, &admin, Some("\"k1\""), body.clone()).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first = body_json(first).await;
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/admin/v1/jobs/{id}"));
    assert_eq!(first["state"], "pending");
    assert_eq!(first["reason"], "reload after the edit");
    assert_eq!(first["idempotency_key"], "k1");

    // Same key and body, in any key order: the stored response again.
    let again = post(
        a,
        RELOAD,
        &admin,
        Some("\"k1\""),
        json!({ "input": null, "reason": "reload after the edit" }),
    )
    .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body_json(again).await, first);

    // Same key, another body.
    assert_eq!(
        code(
            post(
                a,
                RELOAD,
                &admin,
                Some("\"k1\""),
                json!({ "reason": "another reason" })
            )
            .await
        )
        .await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused".into()
        )
    );

    let done = wait_state(a, &id, "succeeded").await;
    assert_eq!(done["steps"].as_array().unwrap().len(), 3);
    let applied: u64 = w
        .fleet
        .effects()
        .values()
        .flat_map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with(&id))
                .map(|(_, e)| e.applied)
        })
        .sum();
    assert_eq!(applied, 2, "each gateway reloaded once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_still_being_created_answers_409_with_retry_after() {
    let w = with_fleet().await;
    let a = &w.app;
    let me = body_json(a.get("/admin/v1/whoami").await).await;
    let sub = me["sub"].as_str().unwrap();
    // A claim left `creating` a moment ago (another replica mid-create).
    let scope = engine::jobs::idempotency::scope_key(sub, "POST", RELOAD, "busy");
    let body: serde_json::Value =
        serde_json::from_str(r#"{"reason":"in flight","input":null}"#).unwrap();
    let rec = engine::jobs::idempotency::Record {
        fingerprint: engine::jobs::idempotency::fingerprint("POST", RELOAD, &body),
        stage: engine::jobs::idempotency::Stage::Creating,
        job_id: model::JobId::from_random([1; 16]),
        since_ms: engine::identity::now_ms(),
        response: None,
    };
    let kv = a
        .state
        .engine
        .store
        .kv(
            engine::jobs::IDEMPOTENCY_BUCKET,
            engine::store::BucketOptions {
                history: 2,
                replicas: 1,
            },
        )
        .await
        .unwrap();
    kv.create(
        &engine::store::Key::parse(&scope).unwrap(),
        serde_json::to_vec(&rec).unwrap().into(),
    )
    .await
    .unwrap();
    let res = post(
        a,
        RELOAD,
        &a.admin,
        Some("\"busy\""),
        json!({ "reason": "in flight" }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(body_json(res).await["code"], "idempotency_in_flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rights_ids_kinds_cancel_and_filters() {
    let w = with_fleet().await;
    let a = &w.app;
    let viewer = a.login("viewer");
    let body = json!({ "reason": "reload please" });
    assert_eq!(
        post(a, RELOAD, &viewer, Some("\"v\""), body.clone())
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        code(
            post(
                a,
                "/admin/v1/jobs/tenants.explode",
                &a.admin,
                Some("\"x\""),
                body.clone()
            )
            .await
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        code(a.get("/admin/v1/jobs/nope").await).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    let missing = model::JobId::from_random([3; 16]);
    assert_eq!(
        code(a.get(&format!("/admin/v1/jobs/{missing}")).await).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    assert_eq!(
        code(a.get("/admin/v1/jobs?state=bogus").await).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        code(a.get("/admin/v1/jobs?colour=red").await).await.0,
        StatusCode::BAD_REQUEST
    );

    let created = body_json(post(a, RELOAD, &a.admin, Some("\"c\""), body.clone()).await).await;
    let id = created["id"].as_str().unwrap().to_owned();
    // The live stream starts with the job's current state.
    let res = a.get(&format!("/admin/v1/jobs/{id}/events")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body_stream = res.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(10), body_stream.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.contains("event: job") && text.contains(&id), "{text}");

    wait_state(a, &id, "succeeded").await;
    let cancel = format!("/admin/v1/jobs/{id}/cancel");
    assert_eq!(
        code(post(a, &cancel, &a.admin, None, json!({})).await)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        code(post(a, &cancel, &a.admin, None, json!({ "reason": "too late" })).await).await,
        (StatusCode::CONFLICT, "cancel_refused".into())
    );
    assert_eq!(
        post(a, &cancel, &viewer, None, json!({ "reason": "not mine" }))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    let page = body_json(
        a.get("/admin/v1/jobs?kind=routing.reload&state=succeeded")
            .await,
    )
    .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["jobs"][0]["id"], id.as_str());
    let by_request = created["ids"]["request_id"].as_str().unwrap();
    let page = body_json(a.get(&format!("/admin/v1/jobs?id={by_request}")).await).await;
    assert_eq!(page["total"], 1);
    let page = body_json(a.get("/admin/v1/jobs?state=failed").await).await;
    assert_eq!(page["total"], 0);

    // Audited: created, finished, and the refused cancel.
    let actions: Vec<String> = a
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.record.job_id.as_deref() == Some(id.as_str()))
        .map(|e| format!("{}:{}", e.record.action, e.record.outcome.as_str()))
        .collect();
    assert!(
        actions.contains(&"job.routing.reload:succeeded".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"job.routing.reload.finished:succeeded".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"job.cancel:denied".to_owned()),
        "{actions:?}"
    );
}
