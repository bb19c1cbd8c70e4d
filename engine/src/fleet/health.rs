//! The fleet health poller: probes `/health`, `/ready` and `/metrics` of
//! every endpoint in the routing directory (plus extra targets) with bounded
//! concurrency, a per-endpoint deadline and jittered sweeps, and publishes
//! one normalised snapshot. A slow or dead endpoint only ever costs its own
//! deadline: results are published as they arrive.

use super::{now_ms, FleetDocs, FleetState};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use model::fleet::{ServiceKind, ShardId};
use model::views::{FleetSnapshot, HealthStatus, InstanceHealth};
use model::{CorrelationId, RequestId};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rand::RngCore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::Instrument;

/// Cap on a probe answer's body; `/metrics` of a service is far smaller.
const MAX_BODY: usize = 1 << 20;
/// The stable probe error for a body over [`MAX_BODY`].
const BODY_TOO_LARGE: &str = "body over 1 MiB";

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
    metrics: SweepMetrics,
    _task: Arc<Guard>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    kind: &'static str,
    status: &'static str,
}

/// The contract's instance statuses, each health status in one of them.
const STATUSES: [&str; 4] = ["up", "degraded", "down", "unknown"];

fn status_label(s: HealthStatus) -> &'static str {
    match s {
        HealthStatus::Healthy => "up",
        // Alive (`/health` answers) but not taking traffic.
        HealthStatus::Unready => "degraded",
        HealthStatus::Down | HealthStatus::Timeout => "down",
        HealthStatus::Unknown => "unknown",
    }
}

/// What each sweep measures: its duration and, after it, the instances
/// per kind and status.
#[derive(Clone)]
struct SweepMetrics {
    duration: Histogram,
    instances: Family<InstanceLabels, Gauge>,
}

impl SweepMetrics {
    fn new() -> Self {
        let m = Self {
            duration: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            instances: Family::default(),
        };
        m.set_instances(std::iter::empty());
        m
    }

    /// Every kind × status is set, zeros included: a status that empties
    /// goes to 0 rather than keeping its last count.
    fn set_instances<'a>(&self, all: impl Iterator<Item = &'a InstanceHealth>) {
        let mut counts: BTreeMap<(&'static str, &'static str), i64> = BTreeMap::new();
        for h in all {
            *counts
                .entry((h.kind.as_str(), status_label(h.status)))
                .or_default() += 1;
        }
        for kind in ServiceKind::ALL {
            for status in STATUSES {
                let labels = InstanceLabels {
                    kind: kind.as_str(),
                    status,
                };
                let n = counts.get(&(labels.kind, status)).copied().unwrap_or(0);
                self.instances.get_or_create(&labels).set(n);
            }
        }
    }
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
    let span = crate::telemetry::outbound("GET", url);
    let mut req = http::Request::get(url)
        .header("x-request-id", RequestId::from_random(random16()).as_str())
        .header("x-correlation-id", correlation.as_str())
        .header("user-agent", "control-fleet-poller");
    if let Some(tp) = crate::telemetry::downstream(&span, None) {
        req = req.header("traceparent", tp);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad url {url}: {e}"))?;
    let res = client
        .request(req)
        .instrument(span.clone())
        .await
        .map_err(|e| {
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
    // Reading stops at the cap: an endpoint cannot make the poller buffer
    // an unbounded body.
    let body = Limited::new(res.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                BODY_TOO_LARGE.to_owned()
            } else {
                e.to_string()
            }
        })?
        .to_bytes();
    Ok((status, body, started.elapsed()))
}

/// `<kind>_build_info{service="..",version="..",git_sha=".."} 1` → (version, sha).
/// The first sample of exactly that metric name whose line parses as
/// Prometheus text format is used; its labels must include both names.
pub fn parse_build_info(metrics: &str, kind: ServiceKind) -> Option<(String, String)> {
    let name = format!("{}_build_info", kind.as_str());
    let labels = metrics.lines().find_map(|l| sample_labels(l, &name))?;
    let label = |want: &str| {
        labels
            .iter()
            .find(|(n, _)| n == want)
            .map(|(_, v)| v.clone())
    };
    Some((label("version")?, label("git_sha")?))
}

/// `(requests, 5xx)` summed over `<kind>_http_requests_total{status=..}`.
pub fn request_counts(metrics: &str, kind: ServiceKind) -> Option<(f64, f64)> {
    let name = format!("{}_http_requests_total", kind.as_str());
    let mut seen = false;
    let (mut all, mut errors) = (0.0, 0.0);
    for (labels, value) in metrics.lines().filter_map(|l| sample(l, &name)) {
        seen = true;
        all += value;
        let status = labels.iter().find(|(n, _)| n == "status");
        if status.is_some_and(|(_, v)| v.starts_with('5')) {
            errors += value;
        }
    }
    seen.then_some((all, errors))
}

/// Labels and value of one sample line of metric `name` (see `sample_labels`).
pub fn sample(line: &str, name: &str) -> Option<(Vec<(String, String)>, f64)> {
    let labels = sample_labels(line, name)?;
    let value = line
        .rsplit_once('}')?
        .1
        .split_ascii_whitespace()
        .next()?
        .parse::<f64>()
        .ok()?;
    Some((labels, value))
}

/// The labels of one sample line of metric `name`, or `None` when the line
/// is another metric, a comment, or does not parse. Grammar (Prometheus text
/// exposition format 0.0.4): `name{l="v",...} value [timestamp]`, label
/// values escaped with `\\`, `\"` and `\n`.
fn sample_labels(line: &str, name: &str) -> Option<Vec<(String, String)>> {
    let rest = line.trim_start_matches([' ', '\t']).strip_prefix(name)?;
    // `{` must follow the name itself: `x_build_info_total{` is another metric.
    let mut rest = rest.trim_start_matches([' ', '\t']).strip_prefix('{')?;
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(r) = rest.strip_prefix('}') {
            rest = r;
            break;
        }
        let name_len = rest
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        if name_len == 0 {
            return None;
        }
        let label = &rest[..name_len];
        rest = rest[name_len..]
            .trim_start_matches([' ', '\t'])
            .strip_prefix('=')?
            .trim_start_matches([' ', '\t'])
            .strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    _ => return None,
                },
                (_, c) => value.push(c),
            }
        };
        rest = &rest[end + 1..];
        if labels.iter().any(|(n, _)| n == label) {
            return None;
        }
        labels.push((label.to_owned(), value));
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return None;
        }
    }
    // A sample has a value (and maybe a timestamp) after the labels.
    let mut fields = rest.split_ascii_whitespace();
    fields.next()?.parse::<f64>().ok()?;
    match (fields.next(), fields.next()) {
        (None, _) => {}
        (Some(ts), None) if ts.parse::<i64>().is_ok() => {}
        _ => return None,
    }
    Some(labels)
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
        request_counts: None,
        error_ratio: None,
        behind_since_ms: None,
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
            match &metrics {
                Ok((200, body, _)) => {
                    let text = String::from_utf8_lossy(body);
                    if let Some((v, sha)) = parse_build_info(&text, t.kind) {
                        h.version = Some(v);
                        h.git_sha = Some(sha);
                    }
                    h.request_counts = request_counts(&text, t.kind);
                }
                // An oversized /metrics leaves the status alone but is said.
                Err(e) if e == BODY_TOO_LARGE && h.last_error.is_none() => {
                    h.last_error = Some(format!("/metrics: {e}"));
                }
                _ => {}
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
        let metrics = SweepMetrics::new();
        let task = tokio::spawn(run(docs, cfg, tx, metrics.clone()));
        Self {
            rx,
            metrics,
            _task: Arc::new(Guard(task)),
        }
    }

    /// Adds the sweep's families to the control plane's registry.
    pub fn register_metrics(&self, r: &mut Registry) {
        r.register(
            "control_fleet_sweep_duration_seconds",
            "Duration of one health sweep over every instance",
            self.metrics.duration.clone(),
        );
        r.register(
            "control_fleet_instances",
            "Instances after the last sweep, by service kind and status (up, degraded, down, unknown)",
            self.metrics.instances.clone(),
        );
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
    // One trace per sweep: its probes are the sweep's children.
    let sweep = tracing::info_span!("fleet.sweep", correlation_id = %cor, instances = all.len());
    for t in all {
        let (client, state, tx, sem, cor, timeout) = (
            client.clone(),
            state.clone(),
            tx.clone(),
            sem.clone(),
            cor.clone(),
            cfg.timeout,
        );
        tokio::spawn(
            async move {
                let Ok(_permit) = sem.acquire_owned().await else {
                    return;
                };
                let h = probe(&client, &t, &state, timeout, &cor).await;
                let _ = tx.send(h).await;
            }
            .instrument(sweep.clone()),
        );
    }
}

async fn run(
    docs: FleetDocs,
    cfg: PollerConfig,
    tx: watch::Sender<Arc<FleetSnapshot>>,
    metrics: SweepMetrics,
) {
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
        let started = Instant::now();
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
        metrics.duration.observe(started.elapsed().as_secs_f64());
        metrics.set_instances(latest.values());
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn instance(kind: ServiceKind, endpoint: &str, status: HealthStatus) -> InstanceHealth {
        InstanceHealth {
            kind,
            shard: ShardId::parse("s1").unwrap(),
            endpoint: endpoint.into(),
            status,
            latency_ms: None,
            version: None,
            git_sha: None,
            loaded_placement_revision: None,
            loaded_routing_revision: None,
            current_placement_revision: 0,
            current_routing_revision: 0,
            not_reloaded: false,
            draining_tenants: Vec::new(),
            last_error: None,
            checked_at_ms: 0,
            recent_latency_ms: Vec::new(),
            request_counts: None,
            error_ratio: None,
            behind_since_ms: None,
        }
    }

    #[test]
    fn instance_gauges_are_set_whole_after_each_sweep() {
        let m = SweepMetrics::new();
        let count = |kind: ServiceKind, status| {
            m.instances
                .get(&InstanceLabels {
                    kind: kind.as_str(),
                    status,
                })
                .map(|g| g.get())
        };
        // Every kind × status exists before the first sweep.
        for kind in ServiceKind::ALL {
            for status in STATUSES {
                assert_eq!(count(kind, status), Some(0), "{kind} {status}");
            }
        }
        let runner = ServiceKind::Runner;
        m.set_instances(
            [
                instance(runner, "http://a", HealthStatus::Down),
                instance(runner, "http://b", HealthStatus::Timeout),
                instance(runner, "http://c", HealthStatus::Unready),
                instance(ServiceKind::Gateway, "http://g", HealthStatus::Healthy),
            ]
            .iter(),
        );
        assert_eq!(count(runner, "down"), Some(2), "timeout counts as down");
        assert_eq!(count(runner, "degraded"), Some(1));
        assert_eq!(count(ServiceKind::Gateway, "up"), Some(1));
        // The next sweep finds them all up: down and degraded empty to 0.
        m.set_instances(
            [
                instance(runner, "http://a", HealthStatus::Healthy),
                instance(runner, "http://b", HealthStatus::Healthy),
                instance(runner, "http://c", HealthStatus::Healthy),
            ]
            .iter(),
        );
        assert_eq!(count(runner, "up"), Some(3));
        assert_eq!(count(runner, "down"), Some(0));
        assert_eq!(count(runner, "degraded"), Some(0));
        assert_eq!(count(ServiceKind::Gateway, "up"), Some(0));
    }

    #[test]
    fn request_counters_sum_every_route_and_count_5xx() {
        let m = "# TYPE runner_http_requests_total counter\n\
                 runner_http_requests_total{route=\"/a\",status=\"200\"} 90\n\
                 runner_http_requests_total{route=\"/a\",status=\"503\"} 6\n\
                 runner_http_requests_total{route=\"/b\",status=\"500\"} 4\n\
                 runner_http_requests_total_other{status=\"500\"} 1000\n";
        assert_eq!(request_counts(m, ServiceKind::Runner), Some((100.0, 10.0)));
        assert_eq!(request_counts(m, ServiceKind::Gateway), None);
        assert_eq!(
            sample("x{a=\"}\"} 2.5 17", "x").map(|s| s.1),
            Some(2.5),
            "a brace inside a label value"
        );
    }

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

    #[test]
    fn label_names_match_exactly() {
        // `api_version` must not be read as `version`, wherever it stands.
        let m = "runner_build_info{api_version=\"x\",git_sha=\"abc\"} 1\n";
        assert_eq!(parse_build_info(m, ServiceKind::Runner), None);
        let m = "runner_build_info{api_version=\"x\",version=\"2.0\",git_sha=\"abc\"} 1\n";
        assert_eq!(
            parse_build_info(m, ServiceKind::Runner),
            Some(("2.0".into(), "abc".into()))
        );
        // Nor a longer metric name for the build info.
        let m = "runner_build_info_total{version=\"9\",git_sha=\"z\"} 1\n\
                 runner_build_info{version=\"1\",git_sha=\"a\"} 1\n";
        assert_eq!(
            parse_build_info(m, ServiceKind::Runner),
            Some(("1".into(), "a".into()))
        );
    }

    #[test]
    fn escaped_label_values_are_unescaped() {
        let m = r#"runner_build_info{version="1.0 \"rc\" \\ x\nnext",git_sha="a,b}c"} 1"#;
        assert_eq!(
            parse_build_info(m, ServiceKind::Runner),
            Some(("1.0 \"rc\" \\ x\nnext".into(), "a,b}c".into()))
        );
        // Whitespace, a trailing comma and a timestamp are allowed.
        let m = "runner_build_info { version = \"1\" , git_sha=\"s\", } 1 1700000000000";
        assert_eq!(
            parse_build_info(m, ServiceKind::Runner),
            Some(("1".into(), "s".into()))
        );
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for bad in [
            r#"runner_build_info{version="1",git_sha="a"}"#, // no value
            r#"runner_build_info{version="1",git_sha="a"} one"#,
            r#"runner_build_info{version="1" git_sha="a"} 1"#, // no comma
            r#"runner_build_info{version="1\q",git_sha="a"} 1"#, // bad escape
            r#"runner_build_info{version="1,git_sha="a"} 1"#,  // unterminated
            r#"runner_build_info{version="1",version="2",git_sha="a"} 1"#,
            r#"runner_build_info{1version="1",git_sha="a"} 1"#,
            r#"# runner_build_info{version="1",git_sha="a"} 1"#,
            r#"runner_build_info{version="1",git_sha="a"} 1 2 3"#,
        ] {
            assert_eq!(parse_build_info(bad, ServiceKind::Runner), None, "{bad}");
        }
    }

    /// An endpoint that streams a body without end: the probe must stop
    /// reading at the cap rather than buffer it all.
    #[tokio::test]
    async fn an_oversized_body_is_a_probe_error_and_reading_stops() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 4096];
            let _ = sock.read(&mut req).await.unwrap();
            let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n";
            sock.write_all(head).await.unwrap();
            let chunk = vec![b'#'; 64 * 1024];
            let mut sent = 0usize;
            while sock.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
                if sent > 256 << 20 {
                    break;
                }
            }
            sent
        });
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let cor = CorrelationId::from_random(random16());
        let got = get(&client, &format!("http://{addr}/metrics"), &cor).await;
        assert_eq!(got.err().as_deref(), Some(BODY_TOO_LARGE));
        drop(client);
        let sent = server.await.unwrap();
        // The cap plus what socket buffers held, far from the 256 MiB offered.
        assert!(sent < 32 << 20, "server sent {sent} bytes");
    }

    #[tokio::test]
    async fn a_body_under_the_cap_is_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 4096];
            let _ = sock.read(&mut req).await.unwrap();
            let body = vec![b'#'; MAX_BODY];
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            sock.write_all(head.as_bytes()).await.unwrap();
            sock.write_all(&body).await.unwrap();
        });
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let cor = CorrelationId::from_random(random16());
        let (status, body, _) = get(&client, &format!("http://{addr}/metrics"), &cor)
            .await
            .unwrap();
        assert_eq!((status, body.len()), (200, MAX_BODY));
    }
}
