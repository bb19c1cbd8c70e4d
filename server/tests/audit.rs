//! The audit log at the API: one event per privileged call (walking the
//! policy table), filters, paging, NDJSON export, chain verification, and
//! no secret in any event.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, body_json, body_string, TestApp};
use model::policy;

/// A new routing-reload job, created at the REST door.
/// The flags document, pinned (as a rollback leaves it), so that an
/// unpin has something to lift.
async fn pinned_flags(a: &TestApp) {
    use engine::config::store::WriteMeta;
    let store = a.state.engine.config.store();
    let id = model::config::ConfigId::flags();
    if store.get(&id).await.unwrap().is_none() {
        let meta = WriteMeta {
            updated_by: "walk".into(),
            job: None,
            reason: None,
        };
        store
            .write(&id, &serde_json::json!({}), 0, &meta)
            .await
            .unwrap();
    }
    let pin = model::config::Pin {
        by: "walk".into(),
        at_ms: 1,
        reason: "walk test".into(),
        revision: 1,
        job: None,
    };
    store.set_pin(&id, Some(&pin)).await.unwrap();
}

async fn fresh_job(a: &TestApp) -> String {
    let n: u64 = rand::random();
    let res = a
        .send_admin(
            Request::post("/admin/v1/jobs/routing.reload")
                .header("content-type", "application/json")
                .header("idempotency-key", format!("\"fresh-{n}\""))
                .body(Body::from(r#"{"reason":"to be cancelled"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    body_json(res).await["id"].as_str().unwrap().to_owned()
}

/// An app whose routing lists gateways that are all down: jobs stay at
/// their gate (and fail there), so they can be created and cancelled.
async fn app_with_dead_gateways() -> (TestApp, sim::Fleet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let topo = sim::Topology {
        gateways: 1,
        shards: 1,
        replicas: 1,
        tenants: 1,
        ..sim::Topology::default()
    };
    let fleet = sim::Fleet::start(&topo, dir.path(), 0).await.unwrap();
    for i in fleet.instances() {
        if i.kind == model::fleet::ServiceKind::Gateway {
            let down = sim::Faults {
                down: true,
                ..Default::default()
            };
            fleet.set_faults(&i.id, down).await.unwrap();
        }
    }
    let (p, r) = (fleet.placement_path.clone(), fleet.routing_path.clone());
    let a = common::app_with(move |c| {
        c.fleet.source = server::config::FleetSource::File;
        c.fleet.placement_file = p;
        c.fleet.routing_file = r;
    })
    .await;
    // The routing file is read in the background: wait for its gateway.
    let start = std::time::Instant::now();
    while !body_string(a.get("/admin/v1/routing").await)
        .await
        .contains("gateway")
    {
        assert!(
            start.elapsed().as_secs() < 10,
            "routing not loaded: {}",
            body_string(a.get("/admin/v1/routing").await).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (a, fleet, dir)
}

/// A valid call of each audited entry, as the platform admin.
async fn call_audited(a: &TestApp, p: &policy::Policy) -> StatusCode {
    let victim = a.iam.login("viewer", "viewer-dev-password").unwrap();
    let (uri, body, form) = match p.path {
        "/iam/sessions/{session}" => (
            format!("/admin/v1/iam/sessions/{}", victim.session_id),
            r#"{"reason":"walk test"}"#.to_owned(),
            false,
        ),
        "/iam/users/{user}/roles/{role}" => (
            "/admin/v1/iam/users/u-viewer/roles/iam-admin".to_owned(),
            r#"{"reason":"walk test"}"#.to_owned(),
            false,
        ),
        "/api/iam/revoke_session" => (
            p.path.to_owned(),
            format!("session={}&reason=walk+test", victim.session_id),
            true,
        ),
        "/api/iam/assign_role" | "/api/iam/unassign_role" => (
            p.path.to_owned(),
            "user=u-viewer&role=iam-admin&reason=walk+test".to_owned(),
            true,
        ),
        "/api/auth/login" => (
            p.path.to_owned(),
            "username=viewer&password=viewer-dev-password&next=%2F".to_owned(),
            true,
        ),
        "/api/auth/logout" => (p.path.to_owned(), String::new(), true),
        "/jobs/routing.reload" => (
            "/admin/v1/jobs/routing.reload".to_owned(),
            r#"{"reason":"walk test"}"#.to_owned(),
            false,
        ),
        "/api/jobs/routing_reload" => (
            p.path.to_owned(),
            "idempotency_key=walk-ui&reason=walk+test".to_owned(),
            true,
        ),
        // A job still at its gate (every gateway is down), so cancellable.
        "/jobs/{job}/cancel" => (
            format!("/admin/v1/jobs/{}/cancel", fresh_job(a).await),
            r#"{"reason":"walk test"}"#.to_owned(),
            false,
        ),
        "/api/jobs/cancel" => (
            p.path.to_owned(),
            format!("id={}&reason=walk+test", fresh_job(a).await),
            true,
        ),
        "/config/{domain}/{name}/unpin" => {
            pinned_flags(a).await;
            (
                "/admin/v1/config/flags/control/unpin".to_owned(),
                r#"{"reason":"walk test"}"#.to_owned(),
                false,
            )
        }
        "/api/config/unpin" => {
            pinned_flags(a).await;
            (
                p.path.to_owned(),
                "domain=flags&name=control&scope=platform&reason=walk+test".to_owned(),
                true,
            )
        }
        "/deploy/services/{service}/unpin" => {
            let name = model::deploy::ServiceName::parse("cl_walk").unwrap();
            let pin = model::deploy::Pin {
                seq: 1,
                job: model::JobId::from_random([7; 16]),
                by: "u-admin".into(),
                at_ms: 1,
                reason: "walk".into(),
            };
            a.state
                .engine
                .deploy
                .history_store()
                .set_pin(&name, Some(&pin))
                .await
                .unwrap();
            (
                "/admin/v1/deploy/services/cl_walk/unpin".to_owned(),
                r#"{"reason":"walk test"}"#.to_owned(),
                false,
            )
        }
        other => panic!("no valid call written for audited route {other}; add one"),
    };
    let token = if p.path == "/api/auth/logout" {
        victim.access_token.clone()
    } else {
        a.admin.clone()
    };
    let res = a
        .send(
            Request::builder()
                .method(p.method)
                .uri(uri)
                .header("authorization", format!("Bearer {token}"))
                .header(
                    "content-type",
                    if form {
                        "application/x-www-form-urlencoded"
                    } else {
                        "application/json"
                    },
                )
                .header("accept", "application/json")
                .header("idempotency-key", format!("\"walk-{}\"", p.path.len()))
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    res.status()
}

#[tokio::test]
async fn every_privileged_route_appends_exactly_one_event() {
    let (a, _fleet, _dir) = app_with_dead_gateways().await;
    let audited: Vec<_> = policy::REST
        .iter()
        .chain(policy::SERVER_FNS.iter())
        .filter(|p| p.audit.is_some())
        // Moves need a live fleet and a plan: server/tests/moves.rs walks them.
        .filter(|p| {
            !p.path
                .strip_prefix("/jobs/")
                .and_then(model::jobs::JobKind::parse)
                .is_some_and(|k| k.is_planned())
        })
        .collect();
    assert_eq!(audited.len(), 15);
    // Jobs write events of their own as they end (`job.<kind>.finished`),
    // so count the events of the call's action.
    let of = |events: &[engine::audit::AuditEvent], action: Option<&str>| {
        events
            .iter()
            .filter(|e| Some(e.record.action.as_str()) == action)
            .cloned()
            .collect::<Vec<_>>()
    };
    for p in audited {
        let before = of(&a.audit_events().await, p.audit).len();
        let status = call_audited(&a, p).await;
        assert!(
            status.is_success() || status.is_redirection(),
            "{} {}: {status}",
            p.method,
            p.path
        );
        let events = of(&a.audit_events().await, p.audit);
        assert_eq!(events.len(), before + 1, "{} {}", p.method, p.path);
        let e = &events.last().unwrap().record;
        assert_eq!(Some(e.action.as_str()), p.audit, "{}", p.path);
        assert_eq!(e.outcome, model::audit::Outcome::Succeeded, "{}", p.path);
        assert!(!e.request_id.is_empty() && !e.correlation_id.is_empty());
        assert_eq!(e.trace_id.len(), 32);
        if e.action.starts_with("iam.") {
            assert!(
                e.before_digest.is_some() && e.after_digest.is_some(),
                "{e:?}"
            );
        }
    }
    let v = body_json(a.get("/admin/v1/audit/verify").await).await;
    assert_eq!(v["result"], "intact", "{v}");
}

async fn seed(a: &TestApp) {
    for i in 0..7 {
        let status = call_audited(
            a,
            policy::REST
                .iter()
                .find(|p| p.audit == Some("iam.role.assign"))
                .unwrap(),
        )
        .await;
        assert!(status.is_success(), "{i}");
    }
    let nobody = a.login("nobody");
    let res = a.get_as("/admin/v1/iam/users", &nobody).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_audit_api_filters_pages_and_exports() {
    let a = app().await;
    seed(&a).await;
    let v = body_json(a.get("/admin/v1/audit?page_size=5").await).await;
    assert_eq!(v["total"], 8);
    assert_eq!(v["events"].as_array().unwrap().len(), 5);
    // Newest first.
    assert_eq!(v["events"][0]["outcome"], "denied");
    assert_eq!(v["events"][0]["principal_sub"], "u-nobody");
    let v2 = body_json(a.get("/admin/v1/audit?page_size=5&page=2").await).await;
    assert_eq!(v2["events"].as_array().unwrap().len(), 3);
    let v = body_json(a.get("/admin/v1/audit?outcome=denied").await).await;
    assert_eq!(v["total"], 1);
    let v = body_json(a.get("/admin/v1/audit?action=iam.").await).await;
    assert_eq!(v["total"], 7);
    let v = body_json(
        a.get("/admin/v1/audit?action=GET%20/admin/v1/iam/users")
            .await,
    )
    .await;
    assert_eq!(v["total"], 1);
    let v = body_json(
        a.get("/admin/v1/audit?principal=u-admin&action=iam.role.assign")
            .await,
    )
    .await;
    assert_eq!(v["total"], 7);
    let rid = v["events"][0]["request_id"].as_str().unwrap().to_owned();
    let v = body_json(a.get(&format!("/admin/v1/audit?id={rid}")).await).await;
    assert_eq!(v["total"], 1);
    let v = body_json(a.get("/admin/v1/audit?from_ms=4102444800000").await).await;
    assert_eq!(v["total"], 0, "nothing after 2100");

    let res = a.get("/admin/v1/audit/export?principal=u-admin").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let body = body_string(res).await;
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    assert!(lines
        .windows(2)
        .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));

    for bad in [
        "/admin/v1/audit?outcome=maybe",
        "/admin/v1/audit?page_size=0",
        "/admin/v1/audit?page_size=1000",
        "/admin/v1/audit?page=0",
        "/admin/v1/audit?from_ms=10&to_ms=5",
        "/admin/v1/audit?from_ms=yesterday",
        "/admin/v1/audit?nope=1",
        "/admin/v1/audit/export?outcome=maybe",
    ] {
        let res = a.get(bad).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body_json(res).await["code"], "bad_request", "{bad}");
    }
}

#[tokio::test]
async fn no_secret_reaches_an_audit_event() {
    let a = app().await;
    let canary = "CANARY-pw-51d0e2";
    let res = a
        .send(
            Request::post("/api/auth/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(Body::from(format!(
                    "username=viewer&password={canary}&next=%2F"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A password typed into the username field is not recorded either.
    let res = a
        .send(
            Request::post("/api/auth/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "username={canary}%21&password=x&next=%2F"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    seed(&a).await;
    let all = body_string(a.get("/admin/v1/audit/export").await).await;
    assert!(all.lines().count() >= 10);
    assert!(!all.contains(canary), "{all}");
    assert!(!all.contains(&a.admin), "a token reached the audit log");
    assert!(!all.contains("dev-password"));
}

/// The same chain on the NATS backend: a stream for the events, a KV
/// bucket for the anchor, written through the API and verified.
#[tokio::test]
async fn the_chain_lives_in_nats_when_the_store_is_nats() {
    let Some(url) = test_support::nats_url("the_chain_lives_in_nats_when_the_store_is_nats") else {
        return;
    };
    // The stream may hold events of earlier runs against the same server:
    // a fixed key keeps the whole chain verifiable across runs.
    let a = common::app_with(|c| {
        c.store.backend = server::config::StoreBackend::Nats;
        c.nats.url = Some(url.clone());
        c.audit.hmac_key = Some(server::config::Secret::new(
            "audit-key-for-the-nats-test-only-0123456789",
        ));
    })
    .await;
    let before = a.audit_events().await.len();
    seed(&a).await;
    let events = a.audit_events().await;
    assert_eq!(events.len(), before + 8);
    assert!(events.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    let v = body_json(a.get("/admin/v1/audit/verify").await).await;
    assert_eq!(v["result"], "intact", "{v}");
}
