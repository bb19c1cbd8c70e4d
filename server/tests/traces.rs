//! Traces, end to end: the control plane exports OTLP/HTTP (protobuf) to a
//! real receiver that decodes the export requests. A UI request that
//! starts a job yields one trace: the request, the job, its steps and their
//! outbound calls, each parented by the one before; the simulated gateway
//! receives that trace id in `traceparent`, with the outbound span's id as
//! its parent. Spans that never arrive (the exporter's known silent-drop
//! failure) fail this test.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use common::body_json;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received span: ids as hex, its name and string attributes.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    trace: String,
    id: String,
    parent: String,
    name: String,
    attrs: BTreeMap<String, String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// A real OTLP/HTTP traces receiver: `POST /v1/traces`, protobuf.
async fn receiver() -> (String, Arc<Mutex<Vec<Got>>>) {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                let Ok(req) = ExportTraceServiceRequest::decode(body) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                let mut out = sink.lock().unwrap();
                for rs in req.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| r.attributes.iter())
                        .find(|a| a.key == "service.name")
                        .map(|a| text(&a.value))
                        .unwrap_or_default();
                    for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                        out.push(Got {
                            service: service.clone(),
                            trace: hex(&span.trace_id),
                            id: hex(&span.span_id),
                            parent: hex(&span.parent_span_id),
                            name: span.name.clone(),
                            attrs: span
                                .attributes
                                .iter()
                                .map(|a| (a.key.clone(), text(&a.value)))
                                .collect(),
                        });
                    }
                }
                (
                    StatusCode::OK,
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (url, got)
}

fn job_span_attr(spans: &[Got], key: &str) -> String {
    spans
        .iter()
        .find(|s| s.name.starts_with("job "))
        .and_then(|s| s.attrs.get(key).cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ui_request_that_starts_a_job_is_one_trace_down_to_the_simulator() {
    let (endpoint, got) = receiver().await;
    let traces = server::config::TracesConfig {
        endpoint: Some(endpoint),
        service_name: "control-test".into(),
        ..Default::default()
    };
    let telemetry = server::logging::init(&server::config::LogConfig::default(), &traces).unwrap();

    let topo = sim::Topology {
        gateways: 1,
        shards: 1,
        replicas: 1,
        tenants: 2,
        ..sim::Topology::default()
    };
    let (app, fleet, _dir) = common::with_fleet(&topo, |c| {
        c.jobs.poll_ms = 50;
        c.traces = traces.clone();
    })
    .await;
    while !common::body_string(app.get("/admin/v1/routing").await)
        .await
        .contains("gateway")
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The browser's request continues the trace in its traceparent.
    let browser_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let browser_span = "00f067aa0ba902b7";
    let res = app
        .send(
            Request::post("/api/jobs/routing_reload")
                .header("authorization", format!("Bearer {}", app.admin))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .header(
                    "traceparent",
                    format!("00-{browser_trace}-{browser_span}-01"),
                )
                .body(Body::from("idempotency_key=trace-1&reason=trace+test"))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let echoed = res.headers()["traceparent"].to_str().unwrap().to_owned();
    let echoed = model::TraceParent::parse(&echoed).unwrap();
    assert_eq!(
        echoed.trace_id.as_str(),
        browser_trace,
        "the trace continues"
    );
    let job = body_json(res).await;
    // The server function answers the new job's id.
    let job_id = job.as_str().unwrap_or_else(|| panic!("{job}")).to_owned();

    // The job finishes, then everything it exported arrives.
    let start = std::time::Instant::now();
    loop {
        let v = body_json(app.get(&format!("/admin/v1/jobs/{job_id}")).await).await;
        if v["state"] == "succeeded" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "job did not succeed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The job's span closes when its runner returns, just after the
    // terminal write the poll above saw: export until it is there.
    let in_trace = || -> Vec<Got> {
        got.lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace == browser_trace)
            .cloned()
            .collect()
    };
    let start = std::time::Instant::now();
    let spans = loop {
        telemetry.flush();
        let spans = in_trace();
        if spans.iter().any(|s| s.name.starts_with("job "))
            || start.elapsed() > Duration::from_secs(10)
        {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(
        spans.iter().all(|s| s.service == "control-test"),
        "{spans:?}"
    );
    let by_id: BTreeMap<&str, &Got> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    let one = |pred: &dyn Fn(&Got) -> bool, what: &str| -> Got {
        let found: Vec<&Got> = spans.iter().filter(|s| pred(s)).collect();
        assert!(!found.is_empty(), "no {what} span in {names:?}");
        found[0].clone()
    };

    // request (child of the browser) → job → step → outbound → simulator
    let request = one(&|s| s.name == "POST /api/jobs/routing_reload", "request");
    assert_eq!(
        request.parent, browser_span,
        "the request's parent is the browser"
    );
    assert_eq!(
        request.id,
        echoed.parent_id.as_str(),
        "the echoed traceparent is the exported span"
    );
    assert_eq!(request.attrs["http.response.status_code"], "200");
    for id in ["request_id", "correlation_id"] {
        assert!(
            request.attrs.get(id).is_some_and(|v| !v.is_empty()),
            "{id}: {request:?}"
        );
        assert_eq!(
            job_span_attr(&spans, id),
            request.attrs[id],
            "the job carries the request's {id}"
        );
    }
    let job_span = one(&|s| s.name == "job routing.reload", "job");
    assert_eq!(
        job_span.parent, request.id,
        "the job's parent is the request"
    );
    assert_eq!(job_span.attrs["job_id"], job_id);
    let steps: Vec<&Got> = spans
        .iter()
        .filter(|s| s.name.starts_with("step "))
        .collect();
    assert!(!steps.is_empty(), "{names:?}");
    for s in &steps {
        assert_eq!(s.parent, job_span.id, "a step's parent is the job: {s:?}");
    }
    let calls: Vec<&Got> = spans
        .iter()
        .filter(|s| {
            s.name.starts_with("POST ")
                && s.attrs
                    .get("url.path")
                    .is_some_and(|p| p == "/admin/routing/reload")
        })
        .collect();
    assert!(!calls.is_empty(), "no outbound reload call in {names:?}");
    for c in &calls {
        let parent = by_id
            .get(c.parent.as_str())
            .unwrap_or_else(|| panic!("orphan {c:?}"));
        assert!(parent.name.starts_with("step "), "{c:?} under {parent:?}");
    }

    // The simulated gateway got the same trace, parented by an outbound span.
    let received: Vec<model::TraceParent> = fleet
        .traceparents()
        .into_values()
        .flatten()
        .filter_map(|t| model::TraceParent::parse(&t).ok())
        .filter(|t| t.trace_id.as_str() == browser_trace)
        .collect();
    assert!(!received.is_empty(), "the gateway saw the trace id");
    assert!(
        received
            .iter()
            .any(|t| calls.iter().any(|c| c.id == t.parent_id.as_str())),
        "the reload the gateway received is the exported reload call"
    );
    for t in &received {
        let parent = by_id.get(t.parent_id.as_str());
        assert!(
            parent.is_some_and(|p| p.attrs.contains_key("url.path")),
            "the gateway's parent span {} is an exported outbound call",
            t.parent_id.as_str()
        );
    }
}
