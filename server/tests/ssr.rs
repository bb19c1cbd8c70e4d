//! Every UI route renders on the server, with its title and breadcrumbs.

mod common;

use axum::http::StatusCode;
use common::{app, body_string};

#[tokio::test]
async fn every_nav_page_renders() {
    let a = app().await;
    for p in app::shell::nav::pages() {
        let res = a.get(p.path).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", p.path);
        let html = body_string(res).await;
        assert!(
            html.contains(&format!("<h1>{}</h1>", p.title.replace('&', "&amp;"))),
            "{}: {html}",
            p.path
        );
        assert!(html.contains("aria-label=\"Breadcrumb\""), "{}", p.path);
        assert!(html.contains("aria-label=\"Main\""), "{}", p.path);
        assert!(
            html.contains("/pkg/control.js"),
            "{}: hydration script missing",
            p.path
        );
        assert!(!html.to_lowercase().contains("lorem"), "{}", p.path);
    }
}

#[tokio::test]
async fn search_page_says_what_it_recognised() {
    let a = app().await;
    let html = body_string(a.get("/search?q=4bf92f3577b34da6a3ce929d0e0e4736").await).await;
    assert!(html.contains("data-kind=\"trace\""), "{html}");
    let html = body_string(a.get("/search?q=job_123").await).await;
    assert!(html.contains("data-kind=\"invalid\""), "{html}");
    let html = body_string(a.get("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await).await;
    assert!(!html.contains("<script>alert(1)"), "input must be escaped");
}
