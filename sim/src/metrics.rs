//! What one simulated instance exports on `/metrics`: the metric contract
//! of docs/observability.md, through prometheus-client, with the values
//! moved by the instance's tick (synthetic tenant traffic) and by the
//! requests it really serves (probes, admin calls).
//!
//! Every label value is bounded: route templates, methods, status codes,
//! fixed outcomes, the stream and consumer names of the topology, and the
//! tenants this instance was told about.

use model::fleet::ServiceKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// The only stream of the platform (docs/platform-contract.md).
const STREAM: &str = "events";
/// The database's configured map size (the ceiling the fill ratio uses).
const MAP_SIZE: i64 = 1 << 30;
const MAX_READERS: i64 = 126;
/// What the database holds before the first commit.
const BASE_SIZE: i64 = 64 << 20;
const PAGE: i64 = 4096;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    service: String,
    version: String,
    git_sha: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamStatus {
    upstream: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Upstream {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabel {
    stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabels {
    stream: String,
    consumer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

fn fast() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    ])
}

/// A synthetic tick's traffic: what the instance "served" in 200 ms.
pub(crate) struct Traffic {
    pub commands_ok: u64,
    pub commands_failed: u64,
    pub queries_ok: u64,
    /// Extra latency every answer carries (the `slow_ms` fault).
    pub slow: Duration,
    pub inflight: u64,
    pub lag: u64,
}

pub(crate) struct InstanceMetrics {
    registry: Registry,
    kind: ServiceKind,
    consumer: String,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily<RouteLabels>,
    in_flight: Gauge,
    upstream_requests: Family<UpstreamStatus, Counter>,
    upstream_duration: HistogramFamily<Upstream>,
    ratelimit: Family<Reason, Counter>,
    worker_inflight: Gauge,
    worker_lag: Gauge,
    tasks: Family<Outcome, Counter>,
    task_duration: Histogram,
    tenant_requests: Family<TenantLabels, Counter>,
    published: Family<StreamLabel, Counter>,
    publish_duration: HistogramFamily<StreamLabel>,
    pending: Family<ConsumerLabels, Gauge>,
    ack_pending: Family<ConsumerLabels, Gauge>,
    delivered: Family<ConsumerLabels, Counter>,
    redelivered: Family<ConsumerLabels, Counter>,
    storage_size: Gauge,
    readers: Gauge,
    txn_duration: HistogramFamily<OpLabel>,
    commits: Counter,
}

fn has_storage(kind: ServiceKind) -> bool {
    matches!(kind, ServiceKind::Aggregate | ServiceKind::Projection)
}

fn consumes(kind: ServiceKind) -> bool {
    matches!(kind, ServiceKind::Projection | ServiceKind::Runner)
}

impl InstanceMetrics {
    pub(crate) fn new(
        kind: ServiceKind,
        shard: Option<&str>,
        version: &str,
        git_sha: &str,
    ) -> Self {
        let k = kind.as_str();
        let m = Self {
            registry: Registry::default(),
            kind,
            consumer: format!("{k}-{}", shard.unwrap_or("all")),
            requests: Family::default(),
            duration: Family::new_with_constructor(latency),
            in_flight: Gauge::default(),
            upstream_requests: Family::default(),
            upstream_duration: Family::new_with_constructor(latency),
            ratelimit: Family::default(),
            worker_inflight: Gauge::default(),
            worker_lag: Gauge::default(),
            tasks: Family::default(),
            task_duration: latency(),
            tenant_requests: Family::default(),
            published: Family::default(),
            publish_duration: Family::new_with_constructor(fast),
            pending: Family::default(),
            ack_pending: Family::default(),
            delivered: Family::default(),
            redelivered: Family::default(),
            storage_size: Gauge::default(),
            readers: Gauge::default(),
            txn_duration: Family::new_with_constructor(fast),
            commits: Counter::default(),
        };
        m.with_registry(version, git_sha)
    }

    fn with_registry(mut self, version: &str, git_sha: &str) -> Self {
        let kind = self.kind;
        let k = kind.as_str();
        let mut root = Registry::default();
        root.register_collector(Box::new(process_metrics::ProcessCollector));
        let r = root.sub_registry_with_prefix(k);
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                service: k.to_owned(),
                version: version.to_owned(),
                git_sha: git_sha.to_owned(),
            })
            .set(1);
        r.register("build_info", "The running build", build);
        r.register(
            "http_requests",
            "Requests served, by route template, method and status",
            self.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Request latency, by route template and method",
            self.duration.clone(),
        );
        r.register(
            "http_requests_in_flight",
            "Requests being served now",
            self.in_flight.clone(),
        );
        if kind == ServiceKind::Gateway {
            r.register(
                "upstream_requests",
                "Calls to the services behind the gateway, by upstream and status",
                self.upstream_requests.clone(),
            );
            r.register(
                "upstream_request_duration_seconds",
                "Latency of the calls to the services behind the gateway",
                self.upstream_duration.clone(),
            );
            for reason in ["tenant_quota", "global"] {
                let _ = self.ratelimit.get_or_create(&Reason {
                    reason: reason.into(),
                });
            }
            r.register(
                "ratelimit_rejections",
                "Requests refused by rate limits, by reason",
                self.ratelimit.clone(),
            );
        } else {
            r.register(
                "worker_inflight",
                "Work items being processed",
                self.worker_inflight.clone(),
            );
            r.register(
                "worker_lag",
                "Messages behind the stream head",
                self.worker_lag.clone(),
            );
            for outcome in ["ok", "error", "retry"] {
                let _ = self.tasks.get_or_create(&Outcome {
                    outcome: outcome.into(),
                });
            }
            r.register(
                "worker_tasks",
                "Work items finished, by outcome",
                self.tasks.clone(),
            );
            r.register(
                "worker_task_duration_seconds",
                "Time per work item",
                self.task_duration.clone(),
            );
            r.register(
                "tenant_requests",
                "Requests per tenant served by this instance, by status",
                self.tenant_requests.clone(),
            );
        }
        if kind == ServiceKind::Aggregate {
            r.register(
                "eventbus_published",
                "Events published, by stream",
                self.published.clone(),
            );
            r.register(
                "eventbus_publish_duration_seconds",
                "Time to publish one event (until the stream's ack), by stream",
                self.publish_duration.clone(),
            );
        }
        if consumes(kind) {
            r.register(
                "eventbus_consumer_pending",
                "Messages not yet delivered to the consumer",
                self.pending.clone(),
            );
            r.register(
                "eventbus_consumer_ack_pending",
                "Messages delivered and not yet acknowledged",
                self.ack_pending.clone(),
            );
            r.register(
                "eventbus_delivered",
                "Messages delivered to the consumer",
                self.delivered.clone(),
            );
            r.register(
                "eventbus_redelivered",
                "Messages delivered again after a missed ack",
                self.redelivered.clone(),
            );
        }
        if has_storage(kind) {
            r.register(
                "storage_size_bytes",
                "Database file size",
                self.storage_size.clone(),
            );
            r.register(
                "storage_map_size_bytes",
                "The configured map size (the ceiling)",
                ConstGauge::new(MAP_SIZE),
            );
            r.register(
                "storage_readers",
                "Reader slots in use",
                self.readers.clone(),
            );
            r.register(
                "storage_max_readers",
                "Reader slots available",
                ConstGauge::new(MAX_READERS),
            );
            r.register(
                "storage_txn_duration_seconds",
                "Transaction time, by op (read, write)",
                self.txn_duration.clone(),
            );
            r.register(
                "storage_commits",
                "Write transactions committed",
                self.commits.clone(),
            );
        }
        self.registry = root;
        self
    }

    /// A request this instance really served (probes, admin calls).
    pub(crate) fn served(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// A tenant request this instance answered.
    pub(crate) fn tenant_request(&self, tenant: &str, status: u16, n: u64) {
        self.tenant_requests
            .get_or_create(&TenantLabels {
                tenant: tenant.to_owned(),
                status: status.to_string(),
            })
            .inc_by(n);
    }

    /// One tick of synthetic traffic; `rand` yields values in 0..1.
    pub(crate) fn tick(&self, t: &Traffic, mut rand: impl FnMut() -> f64) {
        let slow = t.slow.as_secs_f64();
        let mut synth = |route: &str, method: &str, status: u16, n: u64, base: f64| {
            if n == 0 {
                return;
            }
            self.requests
                .get_or_create(&RequestLabels {
                    route: route.into(),
                    method: method.into(),
                    status: status.to_string(),
                })
                .inc_by(n);
            let h = self.duration.get_or_create(&RouteLabels {
                route: route.into(),
                method: method.into(),
            });
            for _ in 0..n {
                h.observe(base * (0.5 + rand()) + slow);
            }
        };
        synth("/v1/commands", "POST", 200, t.commands_ok, 0.012);
        synth("/v1/commands", "POST", 500, t.commands_failed, 0.030);
        synth("/v1/queries", "GET", 200, t.queries_ok, 0.006);
        let commands = t.commands_ok + t.commands_failed;
        match self.kind {
            ServiceKind::Gateway => self.gateway_tick(t, slow, &mut rand),
            kind => {
                self.worker_inflight.set(t.inflight as i64);
                self.worker_lag.set(t.lag as i64);
                let outcome = |o: &str| self.tasks.get_or_create(&Outcome { outcome: o.into() });
                outcome("ok").inc_by(t.commands_ok);
                outcome("error").inc_by(t.commands_failed);
                if rand() < 0.1 {
                    outcome("retry").inc();
                }
                for _ in 0..commands {
                    self.task_duration.observe(0.008 * (0.5 + rand()) + slow);
                }
                if kind == ServiceKind::Aggregate {
                    let stream = StreamLabel {
                        stream: STREAM.into(),
                    };
                    self.published.get_or_create(&stream).inc_by(t.commands_ok);
                    let h = self.publish_duration.get_or_create(&stream);
                    for _ in 0..t.commands_ok {
                        h.observe(0.002 * (0.5 + rand()));
                    }
                }
                if consumes(kind) {
                    let c = ConsumerLabels {
                        stream: STREAM.into(),
                        consumer: self.consumer.clone(),
                    };
                    self.pending.get_or_create(&c).set(t.lag as i64);
                    self.ack_pending
                        .get_or_create(&c)
                        .set((rand() * 5.0) as i64 + t.inflight as i64);
                    self.delivered.get_or_create(&c).inc_by(t.commands_ok);
                    let redelivered = self.redelivered.get_or_create(&c);
                    if rand() < 0.05 {
                        redelivered.inc();
                    }
                }
                if has_storage(kind) {
                    let writes = if kind == ServiceKind::Aggregate {
                        t.commands_ok
                    } else {
                        t.commands_ok / 2 + 1
                    };
                    let commits = self.commits.inc_by(writes) + writes;
                    self.storage_size
                        .set(BASE_SIZE + (commits as i64).saturating_mul(PAGE));
                    self.readers.set(1 + (rand() * 7.0) as i64);
                    // One guard at a time: a second `get_or_create` on the
                    // same family while a guard is held can deadlock.
                    for (op, n, base) in [("read", t.queries_ok, 0.0004), ("write", writes, 0.0015)]
                    {
                        let h = self.txn_duration.get_or_create(&OpLabel { op: op.into() });
                        for _ in 0..n {
                            h.observe(base * (0.5 + rand()));
                        }
                    }
                }
            }
        }
    }

    fn gateway_tick(&self, t: &Traffic, slow: f64, rand: &mut impl FnMut() -> f64) {
        let mut call = |upstream: &str, status: u16, n: u64| {
            if n == 0 {
                return;
            }
            self.upstream_requests
                .get_or_create(&UpstreamStatus {
                    upstream: upstream.into(),
                    status: status.to_string(),
                })
                .inc_by(n);
            let h = self.upstream_duration.get_or_create(&Upstream {
                upstream: upstream.into(),
            });
            for _ in 0..n {
                h.observe(0.009 * (0.5 + rand()) + slow);
            }
        };
        call("aggregate", 200, t.commands_ok);
        call("aggregate", 500, t.commands_failed);
        call("projection", 200, t.queries_ok);
        call("runner", 200, t.commands_ok / 5 + 1);
        let reject = |r: &str| self.ratelimit.get_or_create(&Reason { reason: r.into() });
        if rand() < 0.2 {
            reject("tenant_quota").inc();
        }
        if rand() < 0.02 {
            reject("global").inc();
        }
    }

    /// Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        match prometheus_client::encoding::text::encode_registry(&mut out, &self.registry) {
            Ok(()) => out,
            Err(_) => String::new(),
        }
    }
}
