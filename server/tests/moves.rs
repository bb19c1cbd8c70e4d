//! The moves at the REST door against a simulated fleet: rights, the
//! tenant scope, bad input, plan then job (202, runs to success, one audit
//! event), a stale hash (409 `plan_stale`), a failing gate (409
//! `gate_failed`, one `denied` event naming the gate, no job).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app_with, body_json, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

const PLAN: &str = "/admin/v1/plans/tenants.migrate";
const JOB: &str = "/admin/v1/jobs/tenants.migrate";

async fn fleet_app() -> (TestApp, sim::Fleet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let topo = sim::Topology {
        workers: vec![model::fleet::ServiceKind::Aggregate],
        gateways: 1,
        shards: 3,
        replicas: 1,
        tenants: 6,
        ..sim::Topology::default()
    };
    let fleet = sim::Fleet::start(&topo, dir.path(), 0).await.unwrap();
    for i in fleet.instances() {
        let f = sim::Faults {
            drain_ms: 800,
            ..sim::Faults::default()
        };
        fleet.set_faults(&i.id, f).await.unwrap();
    }
    let (p, r) = (fleet.placement_path.clone(), fleet.routing_path.clone());
    let app = app_with(move |c| {
        c.fleet.source = server::config::FleetSource::File;
        c.fleet.placement_file = p;
        c.fleet.routing_file = r;
        c.fleet.poll_interval_ms = 150;
        c.jobs.poll_ms = 50;
        c.moves.poll_ms = 50;
        c.moves.error_window_ms = 300;
    })
    .await;
    (app, fleet, dir)
}

async fn post(
    a: &TestApp,
    uri: &str,
    token: &str,
    tenant: Option<&str>,
    key: Option<&str>,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(t) = tenant {
        req = req.header("x-tenant-id", t);
    }
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = a
        .send(req.body(Body::from(body.to_string())).unwrap())
        .await;
    let status = res.status();
    (status, body_json(res).await)
}

fn input(target: &str) -> serde_json::Value {
    json!({ "input": { "tenant": "t-00001", "kind": "aggregate", "target": target } })
}

/// The plan once every gate passes (the error ratios need two probes).
async fn unblocked_plan(a: &TestApp, target: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (st, plan) = post(a, PLAN, &a.admin, Some("t-00001"), None, input(target)).await;
        if st == StatusCode::OK && plan["blocked"] == false {
            return plan;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{st}: {plan}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_then_job_at_the_rest_door() {
    let (a, fleet, _dir) = fleet_app().await;
    // Rights: a viewer may not plan a move.
    let viewer = a.login("viewer");
    let (st, body) = post(&a, PLAN, &viewer, Some("t-00001"), None, input("a2")).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // Tenant scope: the header is required and must be the input's tenant.
    let (st, body) = post(&a, PLAN, &a.admin, None, None, input("a2")).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tenant_required"))
    );
    let (st, body) = post(&a, PLAN, &a.admin, Some("t-00002"), None, input("a2")).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tenant_mismatch"))
    );
    // Bad input: a stable code, the field named, the value not echoed.
    for bad in [
        json!({ "input": { "tenant": "t-00001", "kind": "aggregate", "target": "NOT A SHARD" } }),
        json!({ "input": { "tenant": "t-00001", "kind": "gateway", "target": "a2" } }),
        json!({ "input": { "tenant": "t-00001", "kind": "aggregate", "target": "a1" } }),
        json!({ "input": { "tenant": "t-00001", "kind": "aggregate", "target": "a2", "extra": 1 } }),
        json!({ "input": { "tenant": "t-00001", "kind": "aggregate", "target": "a2", "source": "a0" } }),
    ] {
        let (st, body) = post(&a, PLAN, &a.admin, Some("t-00001"), None, bad.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "bad_request");
        assert!(
            body["message"].as_str().unwrap().contains("input"),
            "{body}"
        );
        assert!(!body.to_string().contains("NOT A SHARD"));
    }
    let plan = unblocked_plan(&a, "a2").await;
    assert_eq!(plan["point_of_no_return"], "placement:aggregate");
    assert!(plan["gates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["pass"] == true));
    let hash = plan["hash"].as_str().unwrap().to_owned();
    // No hash, a wrong hash: refused, nothing created.
    let body = json!({ "reason": "rebalance", "input": input("a2")["input"] });
    let (st, b) = post(
        &a,
        JOB,
        &a.admin,
        Some("t-00001"),
        Some("\"k1\""),
        body.clone(),
    )
    .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{b}"
    );
    let mut stale = body.clone();
    stale["plan_hash"] = json!("0".repeat(64));
    let (st, b) = post(&a, JOB, &a.admin, Some("t-00001"), Some("\"k2\""), stale).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("plan_stale")),
        "{b}"
    );
    // The plan's hash: 202, and the job runs the plan to success.
    let mut good = body.clone();
    good["plan_hash"] = json!(hash);
    let (st, job) = post(&a, JOB, &a.admin, Some("t-00001"), Some("\"k3\""), good).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    // While it runs, the tenant list names the job and its source shard
    // lists the tenant as moving.
    let start = Instant::now();
    loop {
        let page = body_json(a.get("/admin/v1/tenants?q=t-00001").await).await;
        let placement = body_json(a.get("/admin/v1/placement").await).await;
        let listed = page["items"][0]["job"]["id"] == id.as_str();
        let moving = placement.as_array().unwrap().iter().any(|p| {
            p["shards"].as_array().unwrap().iter().any(|s| {
                s["shard"] == "a1"
                    && s["moving"].as_array().is_some_and(|m| {
                        m.iter()
                            .any(|m| m["tenant"] == "t-00001" && m["to"] == "a2")
                    })
            })
        });
        if listed && moving {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{page} {placement}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    let done = loop {
        let j = body_json(a.get(&format!("/admin/v1/jobs/{id}")).await).await;
        if ["succeeded", "failed", "cancelled"].contains(&j["state"].as_str().unwrap_or("")) {
            break j;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["state"], "succeeded", "{done}");
    test_support::eventually(
        "the list forgets the finished job",
        Duration::from_secs(5),
        || {
            a.state
                .engine
                .jobs
                .active_on(&model::jobs::Target::Tenant {
                    tenant: model::fleet::TenantId::parse("t-00001").unwrap(),
                })
                .is_none()
                .then_some(())
        },
    )
    .await;
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&done["steps"]), names(&plan["steps"]));
    let events: Vec<_> = a
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.record.job_id.as_deref() == Some(id.as_str()))
        .map(|e| (e.record.action, e.record.outcome))
        .collect();
    assert_eq!(
        events[0],
        (
            "job.tenants.migrate".to_owned(),
            model::audit::Outcome::Succeeded
        )
    );
    // A failing gate: 409 gate_failed, one denied event naming it, no job.
    let before = body_json(a.get("/admin/v1/jobs").await).await["total"].clone();
    for i in fleet
        .instances()
        .into_iter()
        .filter(|i| i.shard.as_deref() == Some("a0"))
    {
        let f = sim::Faults {
            down: true,
            ..sim::Faults::default()
        };
        fleet.set_faults(&i.id, f).await.unwrap();
    }
    let start = Instant::now();
    let blocked = loop {
        let (_, p) = post(&a, PLAN, &a.admin, Some("t-00001"), None, input("a0")).await;
        if p["blocked"] == true {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failing: Vec<&serde_json::Value> = blocked["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["pass"] == false)
        .collect();
    assert!(
        failing
            .iter()
            .any(|g| g["code"] == "gate_target_healthy" && g["observed"] == "down"),
        "{blocked}"
    );
    let mut refused = json!({ "reason": "must be refused", "input": input("a0")["input"] });
    refused["plan_hash"] = blocked["hash"].clone();
    let (st, b) = post(&a, JOB, &a.admin, Some("t-00001"), Some("\"k4\""), refused).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("gate_failed")),
        "{b}"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("gate_target_healthy"),
        "{b}"
    );
    let denied: Vec<_> = a
        .audit_events()
        .await
        .into_iter()
        .filter(|e| {
            e.record.action == "job.tenants.migrate"
                && e.record.outcome == model::audit::Outcome::Denied
        })
        .collect();
    assert_eq!(denied.len(), 1);
    assert!(denied[0]
        .record
        .detail
        .as_deref()
        .unwrap_or("")
        .contains("gate_target_healthy"));
    assert_eq!(denied[0].record.tenant.as_deref(), Some("t-00001"));
    assert_eq!(
        body_json(a.get("/admin/v1/jobs").await).await["total"],
        before
    );
}
