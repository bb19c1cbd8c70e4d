use model::fleet::ServiceKind;
use sim::{Faults, Fleet, Topology};
use std::time::Duration;
use test_support::http;

fn small() -> Topology {
    Topology {
        shards: 2,
        replicas: 1,
        tenants: 10,
        ..Topology::default()
    }
}

#[tokio::test]
async fn serves_the_contract_for_every_instance_and_seeds_the_docs() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(&small(), dir.path(), 0).await.unwrap();
    let all = fleet.instances();
    assert_eq!(all.len(), 1 + 3 * 2);
    for i in &all {
        assert_eq!(http("GET", i.addr, "/health", "").await.unwrap().0, 200);
        let (st, body) = http("GET", i.addr, "/ready", "").await.unwrap();
        assert_eq!(st, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["loaded"]["placement_revision"], 1);
        let (_, m) = http("GET", i.addr, "/metrics", "").await.unwrap();
        let k = i.kind.as_str();
        assert!(
            m.contains(&format!(
                "{k}_build_info{{service=\"{k}\",version=\"1.0.0\",git_sha=\"sim\"}} 1"
            )),
            "{m}"
        );
    }
    let p: model::fleet::PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    assert_eq!(p.aggregate_placement.tenants.len(), 10);
    let r: model::fleet::RoutingDoc =
        serde_json::from_slice(&std::fs::read(&fleet.routing_path).unwrap()).unwrap();
    assert!(r.routing.validate().is_empty());
    for k in ServiceKind::WORKERS {
        assert!(model::fleet::validate_placement(k, p.map(k).unwrap(), &r.routing).is_empty());
    }
}

#[tokio::test]
async fn fault_knobs_take_effect_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(&small(), dir.path(), 0).await.unwrap();
    let agg = fleet
        .instances()
        .into_iter()
        .find(|i| i.kind == ServiceKind::Aggregate)
        .unwrap();
    let faults = |f: Faults| serde_json::to_string(&f).unwrap();
    let path = format!("/sim/instances/{}/faults", agg.id);

    let (st, _) = http(
        "PUT",
        fleet.control_addr,
        &path,
        &faults(Faults {
            unready: true,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(st, 204);
    assert_eq!(http("GET", agg.addr, "/ready", "").await.unwrap().0, 503);

    http(
        "PUT",
        fleet.control_addr,
        &path,
        &faults(Faults {
            down: true,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        http("GET", agg.addr, "/health", "").await.is_err(),
        "down instance still answers"
    );

    http(
        "PUT",
        fleet.control_addr,
        &path,
        &faults(Faults {
            slow_ms: 300,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let t = std::time::Instant::now();
    assert_eq!(http("GET", agg.addr, "/health", "").await.unwrap().0, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    http(
        "PUT",
        fleet.control_addr,
        &path,
        &faults(Faults {
            black_hole: true,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        http("GET", agg.addr, "/health", "").await,
        Err("timeout".into())
    );

    http(
        "PUT",
        fleet.control_addr,
        &path,
        &faults(Faults {
            error_rate: 1.0,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(http("GET", agg.addr, "/health", "").await.unwrap().0, 500);

    let (st, _) = http(
        "PUT",
        fleet.control_addr,
        &path,
        &faults(Faults {
            error_rate: 2.0,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(st, 400);
    let (st, _) = http(
        "PUT",
        fleet.control_addr,
        "/sim/instances/nope/faults",
        "{}",
    )
    .await
    .unwrap();
    assert_eq!(st, 400);
}

#[tokio::test]
async fn drain_converges_unless_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(&small(), dir.path(), 0).await.unwrap();
    let run = fleet
        .instances()
        .into_iter()
        .find(|i| i.kind == ServiceKind::Runner)
        .unwrap();
    let (st, body) = http("POST", run.addr, "/admin/tenants/t-00001/drain", "")
        .await
        .unwrap();
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["state"], "draining");
    assert!(v["inflight"].as_u64().unwrap() > 0);
    let (_, ready) = http("GET", run.addr, "/ready", "").await.unwrap();
    assert!(ready.contains("t-00001"));
    let mut state = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, b) = http("GET", run.addr, "/admin/tenants/t-00001", "")
            .await
            .unwrap();
        state = serde_json::from_str::<serde_json::Value>(&b).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned();
        if state == "drained" {
            break;
        }
    }
    assert_eq!(state, "drained");
    assert_eq!(
        http("POST", run.addr, "/admin/tenants/BAD/drain", "")
            .await
            .unwrap()
            .0,
        400
    );

    fleet
        .set_faults(
            &run.id,
            Faults {
                stuck_drain: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    http("POST", run.addr, "/admin/tenants/t-00002/drain", "")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, b) = http("GET", run.addr, "/admin/tenants/t-00002", "")
        .await
        .unwrap();
    assert!(b.contains("\"draining\""), "{b}");
}

#[tokio::test]
async fn workers_follow_placement_the_gateway_waits_for_reload() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(&small(), dir.path(), 0).await.unwrap();
    let gw = fleet
        .instances()
        .into_iter()
        .find(|i| i.kind == ServiceKind::Gateway)
        .unwrap();
    let workers: Vec<_> = fleet
        .instances()
        .into_iter()
        .filter(|i| i.kind != ServiceKind::Gateway)
        .collect();
    fleet
        .set_faults(
            &workers[0].id,
            Faults {
                stale_revision: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let mut p: model::fleet::PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    p.revision = 2;
    std::fs::write(&fleet.placement_path, serde_json::to_vec(&p).unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let rev = |i: &sim::InstanceInfo| i.loaded_placement_revision;
    let now: Vec<_> = fleet.instances();
    for w in now.iter().filter(|i| i.kind != ServiceKind::Gateway) {
        let want = if w.id == workers[0].id {
            Some(1)
        } else {
            Some(2)
        };
        assert_eq!(rev(w), want, "{}", w.id);
    }
    assert_eq!(
        rev(now.iter().find(|i| i.id == gw.id).unwrap()),
        Some(1),
        "gateway must wait for reload"
    );
    let (st, body) = http("POST", gw.addr, "/admin/routing/reload", "")
        .await
        .unwrap();
    assert_eq!(st, 200);
    assert!(body.contains("\"placement_revision\":2"), "{body}");
}
