//! Every error answer at the edge is the JSON error body with the request
//! id (body limit, timeout), and no error body echoes the caller's input.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, app_with, body_json, body_string};

const CANARY: &str = "zq9canary";

fn assert_json_error(h: &axum::http::HeaderMap, body: &serde_json::Value, code: &str) {
    assert_eq!(h["content-type"], "application/json", "{body}");
    assert_eq!(body["code"], code, "{body}");
    let rid = body["request_id"].as_str().expect("request_id in the body");
    assert_eq!(h["x-request-id"], rid);
}

#[tokio::test]
async fn a_large_content_length_gets_413_json_with_the_request_id() {
    let a = app_with(|c| c.server.body_limit_bytes = 1024).await;
    let res = a
        .send_admin(
            Request::put("/admin/v1/iam/users/u-operator/roles/viewer")
                .header("content-type", "application/json")
                .header("content-length", "100000")
                .body(Body::from(vec![b' '; 100_000]))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let h = res.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_json_error(&h, &body_json(res).await, "payload_too_large");

    // The same for a server function and for an anonymous caller.
    let res = a
        .send(
            Request::post("/api/auth/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-length", "100000")
                .body(Body::from(vec![b'a'; 100_000]))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let h = res.headers().clone();
    assert_json_error(&h, &body_json(res).await, "payload_too_large");
}

/// A Gateway that accepts connections and never answers.
async fn silent_gateway() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn a_slow_handler_gets_504_json_with_the_request_id() {
    let (gw, _task) = silent_gateway().await;
    let a = app_with(|c| {
        c.auth.gateway_url = Some(gw);
        c.auth.gateway_timeout_ms = 2_000;
        c.server.request_timeout_ms = 150;
    })
    .await;
    let started = std::time::Instant::now();
    let res = a
        .send(
            Request::post("/api/auth/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(Body::from("username=operator&password=x&next=%2F"))
                .unwrap(),
        )
        .await;
    assert!(started.elapsed() < std::time::Duration::from_millis(1_500));
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    let h = res.headers().clone();
    assert_json_error(&h, &body_json(res).await, "timeout");
}

#[tokio::test]
async fn bad_query_parameters_name_the_field_and_what_is_allowed() {
    let a = app().await;
    let res = a.get(&format!("/admin/v1/tenants?sort={CANARY}")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let b = body_json(res).await;
    assert_eq!(b["code"], "bad_request");
    let m = b["message"].as_str().unwrap();
    assert!(
        m.contains("`sort`") && m.contains("expected `tenant`"),
        "{m}"
    );
    assert!(b["request_id"].is_string());

    let res = a.get("/admin/v1/fleet/health?page=x").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let m = body_json(res).await["message"].as_str().unwrap().to_owned();
    assert!(m.contains("`page`"), "{m}");

    let res = a.get("/admin/v1/tenants?nope=1").await;
    let m = body_json(res).await["message"].as_str().unwrap().to_owned();
    assert!(
        m.starts_with("query: unknown field, expected one of `q`"),
        "{m}"
    );
}

#[tokio::test]
async fn no_error_body_echoes_the_callers_input() {
    let a = app().await;
    let upper = CANARY.to_uppercase();
    let mut answers = Vec::new();
    for uri in [
        format!("/admin/v1/tenants?sort={CANARY}"),
        format!("/admin/v1/tenants?{CANARY}=1"),
        format!("/admin/v1/tenants?page={CANARY}"),
        format!("/admin/v1/tenants?kind={CANARY}"),
        format!("/admin/v1/fleet/health?status={CANARY}"),
        format!("/admin/v1/fleet/health?kind={CANARY}"),
        format!("/admin/v1/placement/{CANARY}"),
        format!("/admin/v1/audit?page_size={CANARY}"),
        format!("/admin/v1/audit?outcome={CANARY}"),
        format!("/admin/v1/iam/sessions?{CANARY}=1"),
    ] {
        let res = a.get(&uri).await;
        answers.push((uri, res.status(), body_string(res).await));
    }
    // A bad tenant id in the path and in the header.
    for (path, header) in [(upper.as_str(), "acme"), ("acme", upper.as_str())] {
        let res = a.get_tenant(path, Some(header)).await;
        answers.push((
            format!("tenant {path} / {header}"),
            res.status(),
            body_string(res).await,
        ));
    }
    // JSON bodies: a wrong type, an unknown field, a bad value.
    for body in [
        format!(r#"{{"reason": "{CANARY}", "{CANARY}": 1}}"#),
        format!(r#"{{"reason": ["{CANARY}"]}}"#),
        format!(r#"{{"reason": {{"{CANARY}": "{CANARY}"}}}}"#),
    ] {
        let res = a
            .send_admin(
                Request::put("/admin/v1/iam/users/u-operator/roles/viewer")
                    .header("content-type", "application/json")
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
        answers.push((body, res.status(), body_string(res).await));
    }
    for (what, status, body) in &answers {
        assert!(status.is_client_error(), "{what}: {status} {body}");
        assert!(
            !body.to_lowercase().contains(CANARY),
            "{what}: the error body echoes the input: {body}"
        );
        let b: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(!b["message"].as_str().unwrap().is_empty(), "{what}");
    }
}
