#![allow(dead_code)] // each test binary uses a different subset

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use engine::RunMode;
use http_body_util::BodyExt;
use server::config::Config;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub _dir: tempfile::TempDir,
}

pub async fn app() -> TestApp {
    app_with(|_| {}).await
}

pub async fn app_with(f: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.store.data_dir = dir.path().to_path_buf();
    f(&mut config);
    let state = server::build_state(config, RunMode::Dev).await.unwrap();
    TestApp {
        router: server::router(state),
        _dir: dir,
    }
}

impl TestApp {
    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(req).await.unwrap()
    }

    pub async fn get(&self, uri: &str) -> Response<Body> {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }
}

pub async fn body_string(res: Response<Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub async fn body_json(res: Response<Body>) -> serde_json::Value {
    let s = body_string(res).await;
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The NATS server for suites that need one (CONTROL_TEST_NATS_URL, which
/// scripts/test.sh sets after starting nats-server). Missing: a loud SKIPPED
/// line, or a failure under CI=true.
pub fn nats_url(test: &str) -> Option<String> {
    use std::io::Write;
    match std::env::var("CONTROL_TEST_NATS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: CONTROL_TEST_NATS_URL is not set under CI=true; the NATS suite must run");
            }
            // Written to the real stderr so the test harness does not swallow it.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED {test}: CONTROL_TEST_NATS_URL not set (scripts/test.sh starts nats-server) ***\n"
            );
            None
        }
    }
}
