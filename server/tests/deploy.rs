//! The deployment doors (`/admin/v1/deploy/*`): with no Docker Engine they
//! answer 503 `swarm_unavailable`; against a real dockerd in Swarm mode
//! (`CONTROL_TEST_DOCKER_SOCKET`) they list a service created there, show
//! its detail, history and what changed, with rights and bad input.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{app_with, body_json, TestApp};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn get(a: &TestApp, uri: &str, token: &str) -> (StatusCode, Value) {
    let res = a
        .send(
            Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let status = res.status();
    (status, body_json(res).await)
}

#[tokio::test]
async fn without_a_docker_engine_the_doors_answer_swarm_unavailable() {
    let a = app_with(|_| {}).await;
    let (s, b) = get(&a, "/admin/v1/deploy/services", &a.admin).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(b["code"], "swarm_unavailable");
    assert!(!b["message"].as_str().unwrap().contains("connect"), "{b}");
    // Bad input is refused before the daemon is asked.
    let (s, b) = get(&a, "/admin/v1/deploy/services/a%20b", &a.admin).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let (s, b) = get(&a, "/admin/v1/deploy/services?status=sideways", &a.admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = get(&a, "/admin/v1/deploy/services?nope=1", &a.admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The rollback doors: the plan needs the Engine, the job a key, both the right.
    let post = |uri: &'static str, token: String, body: &'static str, key: bool| {
        let mut r = Request::post(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json");
        if key {
            r = r.header("idempotency-key", "\"rb-rest\"");
        }
        r.body(Body::from(body)).unwrap()
    };
    let plan = r#"{"input":{"service":"cl_gateway"}}"#;
    let res = a
        .send(post(
            "/admin/v1/plans/deploy.rollback",
            a.admin.clone(),
            plan,
            false,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_json(res).await["code"], "swarm_unavailable");
    let res = a
        .send(post(
            "/admin/v1/plans/deploy.rollback",
            a.admin.clone(),
            r#"{"input":{"service":"a b"}}"#,
            false,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let job = r#"{"reason":"r","input":{"service":"cl_gateway"},"plan_hash":"00"}"#;
    let res = a
        .send(post(
            "/admin/v1/jobs/deploy.rollback",
            a.admin.clone(),
            job,
            false,
        ))
        .await;
    assert_eq!(body_json(res).await["code"], "idempotency_key_required");
    let viewer = a.login("viewer");
    for uri in [
        "/admin/v1/plans/deploy.rollback",
        "/admin/v1/jobs/deploy.rollback",
    ] {
        let res = a.send(post(uri, viewer.clone(), job, true)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{uri}");
    }
    let res = a
        .send(post(
            "/admin/v1/deploy/services/cl_gateway/unpin",
            a.admin.clone(),
            r#"{"reason":"x"}"#,
            false,
        ))
        .await;
    assert_eq!(body_json(res).await["code"], "not_found", "nothing pinned");
    // Drift needs the Engine too; its filters are checked first.
    let (s, b) = get(&a, "/admin/v1/platform/drift", &a.admin).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("swarm_unavailable")),
        "{b}"
    );
    for bad in ["category=sideways", "colour=red"] {
        let (s, b) = get(&a, &format!("/admin/v1/platform/drift?{bad}"), &a.admin).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{bad}: {b}"
        );
    }
    // No right, no answer.
    let nobody = a.login("nobody");
    let (s, b) = get(&a, "/admin/v1/platform/drift", &nobody).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = get(&a, "/admin/v1/deploy/services", &nobody).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_on_a_real_swarm_is_listed_explained_and_guarded() {
    let Some(socket) = test_support::docker_socket("deploy REST") else {
        return;
    };
    let run = format!("{:08x}", rand::random::<u32>());
    // The desired stack: the service as created below.
    let stack_dir = tempfile::tempdir().unwrap();
    let stack_file = stack_dir.path().join("stack.yml");
    std::fs::write(
        &stack_file,
        "services:\n  svc:\n    image: cltest/none:1\n    environment: [LOG=info, SESSION_SECRET=do-not-show]\n    deploy: {replicas: 0}\n",
    )
    .unwrap();
    let stacks = format!("clrest{run}={}", stack_file.display());
    let a = app_with(|c| {
        c.swarm.connect = server::config::SwarmConnectKind::Socket;
        c.swarm.socket = socket.clone().into();
        c.swarm.poll_ms = 300;
        c.drift.stacks = stacks.clone();
    })
    .await;
    let docker =
        bollard::Docker::connect_with_socket(&socket, 30, bollard::API_DEFAULT_VERSION).unwrap();
    let name = format!("clrest{run}_svc");
    let spec = |env: &str| bollard::models::ServiceSpec {
        name: Some(name.clone()),
        labels: Some(
            [(
                model::deploy::STACK_LABEL.to_owned(),
                format!("clrest{run}"),
            )]
            .into(),
        ),
        mode: Some(bollard::models::ServiceSpecMode {
            // No task needs to run: an image that is not there is fine.
            replicated: Some(bollard::models::ServiceSpecModeReplicated { replicas: Some(0) }),
            ..Default::default()
        }),
        task_template: Some(bollard::models::TaskSpec {
            container_spec: Some(bollard::models::TaskSpecContainerSpec {
                image: Some("cltest/none:1".into()),
                env: Some(vec![env.to_owned(), "SESSION_SECRET=do-not-show".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = docker.create_service(spec("LOG=info"), None).await.unwrap();
    let id = created.id.unwrap();
    struct Gone(bollard::Docker, String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let (d, id) = (self.0.clone(), self.1.clone());
            let _ = std::thread::spawn(move || {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(async move { d.delete_service(&id).await })
            })
            .join();
        }
    }
    let _gone = Gone(docker.clone(), id.clone());

    let uri = format!("/admin/v1/deploy/services?stack=clrest{run}");
    let start = Instant::now();
    let page = loop {
        let (s, b) = get(&a, &uri, &a.admin).await;
        if s == StatusCode::OK && b["total"] == 1 {
            break b;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{s} {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page["items"][0]["name"], name.as_str());
    assert_eq!(page["items"][0]["image_ref"]["tag"], "1");
    assert_eq!(page["stale"], false);

    // A change made by hand on the daemon, recorded and explained.
    let cur = docker
        .inspect_service(
            &id,
            None::<bollard::query_parameters::InspectServiceOptions>,
        )
        .await
        .unwrap();
    docker
        .update_service(
            &id,
            spec("LOG=debug"),
            bollard::query_parameters::UpdateServiceOptions {
                version: cur.version.unwrap().index.unwrap() as i32,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    let viewer = a.login("viewer");
    let diff_uri = format!("/admin/v1/deploy/services/{name}/diff");
    let start = Instant::now();
    let diff = loop {
        let (s, b) = get(&a, &diff_uri, &viewer).await;
        if s == StatusCode::OK {
            break b;
        }
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        assert!(start.elapsed() < Duration::from_secs(30), "{b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let changes = diff["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{diff}");
    assert_eq!(changes[0]["field"], "env.LOG");
    assert_eq!(
        (changes[0]["from"].as_str(), changes[0]["to"].as_str()),
        (Some("info"), Some("debug"))
    );

    let (s, detail) = get(&a, &format!("/admin/v1/deploy/services/{name}"), &viewer).await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    assert_eq!(detail["history"].as_array().unwrap().len(), 2);
    let (s, history) = get(
        &a,
        &format!("/admin/v1/deploy/services/{name}/history"),
        &viewer,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // The hand change is drift from the stack file: the variable, from
    // what runs to what the file says.
    let (s, drift) = get(
        &a,
        &format!("/admin/v1/platform/drift?stack=clrest{run}"),
        &viewer,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{drift}");
    let items = drift["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{drift}");
    assert_eq!(
        (items[0]["category"].as_str(), items[0]["subject"].as_str()),
        (Some("config_mismatch"), Some(name.as_str()))
    );
    assert_eq!(items[0]["fields"][0]["field"], "env.LOG");
    assert_eq!(items[0]["fields"][0]["to"], "info");
    assert_eq!(items[0]["remediation"]["job"], "deploy.rollback", "{drift}");
    for text in [
        detail.to_string(),
        history.to_string(),
        diff.to_string(),
        drift.to_string(),
    ] {
        assert!(!text.contains("do-not-show"), "a secret value was served");
    }
    // Unknown service, unknown record, a record before the first.
    let (s, b) = get(&a, "/admin/v1/deploy/services/clrest-none", &viewer).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, _) = get(&a, &format!("{diff_uri}?from=1&to=99"), &viewer).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = get(&a, &format!("{diff_uri}?from=x"), &viewer).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The observer's metrics are on /metrics.
    let res = a
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    let text = String::from_utf8(
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("control_deploy_specs_recorded_total"),
        "{text}"
    );
}
