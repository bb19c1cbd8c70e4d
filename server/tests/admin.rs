mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, app_with, body_json};

fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn status_reports_build_mode_and_readiness() {
    let a = app().await;
    let res = a.get("/admin/v1/status").await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = body_json(res).await;
    assert_eq!(v["build"]["service"], "control");
    assert_eq!(v["mode"], "dev");
    assert_eq!(v["store_backend"], "embedded");
    assert_eq!(v["readiness"]["ready"], true);
}

#[tokio::test]
async fn unknown_admin_routes_are_json_404_with_request_id() {
    let a = app().await;
    for uri in ["/admin/v1/nope", "/admin/v1/", "/admin/v2/status", "/admin"] {
        let res = a.get(uri).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
        let rid = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let v = body_json(res).await;
        assert_eq!(v["code"], "not_found", "{uri}");
        assert_eq!(v["request_id"], rid.as_str());
    }
}

#[tokio::test]
async fn recognise_classifies_ids() {
    let a = app().await;
    let res = a
        .send_admin(post_json(
            "/admin/v1/search/recognise",
            r#"{"query":"4bf92f3577b34da6a3ce929d0e0e4736"}"#,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = body_json(res).await;
    assert_eq!(v["kind"], "trace");
}

#[tokio::test]
async fn bad_bodies_get_stable_codes_never_500() {
    let a = app().await;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            post_json("/admin/v1/search/recognise", "{not json"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            post_json("/admin/v1/search/recognise", r#"{"query": 5}"#),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            post_json("/admin/v1/search/recognise", r#"{"query":"a","extra":1}"#),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            post_json(
                "/admin/v1/search/recognise",
                r#"{"query":"not an id at all"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Request::post("/admin/v1/search/recognise")
                .body(Body::from("{}"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Request::get("/admin/v1/search/recognise")
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (req, status, code) in cases {
        let res = a.send_admin(req).await;
        assert_eq!(res.status(), status, "{code}");
        let v = body_json(res).await;
        assert_eq!(v["code"], code);
        assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
    }
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let a = app_with(|c| c.server.body_limit_bytes = 1024).await;
    let big = format!(r#"{{"query":"{}"}}"#, "a".repeat(4096));
    let res = a
        .send_admin(post_json("/admin/v1/search/recognise", &big))
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(res).await["code"], "payload_too_large");
}

#[tokio::test]
async fn server_function_errors_are_json_with_a_4xx_status() {
    let a = app().await;
    // Wrong method on a real server function.
    let res = a.get("/api/status/get_server_status").await;
    let status = res.status();
    assert!(status.is_client_error(), "{status}");
    // An unknown server function.
    let res = a
        .send_admin(
            Request::post("/api/does_not_exist")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("x=1"))
                .unwrap(),
        )
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    // The real one works.
    let res = a
        .send_admin(
            Request::post("/api/status/get_server_status")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["mode"], "dev");
}
