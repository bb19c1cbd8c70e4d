//! One simulated service instance: its HTTP surface (platform contract) and
//! its behaviour over time (inflight work drains, lag moves, request
//! counters grow, loaded revisions follow the dev files).

use crate::metrics::{InstanceMetrics, Traffic};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use model::fleet::{ServiceKind, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Run-time fault knobs (`PUT /sim/instances/{id}/faults`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Not listening: connections are refused.
    pub down: bool,
    /// Added latency on every answer.
    pub slow_ms: u64,
    /// Accepts connections and never answers.
    pub black_hole: bool,
    /// `/ready` answers 503.
    pub unready: bool,
    /// Readiness flips every two seconds.
    pub flapping: bool,
    /// Share (0..=1) of probe answers that are 500s.
    pub error_rate: f64,
    /// Draining tenants never finish their inflight work.
    pub stuck_drain: bool,
    /// Loaded revisions stop following the dev files.
    pub stale_revision: bool,
    /// `POST /admin/routing/reload` answers 500 and loads nothing.
    pub reload_fails: bool,
    /// `POST /admin/routing/reload` never answers (other routes do).
    pub reload_hangs: bool,
    /// How long a drain takes to reach inflight 0 (0: 2 s).
    pub drain_ms: u64,
    /// Added to every tenant's reported lag.
    pub lag: u64,
    /// Inflight work every active tenant reports (and a drain starts from).
    pub inflight: u64,
}

/// One side effect as the target saw it, keyed by the caller's marker
/// (`x-job-step`): how many requests carried the marker and how many were
/// applied. A control plane that never runs a step twice leaves
/// `applied == 1` for every marker, however often it had to ask.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub requests: u64,
    pub applied: u64,
    /// Requests refused for a fencing token older than one already seen.
    pub fenced: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantState {
    Active,
    Draining,
    Drained,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub state: TenantState,
    pub inflight: u64,
    pub lag: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub id: String,
    pub kind: ServiceKind,
    pub shard: Option<String>,
    pub replica: u32,
    pub addr: SocketAddr,
    pub version: String,
    pub git_sha: String,
    pub faults: Faults,
    pub loaded_placement_revision: Option<u64>,
    pub loaded_routing_revision: Option<u64>,
}

#[derive(Default)]
struct Effects {
    by_marker: BTreeMap<String, (Effect, serde_json::Value)>,
    /// The highest fencing token seen per job.
    fences: BTreeMap<String, u64>,
}

/// A tenant this instance was told about: drained (from `inflight` at
/// `since`) or active again after a resume (then it gets traffic).
#[derive(Clone, Copy)]
struct Tenant {
    state: TenantState,
    inflight: u64,
    since: Instant,
}

struct Tenants {
    by_id: BTreeMap<String, Tenant>,
    /// The tenants placed on this shard (see `place_tenants`).
    placed: Vec<String>,
}

const DEFAULT_DRAIN_MS: u64 = 2_000;
const TRACEPARENTS_KEPT: usize = 256;

pub(crate) struct Inner {
    pub(crate) info: Mutex<InstanceInfo>,
    tenants: Mutex<Tenants>,
    metrics: InstanceMetrics,
    /// The last `traceparent` headers received (bounded).
    traceparents: Mutex<std::collections::VecDeque<String>>,
    effects: Mutex<Effects>,
    started: Instant,
    placement_path: PathBuf,
    routing_path: PathBuf,
    /// The documents a gateway loaded at its last reload: what it routes
    /// by (and answers `/admin/routing/resolve` from).
    loaded: Mutex<Option<Arc<(model::fleet::PlacementDoc, model::fleet::RoutingDoc)>>>,
    /// Deterministic pseudo-randomness for error rates and counters.
    seed: Mutex<u64>,
}

#[derive(Clone)]
pub struct Instance {
    pub(crate) inner: Arc<Inner>,
}

fn file_revision(path: &std::path::Path) -> Option<u64> {
    #[derive(Deserialize)]
    struct Rev {
        revision: u64,
    }
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice::<Rev>(&bytes)
        .ok()
        .map(|r| r.revision)
}

impl Instance {
    pub fn new(info: InstanceInfo, placement_path: PathBuf, routing_path: PathBuf) -> Self {
        let seed = info.addr.port() as u64 * 7919 + 1;
        let metrics = InstanceMetrics::new(
            info.kind,
            info.shard.as_deref(),
            &info.version,
            &info.git_sha,
        );
        let inst = Self {
            inner: Arc::new(Inner {
                info: Mutex::new(info),
                tenants: Mutex::new(Tenants {
                    by_id: BTreeMap::new(),
                    placed: Vec::new(),
                }),
                metrics,
                traceparents: Mutex::new(std::collections::VecDeque::new()),
                effects: Mutex::new(Effects::default()),
                started: Instant::now(),
                placement_path,
                routing_path,
                loaded: Mutex::new(None),
                seed: Mutex::new(seed),
            }),
        };
        inst.reload(true);
        inst
    }

    /// The `traceparent` headers of the last requests that carried one.
    pub fn traceparents(&self) -> Vec<String> {
        self.inner
            .traceparents
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect()
    }

    /// Every marked side effect this instance saw.
    pub fn effects(&self) -> BTreeMap<String, Effect> {
        let e = self.inner.effects.lock().unwrap();
        e.by_marker
            .iter()
            .map(|(k, (eff, _))| (k.clone(), eff.clone()))
            .collect()
    }

    pub fn info(&self) -> InstanceInfo {
        self.inner.info.lock().unwrap().clone()
    }

    pub fn set_faults(&self, f: Faults) {
        self.inner.info.lock().unwrap().faults = f;
    }

    fn faults(&self) -> Faults {
        self.inner.info.lock().unwrap().faults.clone()
    }

    fn rand(&self) -> f64 {
        let mut s = self.inner.seed.lock().unwrap();
        *s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*s >> 11) as f64) / ((1u64 << 53) as f64)
    }

    /// Loads the revisions of the dev files: workers follow the placement
    /// file by themselves; the gateway loads both only when told to reload
    /// (or at start).
    pub fn reload(&self, explicit: bool) {
        let mut info = self.inner.info.lock().unwrap();
        if info.faults.stale_revision {
            return;
        }
        let is_gateway = info.kind == ServiceKind::Gateway;
        if is_gateway && !explicit {
            return;
        }
        if let Some(r) = file_revision(&self.inner.placement_path) {
            if info.loaded_placement_revision != Some(r) && !is_gateway {
                self.forget_moved_tenants(info.kind, info.shard.as_deref());
                self.place_tenants(info.kind, info.shard.as_deref());
            }
            info.loaded_placement_revision = Some(r);
        }
        if is_gateway {
            if let Some(r) = file_revision(&self.inner.routing_path) {
                info.loaded_routing_revision = Some(r);
            }
            let docs = std::fs::read(&self.inner.placement_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .zip(
                    std::fs::read(&self.inner.routing_path)
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok()),
                );
            if let Some(d) = docs {
                *self.inner.loaded.lock().unwrap() = Some(Arc::new(d));
            }
        }
    }

    /// The tenants placed on this instance's shard get synthetic traffic
    /// (`<kind>_tenant_requests_total`), the first 50 of them: the
    /// cardinality rule of docs/observability.md.
    fn place_tenants(&self, kind: ServiceKind, shard: Option<&str>) {
        let Some(doc) = std::fs::read(&self.inner.placement_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<model::fleet::PlacementDoc>(&b).ok())
        else {
            return;
        };
        let placed = doc
            .map(kind)
            .map(|m| {
                m.tenants
                    .iter()
                    .filter(|(_, s)| Some(s.as_str()) == shard)
                    .map(|(t, _)| t.as_str().to_owned())
                    .take(50)
                    .collect()
            })
            .unwrap_or_default();
        self.inner.tenants.lock().unwrap().placed = placed;
    }

    /// A drained tenant placed elsewhere now is no longer this instance's.
    fn forget_moved_tenants(&self, kind: ServiceKind, shard: Option<&str>) {
        let Some(doc) = std::fs::read(&self.inner.placement_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<model::fleet::PlacementDoc>(&b).ok())
        else {
            return;
        };
        let Some(map) = doc.map(kind) else { return };
        self.inner.tenants.lock().unwrap().by_id.retain(|t, x| {
            x.state != TenantState::Drained
                || TenantId::parse(t)
                    .ok()
                    .and_then(|t| map.shard_of(&t).map(|s| Some(s.as_str()) == shard))
                    .unwrap_or(true)
        });
    }

    /// One step of behaviour (called every 200 ms by the fleet).
    pub fn tick(&self) {
        self.reload(false);
        let f = self.faults();
        let drain = Duration::from_millis(if f.drain_ms == 0 {
            DEFAULT_DRAIN_MS
        } else {
            f.drain_ms
        });
        let tenant_errors = (f.error_rate * 4.0).round() as u64;
        let m = &self.inner.metrics;
        let inflight = {
            let mut guard = self.inner.tenants.lock().unwrap();
            for (id, tenant) in guard.by_id.iter_mut() {
                match tenant.state {
                    TenantState::Draining if !f.stuck_drain && tenant.since.elapsed() >= drain => {
                        tenant.state = TenantState::Drained;
                        tenant.inflight = 0;
                    }
                    TenantState::Active => {
                        m.tenant_request(id, 200, 4 - tenant_errors.min(4));
                        if tenant_errors > 0 {
                            m.tenant_request(id, 500, tenant_errors);
                        }
                    }
                    _ => {}
                }
            }
            // Placed tenants nobody told this instance about are active.
            for id in guard
                .placed
                .iter()
                .filter(|t| !guard.by_id.contains_key(*t))
            {
                m.tenant_request(id, 200, 1);
                if tenant_errors > 0 {
                    m.tenant_request(id, 500, 1);
                }
            }
            guard.by_id.values().map(|t| self.inflight_of(t)).sum()
        };
        let ok = 5 + (self.rand() * 10.0) as u64;
        let traffic = Traffic {
            commands_ok: ok,
            commands_failed: (f.error_rate * 10.0).round() as u64,
            queries_ok: ok / 2,
            slow: Duration::from_millis(f.slow_ms),
            inflight,
            lag: self.lag(),
        };
        m.tick(&traffic, || self.rand());
    }

    /// Inflight work of a tenant now: a drain counts down linearly over
    /// `drain_ms` (held by `stuck_drain`).
    fn inflight_of(&self, t: &Tenant) -> u64 {
        let f = self.faults();
        match t.state {
            TenantState::Drained => 0,
            TenantState::Active => f.inflight,
            TenantState::Draining if f.stuck_drain => t.inflight.max(1),
            TenantState::Draining => {
                let total = if f.drain_ms == 0 {
                    DEFAULT_DRAIN_MS
                } else {
                    f.drain_ms
                } as f64;
                let left = 1.0 - t.since.elapsed().as_millis() as f64 / total;
                ((t.inflight as f64) * left).ceil().max(1.0) as u64
            }
        }
    }

    fn lag(&self) -> u64 {
        // Moves over time, bounded.
        let t = self.inner.started.elapsed().as_secs_f64();
        (20.0 + 15.0 * (t / 7.0).sin()).max(0.0) as u64 + self.faults().lag
    }

    fn ready_now(&self) -> bool {
        let f = self.faults();
        if f.unready {
            return false;
        }
        if f.flapping {
            return (self.inner.started.elapsed().as_secs() / 2).is_multiple_of(2);
        }
        true
    }

    async fn delay(&self) -> bool {
        let f = self.faults();
        if f.black_hole {
            std::future::pending::<()>().await;
        }
        if f.slow_ms > 0 {
            tokio::time::sleep(Duration::from_millis(f.slow_ms)).await;
        }
        f.error_rate > 0.0 && self.rand() < f.error_rate
    }

    pub fn router(&self) -> Router {
        let r = Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready))
            .route("/metrics", get(metrics));
        let kind = self.info().kind;
        let r = if kind == ServiceKind::Gateway {
            r.route("/admin/routing/reload", post(reload_routing))
                .route("/admin/routing/resolve", get(resolve_tenant))
        } else {
            r.route("/admin/tenants/{tenant}", get(tenant_status))
                .route("/v1/commands", post(command))
                .route("/admin/tenants/{tenant}/drain", post(drain))
                .route("/admin/tenants/{tenant}/resume", post(resume))
        };
        r.route_layer(axum::middleware::from_fn_with_state(self.clone(), served))
            .with_state(self.clone())
    }
}

/// Counts what the instance really serves (probes, admin calls) by its
/// route template, beside the synthetic tenant traffic.
async fn served(
    State(i): State<Instance>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    if let Some(tp) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        let mut seen = i.inner.traceparents.lock().unwrap();
        if seen.len() == TRACEPARENTS_KEPT {
            seen.pop_front();
        }
        seen.push_back(tp.to_owned());
    }
    let m = &i.inner.metrics;
    m.in_flight().inc();
    let started = Instant::now();
    let res = next.run(req).await;
    m.in_flight().dec();
    m.served(&route, &method, res.status().as_u16(), started.elapsed());
    res
}

fn error_500() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"error": "simulated failure"})),
    )
        .into_response()
}

async fn health(State(i): State<Instance>) -> Response {
    if i.delay().await {
        return error_500();
    }
    Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn ready(State(i): State<Instance>) -> Response {
    if i.delay().await {
        return error_500();
    }
    let info = i.info();
    let draining: Vec<String> = i
        .inner
        .tenants
        .lock()
        .unwrap()
        .by_id
        .iter()
        .filter(|(_, t)| t.state != TenantState::Active)
        .map(|(t, _)| t.clone())
        .collect();
    let ready = i.ready_now();
    let body = serde_json::json!({
        "ready": ready,
        "service": info.kind.as_str(),
        "shard": info.shard,
        "loaded": {
            "placement_revision": info.loaded_placement_revision,
            "routing_revision": info.loaded_routing_revision,
        },
        "draining_tenants": draining,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(i): State<Instance>) -> Response {
    if i.delay().await {
        return error_500();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        i.inner.metrics.render(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ResolveQuery {
    kind: String,
    tenant: String,
}

/// Where the gateway routes a tenant now, by the documents it loaded
/// (`model::fleet::resolve` over them): 404 when it does not resolve.
async fn resolve_tenant(
    State(i): State<Instance>,
    axum::extract::Query(q): axum::extract::Query<ResolveQuery>,
) -> Response {
    if i.delay().await {
        return error_500();
    }
    let (Some(kind), Ok(tenant)) = (ServiceKind::parse(&q.kind), TenantId::parse(&q.tenant)) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "kind and tenant are required"})),
        )
            .into_response();
    };
    let loaded = i.inner.loaded.lock().unwrap().clone();
    let Some(docs) = loaded else {
        return error_500();
    };
    let (p, r) = &*docs;
    let empty = model::fleet::PlacementMap::default();
    let map = p.map(kind).unwrap_or(&empty);
    match model::fleet::resolve(kind, &tenant, map, &r.routing) {
        Ok(res) => Json(res).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": e.message})),
        )
            .into_response(),
    }
}

/// Reload, deduplicated by the caller's marker: a request whose
/// `x-job-step` marker was applied before gets the first answer again
/// (`"replayed": true`) and reloads nothing; one whose `x-fencing-token` is
/// below the highest seen for its job is refused (409): it comes from a
/// runner that lost its lease.
async fn reload_routing(State(i): State<Instance>, headers: axum::http::HeaderMap) -> Response {
    let marker = match i.begin_effect(&headers) {
        Ok(m) => m,
        Err(replay) => return *replay,
    };
    if i.faults().reload_fails {
        return error_500();
    }
    if i.faults().reload_hangs {
        std::future::pending::<()>().await;
    }
    i.reload(true);
    let info = i.info();
    let body = serde_json::json!({
        "placement_revision": info.loaded_placement_revision,
        "routing_revision": info.loaded_routing_revision,
    });
    i.applied(marker.as_deref(), &body);
    Json(body).into_response()
}

impl Instance {
    /// The dedup and fencing of a marked side effect: `Err` is the answer
    /// (the first answer again, replayed, or 409 for a stale token); `Ok`
    /// the marker to record the effect under once applied.
    fn begin_effect(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<Option<String>, Box<Response>> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let marker = text("x-job-step");
        let token = text("x-fencing-token").and_then(|t| t.parse::<u64>().ok());
        let Some(m) = &marker else { return Ok(None) };
        let mut e = self.inner.effects.lock().unwrap();
        let job = m.split('/').next().unwrap_or_default().to_owned();
        let entry = e.by_marker.entry(m.clone()).or_default();
        entry.0.requests += 1;
        if let Some(t) = token {
            let seen = e.fences.get(&job).copied().unwrap_or(0);
            if t < seen {
                if let Some(x) = e.by_marker.get_mut(m) {
                    x.0.fenced += 1;
                }
                return Err(Box::new(
                    (
                        StatusCode::CONFLICT,
                        Json(serde_json::json!({ "error": "stale fencing token" })),
                    )
                        .into_response(),
                ));
            }
            e.fences.insert(job, t);
        }
        let entry = &e.by_marker[m];
        if entry.0.applied > 0 {
            let mut body = entry.1.clone();
            body["replayed"] = true.into();
            return Err(Box::new(Json(body).into_response()));
        }
        Ok(marker)
    }

    fn applied(&self, marker: Option<&str>, body: &serde_json::Value) {
        if let Some(m) = marker {
            let mut e = self.inner.effects.lock().unwrap();
            if let Some(entry) = e.by_marker.get_mut(m) {
                entry.0.applied += 1;
                entry.1 = body.clone();
            }
        }
    }
}

fn tenant_param(t: &str) -> Result<TenantId, Box<Response>> {
    TenantId::parse(t).map_err(|e| {
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": e.code.as_str()})),
            )
                .into_response(),
        )
    })
}

fn status_of(i: &Instance, t: &str) -> TenantStatus {
    let tenant = i.inner.tenants.lock().unwrap().by_id.get(t).copied();
    let (state, inflight) = match tenant {
        Some(x) => (x.state, i.inflight_of(&x)),
        None => (TenantState::Active, i.faults().inflight),
    };
    TenantStatus {
        tenant: t.to_owned(),
        state,
        inflight,
        lag: i.lag(),
    }
}

async fn tenant_status(State(i): State<Instance>, UrlPath(t): UrlPath<String>) -> Response {
    match tenant_param(&t) {
        Ok(t) => Json(status_of(&i, t.as_str())).into_response(),
        Err(r) => *r,
    }
}

/// Starts draining (inflight counts down from what the tenant has, at
/// least 5); a tenant already draining or drained keeps its state.
async fn drain(
    State(i): State<Instance>,
    UrlPath(t): UrlPath<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let t = match tenant_param(&t) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let marker = match i.begin_effect(&headers) {
        Ok(m) => m,
        Err(replay) => return *replay,
    };
    let start = (5 + (t.as_str().len() as u64 % 10)).max(i.faults().inflight);
    {
        let mut ts = i.inner.tenants.lock().unwrap();
        let e = ts.by_id.entry(t.as_str().to_owned()).or_insert(Tenant {
            state: TenantState::Active,
            inflight: 0,
            since: Instant::now(),
        });
        if e.state == TenantState::Active {
            *e = Tenant {
                state: TenantState::Draining,
                inflight: start,
                since: Instant::now(),
            };
        }
    }
    let body = serde_json::to_value(status_of(&i, t.as_str())).unwrap_or_default();
    i.applied(marker.as_deref(), &body);
    Json(body).into_response()
}

async fn resume(
    State(i): State<Instance>,
    UrlPath(t): UrlPath<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let t = match tenant_param(&t) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let marker = match i.begin_effect(&headers) {
        Ok(m) => m,
        Err(replay) => return *replay,
    };
    i.inner.tenants.lock().unwrap().by_id.insert(
        t.as_str().to_owned(),
        Tenant {
            state: TenantState::Active,
            inflight: 0,
            since: Instant::now(),
        },
    );
    let body = serde_json::to_value(status_of(&i, t.as_str())).unwrap_or_default();
    i.applied(marker.as_deref(), &body);
    Json(body).into_response()
}

/// New work for a tenant: refused (503 `tenant_draining`) while it drains.
async fn command(State(i): State<Instance>, headers: axum::http::HeaderMap) -> Response {
    let Some(t) = headers.get("x-tenant-id").and_then(|v| v.to_str().ok()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "tenant_required"})),
        )
            .into_response();
    };
    let t = match tenant_param(t) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let failed = i.delay().await;
    let state = i
        .inner
        .tenants
        .lock()
        .unwrap()
        .by_id
        .get(t.as_str())
        .map(|x| x.state);
    let (status, body) = match state {
        Some(TenantState::Draining | TenantState::Drained) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "tenant_draining"}),
        ),
        _ if failed => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": "simulated failure"}),
        ),
        _ => (StatusCode::OK, serde_json::json!({"accepted": true})),
    };
    i.inner
        .metrics
        .tenant_request(t.as_str(), status.as_u16(), 1);
    (status, Json(body)).into_response()
}
