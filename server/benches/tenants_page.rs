//! The Tenants page and API over 100,000 tenants × 3 kinds: server response
//! time and size for one page, in-process (no network).
//!
//!   cargo bench -p server --bench tenants_page

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use model::fleet::{PlacementDoc, RoutingDoc, ServiceKind, ShardId, TenantId};
use server::config::{Config, FleetSource};
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let mut doc = PlacementDoc {
        revision: 1,
        ..Default::default()
    };
    for kind in ServiceKind::WORKERS {
        let map = doc.map_mut(kind).unwrap();
        for i in 0..n {
            map.tenants.insert(
                TenantId::parse(&format!("t-{i:07}")).unwrap(),
                ShardId::parse(&format!("s{}", i % 64)).unwrap(),
            );
        }
    }
    let (p, r) = (
        dir.path().join("placement.json"),
        dir.path().join("routing.json"),
    );
    std::fs::write(&p, serde_json::to_vec(&doc).unwrap()).unwrap();
    std::fs::write(
        &r,
        serde_json::to_vec(&RoutingDoc {
            revision: 1,
            ..Default::default()
        })
        .unwrap(),
    )
    .unwrap();
    let iam = sim::Iam::new(sim::IamConfig::default());
    let (gw, _gw_task) = iam.serve(([127, 0, 0, 1], 0).into()).await.unwrap();
    let token = iam
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    let mut config = Config::default();
    config.auth.gateway_url = Some(format!("http://{gw}"));
    config.store.data_dir = dir.path().join("data");
    std::fs::create_dir_all(&config.store.data_dir).unwrap();
    config.fleet.source = FleetSource::File;
    config.fleet.placement_file = p;
    config.fleet.routing_file = r;
    let t0 = Instant::now();
    let state = server::build_state(config, engine::RunMode::Dev)
        .await
        .unwrap();
    assert_eq!(state.engine.fleet.docs.current().tenants.len(), n);
    println!(
        "cold start with the 100k-tenant dev files (read, parse, index): {:?}",
        t0.elapsed()
    );
    let router = server::router(state);
    for (what, uri) in [
        ("Tenants page (SSR HTML, first page)", "/tenants"),
        (
            "GET /admin/v1/tenants page 1000 of 50",
            "/admin/v1/tenants?page=1000&page_size=50",
        ),
        (
            "GET /admin/v1/tenants filtered q=t-00999",
            "/admin/v1/tenants?q=t-00999",
        ),
        (
            "GET /admin/v1/tenants sorted by runner shard, desc",
            "/admin/v1/tenants?sort=shard&kind=runner&desc=true",
        ),
    ] {
        let mut samples = Vec::new();
        let mut size = 0;
        for _ in 0..30 {
            let t = Instant::now();
            let res = router
                .clone()
                .oneshot(
                    Request::get(uri)
                        .header("authorization", format!("Bearer {token}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert!(res.status().is_success(), "{uri}: {}", res.status());
            size = res.into_body().collect().await.unwrap().to_bytes().len();
            samples.push(t.elapsed());
        }
        let p50 = pct(&mut samples.clone(), 0.5);
        let p99 = pct(&mut samples, 0.99);
        println!("{what}: p50 {p50:?}, p99 {p99:?}, body {size} bytes");
    }
}
