//! Sessions: revoked at the Gateway (refused after the principal cache
//! time) and revoked here (refused at once, audited with its reason).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app_with, body_json};

#[tokio::test]
async fn a_session_revoked_at_the_gateway_is_refused_after_the_cache_time() {
    let a = app_with(|c| c.auth.principal_cache_ms = 300).await;
    let resp = a.iam.login("viewer", "viewer-dev-password").unwrap();
    let uri = "/admin/v1/fleet/health";
    assert_eq!(
        a.get_as(uri, &resp.access_token).await.status(),
        StatusCode::OK
    );
    assert!(a.iam.revoke_session(&resp.session_id));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        a.get_as(uri, &resp.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_session_revoked_here_is_refused_at_once_and_audited_with_its_reason() {
    let a = app_with(|c| c.auth.principal_cache_ms = 60_000).await;
    let victim = a.iam.login("viewer", "viewer-dev-password").unwrap();
    let uri = "/admin/v1/fleet/health";
    assert_eq!(
        a.get_as(uri, &victim.access_token).await.status(),
        StatusCode::OK
    );
    let revoke = |reason: &str| {
        Request::delete(format!("/admin/v1/iam/sessions/{}", victim.session_id))
            .header("content-type", "application/json")
            .body(Body::from(format!(r#"{{"reason":"{reason}"}}"#)))
            .unwrap()
    };
    // A reason is required.
    let res = a.send_admin(revoke("")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = a.send_admin(revoke("laptop stolen")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.get_as(uri, &victim.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let e = a.audit_events().await.last().unwrap().clone();
    assert_eq!(e.record.action, "iam.session.revoke");
    assert_eq!(e.record.reason.as_deref(), Some("laptop stolen"));
    assert_eq!(e.record.target, format!("session/{}", victim.session_id));
    assert_eq!(e.record.outcome, model::audit::Outcome::Succeeded);
    assert_eq!(e.record.principal_sub, "u-admin");
    // Before/after digests of the session's state: they differ.
    let (before, after) = (
        e.record.before_digest.unwrap(),
        e.record.after_digest.unwrap(),
    );
    assert!(before.starts_with("sha256:") && after.starts_with("sha256:"));
    assert_ne!(before, after);
    // The Gateway's own status and text are passed through.
    let res = a.send_admin(revoke("again, unknown now?")).await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "revoking twice is idempotent"
    );
    let res = a
        .send_admin(
            Request::delete("/admin/v1/iam/sessions/s-doesnotexist")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"reason":"cleanup"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let v = body_json(res).await;
    assert_eq!(v["code"], "not_found");
    assert_eq!(v["message"], "no such session");
    assert_eq!(
        a.audit_events().await.last().unwrap().record.outcome,
        model::audit::Outcome::Failed
    );
}
