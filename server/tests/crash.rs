//! The real `control` binary under process faults. Killed with SIGKILL at
//! random moments while 100 routing reloads are created and run, on the
//! embedded store and on NATS (whose server is also killed and restarted
//! mid-run): after the last restart every acknowledged job reaches a
//! terminal state, and the simulated gateways — where the side effects
//! happen — saw each (job, step) applied exactly once. Two replicas on one
//! NATS sharing 500 jobs, one `SIGSTOP`ped past its lease while it runs a
//! job: the other takes the job over, and the paused one, resumed, writes
//! nothing more to it.

use rand::Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_control");
const JOBS: usize = 100;
const GATEWAYS: usize = 2;

/// One `control serve` process at a time over one data dir (or NATS).
struct Control {
    addr: SocketAddr,
    env: Vec<(String, String)>,
    child: Option<Child>,
    starts: usize,
    /// Where stdout goes (JSON log lines), when the test reads it.
    log: Option<PathBuf>,
}

impl Control {
    fn new(dir: &Path, fleet: &sim::Fleet, store: Vec<(&str, String)>) -> Self {
        let mut env: Vec<(String, String)> = vec![
            ("CONTROL_STORE_DATA_DIR".into(), dir.display().to_string()),
            ("CONTROL_AUTH_GATEWAY_URL".into(), fleet.gateway_url()),
            ("CONTROL_AUDIT_HMAC_KEY".into(), "k".repeat(32)),
            ("CONTROL_FLEET_SOURCE".into(), "file".into()),
            (
                "CONTROL_FLEET_PLACEMENT_FILE".into(),
                fleet.placement_path.display().to_string(),
            ),
            (
                "CONTROL_FLEET_ROUTING_FILE".into(),
                fleet.routing_path.display().to_string(),
            ),
            ("CONTROL_FLEET_POLL_INTERVAL_MS".into(), "200".into()),
            // A killed runner's jobs are taken over after its lease.
            ("CONTROL_JOBS_LEASE_MS".into(), "1500".into()),
            ("CONTROL_JOBS_POLL_MS".into(), "50".into()),
            ("CONTROL_LOG_LEVEL".into(), "warn".into()),
        ];
        env.extend(store.into_iter().map(|(k, v)| (k.to_owned(), v)));
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            env,
            child: None,
            starts: 0,
            log: None,
        }
    }

    async fn start(&mut self) {
        let mut c = test_support::command_without_control_env(BIN);
        c.args(["serve", "--listen", &self.addr.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(match &self.log {
                Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
                None => Stdio::null(),
            })
            .stderr(Stdio::null());
        self.child = Some(c.spawn().unwrap());
        self.starts += 1;
        let start = Instant::now();
        loop {
            if let Ok((200, _)) = test_support::http("GET", self.addr, "/ready", "").await {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "control did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.as_ref().unwrap()).unwrap_or_default()
    }

    /// The runner id this process's job records name as lease holder.
    fn runner_id(&self) -> String {
        let text = self.log_text();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["message"] == "job runner started")
            .and_then(|v| v["fields"]["runner"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no runner id in the log: {text}"))
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A nats-server of this test's own, killable and restartable on the same
/// port and store.
struct Nats {
    port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Nats {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let conf = dir.join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n",
                dir.join("js").display()
            ),
        )
        .unwrap();
        let mut n = Self {
            port,
            conf,
            child: None,
        };
        n.restart();
        n
    }

    fn restart(&mut self) {
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH (scripts/test.sh puts it there)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn fleet(dir: &Path) -> sim::Fleet {
    let topo = sim::Topology {
        gateways: GATEWAYS,
        shards: 1,
        replicas: 1,
        tenants: 2,
        ..sim::Topology::default()
    };
    sim::Fleet::start(&topo, dir, 0).await.unwrap()
}

/// Creates one reload with `key`, retrying through the control plane's
/// restarts until it is acknowledged (202); answers the job id.
async fn create(c: &Control, token: &str, key: &str) -> Option<String> {
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("Idempotency-Key", key)];
    let r = test_support::request_with(
        "POST",
        c.addr,
        "/admin/v1/jobs/routing.reload",
        &headers,
        r#"{"reason":"crash test"}"#,
    )
    .await;
    match r {
        Ok((202, body)) => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            Some(v["id"].as_str().unwrap().to_owned())
        }
        // In progress elsewhere, or a store that is coming back: retry.
        Ok((409 | 503 | 504, _)) | Err(_) => None,
        Ok((s, body)) => panic!("create {key}: {s} {body}"),
    }
}

async fn get_json(c: &Control, token: &str, path: &str) -> Option<serde_json::Value> {
    match test_support::request("GET", c.addr, path, Some(token), "").await {
        Ok((200, body)) => Some(serde_json::from_str(&body).unwrap()),
        _ => None,
    }
}

async fn state_of(c: &Control, token: &str, id: &str) -> Option<String> {
    let v = get_json(c, token, &format!("/admin/v1/jobs/{id}")).await?;
    Some(v["state"].as_str().unwrap().to_owned())
}

/// The random moments: at each, kill -9 the control plane (and, on NATS,
/// every third time the NATS server too), then start it again.
struct Chaos {
    rng: rand::rngs::StdRng,
    seed: u64,
    next: Instant,
    kills: usize,
    nats_restarts: usize,
}

impl Chaos {
    fn new() -> Self {
        use rand::SeedableRng;
        // CHAOS_SEED replays a run's kill schedule (timing still varies).
        let seed: u64 = std::env::var("CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        let mut c = Self {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            seed,
            next: Instant::now(),
            kills: 0,
            nats_restarts: 0,
        };
        c.next = Instant::now() + Duration::from_millis(c.rng.random_range(200..1200));
        c
    }

    async fn maybe(&mut self, control: &mut Control, nats: &mut Option<&mut Nats>) {
        if Instant::now() < self.next {
            return;
        }
        control.kill9();
        self.kills += 1;
        if let Some(n) = nats.as_deref_mut() {
            if self.kills % 3 == 1 {
                n.kill9();
                n.restart();
                self.nats_restarts += 1;
            }
        }
        control.start().await;
        self.next = Instant::now() + Duration::from_millis(self.rng.random_range(300..1500));
    }
}

/// The scenario, on the store `control` is configured with.
async fn reloads_survive_kill_9(
    label: &str,
    fleet: &sim::Fleet,
    control: &mut Control,
    mut nats: Option<&mut Nats>,
) {
    let token = fleet
        .iam()
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    control.start().await;
    let mut chaos = Chaos::new();
    eprintln!("{label}: chaos seed {}", chaos.seed);

    // Create: every job acknowledged once, through the kills.
    let mut acked = Vec::new();
    for i in 0..JOBS {
        let key = format!("\"crash-{label}-{i}\"");
        loop {
            chaos.maybe(control, &mut nats).await;
            if let Some(id) = create(control, &token, &key).await {
                acked.push(id);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Run: keep killing for a while, then let everything finish.
    let kill_until = Instant::now() + Duration::from_secs(6);
    let deadline = Instant::now() + Duration::from_secs(420);
    let mut states: BTreeMap<String, String> = BTreeMap::new();
    loop {
        if Instant::now() < kill_until {
            chaos.maybe(control, &mut nats).await;
        }
        for id in &acked {
            if states.get(id).is_some_and(|s| is_terminal(s)) {
                continue;
            }
            if let Some(s) = state_of(control, &token, id).await {
                states.insert(id.clone(), s);
            }
        }
        let open = acked
            .iter()
            .filter(|id| !states.get(*id).is_some_and(|s| is_terminal(s)))
            .count();
        if open == 0 && Instant::now() >= kill_until {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} of {JOBS} jobs not terminal after {} kills (seed {}): {states:?}",
            chaos.kills,
            chaos.seed
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (kills, nats_restarts) = (chaos.kills, chaos.nats_restarts);
    assert!(
        kills >= 3,
        "the scenario killed the control plane {kills} times"
    );
    if nats.is_some() {
        assert!(nats_restarts >= 1, "NATS was restarted mid-run");
    }

    // Nothing lost: every acknowledged job is there, each id once, and
    // each succeeded (the fleet is healthy; a crash only delays a job).
    let distinct: std::collections::BTreeSet<_> = acked.iter().collect();
    assert_eq!(distinct.len(), JOBS, "one job per key");
    let failed: Vec<_> = states.iter().filter(|(_, s)| *s != "succeeded").collect();
    assert!(failed.is_empty(), "not succeeded: {failed:?}");

    let retried = applied_once(fleet, &acked);
    eprintln!(
        "{label}: {JOBS} jobs, {kills} kills of control ({} starts), {nats_restarts} NATS restarts, {retried} reload requests retried and deduplicated at the gateways",
        control.starts
    );
}

/// Nothing doubled, counted where it happens: each gateway applied each
/// job's reload once, whatever was retried. Answers how many requests were
/// repeats (deduplicated at the gateways).
fn applied_once(fleet: &sim::Fleet, jobs: &[String]) -> u64 {
    let mut applied: BTreeMap<String, u64> = BTreeMap::new();
    let mut retried = 0;
    for (inst, by_marker) in fleet.effects() {
        for (marker, e) in by_marker {
            assert_eq!(e.applied, 1, "{inst} {marker}: {e:?}");
            retried += e.requests.saturating_sub(1);
            let job = marker.split('/').next().unwrap().to_owned();
            *applied.entry(job).or_default() += e.applied;
        }
    }
    for id in jobs {
        assert_eq!(
            applied.get(id).copied(),
            Some(GATEWAYS as u64),
            "{id}: one reload per gateway"
        );
    }
    assert_eq!(
        applied.len(),
        jobs.len(),
        "no side effect of a job nobody acknowledged"
    );
    retried
}

fn is_terminal(s: &str) -> bool {
    matches!(s, "succeeded" | "failed" | "cancelled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_jobs_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet(&dir.path().join("fleet")).await;
    let mut control = Control::new(&dir.path().join("data"), &fleet, vec![]);
    reloads_survive_kill_9("embedded", &fleet, &mut control, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jobs_survive_kill_9_and_a_nats_restart() {
    // The suite's own nats-server (restarted by the test), from the same
    // installation as the shared one.
    if test_support::nats_url("nats_jobs_survive_kill_9_and_a_nats_restart").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet(&dir.path().join("fleet")).await;
    let nats_dir = dir.path().join("nats");
    std::fs::create_dir_all(&nats_dir).unwrap();
    let mut nats = Nats::start(&nats_dir);
    let mut control = Control::new(
        &dir.path().join("data"),
        &fleet,
        vec![
            ("CONTROL_STORE_BACKEND", "nats".into()),
            (
                "CONTROL_NATS_URL",
                format!("nats://127.0.0.1:{}", nats.port),
            ),
        ],
    );
    reloads_survive_kill_9("nats", &fleet, &mut control, Some(&mut nats)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_500_jobs_and_a_paused_one_is_fenced() {
    if test_support::nats_url("two_replicas_share_500_jobs_and_a_paused_one_is_fenced").is_none() {
        return;
    }
    const N: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet(&dir.path().join("fleet")).await;
    let nats_dir = dir.path().join("nats");
    std::fs::create_dir_all(&nats_dir).unwrap();
    let nats = Nats::start(&nats_dir);
    let replica = |name: &str| {
        let mut c = Control::new(
            &dir.path().join(name),
            &fleet,
            vec![
                ("CONTROL_STORE_BACKEND", "nats".into()),
                (
                    "CONTROL_NATS_URL",
                    format!("nats://127.0.0.1:{}", nats.port),
                ),
                ("CONTROL_LOG_LEVEL", "info".into()),
                ("CONTROL_LOG_FORMAT", "json".into()),
                // The slow gateways below still count as reachable.
                ("CONTROL_FLEET_PROBE_TIMEOUT_MS", "5000".into()),
            ],
        );
        c.log = Some(dir.path().join(format!("{name}.log")));
        c
    };
    let (mut a, mut b) = (replica("a"), replica("b"));
    a.start().await;
    b.start().await;
    let (ra, rb) = (a.runner_id(), b.runner_id());
    let token = fleet
        .iam()
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    let mut ids = Vec::new();
    for i in 0..N {
        let via = if i % 2 == 0 { &a } else { &b };
        let key = format!("\"pair-{i}\"");
        let id = loop {
            if let Some(id) = create(via, &token, &key).await {
                break id;
            }
        };
        ids.push(id);
    }

    // Pause A while it runs a step, for more than a lease: slow gateways
    // keep a step in flight long enough to be caught in it.
    let gateways: Vec<String> = fleet
        .instances()
        .into_iter()
        .filter(|i| i.kind == model::fleet::ServiceKind::Gateway)
        .map(|i| i.id)
        .collect();
    let slow = |ms| sim::Faults {
        slow_ms: ms,
        ..sim::Faults::default()
    };
    for g in &gateways {
        fleet.set_faults(g, slow(1200)).await.unwrap();
    }
    let start = Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    let held = loop {
        let page = get_json(&b, &token, "/admin/v1/jobs?state=running&page_size=200").await;
        if let Some(p) = &page {
            for j in p["jobs"].as_array().into_iter().flatten() {
                seen.insert(j["lease"]["holder"].to_string());
            }
        }
        let mine = page.and_then(|p| {
            p["jobs"].as_array().and_then(|js| {
                js.iter()
                    .find(|j| j["lease"]["holder"] == ra.as_str())
                    .map(|j| j["id"].as_str().unwrap().to_owned())
            })
        });
        if let Some(id) = mine {
            // Paused, A cannot move on: if the record still shows it in
            // the job, it is caught in it; otherwise let it go and retry.
            a.signal("-STOP");
            let j = get_json(&b, &token, &format!("/admin/v1/jobs/{id}")).await;
            if j.is_some_and(|j| j["state"] == "running" && j["lease"]["holder"] == ra.as_str()) {
                break id;
            }
            a.signal("-CONT");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "A ({ra}) never ran a job; B is {rb}; running jobs were held by {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let paused = Instant::now();
    for g in &gateways {
        fleet.set_faults(g, slow(0)).await.unwrap();
    }
    // B takes the job over once A's lease (1.5 s) has expired.
    let taken = loop {
        let j = get_json(&b, &token, &format!("/admin/v1/jobs/{held}"))
            .await
            .unwrap();
        if j["lease"]["holder"] == rb.as_str() || j["state"] == "succeeded" {
            break j;
        }
        assert_ne!(j["state"], "failed", "{j}");
        assert!(
            paused.elapsed() < Duration::from_secs(30),
            "B never took {held} over: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.signal("-CONT");

    let deadline = Instant::now() + Duration::from_secs(300);
    for id in &ids {
        loop {
            match state_of(&b, &token, id).await.as_deref() {
                Some("succeeded") => break,
                Some(s) if is_terminal(s) => panic!("{id} ended {s}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "{id} not done");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let retried = applied_once(&fleet, &ids);

    // The paused runner saw it had lost the job and wrote nothing to it:
    // the record's last holder is B, and A said so in its log.
    let held_log = a.log_text();
    assert!(
        held_log
            .lines()
            .any(|l| l.contains("lost the lease") && l.contains(held.as_str())),
        "A did not report losing {held}: {}",
        held_log
            .lines()
            .filter(|l| !l.contains("\"INFO\""))
            .skip(
                held_log
                    .lines()
                    .filter(|l| !l.contains("\"INFO\""))
                    .count()
                    .saturating_sub(12)
            )
            .collect::<Vec<_>>()
            .join("\n")
    );
    let metrics = test_support::request("GET", b.addr, "/metrics", None, "")
        .await
        .unwrap()
        .1;
    let takeovers: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("control_job_lease_takeovers_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(takeovers >= 1.0, "B counted no takeover: {metrics}");
    // Both replicas ran jobs.
    let a_ran = held_log.matches("job runner started").count();
    assert_eq!(a_ran, 1, "A was not restarted");
    eprintln!(
        "two replicas: {N} jobs, {held} taken over by B (state then {}), {takeovers} takeovers on B, {retried} repeated requests deduplicated",
        taken["state"]
    );
}

/// 100 migrations (a0 → a1), created and run while the control plane is
/// killed at random moments (and, on NATS, the NATS server too): after the
/// last restart every migration completed or was walked back, every
/// tenant is placed exactly once where its job says, and no drain, resume,
/// reload or placement write happened twice — counted at the simulated
/// instances and in the placement file's revisions.
async fn migrations_survive_kill_9(
    label: &str,
    fleet: &sim::Fleet,
    control: &mut Control,
    mut nats: Option<&mut Nats>,
) {
    let token = fleet
        .iam()
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    let before: model::fleet::PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    control.start().await;
    let mut chaos = Chaos::new();
    eprintln!("{label} migrations: chaos seed {}", chaos.seed);
    let auth = format!("Bearer {token}");
    let tenants: Vec<String> = (0..JOBS).map(|i| format!("t-{:05}", 2 * i)).collect();
    let mut acked: Vec<(String, String)> = Vec::new();
    for (n, tenant) in tenants.iter().enumerate() {
        let input = serde_json::json!({ "tenant": tenant, "kind": "aggregate", "target": "a1" });
        let headers = [
            ("Authorization", auth.as_str()),
            ("x-tenant-id", tenant.as_str()),
        ];
        let mut attempt = 0;
        let id = 'tenant: loop {
            chaos.maybe(control, &mut nats).await;
            attempt += 1;
            let plan = test_support::request_with(
                "POST",
                control.addr,
                "/admin/v1/plans/tenants.migrate",
                &headers,
                &serde_json::json!({ "input": input }).to_string(),
            )
            .await;
            let plan: serde_json::Value = match plan {
                Ok((200, b)) => serde_json::from_str(&b).unwrap(),
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if plan["blocked"] == true {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            // One key per plan; an unknown outcome is retried with it.
            let key = format!("\"mig-{label}-{n}-{attempt}\"");
            let body = serde_json::json!({
                "reason": "crash test", "input": input, "plan_hash": plan["hash"],
            })
            .to_string();
            let mut kh = headers.to_vec();
            kh.push(("Idempotency-Key", key.as_str()));
            loop {
                match test_support::request_with(
                    "POST",
                    control.addr,
                    "/admin/v1/jobs/tenants.migrate",
                    &kh,
                    &body,
                )
                .await
                {
                    Ok((202, b)) => {
                        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
                        break 'tenant v["id"].as_str().unwrap().to_owned();
                    }
                    // Definitive refusals: nothing was created; plan again.
                    Ok((409, b)) if b.contains("plan_stale") || b.contains("gate_failed") => {
                        continue 'tenant
                    }
                    Ok((409 | 503 | 504, _)) | Err(_) => {
                        chaos.maybe(control, &mut nats).await;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Ok((s, b)) => panic!("create {tenant}: {s} {b}"),
                }
            }
        };
        acked.push((tenant.clone(), id));
    }
    let kill_until = Instant::now() + Duration::from_secs(6);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut jobs: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    loop {
        if Instant::now() < kill_until {
            chaos.maybe(control, &mut nats).await;
        }
        for (_, id) in &acked {
            if jobs
                .get(id)
                .is_some_and(|j| is_terminal(j["state"].as_str().unwrap_or("")))
            {
                continue;
            }
            if let Some(j) = get_json(control, &token, &format!("/admin/v1/jobs/{id}")).await {
                jobs.insert(id.clone(), j);
            }
        }
        let open = acked
            .iter()
            .filter(|(_, id)| {
                !jobs
                    .get(id)
                    .is_some_and(|j| is_terminal(j["state"].as_str().unwrap_or("")))
            })
            .count();
        if open == 0 && Instant::now() >= kill_until {
            break;
        }
        if Instant::now() >= deadline {
            let stuck: Vec<String> = acked
                .iter()
                .filter_map(|(_, id)| jobs.get(id))
                .filter(|j| !is_terminal(j["state"].as_str().unwrap_or("")))
                .map(|j| {
                    let at: Vec<String> = j["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|s| s["state"] != "succeeded" && s["state"] != "pending")
                        .map(|s| {
                            format!(
                                "{} {} x{} {}",
                                s["name"], s["state"], s["attempts"], s["error"]
                            )
                        })
                        .collect();
                    format!(
                        "{} {} lease {} waiting {}: {at:?}",
                        j["id"], j["state"], j["lease"], j["waiting_for"]
                    )
                })
                .collect();
            panic!(
                "{open} migrations not terminal after {} kills (seed {}): {stuck:#?}",
                chaos.kills, chaos.seed
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(chaos.kills >= 3, "killed {} times", chaos.kills);
    let after: model::fleet::PlacementDoc =
        serde_json::from_slice(&std::fs::read(&fleet.placement_path).unwrap()).unwrap();
    let mut moved = 0u64;
    for (tenant, id) in &acked {
        let j = &jobs[id];
        let placed = j["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "placement:aggregate")
            .is_some_and(|s| s["state"] == "succeeded");
        let now = after
            .aggregate_placement
            .tenants
            .get(&model::fleet::TenantId::parse(tenant).unwrap())
            .map(|s| s.as_str().to_owned());
        match j["state"].as_str().unwrap() {
            "succeeded" => assert_eq!(now.as_deref(), Some("a1"), "{tenant}: {j}"),
            // Walked back before the point of no return: still on a0.
            _ if !placed => assert_eq!(now.as_deref(), Some("a0"), "{tenant}: {j}"),
            _ => assert_eq!(now.as_deref(), Some("a1"), "{tenant}: {j}"),
        }
        if now.as_deref() == Some("a1") {
            moved += 1;
        }
    }
    let succeeded = jobs.values().filter(|j| j["state"] == "succeeded").count();
    // Steps cut by a kill and re-run without using an attempt.
    let interrupted: u64 = jobs
        .values()
        .flat_map(|j| j["steps"].as_array().unwrap().iter())
        .map(|s| s["interruptions"].as_u64().unwrap_or(0))
        .sum();
    // One placement write per moved tenant: none repeated, none lost.
    assert_eq!(after.revision - before.revision, moved, "placement writes");
    // Every drain, resume, reload and undo applied once at the instances.
    let (mut effects, mut retried) = (0, 0);
    for (inst, by_marker) in fleet.effects() {
        for (marker, e) in by_marker {
            assert_eq!(e.applied, 1, "{inst} {marker}: {e:?}");
            effects += 1;
            retried += e.requests.saturating_sub(1);
        }
    }
    eprintln!(
        "{label}: {JOBS} migrations, {succeeded} succeeded, {moved} tenants moved, {} kills of control ({} starts), {} NATS restarts, {effects} effects each applied once ({retried} repeats deduplicated), {interrupted} step attempts cut by a kill and re-run",
        chaos.kills, control.starts, chaos.nats_restarts
    );
    assert!(succeeded > 0, "no migration succeeded");
}

async fn migration_fleet(dir: &Path) -> sim::Fleet {
    let topo = sim::Topology {
        workers: vec![model::fleet::ServiceKind::Aggregate],
        gateways: 1,
        shards: 2,
        replicas: 1,
        tenants: 2 * JOBS,
        ..sim::Topology::default()
    };
    let fleet = sim::Fleet::start(&topo, dir, 0).await.unwrap();
    for i in fleet.instances() {
        let f = sim::Faults {
            drain_ms: 200,
            ..sim::Faults::default()
        };
        fleet.set_faults(&i.id, f).await.unwrap();
    }
    fleet
}

fn migration_env() -> Vec<(&'static str, String)> {
    vec![
        ("CONTROL_GATES_MAX_DRAINING_TENANTS", "1000".into()),
        ("CONTROL_MOVES_POLL_MS", "50".into()),
        ("CONTROL_MOVES_ERROR_WINDOW_MS", "200".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_migrations_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = migration_fleet(&dir.path().join("fleet")).await;
    let mut control = Control::new(&dir.path().join("data"), &fleet, migration_env());
    migrations_survive_kill_9("embedded", &fleet, &mut control, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_migrations_survive_kill_9_and_a_nats_restart() {
    if test_support::nats_url("nats_migrations_survive_kill_9_and_a_nats_restart").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fleet = migration_fleet(&dir.path().join("fleet")).await;
    let nats_dir = dir.path().join("nats");
    std::fs::create_dir_all(&nats_dir).unwrap();
    let mut nats = Nats::start(&nats_dir);
    let mut env = migration_env();
    env.push(("CONTROL_STORE_BACKEND", "nats".into()));
    env.push((
        "CONTROL_NATS_URL",
        format!("nats://127.0.0.1:{}", nats.port),
    ));
    let mut control = Control::new(&dir.path().join("data"), &fleet, env);
    migrations_survive_kill_9("nats", &fleet, &mut control, Some(&mut nats)).await;
}
