//! Deny by default: every route and server function has a policy, nothing
//! protected answers without credentials, rights are enforced per role,
//! pages send anonymous browsers to the login page. Tokens, sessions and
//! sign-in have their own files (tokens.rs, sessions.rs, login.rs).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, app_with, body_json, body_string};
use model::policy::{self, Access};

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                match seg {
                    "{tenant}" => "t-00001",
                    "{kind}" => "aggregate",
                    "{*file}" => "control.js",
                    _ => "x1",
                }
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn request(method: &str, uri: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("x-tenant-id", "t-00001");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(if method == "GET" { "" } else { "{}" }))
        .unwrap()
}

/// Every entry of the policy tables, with a concrete URI.
fn protected() -> Vec<(&'static policy::Policy, String)> {
    policy::REST
        .iter()
        .map(|p| (p, format!("{}{}", policy::REST_PREFIX, concrete(p.path))))
        .chain(
            policy::SERVER_FNS
                .iter()
                .chain(policy::PAGES)
                .map(|p| (p, concrete(p.path))),
        )
        .filter(|(p, _)| p.access != Access::Public)
        .collect()
}

#[tokio::test]
async fn every_route_and_server_function_has_a_policy() {
    // REST: the router's list and the table are the same set.
    let routes: Vec<(&str, &str)> = server::admin_routes()
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    for (m, p) in &routes {
        assert!(
            policy::REST.iter().any(|x| x.method == *m && x.path == *p),
            "{m} /admin/v1{p} has no policy"
        );
    }
    for x in policy::REST.iter() {
        assert!(
            routes.contains(&(x.method, x.path)),
            "policy for {} {} names no route",
            x.method,
            x.path
        );
    }
    // Server functions: every registered one is in the table and back.
    let _ = app().await; // registers the server functions
    let registered: Vec<(String, String)> = server_fn::axum::server_fn_paths()
        .map(|(p, m)| (p.to_owned(), m.to_string()))
        .collect();
    assert!(!registered.is_empty());
    for (p, m) in &registered {
        let pol = policy::server_fn(p).unwrap_or_else(|| panic!("server fn {p} has no policy"));
        assert_eq!(pol.method, m, "{p}");
    }
    for x in policy::SERVER_FNS.iter() {
        assert!(
            registered.iter().any(|(p, _)| p == x.path),
            "policy for {} names no server function",
            x.path
        );
    }
    // Pages: every route the app declares.
    for r in server::ui_routes() {
        let path = r.path();
        let templ = path
            .split('/')
            .map(|s| match s.strip_prefix(':') {
                Some(name) => format!("{{{name}}}"),
                None => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let templ = if templ.is_empty() {
            "/".to_owned()
        } else {
            templ
        };
        assert!(
            policy::PAGES.iter().any(|p| p.path == templ),
            "page {path} has no policy"
        );
    }
}

#[tokio::test]
async fn nothing_protected_answers_without_credentials() {
    let a = app().await;
    for (p, uri) in protected() {
        let res = a.send(request(p.method, &uri, None)).await;
        if p.method == "GET" && !uri.starts_with("/admin/") && !uri.starts_with("/api/") {
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{uri}");
            let loc = res.headers()["location"].to_str().unwrap().to_owned();
            assert!(loc.starts_with("/login?next="), "{uri}: {loc}");
            continue;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{} {uri}", p.method);
        let v = body_json(res).await;
        assert_eq!(v["code"], "unauthenticated", "{uri}");
        assert_eq!(v["message"], "authentication required", "{uri}");
        assert!(v["request_id"].is_string());
    }
    // Unknown paths are refused the same way (no hint that they do not exist).
    for uri in ["/admin/v1/nope", "/api/nope", "/admin/v1/tenants/a/b"] {
        let res = a.send(request("GET", uri, None)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{uri}");
    }
    let metrics = body_string(a.get_anon("/metrics").await).await;
    // The series exists from the start (at 0): the refusals above counted.
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"control_auth_refusals_total{reason="no_credentials"} "#))
        .and_then(|n| n.parse::<f64>().ok());
    assert!(refused.is_some_and(|n| n >= 1.0), "{metrics}");
    // Public exceptions stay public.
    for uri in ["/health", "/ready", "/metrics", "/login"] {
        let res = a.get_anon(uri).await;
        assert!(
            res.status().is_success() || res.status() == StatusCode::SERVICE_UNAVAILABLE,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn a_principal_without_the_right_gets_403_and_an_audit_event() {
    let a = app().await;
    let nobody = a.login("nobody");
    for (p, uri) in protected() {
        let Access::Need(right) = p.access else {
            continue;
        };
        let before = a.audit_events().await.len();
        let res = a.send(request(p.method, &uri, Some(&nobody))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{} {uri}", p.method);
        let v = body_json(res).await;
        assert_eq!(v["code"], "forbidden");
        assert_eq!(v["message"], "not allowed", "no hint of the right: {uri}");
        let events = a.audit_events().await;
        assert_eq!(events.len(), before + 1, "{uri} ({right}) not audited once");
        let e = &events.last().unwrap().record;
        assert_eq!(e.outcome, model::audit::Outcome::Denied);
        assert_eq!(e.principal_sub, "u-nobody");
        assert_eq!(e.action, p.action());
    }
}

/// What each dev role may read and change, at the API.
#[tokio::test]
async fn each_role_can_do_exactly_what_its_rights_allow() {
    let a = app().await;
    let cases: &[(&str, &str, &str, StatusCode)] = &[
        ("viewer", "GET", "/admin/v1/fleet/health", StatusCode::OK),
        ("viewer", "GET", "/admin/v1/tenants", StatusCode::OK),
        ("viewer", "GET", "/admin/v1/audit", StatusCode::OK),
        (
            "viewer",
            "GET",
            "/admin/v1/iam/users",
            StatusCode::FORBIDDEN,
        ),
        ("operator", "GET", "/admin/v1/iam/users", StatusCode::OK),
        ("operator", "GET", "/admin/v1/iam/roles", StatusCode::OK),
        (
            "operator",
            "DELETE",
            "/admin/v1/iam/sessions/s-000000000000000000000000",
            StatusCode::FORBIDDEN,
        ),
        (
            "operator",
            "PUT",
            "/admin/v1/iam/users/u-viewer/roles/iam-admin",
            StatusCode::FORBIDDEN,
        ),
        (
            "admin",
            "PUT",
            "/admin/v1/iam/users/u-viewer/roles/operator",
            StatusCode::NO_CONTENT,
        ),
        (
            "admin",
            "DELETE",
            "/admin/v1/iam/users/u-viewer/roles/operator",
            StatusCode::NO_CONTENT,
        ),
        ("admin", "GET", "/admin/v1/iam/sessions", StatusCode::OK),
    ];
    for (user, method, uri, want) in cases {
        let t = a.login(user);
        let res = a
            .send(
                Request::builder()
                    .method(*method)
                    .uri(*uri)
                    .header("authorization", format!("Bearer {t}"))
                    .header("content-type", "application/json")
                    .body(Body::from(if *method == "GET" {
                        String::new()
                    } else {
                        r#"{"reason":"role test"}"#.to_owned()
                    }))
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status(), *want, "{user} {method} {uri}");
    }
    let who = body_json(a.get_as("/admin/v1/whoami", &a.login("viewer")).await).await;
    assert_eq!(who["username"], "viewer");
    let rights: Vec<&str> = who["rights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(rights.contains(&"control.fleet.read"));
    assert!(!rights.contains(&"control.iam.read"));
}

#[tokio::test]
async fn pages_send_anonymous_browsers_to_login_and_render_for_a_signed_in_one() {
    let a = app().await;
    let res = a.get_anon("/tenants?q=a%20b").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/login?next=/tenants%3Fq%3Da%2520b"
    );
    let html = body_string(a.get_anon("/login?next=%2Ftenants").await).await;
    assert!(html.contains("name=\"password\""), "{html}");
    // Without JavaScript the form still carries where to go back to.
    assert!(html.contains("name=\"next\" value=\"/tenants\""), "{html}");
    assert!(html.contains("type=\"password\""));
    // A viewer's page render carries no IAM data: the server function
    // refuses in-process calls too.
    let html = body_string(a.get_as("/users", &a.login("viewer")).await).await;
    assert!(
        !html.contains("u-operator"),
        "IAM data rendered for a viewer"
    );
    let html = body_string(a.get_as("/users", &a.admin).await).await;
    assert!(html.contains("operator"), "{html}");
}

/// A Gateway configured with a shared secret: HS256 only, no JWKS.

#[tokio::test]
async fn edge_cases_keep_their_promises() {
    let a = app_with(|c| c.auth.principal_cache_ms = 1).await;
    // A signed-in caller on an unknown page sees the not-found page in the
    // app frame, still signed in.
    let res = a.get("/no-such-page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = body_string(res).await;
    assert!(
        html.contains("Page not found") && html.contains("Ada Admin"),
        "{html}"
    );
    // Rights come before tenant scope: no hint that the route is tenant-scoped.
    let res = a
        .get_as("/admin/v1/tenants/t-00001", &a.login("nobody"))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // With the Gateway down, a stale cookie does not keep anyone from the
    // login page.
    let t = a.login("viewer");
    a._gateway.abort();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let res = a
        .send(
            Request::get("/login")
                .header("cookie", format!("control_session={t}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_string(res).await.contains("type=\"password\""));
}
