mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app, body_string};

#[tokio::test]
async fn ids_are_generated_and_echoed() {
    let a = app().await;
    let res = a.get("/health").await;
    let h = res.headers();
    assert!(h["x-request-id"].to_str().unwrap().starts_with("req_"));
    assert!(h["x-correlation-id"].to_str().unwrap().starts_with("cor_"));
    assert!(model::TraceParent::parse(h["traceparent"].to_str().unwrap()).is_ok());
}

#[tokio::test]
async fn well_formed_ids_are_continued_and_malformed_ones_replaced() {
    let a = app().await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let res = a
        .send(
            Request::get("/health")
                .header("x-request-id", "client-req-1")
                .header("x-correlation-id", "flow-7")
                .header("traceparent", tp)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let h = res.headers();
    assert_eq!(h["x-request-id"], "client-req-1");
    assert_eq!(h["x-correlation-id"], "flow-7");
    let echoed = model::TraceParent::parse(h["traceparent"].to_str().unwrap()).unwrap();
    assert_eq!(echoed.trace_id.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");

    let res = a
        .send(
            Request::get("/health")
                .header("x-request-id", "bad id with spaces")
                .header("x-correlation-id", "x".repeat(100))
                .header("traceparent", "garbage")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let h = res.headers();
    assert!(h["x-request-id"].to_str().unwrap().starts_with("req_"));
    assert!(h["x-correlation-id"].to_str().unwrap().starts_with("cor_"));
}

#[tokio::test]
async fn html_gets_a_nonce_csp_and_security_headers() {
    let a = app().await;
    let res = a.get("/").await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert!(
        h.get(app::CSP_NONCE_HEADER).is_none(),
        "internal header leaked"
    );
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_owned();
    let html = body_string(res).await;
    // Every inline script carries this response's nonce.
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    for tag in html.split("<script").skip(1) {
        let open_tag = tag.split('>').next().unwrap();
        assert!(
            open_tag.contains(&format!("nonce=\"{nonce}\"")),
            "script without this response's nonce: <script{open_tag}>"
        );
    }

    let other = a.get("/").await;
    let csp2 = other.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(csp, csp2, "the nonce must differ per response");

    let json = a.get("/health").await;
    assert_eq!(json.headers()["x-content-type-options"], "nosniff");
    assert!(json.headers().get("content-security-policy").is_none());
}

#[tokio::test]
async fn unknown_ui_routes_render_the_not_found_page() {
    let a = app().await;
    let res = a.get("/no/such/page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(res.headers().get("content-security-policy").is_some());
    let html = body_string(res).await;
    assert!(html.contains("Page not found"));
}
