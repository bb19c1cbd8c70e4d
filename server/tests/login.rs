//! Browser sign-in: the session cookie and its attributes, logout, and
//! the CSRF / same-origin checks on state-changing requests.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, body_json, body_string};

fn cookie_post(
    uri: &str,
    cookie: &str,
    origin: Option<&str>,
    csrf: bool,
    body: &str,
) -> Request<Body> {
    let mut b = Request::post(uri)
        .header("host", "control.test")
        .header("cookie", format!("control_session={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        b = b.header("origin", o);
    }
    if csrf {
        b = b.header("x-control-csrf", "1");
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn cross_site_state_changes_are_refused() {
    let a = app().await;
    let t = a.login("admin");
    let victim = a.iam.login("viewer", "viewer-dev-password").unwrap();
    let body = format!("session={}&reason=csrf+test", victim.session_id);
    let sf = "/api/iam/revoke_session";
    for (origin, csrf) in [
        (Some("https://evil.example"), true),
        (Some("null"), true),
        (Some("http://control.test"), false),
    ] {
        let res = a.send(cookie_post(sf, &t, origin, csrf, &body)).await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "{origin:?} csrf={csrf}"
        );
        assert_eq!(body_json(res).await["code"], "cross_site");
    }
    let res = a
        .send(
            Request::delete(format!("/admin/v1/iam/sessions/{}", victim.session_id))
                .header("host", "control.test")
                .header("origin", "https://evil.example")
                .header("cookie", format!("control_session={t}"))
                .header("x-control-csrf", "1")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"reason":"csrf test"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = a
        .send(
            Request::post("/api/iam/revoke_session")
                .header("sec-fetch-site", "cross-site")
                .header("authorization", format!("Bearer {t}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "sec-fetch-site");
    // Nothing was revoked by any of those.
    assert_eq!(
        a.get_as("/admin/v1/whoami", &victim.access_token)
            .await
            .status(),
        StatusCode::OK
    );
    // The same request from this site goes through.
    let res = a
        .send(cookie_post(
            sf,
            &t,
            Some("http://control.test"),
            true,
            &body,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body_string(res).await);
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_ends_the_session() {
    let a = app().await;
    let login = |user: &str, pw: &str| {
        Request::post("/api/auth/login")
            .header("host", "control.test")
            .header("origin", "http://control.test")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Body::from(format!(
                "username={user}&password={pw}&next=%2Ftenants"
            )))
            .unwrap()
    };
    let res = a.send(login("operator", "wrong")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(
        body_json(res).await["message"],
        "invalid username or password"
    );
    let e = a.audit_events().await.last().unwrap().clone();
    assert_eq!(
        (e.record.action.as_str(), e.record.outcome),
        ("auth.login", model::audit::Outcome::Denied)
    );
    assert_eq!(e.record.target, "user/operator");

    let res = a.send(login("operator", "operator-dev-password")).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("control_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let token = cookie
        .trim_start_matches("control_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let e = a.audit_events().await.last().unwrap().clone();
    assert_eq!(
        (e.record.action.as_str(), e.record.outcome),
        ("auth.login", model::audit::Outcome::Succeeded)
    );
    assert_eq!(e.record.principal_sub, "u-operator");

    let who = a
        .send(
            Request::get("/admin/v1/whoami")
                .header("cookie", format!("control_session={token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(body_json(who).await["username"], "operator");

    let res = a
        .send(cookie_post(
            "/api/auth/logout",
            &token,
            Some("http://control.test"),
            true,
            "",
        ))
        .await;
    assert!(res.status().is_success() || res.status().is_redirection());
    let cleared = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        a.get_as("/admin/v1/whoami", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.audit_events().await.last().unwrap().record.action,
        "auth.logout"
    );
}
