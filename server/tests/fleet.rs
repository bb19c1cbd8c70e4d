//! The fleet REST routes against a simulated fleet (file source) and the
//! KV source (a placement change written by an independent client).

mod common;

use axum::http::StatusCode;
use common::{app_with, body_json};
use server::config::FleetSource;
use sim::{Fleet, Topology};
use std::time::{Duration, Instant};

async fn with_sim() -> (common::TestApp, Fleet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology {
        shards: 2,
        replicas: 1,
        tenants: 30,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, &dir.path().join("config"), 0)
        .await
        .unwrap();
    let (p, r) = (fleet.placement_path.clone(), fleet.routing_path.clone());
    let a = app_with(move |c| {
        c.fleet.source = FleetSource::File;
        c.fleet.placement_file = p;
        c.fleet.routing_file = r;
        c.fleet.poll_interval_ms = 200;
        c.fleet.probe_timeout_ms = 300;
    })
    .await;
    (a, fleet, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_routing_and_tenants_read_the_documents() {
    let (a, _fleet, _dir) = with_sim().await;
    let v = body_json(a.get("/admin/v1/placement").await).await;
    assert_eq!(v.as_array().unwrap().len(), 3);
    let v = body_json(a.get("/admin/v1/placement/runner").await).await;
    assert_eq!(v["tenant_count"], 30);
    assert_eq!(v["placement"]["source"]["kind"], "file");
    assert_eq!(v["placement"]["revision"], 1);
    assert_eq!(v["shards"].as_array().unwrap().len(), 2);
    let v = body_json(a.get("/admin/v1/routing").await).await;
    assert_eq!(v["meta"]["revision"], 1);
    assert!(v["issues"].as_array().unwrap().is_empty());

    let v = body_json(a.get("/admin/v1/tenants?page_size=10&page=1").await).await;
    assert_eq!(v["total"], 30);
    assert_eq!(v["items"].as_array().unwrap().len(), 10);
    assert_eq!(v["items"][0]["tenant"], "t-00010");
    let v = body_json(
        a.get("/admin/v1/tenants?sort=shard&kind=runner&desc=true&page_size=1")
            .await,
    )
    .await;
    assert_eq!(v["items"][0]["placements"][2]["shard"], "r1");
    let v = body_json(
        a.get("/admin/v1/tenants?q=t-0002&kind=aggregate&shard=a0")
            .await,
    )
    .await;
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["placements"][0]["shard"] == "a0"));
    assert_eq!(v["total"], 5);

    let v = body_json(a.get_tenant("t-00003", Some("t-00003")).await).await;
    assert_eq!(v["known"], true);
    assert_eq!(v["resolutions"][0][1]["Ok"]["shard"], "a1");
    let v = body_json(a.get_tenant("someone-else", Some("someone-else")).await).await;
    assert_eq!(v["known"], false);
    assert_eq!(v["resolutions"][0][1]["Ok"]["by_default"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fleet_input_gets_stable_codes() {
    let (a, _fleet, _dir) = with_sim().await;
    for (uri, code) in [
        ("/admin/v1/placement/gateway", "bad_request"),
        ("/admin/v1/placement/nope", "bad_request"),
        ("/admin/v1/tenants?sort=nope", "bad_request"),
        ("/admin/v1/tenants?page=-1", "bad_request"),
        ("/admin/v1/tenants?unknown=1", "bad_request"),
        ("/admin/v1/fleet/health?status=sleepy", "bad_request"),
    ] {
        let res = a.get(uri).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body_json(res).await["code"], code, "{uri}");
    }
    let v = body_json(a.get("/admin/v1/tenants?page_size=100000").await).await;
    assert_eq!(v["page_size"], 200, "page size is bounded");
}

/// A tenant-scoped route: `x-tenant-id` required, well-formed, and the
/// tenant of the path; each failure has its own stable 400 code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_scoped_routes_check_x_tenant_id() {
    let (a, _fleet, _dir) = with_sim().await;
    for (path_tenant, header, code) in [
        ("t-00003", None, "tenant_required"),
        ("t-00003", Some("BAD_ID"), "bad_tenant_id"),
        ("t-00003", Some(""), "bad_tenant_id"),
        ("t-00003", Some("t-00004"), "tenant_mismatch"),
        ("BAD_ID", Some("BAD_ID"), "bad_tenant_id"),
    ] {
        let res = a.get_tenant(path_tenant, header).await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{path_tenant} {header:?}"
        );
        assert_eq!(
            body_json(res).await["code"],
            code,
            "{path_tenant} {header:?}"
        );
    }
    // Platform-scoped routes ignore the header, even a malformed one.
    let res = a
        .send_admin(
            axum::http::Request::get("/admin/v1/tenants")
                .header("x-tenant-id", "NOT A TENANT")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_health_is_paged_and_reports_a_down_instance() {
    let (a, fleet, _dir) = with_sim().await;
    let victim = fleet
        .instances()
        .into_iter()
        .find(|i| i.kind == model::fleet::ServiceKind::Projection)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = body_json(a.get("/admin/v1/fleet/health?status=healthy").await).await;
        if v["total"] == 7 {
            break;
        }
        assert!(Instant::now() < deadline, "fleet never all healthy: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fleet
        .set_faults(
            &victim.id,
            sim::Faults {
                down: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    loop {
        let v = body_json(a.get("/admin/v1/fleet/health?status=down").await).await;
        if v["total"] == 1 {
            assert_eq!(
                v["instances"][0]["endpoint"],
                format!("http://{}", victim.addr)
            );
            let proj = v["summary"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["kind"] == "projection")
                .unwrap()
                .clone();
            assert_eq!(proj["unhealthy"], 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "down instance never reported: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = body_json(a.get("/admin/v1/fleet/health?page_size=2&page=1").await).await;
    assert_eq!(v["instances"].as_array().unwrap().len(), 2);
    assert_eq!(v["total"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_sends_a_pulse() {
    let (a, _fleet, _dir) = with_sim().await;
    let res = a.get("/admin/v1/fleet/events").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    use http_body_util::BodyExt;
    let mut body = res.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.starts_with("event: pulse\ndata: {"), "{text}");
    assert!(text.contains("\"routing_revision\":1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_kv_change_by_an_independent_client_is_served() {
    use engine::store::nats::{NatsOptions, NatsStore};
    use engine::store::{BucketOptions, Key, Substrate};
    let Some(url) = test_support::nats_url("nats_kv_change_by_an_independent_client_is_served")
    else {
        return;
    };
    let u = url.clone();
    let a = app_with(move |c| {
        c.store.backend = server::config::StoreBackend::Nats;
        c.nats.url = Some(u);
        c.fleet.source = FleetSource::Kv;
    })
    .await;
    // Another process's view of the same NATS: a separate client.
    let other = NatsStore::connect(&NatsOptions {
        url,
        name: "independent-writer".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let kv = other
        .kv(
            "placement",
            BucketOptions {
                history: 16,
                replicas: 1,
            },
        )
        .await
        .unwrap();
    let map =
        serde_json::json!({"default_shard": "a0", "tenants": {"t-kv-1": "a1", "t-kv-2": "a0"}});
    let rev = kv
        .put(
            &Key::parse("aggregate_placement").unwrap(),
            bytes::Bytes::from(map.to_string()),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = body_json(a.get("/admin/v1/placement/aggregate").await).await;
        if v["placement"]["revision"] == rev {
            assert_eq!(v["placement"]["source"]["backend"], "nats");
            assert_eq!(v["tenant_count"], 2);
            break;
        }
        assert!(Instant::now() < deadline, "KV change never served: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = body_json(a.get_tenant("t-kv-1", Some("t-kv-1")).await).await;
    // The routing bucket is shared with other suites on this server: either
    // it routes a1, or resolution says the shard is unknown.
    let r = &v["resolutions"][0][1];
    assert!(
        r["Ok"]["shard"] == "a1" || r["Err"]["code"] == "unknown_shard",
        "{v}"
    );
}
