//! The real `control` binary killed with SIGKILL at random moments while
//! 100 routing reloads are created and run, on the embedded store and on
//! NATS (whose server is also killed and restarted mid-run). After the
//! last restart every acknowledged job reaches a terminal state, and the
//! simulated gateways — where the side effects happen — saw each (job,
//! step) applied exactly once.

use rand::Rng;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_control");
const JOBS: usize = 100;
const GATEWAYS: usize = 2;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `control serve` process at a time over one data dir (or NATS).
struct Control {
    addr: SocketAddr,
    env: Vec<(String, String)>,
    child: Option<Child>,
    starts: usize,
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
        }
    }

    async fn start(&mut self) {
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("CONTROL_") {
                c.env_remove(k);
            }
        }
        c.args(["serve", "--listen", &self.addr.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
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

async fn state_of(c: &Control, token: &str, id: &str) -> Option<String> {
    match test_support::request(
        "GET",
        c.addr,
        &format!("/admin/v1/jobs/{id}"),
        Some(token),
        "",
    )
    .await
    {
        Ok((200, body)) => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            Some(v["state"].as_str().unwrap().to_owned())
        }
        _ => None,
    }
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
        let seed: u64 = rand::random();
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
    let deadline = Instant::now() + Duration::from_secs(240);
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

    // Nothing doubled, counted where it happens: each gateway applied each
    // job's reload once, whatever was retried after a kill.
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
    for id in &acked {
        assert_eq!(
            applied.get(id).copied(),
            Some(GATEWAYS as u64),
            "{id}: one reload per gateway"
        );
    }
    assert_eq!(
        applied.len(),
        JOBS,
        "no side effect of a job nobody acknowledged"
    );
    eprintln!(
        "{label}: {JOBS} jobs, {kills} kills of control ({} starts), {nats_restarts} NATS restarts, {retried} reload requests retried and deduplicated at the gateways",
        control.starts
    );
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
