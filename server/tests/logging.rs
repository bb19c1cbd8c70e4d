//! The per-request log line and secret redaction. Alone in its own test
//! binary: tracing caches callsite interest process-wide, and a thread-local
//! subscriber racing other tests' threads can miss events.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{app, body_string};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn one_json_line_per_request_and_no_secret_in_logs() {
    let cap = Capture::default();
    let cfg = server::config::LogConfig {
        level: "trace".into(),
        format: server::config::LogFormat::Json,
    };
    let _guard =
        tracing::subscriber::set_default(server::logging::subscriber(&cfg, None, cap.clone()));
    let canary = "CANARY-7f3a9c-SECRET";
    let a = app().await;
    for (uri, method, body) in [
        ("/health", "GET", ""),
        ("/admin/v1/status", "GET", ""),
        (
            "/admin/v1/search/recognise",
            "POST",
            r#"{"query":"CANARY-7f3a9c-SECRET"}"#,
        ),
        ("/settings?token=CANARY-7f3a9c-SECRET", "GET", ""),
    ] {
        let res = a
            .send(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("authorization", format!("Bearer {canary}"))
                    .header("cookie", format!("__Host-control_session={canary}"))
                    .header("x-api-token", canary)
                    .header("content-type", "application/json")
                    .header("x-request-id", "canary-test-1")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        let _ = body_string(res).await;
    }
    let out = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(!out.contains(canary), "secret leaked into logs:\n{out}");
    let request_lines: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "control::http")
        .collect();
    assert_eq!(request_lines.len(), 4, "{out}");
    for v in &request_lines {
        let f = &v["fields"];
        for key in [
            "method",
            "route",
            "status",
            "latency_ms",
            "principal_id",
            "tenant_id",
        ] {
            assert!(!f[key].is_null(), "missing {key} in {v}");
        }
        let span = &v["span"];
        assert_eq!(span["request_id"], "canary-test-1");
        assert!(span["correlation_id"].as_str().unwrap().starts_with("cor_"));
        assert_eq!(span["trace_id"].as_str().unwrap().len(), 32);
    }
    assert_eq!(request_lines[3]["fields"]["path"], "/settings");

    // Sign-in: neither the password (right or wrong) nor the issued token
    // reaches a log line; a signed-in request logs who made it.
    let mut issued = String::new();
    for pw in [canary, "viewer-dev-password"] {
        let res = a
            .send(
                Request::post("/api/auth/login")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "username=viewer&password={pw}&next=%2F"
                    )))
                    .unwrap(),
            )
            .await;
        if let Some(c) = res.headers().get("set-cookie") {
            issued = c.to_str().unwrap().split(';').next().unwrap().to_owned();
        }
        let _ = body_string(res).await;
    }
    let token = issued.trim_start_matches("control_session=").to_owned();
    assert!(token.len() > 20, "login did not set the cookie");
    let _ = body_string(a.get_as("/admin/v1/whoami", &token).await).await;
    let out = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(!out.contains(canary), "password leaked into logs:\n{out}");
    assert!(
        !out.contains("viewer-dev-password"),
        "password leaked into logs"
    );
    assert!(!out.contains(&token), "token leaked into logs");
    assert!(!out.contains(&a.admin), "token leaked into logs");
    let last = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["target"] == "control::http")
        .unwrap();
    assert_eq!(last["fields"]["principal_id"], "u-viewer");
}
