//! Stand-ins for the platform's services, speaking the platform contract
//! (docs/architecture.md, "Platform contract"). This first cut serves one
//! instance of one service kind with its probes and build info; the fleet
//! simulator (many instances, drain, lag, faults) grows from here.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Gateway,
    Aggregate,
    Projection,
    Runner,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Aggregate => "aggregate",
            Self::Projection => "projection",
            Self::Runner => "runner",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub kind: Kind,
    pub version: String,
    pub git_sha: String,
}

pub fn router(instance: Instance) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(instance))
}

async fn ready(State(i): State<Arc<Instance>>) -> impl IntoResponse {
    Json(serde_json::json!({ "ready": true, "service": i.kind.as_str(), "draining_tenants": [] }))
}

async fn metrics(State(i): State<Arc<Instance>>) -> impl IntoResponse {
    let k = i.kind.as_str();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        format!(
            "# TYPE {k}_build_info gauge\n{k}_build_info{{service=\"{k}\",version=\"{}\",git_sha=\"{}\"}} 1\n",
            i.version, i.git_sha
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn serves_probes_and_build_info_for_its_kind() {
        let r = router(Instance {
            kind: Kind::Runner,
            version: "1.4.0".into(),
            git_sha: "abc123".into(),
        });
        let res = r
            .clone()
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = r
            .clone()
            .oneshot(Request::get("/ready").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(v["service"], "runner");
        let res = r
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let text = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec())
            .unwrap();
        assert!(text
            .contains(r#"runner_build_info{service="runner",version="1.4.0",git_sha="abc123"} 1"#));
    }
}
