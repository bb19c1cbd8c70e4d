//! The two doors of one capability (REST and server function) answer the
//! same failure with the same status and code, and check the same scope:
//! one row of `model::policy::CAPABILITIES` drives both.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, body_json, TestApp};
use model::policy::{self, Scope};

/// A server-function call as a token holder, form-encoded like the UI's.
async fn call_fn(
    a: &TestApp,
    path: &str,
    form: &str,
    token: &str,
    tenant: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    if let Some(t) = tenant {
        req = req.header("x-tenant-id", t);
    }
    let res = a.send(req.body(Body::from(form.to_owned())).unwrap()).await;
    let status = res.status();
    (status, body_json(res).await)
}

async fn call_rest(
    a: &TestApp,
    uri: &str,
    token: &str,
    tenant: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::get(uri).header("authorization", format!("Bearer {token}"));
    if let Some(t) = tenant {
        req = req.header("x-tenant-id", t);
    }
    let res = a.send(req.body(Body::empty()).unwrap()).await;
    let status = res.status();
    (status, body_json(res).await)
}

#[test]
fn doors_of_one_capability_come_from_one_row() {
    for c in policy::CAPABILITIES {
        let doors: Vec<&policy::Policy> = policy::REST
            .iter()
            .chain(policy::SERVER_FNS.iter())
            .filter(|p| p.capability == Some(c))
            .collect();
        assert_eq!(
            doors.len(),
            usize::from(c.rest.is_some()) + usize::from(c.server_fn.is_some()),
            "{}",
            c.name
        );
        for d in doors {
            assert_eq!(
                (d.access, d.scope, d.audit),
                (c.access, c.scope, c.audit),
                "{}: a door differs from its capability",
                c.name
            );
        }
    }
    // The one tenant-scoped capability today is tenant-scoped at both doors.
    let t = policy::capability("tenants.get").unwrap();
    assert_eq!(t.scope, Scope::Tenant);
    assert_eq!(
        policy::server_fn("/api/fleet/tenant").unwrap().scope,
        Scope::Tenant
    );
}

#[tokio::test]
async fn tenant_scope_is_the_same_at_both_doors() {
    let a = app().await;
    let admin = a.admin.clone();
    let rest = |tenant: Option<&'static str>| {
        let a = &a;
        let admin = admin.clone();
        async move { call_rest(a, "/admin/v1/tenants/t-00001", &admin, tenant).await }
    };
    let ui = |tenant: Option<&'static str>| {
        let a = &a;
        let admin = admin.clone();
        async move { call_fn(a, "/api/fleet/tenant", "tenant=t-00001", &admin, tenant).await }
    };
    for (header, status, code) in [
        (None, StatusCode::BAD_REQUEST, Some("tenant_required")),
        (
            Some("NOT A TENANT"),
            StatusCode::BAD_REQUEST,
            Some("bad_tenant_id"),
        ),
        (
            Some("t-00002"),
            StatusCode::BAD_REQUEST,
            Some("tenant_mismatch"),
        ),
        (Some("t-00001"), StatusCode::OK, None),
    ] {
        let (rs, rb) = rest(header).await;
        let (us, ub) = ui(header).await;
        assert_eq!(rs, status, "REST with x-tenant-id {header:?}: {rb}");
        assert_eq!(us, status, "server fn with x-tenant-id {header:?}: {ub}");
        match code {
            Some(code) => {
                assert_eq!(rb["code"], code, "{rb}");
                assert_eq!(ub["code"], code, "{ub}");
            }
            // Both doors answer the same document.
            None => assert_eq!(rb, ub),
        }
    }
    // A malformed tenant argument is refused like a malformed path segment.
    let (rs, rb) = call_rest(&a, "/admin/v1/tenants/NOPE", &admin, Some("NOPE")).await;
    let (us, ub) = call_fn(&a, "/api/fleet/tenant", "tenant=NOPE", &admin, Some("NOPE")).await;
    assert_eq!((rs, us), (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST));
    assert_eq!(rb["code"], ub["code"], "{rb} vs {ub}");
}

#[tokio::test]
async fn a_refusal_is_audited_alike_at_both_doors() {
    let a = app().await;
    let nobody = a.login("nobody");
    let (rs, _) = call_rest(&a, "/admin/v1/tenants/t-00001", &nobody, Some("t-00001")).await;
    let (us, _) = call_fn(
        &a,
        "/api/fleet/tenant",
        "tenant=t-00001",
        &nobody,
        Some("t-00001"),
    )
    .await;
    assert_eq!((rs, us), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    let denied: Vec<_> = a
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.record.outcome == model::audit::Outcome::Denied)
        .collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied.iter().all(|e| e.record.principal_sub == "u-nobody"));
}

#[tokio::test]
async fn the_same_bad_input_gets_the_same_answer_at_both_doors() {
    let a = app().await;
    let admin = a.admin.clone();
    // An IAM id that is not one: REST path segment vs server fn argument.
    let rest = a
        .send_admin(
            Request::put("/admin/v1/iam/users/BAD%20ID/roles/iam-admin")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"reason":"door test"}"#))
                .unwrap(),
        )
        .await;
    let rest_status = rest.status();
    let rest_body = body_json(rest).await;
    let (us, ub) = call_fn(
        &a,
        "/api/iam/assign_role",
        "user=BAD+ID&role=iam-admin&reason=door+test",
        &admin,
        None,
    )
    .await;
    assert_eq!(rest_status, StatusCode::BAD_REQUEST, "{rest_body}");
    assert_eq!(us, rest_status, "{ub}");
    assert_eq!(ub["code"], rest_body["code"]);
    // A Gateway answer keeps its meaning and gets one status at both doors:
    // an unknown role.
    let rest = a
        .send_admin(
            Request::put("/admin/v1/iam/users/u-viewer/roles/no-such-role")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"reason":"door test"}"#))
                .unwrap(),
        )
        .await;
    let rest_status = rest.status();
    let rest_body = body_json(rest).await;
    let (us, ub) = call_fn(
        &a,
        "/api/iam/assign_role",
        "user=u-viewer&role=no-such-role&reason=door+test",
        &admin,
        None,
    )
    .await;
    assert!(rest_status.is_client_error(), "{rest_status} {rest_body}");
    assert_eq!(us, rest_status, "{ub}");
    assert_eq!(ub["code"], rest_body["code"]);
}
