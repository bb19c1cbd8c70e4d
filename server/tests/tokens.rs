//! Where tokens come from (the header or the cookie, never the query
//! string), key rotation by `kid`, HS256 from a shared-secret Gateway, and a
//! Gateway that is down (503, never 500).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, app_with, body_json};

#[tokio::test]
async fn tokens_are_taken_from_the_header_or_cookie_only() {
    let a = app().await;
    let t = a.login("viewer");
    let uri = "/admin/v1/fleet/health";
    let res = a.get_anon(&format!("{uri}?access_token={t}")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "query string");
    let res = a.get_anon(&format!("{uri}?token={t}")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "query string");
    let res = a
        .send(
            Request::get(uri)
                .header("cookie", format!("control_session={t}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "cookie");
    let oversize = "a".repeat(9000);
    let none = {
        use base64::Engine;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts = t.split('.');
        let _header = parts.next();
        format!(
            "{}.{}.",
            b.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts.next().unwrap()
        )
    };
    let mut tampered = t.clone();
    tampered.pop();
    tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
    for (what, bad) in [
        ("garbage", "not-a-token".to_owned()),
        ("malformed base64", "a!!.b!!.c!!".to_owned()),
        ("oversize", oversize),
        ("alg none", none),
        ("bad signature", tampered),
    ] {
        let res = a.get_as(uri, &bad).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(body_json(res).await["message"], "authentication required");
    }
}

#[tokio::test]
async fn keys_rotated_at_the_gateway_are_picked_up_by_kid() {
    let a = app().await;
    a.iam.rotate_key();
    let t = a.login("viewer");
    assert_eq!(
        a.get_as("/admin/v1/whoami", &t).await.status(),
        StatusCode::OK
    );
    // The old key still verifies tokens issued before the rotation.
    assert_eq!(
        a.get_as("/admin/v1/whoami", &a.admin).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn gateway_down_is_503_not_500() {
    let a = app_with(|c| c.auth.principal_cache_ms = 1).await;
    let t = a.login("viewer");
    a._gateway.abort();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let res = a.get_as("/admin/v1/fleet/health", &t).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_json(res).await["code"], "unavailable");
}

#[tokio::test]
async fn hs256_tokens_from_a_shared_secret_gateway_are_accepted() {
    let secret = "a-shared-hs256-secret-for-this-test-only";
    let mut iam = common::iam_config();
    iam.hs256_secret = Some(sim::SharedSecret(secret.as_bytes().to_vec()));
    let a = common::app_with_iam(iam, |c| {
        c.auth.algorithms = "HS256".into();
        c.auth.hs256_secret = Some(server::config::Secret::new(secret));
    })
    .await;
    let who = a.get("/admin/v1/whoami").await;
    assert_eq!(who.status(), StatusCode::OK);
    assert_eq!(body_json(who).await["username"], "admin");
    assert_eq!(
        a.get_as("/admin/v1/fleet/health", &a.login("viewer"))
            .await
            .status(),
        StatusCode::OK
    );
    // An EdDSA token (another Gateway's) is refused: not in the allow-list.
    let other = sim::Iam::new(sim::IamConfig::default());
    let eddsa = other
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    assert_eq!(
        a.get_as("/admin/v1/whoami", &eddsa).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
