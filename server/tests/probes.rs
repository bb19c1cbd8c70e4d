mod common;

use axum::http::StatusCode;
use common::{app, app_with, body_json, body_string};

#[tokio::test]
async fn health_is_200() {
    let a = app().await;
    let res = a.get("/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["status"], "ok");
}

#[tokio::test]
async fn ready_is_200_with_a_writable_data_dir() {
    let a = app().await;
    let res = a.get("/ready").await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = body_json(res).await;
    assert_eq!(v["ready"], true);
    let names: Vec<_> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["store", "data_dir"]);
}

#[tokio::test]
async fn ready_is_503_with_a_reason_when_a_dependency_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let a = app_with(|c| c.store.data_dir = data.clone()).await;
    assert_eq!(a.get("/ready").await.status(), StatusCode::OK);
    std::fs::remove_dir_all(&data).unwrap();
    let res = a.get("/ready").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v = body_json(res).await;
    assert_eq!(v["ready"], false);
    let dd = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "data_dir")
        .unwrap();
    assert!(
        dd["reason"].as_str().unwrap().contains("not writable"),
        "{v}"
    );
}

#[tokio::test]
async fn ready_reports_an_unreachable_nats() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let a = app_with(|c| {
        c.store.backend = server::config::StoreBackend::Nats;
        c.nats.url = Some(format!("nats://127.0.0.1:{port}"));
    })
    .await;
    let res = a.get("/ready").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v = body_json(res).await;
    let store = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "store")
        .unwrap();
    assert_eq!(store["ok"], false, "{v}");
}

#[tokio::test]
async fn metrics_label_by_route_template_never_raw_path() {
    let a = app().await;
    a.get("/health").await;
    a.get("/admin/v1/no/such/thing/abc123").await;
    a.get("/tenants").await;
    let res = a.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = body_string(res).await;
    assert!(text.contains(&format!(
        "control_build_info{{service=\"control\",version=\"{}\",git_sha=\"{}\"}} 1",
        server::VERSION,
        server::GIT_SHA
    )));
    assert!(
        text.contains(
            r#"control_http_requests_total{method="GET",route="/health",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="/tenants",status="200""#), "{text}");
    assert!(
        text.contains(r#"route="/admin/v1/{*path}",status="404""#)
            || text.contains(r#"status="404""#),
        "{text}"
    );
    assert!(
        !text.contains("abc123"),
        "a raw path leaked into labels: {text}"
    );
    assert!(text.contains("control_http_request_duration_seconds_bucket"));
}

/// Real NATS: the readiness check passes against a live nats-server.
/// scripts/test.sh starts one and sets CONTROL_TEST_NATS_URL.
#[tokio::test]
async fn ready_is_200_against_a_real_nats_server() {
    let Some(url) = test_support::nats_url("ready_is_200_against_a_real_nats_server") else {
        return;
    };
    let a = app_with(|c| {
        c.store.backend = server::config::StoreBackend::Nats;
        c.nats.url = Some(url.clone());
    })
    .await;
    let res = a.get("/ready").await;
    let status = res.status();
    let v = body_json(res).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "store" && c["ok"] == true));
}
