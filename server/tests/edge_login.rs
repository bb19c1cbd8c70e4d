//! The sign-in door: the form without JavaScript (redirects, never JSON),
//! the same-origin check by scheme, host and port, the login rate limit,
//! and the security headers.

mod common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use common::{app, app_with, body_json, body_string, TestApp};
use model::audit::Outcome;
use std::net::SocketAddr;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

struct Login<'a> {
    user: &'a str,
    password: &'a str,
    accept: &'a str,
    origin: Option<&'a str>,
    peer: &'a str,
    forwarded: Option<&'a str>,
}

impl<'a> Login<'a> {
    fn new(user: &'a str, password: &'a str) -> Self {
        Self {
            user,
            password,
            accept: "application/json",
            origin: Some("http://control.test"),
            peer: "192.0.2.10:50000",
            forwarded: None,
        }
    }

    fn no_js(mut self) -> Self {
        self.accept = HTML;
        self
    }

    fn request(&self) -> Request<Body> {
        let mut r = Request::post("/api/auth/login")
            .header("host", "control.test")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", self.accept);
        if let Some(o) = self.origin {
            r = r.header("origin", o);
        }
        if let Some(f) = self.forwarded {
            r = r.header("x-forwarded-for", f);
        }
        let mut req = r
            .body(Body::from(format!(
                "username={}&password={}&next=%2Ftenants",
                self.user, self.password
            )))
            .unwrap();
        // What `serve` provides (into_make_service_with_connect_info).
        req.extensions_mut()
            .insert(ConnectInfo(self.peer.parse::<SocketAddr>().unwrap()));
        req
    }

    async fn send(&self, a: &TestApp) -> Response<Body> {
        a.send(self.request()).await
    }
}

fn location(res: &Response<Body>) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_form_without_javascript_signs_in_with_a_redirect() {
    let a = app().await;
    let res = Login::new("operator", "operator-dev-password")
        .no_js()
        .send(&a)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/tenants");
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("control_session=") && cookie.contains("HttpOnly"));
    assert!(body_string(res).await.is_empty());
}

#[tokio::test]
async fn a_wrong_password_without_javascript_goes_back_to_the_page_with_the_message() {
    let a = app().await;
    let res = Login::new("operator", "wrong").no_js().send(&a).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(res.headers().get("set-cookie").is_none());
    let to = location(&res);
    assert_eq!(to, "/login?error=unauthenticated&next=%2Ftenants");
    assert!(!res.headers().contains_key("content-type"));
    // The page shows its own text for the code.
    let page = a.get_anon(&to).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = body_string(page).await;
    assert!(html.contains("invalid username or password"), "{html}");
    assert!(html.contains(r#"data-testid="login-error""#));

    // Nothing from the query string is rendered.
    let page = a.get_anon("/login?error=%3Cb%3Ezq9canary%3C%2Fb%3E").await;
    let html = body_string(page).await;
    assert!(!html.contains("zq9canary"));
    assert!(html.contains("sign-in failed; try again"));
}

#[tokio::test]
async fn a_cross_site_form_without_javascript_is_refused_with_a_redirect_not_json() {
    let a = app().await;
    for origin in ["null", "https://evil.example"] {
        let mut l = Login::new("operator", "operator-dev-password").no_js();
        l.origin = Some(origin);
        let res = l.send(&a).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{origin}");
        assert!(res.headers().get("set-cookie").is_none());
        assert_eq!(
            location(&res),
            "/login?error=cross_site&next=%2Ftenants",
            "{origin}"
        );
    }
}

#[tokio::test]
async fn the_same_origin_check_compares_scheme_host_and_port() {
    // Plain http (cookie not Secure): an https Origin for the same host is
    // another origin.
    let a = app().await;
    for (origin, ok) in [
        ("http://control.test", true),
        ("http://control.test:80", true),
        ("https://control.test", false),
        ("http://control.test:8080", false),
        ("null", false),
    ] {
        let mut l = Login::new("operator", "operator-dev-password");
        l.origin = Some(origin);
        let res = l.send(&a).await;
        if ok {
            assert!(
                res.status().is_success() || res.status().is_redirection(),
                "{origin}: {}",
                res.status()
            );
        } else {
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin}");
            assert_eq!(body_json(res).await["code"], "cross_site");
        }
    }
    // Served over https (Secure cookie): only the https origin passes.
    let a = app_with(|c| c.auth.cookie_secure = true).await;
    let mut l = Login::new("operator", "operator-dev-password");
    l.origin = Some("http://control.test");
    assert_eq!(l.send(&a).await.status(), StatusCode::FORBIDDEN);
    l.origin = Some("https://control.test");
    let res = l.send(&a).await;
    assert!(res.status().is_success() || res.status().is_redirection());
}

#[tokio::test]
async fn wrong_logins_for_one_user_are_throttled_with_retry_after_and_audited() {
    let a = app_with(|c| c.auth.login_per_user_per_minute = 3).await;
    for _ in 0..3 {
        let res = Login::new("operator", "wrong").send(&a).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // However typed, it is the same account.
    let res = Login::new("%20OPERATOR", "operator-dev-password")
        .send(&a)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(res.headers().get("set-cookie").is_none());
    let b = body_json(res).await;
    assert_eq!(b["code"], "rate_limited");
    assert!(b["request_id"].is_string());

    let e = a.audit_events().await.last().unwrap().clone();
    assert_eq!(e.record.action, "auth.login");
    assert_eq!(e.record.outcome, Outcome::Denied);
    assert_eq!(e.record.target, "user/operator");
    assert!(
        e.record
            .reason
            .as_deref()
            .unwrap()
            .starts_with("rate limited"),
        "{:?}",
        e.record.reason
    );
    assert_eq!(e.record.request_id, b["request_id"].as_str().unwrap());

    // Another operator behind the same address still signs in.
    let res = Login::new("viewer", "viewer-dev-password").send(&a).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    assert!(res.headers().get("set-cookie").is_some());

    // Without JavaScript the throttled form goes back to the page.
    let res = Login::new("operator", "wrong").no_js().send(&a).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?error=rate_limited&next=%2Ftenants");
}

#[tokio::test]
async fn the_source_limit_keys_on_the_peer_unless_a_client_ip_header_is_configured() {
    // Not configured: x-forwarded-for is ignored, the peer counts.
    let a = app_with(|c| c.auth.login_per_source_per_minute = 2).await;
    for (i, user) in ["a1", "a2", "a3"].iter().enumerate() {
        let mut l = Login::new(user, "wrong");
        l.forwarded = Some(["198.51.100.1", "198.51.100.2", "198.51.100.3"][i]);
        let want = if i < 2 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(l.send(&a).await.status(), want, "{user}");
    }
    let mut l = Login::new("a4", "wrong");
    l.peer = "192.0.2.11:50000";
    assert_eq!(l.send(&a).await.status(), StatusCode::UNAUTHORIZED);

    // Configured: the header's last entry (the ingress's) is the source.
    let a = app_with(|c| {
        c.auth.login_per_source_per_minute = 2;
        c.auth.client_ip_header = "x-forwarded-for".into();
    })
    .await;
    for user in ["b1", "b2"] {
        let mut l = Login::new(user, "wrong");
        l.forwarded = Some("203.0.113.9, 198.51.100.7");
        assert_eq!(l.send(&a).await.status(), StatusCode::UNAUTHORIZED);
    }
    let mut l = Login::new("b3", "wrong");
    l.forwarded = Some("203.0.113.1, 198.51.100.7");
    assert_eq!(l.send(&a).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Same ingress peer, another client address: not throttled.
    let mut l = Login::new("b4", "wrong");
    l.forwarded = Some("198.51.100.8");
    assert_eq!(l.send(&a).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn security_headers_are_on_every_answer_and_hsts_only_over_https() {
    let a = app().await;
    for res in [
        a.get("/admin/v1/status").await,
        a.get_anon("/admin/v1/status").await,
        a.get_anon("/login").await,
    ] {
        let h = res.headers();
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        let pp = h["permissions-policy"].to_str().unwrap();
        assert!(pp.contains("camera=()") && pp.contains("geolocation=()"));
        assert_eq!(h["referrer-policy"], "same-origin");
        assert!(h.get("strict-transport-security").is_none());
    }
    let a = app_with(|c| c.auth.cookie_secure = true).await;
    let res = a.get("/admin/v1/status").await;
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}
