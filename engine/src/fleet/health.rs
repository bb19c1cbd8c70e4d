//! The fleet health poller: probes `/health`, `/ready` and `/metrics` of
//! every endpoint in the routing directory (plus extra targets) with bounded
//! concurrency, a per-endpoint deadline and jittered sweeps, and publishes
//! one normalised snapshot. A slow or dead endpoint only ever costs its own
//! deadline: results are published as they arrive.

use super::{now_ms, FleetDocs, FleetState};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use model::fleet::{ServiceKind, ShardId};
use model::views::{FleetSnapshot, HealthStatus, InstanceHealth};
use model::{CorrelationId, RequestId};
use rand::RngCore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

#[derive(Debug, Clone)]
pub struct PollerConfig {
    pub interval: Duration,
    /// Deadline for one endpoint's three probes together.
    pub timeout: Duration,
    pub concurrency: usize,
    /// Probed besides the routing directory: (kind, shard label, base URL).
    pub extra_targets: Vec<(ServiceKind, ShardId, String)>,
}

impl Default for PollerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            concurrency: 64,
            extra_targets: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct HealthPoller {
    rx: watch::Receiver<Arc<FleetSnapshot>>,
    _task: Arc<Guard>,
}

struct Guard(tokio::task::JoinHandle<()>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug, Clone)]
struct Target {
    kind: ServiceKind,
    shard: ShardId,
    url: String,
}

fn targets(state: &FleetState, extra: &[(ServiceKind, ShardId, String)]) -> Vec<Target> {
    let mut out: Vec<Target> = state
        .routing
        .0
        .kinds
        .iter()
        .flat_map(|(kind, shards)| {
            shards.iter().flat_map(move |(shard, route)| {
                route.endpoints.iter().map(move |url| Target {
                    kind: *kind,
                    shard: shard.clone(),
                    url: url.clone(),
                })
            })
        })
        .collect();
    out.extend(extra.iter().map(|(k, s, u)| Target {
        kind: *k,
        shard: s.clone(),
        url: u.clone(),
    }));
    out.sort_by(|a, b| a.url.cmp(&b.url));
    out.dedup_by(|a, b| a.url == b.url);
    out
}

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b
}

async fn get(
    client: &HttpClient,
    url: &str,
    correlation: &CorrelationId,
) -> Result<(u16, Bytes, Duration), String> {
    let started = Instant::now();
    let req = http::Request::get(url)
        .header("x-request-id", RequestId::from_random(random16()).as_str())
        .header("x-correlation-id", correlation.as_str())
        .header("user-agent", "control-fleet-poller")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad url {url}: {e}"))?;
    let res = client.request(req).await.map_err(|e| {
        use std::error::Error;
        // The connect error's cause says "connection refused" and the like.
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            msg = s.to_string();
            src = s.source();
        }
        msg
    })?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body, started.elapsed()))
}

/// `<kind>_build_info{service="..",version="..",git_sha=".."} 1` → (version, sha).
pub fn parse_build_info(metrics: &str, kind: ServiceKind) -> Option<(String, String)> {
    let prefix = format!("{}_build_info{{", kind.as_str());
    let line = metrics.lines().find(|l| l.starts_with(&prefix))?;
    let labels = &line[prefix.len()..line.find('}')?];
    let label = |name: &str| {
        let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
        let end = labels[start..].find('"')? + start;
        Some(labels[start..end].to_owned())
    };
    Some((label("version")?, label("git_sha")?))
}

async fn probe(
    client: &HttpClient,
    t: &Target,
    state: &FleetState,
    timeout: Duration,
    cor: &CorrelationId,
) -> InstanceHealth {
    let base = t.url.trim_end_matches('/');
    let mut h = InstanceHealth {
        kind: t.kind,
        shard: t.shard.clone(),
        endpoint: t.url.clone(),
        status: HealthStatus::Unknown,
        latency_ms: None,
        version: None,
        git_sha: None,
        loaded_placement_revision: None,
        loaded_routing_revision: None,
        current_placement_revision: state.current_placement_revision(t.kind),
        current_routing_revision: state.routing.1.revision,
        not_reloaded: false,
        draining_tenants: Vec::new(),
        last_error: None,
        checked_at_ms: 0,
        recent_latency_ms: Vec::new(),
    };
    let (hu, ru, mu) = (
        format!("{base}/health"),
        format!("{base}/ready"),
        format!("{base}/metrics"),
    );
    let all = async {
        tokio::join!(
            get(client, &hu, cor),
            get(client, &ru, cor),
            get(client, &mu, cor)
        )
    };
    match tokio::time::timeout(timeout, all).await {
        Err(_) => {
            h.status = HealthStatus::Timeout;
            h.last_error = Some(format!("no answer within {} ms", timeout.as_millis()));
        }
        Ok((health, ready, metrics)) => {
            match health {
                Err(e) => {
                    h.status = HealthStatus::Down;
                    h.last_error = Some(e);
                }
                Ok((st, _, lat)) => {
                    h.latency_ms = Some(lat.as_millis() as u64);
                    h.status = if (200..300).contains(&st) {
                        HealthStatus::Healthy
                    } else {
                        HealthStatus::Down
                    };
                    if h.status == HealthStatus::Down {
                        h.last_error = Some(format!("/health answered {st}"));
                    }
                }
            }
            if let Ok((st, body, _)) = &ready {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                h.loaded_placement_revision = v["loaded"]["placement_revision"].as_u64();
                h.loaded_routing_revision = v["loaded"]["routing_revision"].as_u64();
                h.draining_tenants = v["draining_tenants"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .take(100)
                            .collect()
                    })
                    .unwrap_or_default();
                let ready_flag = v["ready"].as_bool().unwrap_or((200..300).contains(st));
                if h.status == HealthStatus::Healthy && (!(200..300).contains(st) || !ready_flag) {
                    h.status = HealthStatus::Unready;
                    h.last_error = Some(format!("/ready answered {st}"));
                }
            } else if let Err(e) = &ready {
                if h.status == HealthStatus::Healthy {
                    h.status = HealthStatus::Unready;
                    h.last_error = Some(format!("/ready: {e}"));
                }
            }
            if let Ok((200, body, _)) = &metrics {
                if let Some((v, sha)) = parse_build_info(&String::from_utf8_lossy(body), t.kind) {
                    h.version = Some(v);
                    h.git_sha = Some(sha);
                }
            }
        }
    }
    let behind = |loaded: Option<u64>, current: u64| loaded.is_some_and(|l| l < current);
    h.not_reloaded = behind(h.loaded_placement_revision, h.current_placement_revision)
        || (t.kind == ServiceKind::Gateway
            && behind(h.loaded_routing_revision, h.current_routing_revision));
    h.checked_at_ms = now_ms();
    h
}

impl HealthPoller {
    pub fn start(docs: FleetDocs, cfg: PollerConfig) -> Self {
        let (tx, rx) = watch::channel(Arc::new(FleetSnapshot {
            interval_ms: cfg.interval.as_millis() as u64,
            ..Default::default()
        }));
        let task = tokio::spawn(run(docs, cfg, tx));
        Self {
            rx,
            _task: Arc::new(Guard(task)),
        }
    }

    pub fn snapshot(&self) -> Arc<FleetSnapshot> {
        self.rx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<FleetSnapshot>> {
        self.rx.clone()
    }
}

/// Slowest first: endpoints that timed out (or were slowest) last time start
/// at once, so their deadline overlaps the rest of the sweep instead of
/// trailing it.
fn slowest_first(targets: &mut [Target], previous: &BTreeMap<String, InstanceHealth>) {
    let cost = |t: &Target| match previous.get(&t.url) {
        Some(h) if h.status == HealthStatus::Timeout => u64::MAX,
        Some(h) => h.latency_ms.unwrap_or(0),
        None => 0,
    };
    targets.sort_by_key(|t| std::cmp::Reverse(cost(t)));
}

/// One sweep (all results, in completion order), given the previous
/// results for scheduling. Used by the sweep benchmark.
pub async fn sweep(
    state: Arc<FleetState>,
    extra: Vec<(ServiceKind, ShardId, String)>,
    cfg: &PollerConfig,
    previous: &BTreeMap<String, InstanceHealth>,
) -> Vec<InstanceHealth> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let (tx, mut rx) = mpsc::channel(1024);
    let mut all = targets(&state, &extra);
    slowest_first(&mut all, previous);
    let n = all.len();
    spawn_sweep(client, state, all, cfg, tx);
    let mut out = Vec::with_capacity(n);
    while let Some(h) = rx.recv().await {
        out.push(h);
    }
    out
}

fn spawn_sweep(
    client: HttpClient,
    state: Arc<FleetState>,
    all: Vec<Target>,
    cfg: &PollerConfig,
    tx: mpsc::Sender<InstanceHealth>,
) {
    let sem = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let cor = CorrelationId::from_random(random16());
    for t in all {
        let (client, state, tx, sem, cor, timeout) = (
            client.clone(),
            state.clone(),
            tx.clone(),
            sem.clone(),
            cor.clone(),
            cfg.timeout,
        );
        tokio::spawn(async move {
            let Ok(_permit) = sem.acquire_owned().await else {
                return;
            };
            let h = probe(&client, &t, &state, timeout, &cor).await;
            let _ = tx.send(h).await;
        });
    }
}

async fn run(docs: FleetDocs, cfg: PollerConfig, tx: watch::Sender<Arc<FleetSnapshot>>) {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();
    let mut latest: BTreeMap<String, InstanceHealth> = BTreeMap::new();
    let mut docs_rx = docs.subscribe();
    loop {
        let state = docs.current();
        let mut all = targets(&state, &cfg.extra_targets);
        slowest_first(&mut all, &latest);
        // Endpoints that left the directory leave the snapshot; new ones
        // show as unknown until probed.
        latest.retain(|url, _| all.iter().any(|t| &t.url == url));
        let (rtx, mut rrx) = mpsc::channel(1024);
        spawn_sweep(client.clone(), state.clone(), all, &cfg, rtx);
        let mut last_publish = Instant::now();
        let mut dirty = false;
        loop {
            let got = tokio::time::timeout(Duration::from_millis(100), rrx.recv()).await;
            match got {
                Ok(Some(h)) => {
                    let previous = latest.get(&h.endpoint);
                    let h = h.with_history(previous);
                    latest.insert(h.endpoint.clone(), h);
                    dirty = true;
                }
                Ok(None) => break,
                Err(_) => {}
            }
            if dirty && last_publish.elapsed() >= Duration::from_millis(100) {
                publish(&tx, &latest, &cfg);
                last_publish = Instant::now();
                dirty = false;
            }
        }
        if dirty {
            publish(&tx, &latest, &cfg);
        }
        if tx.is_closed() {
            return;
        }
        let jitter = (rand::rng().next_u64() % (cfg.interval.as_millis() as u64 / 10 + 1)) as i64
            - (cfg.interval.as_millis() as i64 / 20);
        let wait = Duration::from_millis((cfg.interval.as_millis() as i64 + jitter).max(50) as u64);
        // A routing change starts the next sweep at once.
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = docs_rx.changed() => {}
        }
    }
}

fn publish(
    tx: &watch::Sender<Arc<FleetSnapshot>>,
    latest: &BTreeMap<String, InstanceHealth>,
    cfg: &PollerConfig,
) {
    let mut instances: Vec<InstanceHealth> = latest.values().cloned().collect();
    instances.sort_by(|a, b| (a.kind, &a.shard, &a.endpoint).cmp(&(b.kind, &b.shard, &b.endpoint)));
    tx.send_replace(Arc::new(FleetSnapshot {
        instances,
        generated_at_ms: now_ms(),
        interval_ms: cfg.interval.as_millis() as u64,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_is_parsed_from_metrics() {
        let m = "# TYPE x gauge\nrunner_build_info{service=\"runner\",version=\"1.2.3\",git_sha=\"abc\"} 1\n";
        assert_eq!(
            parse_build_info(m, ServiceKind::Runner),
            Some(("1.2.3".into(), "abc".into()))
        );
        assert_eq!(parse_build_info(m, ServiceKind::Gateway), None);
        assert_eq!(
            parse_build_info(
                "runner_build_info{service=\"runner\"} 1",
                ServiceKind::Runner
            ),
            None
        );
    }
}
