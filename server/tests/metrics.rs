//! `/metrics` read back as a scraper reads it: the whole body parses as
//! Prometheus text (0.0.4) with each family once, the counters move by
//! exactly the requests made, SSE clients are counted while their streams
//! are open, and every metric of the contract in docs/observability.md is
//! exported with the type and labels the table gives it.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app_with, body_json, body_string, TestApp};
use engine::swarm::{DeploySettings, Deployments, MemorySwarm};
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

/// `GET /metrics`, parsed; panics (with the body) on anything a scraper
/// would refuse.
async fn scrape(a: &TestApp) -> Exposition {
    let res = a.get_anon("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = body_string(res).await;
    let parsed = parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e}\n{text}"));
    // The parser refuses a family split in two; one declared twice in a
    // row, or an OpenMetrics end marker, is refused here.
    let mut declared: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines() {
        assert_ne!(line, "# EOF", "an OpenMetrics marker in Prometheus text");
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            *declared.entry(rest.split(' ').next().unwrap()).or_default() += 1;
        }
    }
    let twice: Vec<_> = declared.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "families declared twice: {twice:?}");
    assert_eq!(declared.len(), parsed.families.len());
    parsed
}

/// The value of the sample of `family` whose labels include `labels`
/// (a histogram's: its count).
fn value(e: &Exposition, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let f = e.families.get(family)?;
    let s = f.iter_samples().find(|s| {
        let set = s.get_labelset().unwrap();
        labels
            .iter()
            .all(|(k, v)| set.get_label_value(k) == Some(*v))
    })?;
    Some(match &s.value {
        PrometheusValue::Counter(c) => c.value.as_f64(),
        PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
        PrometheusValue::Histogram(h) => h.count.unwrap_or_default() as f64,
        PrometheusValue::Summary(s) => s.count.unwrap_or_default() as f64,
    })
}

#[tokio::test]
async fn counters_move_by_exactly_the_requests_made() {
    let a = common::app().await;
    let status = [
        ("method", "GET"),
        ("route", "/admin/v1/status"),
        ("status", "200"),
    ];
    let refused = [("reason", "no_credentials")];
    let before = scrape(&a).await;
    // Every refusal reason is a series from the start.
    for reason in [
        "no_credentials",
        "bad_credentials",
        "identity_unavailable",
        "forbidden",
        "cross_site",
        "tenant_scope",
    ] {
        assert!(
            value(
                &before,
                "control_auth_refusals_total",
                &[("reason", reason)]
            )
            .is_some(),
            "{reason}"
        );
    }
    let served = |e: &Exposition| value(e, "control_http_requests_total", &status).unwrap_or(0.0);
    let refusals = |e: &Exposition| value(e, "control_auth_refusals_total", &refused).unwrap();

    for _ in 0..3 {
        assert_eq!(a.get("/admin/v1/status").await.status(), StatusCode::OK);
    }
    assert_eq!(
        a.get_anon("/admin/v1/status").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let after = scrape(&a).await;
    assert_eq!(served(&after) - served(&before), 3.0);
    assert_eq!(
        value(&after, "control_http_request_duration_seconds", &status).unwrap()
            - value(&before, "control_http_request_duration_seconds", &status).unwrap_or(0.0),
        3.0,
        "one latency observation per request"
    );
    assert_eq!(refusals(&after) - refusals(&before), 1.0);

    let build = [
        ("service", "control"),
        ("version", server::VERSION),
        ("git_sha", server::GIT_SHA),
    ];
    assert_eq!(value(&after, "control_build_info", &build), Some(1.0));
    assert_eq!(
        after.families["control_build_info"].family_type,
        PrometheusType::Gauge
    );
}

#[tokio::test]
async fn sse_clients_are_counted_while_their_streams_are_open() {
    let a = common::app().await;
    let open = |e: &Exposition, stream: &str| {
        value(e, "control_sse_clients", &[("stream", stream)])
            .unwrap_or_else(|| panic!("no series for stream {stream}"))
    };
    let e = scrape(&a).await;
    for stream in ["job", "jobs", "deploy", "fleet"] {
        assert_eq!(open(&e, stream), 0.0, "{stream}");
    }
    let fleet = a.get("/admin/v1/fleet/events").await;
    let fleet_too = a.get("/admin/v1/fleet/events").await;
    let jobs = a.get("/admin/v1/jobs/changes").await;
    let deploy = a.get("/admin/v1/deploy/events").await;
    for res in [&fleet, &fleet_too, &jobs, &deploy] {
        assert_eq!(res.status(), StatusCode::OK);
    }
    let e = scrape(&a).await;
    assert_eq!(open(&e, "fleet"), 2.0);
    assert_eq!(open(&e, "jobs"), 1.0);
    assert_eq!(open(&e, "deploy"), 1.0);
    // A client that goes away drops its body.
    drop(fleet);
    assert_eq!(open(&scrape(&a).await, "fleet"), 1.0);
    drop((fleet_too, jobs, deploy));
    let e = scrape(&a).await;
    for stream in ["job", "jobs", "deploy", "fleet"] {
        assert_eq!(open(&e, stream), 0.0, "{stream}");
    }
}

/// The contract table of docs/observability.md ("The control plane"):
/// each backticked `control_*` name with its type and backticked labels.
fn contract() -> Vec<(String, PrometheusType, BTreeSet<String>)> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/observability.md"
    ))
    .unwrap();
    let section = doc
        .split("\n### ")
        .find(|s| s.starts_with("The control plane (`control_*`)"))
        .expect("the control plane's section");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mut out = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `control_")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let kind = match cells[2].split(' ').next().unwrap() {
            "counter" => PrometheusType::Counter,
            "gauge" => PrometheusType::Gauge,
            "histogram" => PrometheusType::Histogram,
            other => panic!("unknown type {other} in {row}"),
        };
        let labels: BTreeSet<String> = ticked(cells[3]).into_iter().collect();
        for name in ticked(cells[1]) {
            out.push((name, kind.clone(), labels.clone()));
        }
    }
    assert!(out.len() > 20, "the table was not read: {out:?}");
    out
}

/// An app with a simulated fleet (a job to run) and the Swarm observer over
/// the in-memory Swarm, with one service deployed: every family has series.
async fn busy_app() -> (TestApp, sim::Fleet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let topo = sim::Topology {
        gateways: 1,
        shards: 1,
        replicas: 1,
        tenants: 1,
        ..sim::Topology::default()
    };
    let fleet = sim::Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let (p, r) = (fleet.placement_path.clone(), fleet.routing_path.clone());
    let mut a = app_with(move |c| {
        c.fleet.source = server::config::FleetSource::File;
        c.fleet.placement_file = p;
        c.fleet.routing_file = r;
        c.fleet.poll_interval_ms = 100;
        c.jobs.poll_ms = 50;
    })
    .await;

    // The test config has no Docker Engine: the observer is replaced by one
    // over the in-memory Swarm, and `/metrics` is built over it as the
    // wiring builds it.
    let swarm = Arc::new(MemorySwarm::default());
    let store = a.state.engine.store.clone();
    let actions = engine::action::Actions::new(
        a.state.engine.audit.clone(),
        store.clone(),
        engine::action::Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    let deploy = Deployments::new(
        swarm.clone(),
        store,
        actions,
        DeploySettings {
            poll: Duration::from_millis(50),
            fingerprint_key: vec![1],
            grafana: None,
        },
    );
    swarm.set_nodes(vec![bollard::models::Node {
        id: Some("n1".into()),
        spec: Some(bollard::models::NodeSpec {
            role: Some(bollard::models::NodeSpecRoleEnum::MANAGER),
            availability: Some(bollard::models::NodeSpecAvailabilityEnum::ACTIVE),
            ..Default::default()
        }),
        status: Some(bollard::models::NodeStatus {
            state: Some(bollard::models::NodeState::READY),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    let id = swarm.create(bollard::models::ServiceSpec {
        name: Some("cl_gateway".into()),
        labels: Some([(model::deploy::STACK_LABEL.to_owned(), "cl".to_owned())].into()),
        mode: Some(bollard::models::ServiceSpecMode {
            replicated: Some(bollard::models::ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        task_template: Some(bollard::models::TaskSpec {
            container_spec: Some(bollard::models::TaskSpecContainerSpec {
                image: Some("cl/gateway:1.1".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    swarm.set_tasks(
        &id,
        vec![bollard::models::Task {
            id: Some("t1".into()),
            service_id: Some(id.clone()),
            desired_state: Some(bollard::models::TaskState::RUNNING),
            status: Some(bollard::models::TaskStatus {
                state: Some(bollard::models::TaskState::RUNNING),
                ..Default::default()
            }),
            ..Default::default()
        }],
    );
    deploy.refresh().await.unwrap();
    swarm.set_update_state(&id, model::deploy::UpdateState::Updating, "updating");
    deploy.refresh().await.unwrap();
    a.state.engine.deploy = deploy;
    a.state.metrics = Arc::new(server::metrics::Metrics::new(
        a.state.engine.control.build(),
        &a.state.engine,
    ));
    a.router = server::router(a.state.clone());
    (a, fleet, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_contract_metric_is_exported_with_its_type_and_labels() {
    let (a, _fleet, _dir) = busy_app().await;
    // A job that runs its steps to the end, followed live meanwhile.
    let res = a
        .send_admin(
            Request::post("/admin/v1/jobs/routing.reload")
                .header("content-type", "application/json")
                .header("idempotency-key", "\"metrics\"")
                .body(Body::from(r#"{"reason":"metrics test"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = body_json(res).await["id"].as_str().unwrap().to_owned();
    let events = a.get(&format!("/admin/v1/jobs/{id}/events")).await;
    assert_eq!(events.status(), StatusCode::OK);
    // Until the job has finished and a sweep has found the gateway up.
    let started = std::time::Instant::now();
    let e = loop {
        let e = scrape(&a).await;
        let finished = [("kind", "routing.reload"), ("outcome", "succeeded")];
        let gateway_up = [("kind", "gateway"), ("status", "up")];
        if value(&e, "control_jobs_finished_total", &finished) == Some(1.0)
            && value(&e, "control_fleet_instances", &gateway_up) == Some(1.0)
        {
            break e;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job did not finish, or the gateway is not up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        value(&e, "control_sse_clients", &[("stream", "job")]),
        Some(1.0)
    );
    drop(events);

    let mut missing = Vec::new();
    for (name, kind, labels) in contract() {
        let Some(f) = e.families.get(&name) else {
            missing.push(name);
            continue;
        };
        assert_eq!(f.family_type, kind, "{name}");
        let got: BTreeSet<String> = f.get_label_names().iter().cloned().collect();
        assert_eq!(got, labels, "labels of {name}");
        assert!(f.iter_samples().next().is_some(), "{name} has no series");
    }
    assert!(missing.is_empty(), "not exported: {missing:?}");

    // Zeros, not "no data", for what has not happened yet.
    for (family, labels) in [
        (
            "control_jobs_created_total",
            vec![("kind", "deploy.rollback")],
        ),
        ("control_jobs_in_flight", vec![("kind", "tenants.migrate")]),
        ("control_jobs_waiting", vec![("kind", "config.apply")]),
        (
            "control_job_lease_takeovers_total",
            vec![("kind", "shards.evacuate")],
        ),
        (
            "control_job_idempotency_conflicts_total",
            vec![("code", "idempotency_key_reused")],
        ),
        ("control_audit_appends_total", vec![("outcome", "error")]),
        (
            "control_fleet_instances",
            vec![("kind", "runner"), ("status", "down")],
        ),
    ] {
        assert_eq!(value(&e, family, &labels), Some(0.0), "{family} {labels:?}");
    }
    // What did happen, counted.
    assert!(value(&e, "control_audit_appends_total", &[("outcome", "ok")]).unwrap() >= 1.0);
    assert_eq!(
        value(
            &e,
            "control_jobs_created_total",
            &[("kind", "routing.reload")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &e,
            "control_deploy_events_total",
            &[("service", "cl_gateway"), ("outcome", "started")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &e,
            "control_swarm_service_replicas",
            &[("service", "cl_gateway"), ("kind", "running")]
        ),
        Some(1.0)
    );
    assert!(value(&e, "control_fleet_sweep_duration_seconds", &[]).unwrap() >= 1.0);
}
