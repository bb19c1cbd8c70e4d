//! Audited actions under load, through the real router against the
//! simulated Gateway: no acknowledged action without exactly one audit
//! event, in one process and across two control planes sharing NATS, and
//! nothing done when the intent cannot be written. Side effects are counted
//! at the simulated Gateway's door, not in the code under test.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use engine::RunMode;
use server::config::Config;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// The request ids of the changes the simulated Gateway applied (a 2xx to
/// a PUT or DELETE), in order.
#[derive(Clone, Default)]
struct Applied(Arc<Mutex<Vec<String>>>);

impl Applied {
    fn ids(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The simulated Gateway on loopback, behind a recorder of applied changes.
async fn gateway() -> (sim::Iam, String, Applied) {
    let iam = sim::Iam::new(common::iam_config());
    let applied = Applied::default();
    let rec = applied.clone();
    let router = iam.router().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let rec = rec.clone();
            async move {
                let change = matches!(req.method().as_str(), "PUT" | "DELETE");
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let res = next.run(req).await;
                if change && res.status().is_success() {
                    rec.0.lock().unwrap().push(id);
                }
                res
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (iam, url, applied)
}

struct Plane {
    router: Router,
    state: server::state::AppState,
    _dir: tempfile::TempDir,
}

async fn plane(gateway_url: &str, f: impl FnOnce(&mut Config)) -> Plane {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.store.data_dir = dir.path().to_path_buf();
    config.auth.gateway_url = Some(gateway_url.to_owned());
    config.auth.cookie_secure = false;
    // The cores are busy on purpose: Gateway calls must not time out.
    config.auth.gateway_timeout_ms = 20_000;
    f(&mut config);
    let state = server::build_state(config, RunMode::Dev).await.unwrap();
    Plane {
        router: server::router(state.clone()),
        state,
        _dir: dir,
    }
}

/// Both cores kept busy for as long as this lives (the conditions under
/// which events used to be lost).
struct BusyCores(Vec<Child>);

impl BusyCores {
    fn start() -> Self {
        Self(
            (0..2)
                .map(|_| Command::new("yes").stdout(Stdio::null()).spawn().unwrap())
                .collect(),
        )
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Role `iam-admin` assigned to or taken from one of three users, by
/// request number, as the admin with its own request id.
fn role_change(admin: &str, request_id: &str, n: usize) -> Request<Body> {
    let user = ["u-viewer", "u-operator", "u-nobody"][n % 3];
    Request::builder()
        .method(if n.is_multiple_of(2) { "PUT" } else { "DELETE" })
        .uri(format!("/admin/v1/iam/users/{user}/roles/iam-admin"))
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "application/json")
        .header("x-request-id", request_id)
        .body(Body::from(r#"{"reason":"load test"}"#))
        .unwrap()
}

/// Sends `n` role changes at once through `router`; answers each request
/// id with its status.
async fn burst(router: &Router, admin: &str, prefix: &str, n: usize) -> Vec<(String, StatusCode)> {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let (router, admin) = (router.clone(), admin.to_owned());
            let id = format!("{prefix}-{i:04}");
            tokio::spawn(async move {
                let res = router.oneshot(role_change(&admin, &id, i)).await.unwrap();
                let status = res.status();
                if !status.is_success() {
                    eprintln!("{id}: {}", common::body_string(res).await);
                }
                (id, status)
            })
        })
        .collect();
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.unwrap());
    }
    out
}

/// Events per request id among `events`.
fn events_by_request(events: &[engine::audit::AuditEvent]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for e in events {
        *m.entry(e.record.request_id.clone()).or_insert(0) += 1;
    }
    m
}

/// Every answered call and every change the Gateway applied has exactly
/// one event; no intent is left open.
async fn assert_each_has_one_event(
    p: &Plane,
    answers: &[(String, StatusCode)],
    applied: &[String],
) {
    let events = p
        .state
        .engine
        .audit
        .export(&Default::default())
        .await
        .unwrap();
    let by_request = events_by_request(&events);
    for (id, status) in answers {
        assert!(status.is_success(), "{id}: {status}");
        assert_eq!(by_request.get(id), Some(&1), "{id} answered {status}");
    }
    for id in applied {
        assert_eq!(by_request.get(id), Some(&1), "applied change {id}");
    }
    for e in events
        .iter()
        .filter(|e| answers.iter().any(|(id, _)| *id == e.record.request_id))
    {
        assert!(e.record.intent_id.is_some(), "{e:?}");
        assert_eq!(e.record.outcome, model::audit::Outcome::Succeeded);
        assert!(e.record.before_digest.is_some() && e.record.after_digest.is_some());
    }
    let v = p.state.engine.audit.verify().await.unwrap();
    assert!(matches!(v, engine::audit::Verdict::Intact { .. }), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_actions_on_busy_cores_each_leave_one_event() {
    let (iam, url, applied) = gateway().await;
    let p = plane(&url, |_| {}).await;
    let admin = iam
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    let busy = BusyCores::start();
    let answers = burst(&p.router, &admin, "one", 64).await;
    drop(busy);
    assert_eq!(
        applied.ids().len(),
        64,
        "every change reached the Gateway: {answers:?}"
    );
    assert_each_has_one_event(&p, &answers, &applied.ids()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_from_each_of_two_control_planes_sharing_nats_each_leave_one_event() {
    let Some(nats) =
        test_support::nats_url("thirty_two_from_each_of_two_control_planes_sharing_nats")
    else {
        return;
    };
    let (iam, url, applied) = gateway().await;
    // The stream may hold events of earlier runs: a fixed key keeps the
    // whole chain verifiable across runs.
    let nats_config = |c: &mut Config| {
        c.store.backend = server::config::StoreBackend::Nats;
        c.nats.url = Some(nats.clone());
        c.audit.hmac_key = Some(server::config::Secret::new(
            "audit-key-for-the-nats-test-only-0123456789",
        ));
    };
    let (a, b) = (
        plane(&url, nats_config).await,
        plane(&url, nats_config).await,
    );
    let admin = iam
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    // Unique per run, since the stream outlives it.
    let run: u32 = rand::random();
    let busy = BusyCores::start();
    let (pa, pb) = (format!("a{run:08x}"), format!("b{run:08x}"));
    let (ra, rb) = tokio::join!(
        burst(&a.router, &admin, &pa, 32),
        burst(&b.router, &admin, &pb, 32)
    );
    drop(busy);
    let answers: Vec<_> = ra.into_iter().chain(rb).collect();
    assert_eq!(applied.ids().len(), 64);
    assert_each_has_one_event(&a, &answers, &applied.ids()).await;
    assert_each_has_one_event(&b, &answers, &applied.ids()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_an_action_is_refused_before_the_gateway_is_called() {
    let (iam, url, applied) = gateway().await;
    // Nothing listens there: the intent cannot be written.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = plane(&url, |c| {
        c.store.backend = server::config::StoreBackend::Nats;
        c.nats.url = Some(format!("nats://127.0.0.1:{port}"));
        c.audit.hmac_key = Some(server::config::Secret::new(
            "audit-key-for-the-nats-test-only-0123456789",
        ));
    })
    .await;
    let admin = iam
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    let res = p
        .router
        .clone()
        .oneshot(role_change(&admin, "down-0001", 0))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = common::body_json(res).await;
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{body}"
    );
    assert!(
        applied.ids().is_empty(),
        "the Gateway was called: {:?}",
        applied.ids()
    );
}

/// One HTTP/1.1 request on a fresh connection; the status, or `None` when
/// the server went away before answering.
async fn raw_send(port: u16, head: &str, body: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let req = format!(
        "{head}\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.ok()?;
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1)?.parse().ok()
}

const CRASH_KEY: &str = "audit-key-for-the-crash-test-only-0123456789";

fn start_control(port: u16, dir: &std::path::Path, gateway: &str) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_control"));
    // The binary must not see the test harness's CONTROL_* settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("CONTROL_") {
            c.env_remove(k);
        }
    }
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CONTROL_STORE_DATA_DIR", dir)
        .env("CONTROL_AUTH_GATEWAY_URL", gateway)
        .env("CONTROL_AUDIT_HMAC_KEY", CRASH_KEY)
        .env("CONTROL_AUTH_GATEWAY_TIMEOUT_MS", "20000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `kill -9` of the `control` binary at random moments while audited
/// actions run. After restart and recovery: every acknowledged action and
/// every change the Gateway applied has exactly one event, every intent
/// left behind is finished exactly once (two recoveries race), the chain
/// verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_actions_loses_no_event_after_recovery() {
    use engine::action::{Actions, Timing};
    use engine::store::Substrate;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let (iam, url, applied) = gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let admin = iam
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    let mut acked: Vec<String> = Vec::new();
    // A small deterministic generator for kill delays.
    let mut seed: u64 = 0x5eed;
    let mut next = |max: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % max
    };
    for round in 0..6 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = start_control(port, dir.path(), &url);
        let up = Instant::now();
        while raw_send(port, "GET /health HTTP/1.1", "").await != Some(200) {
            assert!(
                up.elapsed() < Duration::from_secs(60),
                "round {round}: control did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (stop, admin) = (stop.clone(), admin.clone());
                tokio::spawn(async move {
                    let mut ok = Vec::new();
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let id = format!("k{round}-{w}-{i:04}");
                        let user = ["u-viewer", "u-operator", "u-nobody"][(w + i) % 3];
                        let method = if i.is_multiple_of(2) { "PUT" } else { "DELETE" };
                        let head = format!(
                            "{method} /admin/v1/iam/users/{user}/roles/iam-admin HTTP/1.1\r\n\
                             authorization: Bearer {admin}\r\ncontent-type: application/json\r\n\
                             x-request-id: {id}"
                        );
                        match raw_send(port, &head, r#"{"reason":"crash test"}"#).await {
                            Some(s) if (200..300).contains(&s) => ok.push(id),
                            Some(s) => eprintln!("crash test {id}: {s}"),
                            // The server is gone: this round is over.
                            None => break,
                        }
                        i += 1;
                    }
                    ok
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(800 + next(2500))).await;
        // SIGKILL: no chance to finish anything.
        child.kill().unwrap();
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            acked.extend(w.await.unwrap());
        }
    }
    assert!(
        acked.len() > 20,
        "too few actions acknowledged to mean anything: {}",
        acked.len()
    );

    // The restart: nothing else runs, so every intent left is stale.
    let store: Arc<dyn Substrate> = Arc::new(
        engine::store::embedded::EmbeddedStore::open(dir.path())
            .await
            .expect("the store opens after the kills"),
    );
    let audit = Arc::new(engine::audit::AuditLog::lazy(
        store.clone(),
        CRASH_KEY.as_bytes(),
    ));
    // Stale for both recoveries, while a claim one of them just made is not.
    let timing = Timing {
        stale_after: Duration::from_secs(1),
        every: Duration::from_secs(60),
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (r1, r2) = (
        Actions::new(audit.clone(), store.clone(), timing),
        Actions::new(audit.clone(), store.clone(), timing),
    );
    let left = r1.open_intents().await.unwrap();
    let (w1, w2) = tokio::join!(r1.recover(), r2.recover());
    let written = w1.unwrap() + w2.unwrap();
    assert!(
        written <= left.len(),
        "{written} events for {} intents",
        left.len()
    );
    assert_eq!(r1.open_intents().await.unwrap(), Vec::<String>::new());

    let events = audit.export(&Default::default()).await.unwrap();
    let by_request = events_by_request(&events);
    for id in &acked {
        assert_eq!(by_request.get(id), Some(&1), "acknowledged {id}");
    }
    for id in applied.ids() {
        assert_eq!(by_request.get(&id), Some(&1), "applied change {id}");
    }
    let mut intents = HashMap::new();
    for e in &events {
        if let Some(i) = &e.record.intent_id {
            *intents.entry(i.clone()).or_insert(0) += 1;
        }
    }
    assert!(
        intents.values().all(|n| *n == 1),
        "an intent finished twice"
    );
    for id in &left {
        assert_eq!(intents.get(id), Some(&1), "left intent {id} not finished");
    }
    let v = audit.verify().await.unwrap();
    assert_eq!(
        v,
        engine::audit::Verdict::Intact {
            events: events.len() as u64
        }
    );
    eprintln!(
        "crash test: {} acknowledged, {} applied at the Gateway, {} intents left by kills, {written} finished by recovery",
        acked.len(),
        applied.ids().len(),
        left.len()
    );
}
