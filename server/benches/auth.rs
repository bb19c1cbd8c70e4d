//! What authentication costs a read endpoint: `GET /admin/v1/tenants`
//! (500 tenants, page of 50) served by the same handler and state, with and
//! without the authorisation middleware, in the same run (alternating
//! rounds), in-process. The principal cache is warm, as for any caller
//! making more than one request per `principal_cache_ms`.
//! Target: auth costs ≤ 10% of throughput.
//!
//!   cargo bench -p server --bench auth

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use server::config::{Config, FleetSource};
use std::time::{Duration, Instant};
use tower::ServiceExt;

async fn run(router: &Router, token: &str, n: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        let res = router
            .clone()
            .oneshot(
                Request::get("/admin/v1/tenants?page=3&page_size=50")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        let _ = res.into_body().collect().await.unwrap();
    }
    t.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = sim::Fleet::start(
        &sim::Topology {
            base_port: 0,
            ..sim::Topology::default()
        },
        dir.path(),
        0,
    )
    .await
    .unwrap();
    let mut config = Config::default();
    config.auth.gateway_url = Some(fleet.gateway_url());
    config.store.data_dir = dir.path().join("data");
    std::fs::create_dir_all(&config.store.data_dir).unwrap();
    config.fleet.source = FleetSource::File;
    config.fleet.placement_file = fleet.placement_path.clone();
    config.fleet.routing_file = fleet.routing_path.clone();
    let state = server::build_state(config, engine::RunMode::Dev)
        .await
        .unwrap();
    let token = fleet
        .iam()
        .login("viewer", "viewer-dev-password")
        .unwrap()
        .access_token;
    let handler = get(server::routes::fleet::tenants);
    let plain = Router::new()
        .route("/admin/v1/tenants", handler.clone())
        .with_state(state.clone());
    let authed = Router::new()
        .route("/admin/v1/tenants", handler)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            server::middleware::authz::authorize,
        ))
        .with_state(state);
    let n = 5_000;
    run(&plain, &token, 500).await;
    run(&authed, &token, 500).await;
    let (mut t_plain, mut t_auth) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..5 {
        t_plain += run(&plain, &token, n).await;
        t_auth += run(&authed, &token, n).await;
    }
    let rps = |t: Duration| (5 * n) as f64 / t.as_secs_f64();
    let (p, a) = (rps(t_plain), rps(t_auth));
    println!("GET /admin/v1/tenants without auth: {p:>9.0} req/s");
    println!("GET /admin/v1/tenants with auth:    {a:>9.0} req/s");
    println!(
        "auth costs {:.1}% of throughput (target <= 10%)",
        (1.0 - a / p) * 100.0
    );
}
