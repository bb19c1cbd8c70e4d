//! The facade both doors call: the observed Swarm (a snapshot re-read
//! level-based on every daemon event and at a bounded interval), the
//! history of every spec seen, "what changed", and deploy events.

use super::history::History;
use super::normalize::{node_view, service_view, task_view};
use super::{Swarm, SwarmError};
use crate::store::StoreError;
use futures::StreamExt;
use model::deploy::{
    NodeView, ServiceDetail, ServiceName, ServicePage, ServiceQuery, ServiceView, SpecDiff,
    SpecDiffQuery, SpecHistory, SpecRecord, SpecSource, SpecSummary, TaskView, UpdateState,
    HISTORY_SHOWN,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] crate::action::ActionError),
}

#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// Tasks are polled at this interval (there are no task events).
    pub poll: Duration,
    /// Keys the fingerprints of secret-looking environment values.
    pub fingerprint_key: Vec<u8>,
    /// Deploy markers, when a Grafana is configured.
    pub grafana: Option<super::annotations::Grafana>,
}

/// One level-based read of the daemon.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub observed_ms: u64,
    /// By name.
    pub services: BTreeMap<ServiceName, (ServiceView, SpecSummary)>,
    /// By service id, newest first.
    pub tasks: BTreeMap<String, Vec<TaskView>>,
    pub nodes: Vec<NodeView>,
    /// When the nodes were read.
    pub nodes_ms: u64,
    /// Why the last read failed, if it did (the snapshot is the last good one).
    pub error: Option<String>,
    /// Has a read ever succeeded?
    pub loaded: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    stack: String,
    service: String,
    version: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    role: String,
    state: String,
    availability: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    stack: String,
    service: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabels {
    stack: String,
    service: String,
    kind: &'static str,
}

/// A gauge family set whole from each snapshot: a label set the snapshot
/// no longer has (a removed service, a node that left) is removed rather
/// than left at its last value.
struct SnapshotGauge<L> {
    family: Family<L, Gauge>,
    /// The label sets the last snapshot set.
    shown: Mutex<HashSet<L>>,
}

impl<L: Clone + std::hash::Hash + Eq> SnapshotGauge<L> {
    fn new() -> Self {
        Self {
            family: Family::default(),
            shown: Mutex::new(HashSet::new()),
        }
    }

    /// Sets every label set of `now` and removes the ones it lacks (rather
    /// than clearing first: a scrape meanwhile would see every series gone).
    fn set_all(&self, now: HashMap<L, i64>) {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        for gone in shown.iter().filter(|l| !now.contains_key(*l)) {
            self.family.remove(gone);
        }
        for (labels, n) in &now {
            self.family.get_or_create(labels).set(*n);
        }
        *shown = now.into_keys().collect();
    }
}

/// Deploy annotations' outcomes: written, or failed after their retries.
const ANNOTATION_OUTCOMES: [&str; 2] = ["written", "failed"];

struct Metrics {
    deploy_events: Family<EventLabels, Counter>,
    annotations: Family<OutcomeLabel, Counter>,
    refresh_seconds: Histogram,
    refresh_errors: Counter,
    recorded: Counter,
    nodes: SnapshotGauge<NodeLabels>,
    tasks: SnapshotGauge<TaskLabels>,
    replicas: SnapshotGauge<ReplicaLabels>,
}

impl Metrics {
    fn new() -> Self {
        let m = Self {
            deploy_events: Family::default(),
            annotations: Family::default(),
            refresh_seconds: Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            refresh_errors: Counter::default(),
            recorded: Counter::default(),
            nodes: SnapshotGauge::new(),
            tasks: SnapshotGauge::new(),
            replicas: SnapshotGauge::new(),
        };
        for outcome in ANNOTATION_OUTCOMES {
            m.annotations.get_or_create_owned(&OutcomeLabel { outcome });
        }
        m
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "control_deploy_events",
            "Deploys observed on Swarm, by stack, service, version and outcome (started, completed, paused, rollback_started, rollback_paused, rolled_back)",
            self.deploy_events.clone(),
        );
        r.register(
            "control_deploy_annotations",
            "Deploy annotations written to Grafana (outcome written, or failed after its retries)",
            self.annotations.clone(),
        );
        r.register(
            "control_swarm_refresh_duration_seconds",
            "Time to read services, tasks and nodes from the Docker Engine",
            self.refresh_seconds.clone(),
        );
        r.register(
            "control_swarm_refresh_errors",
            "Reads of the Docker Engine that failed",
            self.refresh_errors.clone(),
        );
        r.register(
            "control_deploy_specs_recorded",
            "Service specs recorded in the deploy history",
            self.recorded.clone(),
        );
        r.register(
            "control_swarm_nodes",
            "Swarm nodes, by role, state and availability",
            self.nodes.family.clone(),
        );
        r.register(
            "control_swarm_tasks",
            "Swarm tasks (as the daemon keeps them, history included), by stack, service and state",
            self.tasks.family.clone(),
        );
        r.register(
            "control_swarm_service_replicas",
            "Replicas of a Swarm service, desired and running",
            self.replicas.family.clone(),
        );
    }

    /// The Swarm gauges from one successful read.
    fn observe(&self, snap: &Snapshot) {
        let mut nodes = HashMap::new();
        for n in &snap.nodes {
            *nodes
                .entry(NodeLabels {
                    role: n.role.clone(),
                    state: n.state.clone(),
                    availability: n.availability.clone(),
                })
                .or_insert(0) += 1;
        }
        let mut tasks = HashMap::new();
        let mut replicas = HashMap::new();
        for (view, _) in snap.services.values() {
            let stack = view.stack.clone().unwrap_or_default();
            let service = view.name.to_string();
            for t in snap.tasks.get(&view.id).into_iter().flatten() {
                *tasks
                    .entry(TaskLabels {
                        stack: stack.clone(),
                        service: service.clone(),
                        // One word, as the daemon spells it (and the UI shows it).
                        state: format!("{:?}", t.state).to_lowercase(),
                    })
                    .or_insert(0) += 1;
            }
            let replica = |kind| ReplicaLabels {
                stack: stack.clone(),
                service: service.clone(),
                kind,
            };
            // A global service the daemon gave no task count for has no
            // desired number.
            if let Some(desired) = view.replicas_desired {
                replicas.insert(replica("desired"), gauge_value(desired));
            }
            replicas.insert(replica("running"), gauge_value(view.replicas_running));
        }
        self.nodes.set_all(nodes);
        self.tasks.set_all(tasks);
        self.replicas.set_all(replicas);
    }
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

const NODES_EVERY_MS: u64 = 30_000;

/// A service as read, with the full spec its history record keeps.
type Observed = (ServiceView, SpecSummary, bollard::models::ServiceSpec);

/// What the observer saw happen to a service's update.
struct DeployEvent<'a> {
    view: &'a ServiceView,
    sum: &'a SpecSummary,
    outcome: &'static str,
    at_ms: u64,
}

struct Inner {
    swarm: Arc<dyn Swarm>,
    actions: crate::action::Actions,
    history: History,
    settings: DeploySettings,
    snapshot: watch::Sender<Arc<Snapshot>>,
    metrics: Metrics,
    /// Serialises refreshes: one read of the daemon at a time.
    refreshing: tokio::sync::Mutex<()>,
    /// Per service, the (service id, spec sha256) this replica last found
    /// recorded: an unchanged spec costs no store read. Another replica's
    /// newer record is found as soon as the spec differs from this.
    recorded: Mutex<std::collections::HashMap<ServiceName, (String, String)>>,
}

#[derive(Clone)]
pub struct Deployments {
    inner: Arc<Inner>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(super) fn sha256_of(spec: &bollard::models::ServiceSpec) -> String {
    use sha2::Digest;
    let v = serde_json::to_value(spec).unwrap_or_default();
    let text = model::config::canonical_json(&v);
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The outcome label of an update state a deploy moved into.
fn outcome(s: UpdateState) -> &'static str {
    match s {
        UpdateState::Updating => "started",
        UpdateState::Completed => "completed",
        UpdateState::Paused => "paused",
        UpdateState::RollbackStarted => "rollback_started",
        UpdateState::RollbackPaused => "rollback_paused",
        UpdateState::RollbackCompleted => "rolled_back",
    }
}

impl Deployments {
    pub fn new(
        swarm: Arc<dyn Swarm>,
        store: Arc<dyn crate::store::Substrate>,
        actions: crate::action::Actions,
        settings: DeploySettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                swarm,
                actions,
                history: History::new(store),
                settings,
                snapshot: watch::channel(Arc::new(Snapshot::default())).0,
                metrics: Metrics::new(),
                refreshing: tokio::sync::Mutex::new(()),
                recorded: Mutex::new(std::collections::HashMap::new()),
            }),
        }
    }

    pub fn swarm(&self) -> &Arc<dyn Swarm> {
        &self.inner.swarm
    }

    pub fn history_store(&self) -> &History {
        &self.inner.history
    }

    /// The latest snapshot, live.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.inner.snapshot.subscribe()
    }

    /// A `DeployPulse` now, then one whenever a service's spec, status,
    /// replicas or update state changes (not on every re-read).
    pub fn changes(&self) -> futures::stream::BoxStream<'static, model::deploy::DeployPulse> {
        type Seen = BTreeMap<ServiceName, (u64, &'static str, u64, Option<UpdateState>)>;
        fn state(s: &Snapshot) -> Seen {
            s.services
                .iter()
                .map(|(n, (v, _))| {
                    (
                        n.clone(),
                        (
                            v.spec_version,
                            v.status.as_str(),
                            v.replicas_running,
                            v.update.as_ref().map(|u| u.state),
                        ),
                    )
                })
                .collect()
        }
        let rx = self.subscribe();
        futures::stream::unfold((rx, None::<(Seen, bool)>), |(mut rx, before)| async move {
            loop {
                if before.is_some() {
                    rx.changed().await.ok()?;
                }
                let snap = rx.borrow_and_update().clone();
                let now = state(&snap);
                let stale = snap.error.is_some();
                let changed: Vec<ServiceName> = match &before {
                    None => now.keys().cloned().collect(),
                    Some((b, _)) => now
                        .iter()
                        .filter(|(k, v)| b.get(*k) != Some(*v))
                        .map(|(k, _)| k.clone())
                        .chain(b.keys().filter(|k| !now.contains_key(*k)).cloned())
                        .collect(),
                };
                let first = before.is_none();
                let stale_flip = before.as_ref().is_some_and(|(_, s)| *s != stale);
                if first || stale_flip || !changed.is_empty() {
                    let pulse = model::deploy::DeployPulse {
                        observed_ms: snap.observed_ms,
                        services: now.len(),
                        changed,
                        stale,
                    };
                    return Some((pulse, (rx, Some((now, stale)))));
                }
            }
        })
        .boxed()
    }

    /// Adds the observer's families (deploys, the Swarm gauges) to the
    /// control plane's registry.
    pub fn register_metrics(&self, r: &mut Registry) {
        self.inner.metrics.register(r);
    }

    /// Reads services, tasks and nodes; records every spec not yet in the
    /// history; counts deploy events from update-state transitions. The
    /// previous snapshot stays (with the error) when the daemon fails.
    pub async fn refresh(&self) -> Result<Arc<Snapshot>, DeployError> {
        let _one = self.inner.refreshing.lock().await;
        let started = std::time::Instant::now();
        let read = self
            .read()
            .instrument(crate::telemetry::docker("swarm.read"))
            .await;
        self.inner
            .metrics
            .refresh_seconds
            .observe(started.elapsed().as_secs_f64());
        let (services, raw) = match read {
            Ok(r) => r,
            Err(e) => {
                self.inner.metrics.refresh_errors.inc();
                let mut s = (**self.inner.snapshot.borrow()).clone();
                s.error = Some(e.to_string());
                self.inner.snapshot.send_replace(Arc::new(s));
                return Err(e.into());
            }
        };
        let prev = self.inner.snapshot.borrow().clone();
        for (name, (view, sum)) in &services.services {
            let before = prev
                .services
                .get(name)
                .and_then(|(v, _)| v.update.as_ref().map(|u| u.state));
            if let (true, Some(after)) = (prev.loaded, view.update.as_ref().map(|u| u.state)) {
                if Some(after) != before {
                    self.deploy_event(DeployEvent {
                        view,
                        sum,
                        outcome: outcome(after),
                        at_ms: services.observed_ms,
                    });
                }
            }
        }
        for (view, sum, spec) in raw {
            // A spec a rollback job applied carries its job and principal.
            let job = sum
                .labels
                .get(model::deploy::JOB_LABEL)
                .and_then(|j| model::JobId::parse(j).ok());
            let record = SpecRecord {
                seq: 0,
                service: view.name.clone(),
                service_id: view.id.clone(),
                spec_version: view.spec_version,
                recorded_ms: services.observed_ms,
                source: if job.is_some() {
                    SpecSource::Applied
                } else {
                    SpecSource::Observed
                },
                update_state: view.update.as_ref().map(|u| u.state),
                by: job
                    .as_ref()
                    .and_then(|_| sum.labels.get(model::deploy::BY_LABEL).cloned()),
                job,
                spec_sha256: sha256_of(&spec),
                summary: sum,
            };
            let known = (record.service_id.clone(), record.spec_sha256.clone());
            let cached = self
                .inner
                .recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&view.name)
                == Some(&known);
            if cached {
                continue;
            }
            match self.inner.history.record(record, spec).await {
                Ok(new) => {
                    if new.is_some() {
                        self.inner.metrics.recorded.inc();
                    }
                    self.inner
                        .recorded
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(view.name.clone(), known);
                }
                // Observation goes on; the next refresh records it.
                Err(e) => {
                    tracing::warn!(error = %e, service = %view.name, "deploy history not recorded")
                }
            }
        }
        let snap = Arc::new(services);
        self.inner.metrics.observe(&snap);
        self.inner.snapshot.send_replace(snap.clone());
        Ok(snap)
    }

    async fn read(&self) -> Result<(Snapshot, Vec<Observed>), SwarmError> {
        let swarm = &self.inner.swarm;
        // Nodes change rarely: re-read them every NODES_EVERY_MS only.
        let (prev_nodes, nodes_ms) = {
            let p = self.inner.snapshot.borrow();
            (p.nodes.clone(), p.nodes_ms)
        };
        let stale_nodes = now_ms().saturating_sub(nodes_ms) >= NODES_EVERY_MS;
        let read_nodes = async {
            if stale_nodes {
                swarm.nodes().await.map(Some)
            } else {
                Ok(None)
            }
        };
        let (services, tasks, nodes) =
            tokio::try_join!(swarm.services(), swarm.tasks(None), read_nodes)?;
        let now = now_ms();
        let mut by_service: BTreeMap<String, Vec<TaskView>> = BTreeMap::new();
        for t in tasks.iter().filter_map(task_view) {
            by_service.entry(t.service_id.clone()).or_default().push(t);
        }
        for list in by_service.values_mut() {
            list.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
        }
        let key = &self.inner.settings.fingerprint_key;
        let mut snap = Snapshot {
            observed_ms: now,
            nodes: match &nodes {
                Some(n) => n.iter().filter_map(node_view).collect(),
                None => prev_nodes,
            },
            nodes_ms: if nodes.is_some() { now } else { nodes_ms },
            loaded: true,
            ..Snapshot::default()
        };
        let mut raw = Vec::new();
        for s in &services {
            let id = s.id.clone().unwrap_or_default();
            let tasks = by_service.get(&id).map(Vec::as_slice).unwrap_or(&[]);
            if let Some((view, sum)) = service_view(s, tasks, now, key) {
                if let Some(spec) = s.spec.clone() {
                    raw.push((view.clone(), sum.clone(), spec));
                }
                snap.services.insert(view.name.clone(), (view, sum));
            }
        }
        snap.tasks = by_service;
        Ok((snap, raw))
    }

    /// Counts a deploy event and writes its Grafana annotation in the
    /// background (never holding up observation).
    fn deploy_event(&self, e: DeployEvent<'_>) {
        let version = e
            .view
            .version
            .clone()
            .or_else(|| e.view.image_ref.tag.clone())
            .unwrap_or_default();
        let stack = e.view.stack.clone().unwrap_or_default();
        self.inner
            .metrics
            .deploy_events
            .get_or_create(&EventLabels {
                stack: stack.clone(),
                service: e.view.name.to_string(),
                version: version.clone(),
                outcome: e.outcome.into(),
            })
            .inc();
        let Some(grafana) = self.inner.settings.grafana.clone() else {
            return;
        };
        let job = e.sum.labels.get(model::deploy::JOB_LABEL).cloned();
        let mut tags = vec![
            "deploy".to_owned(),
            format!("service:{}", e.view.name),
            format!("version:{version}"),
            format!("outcome:{}", e.outcome),
        ];
        if !stack.is_empty() {
            tags.push(format!("stack:{stack}"));
        }
        if let Some(j) = &job {
            tags.push(format!("job:{j}"));
        }
        let mut text = format!("{} {}: {}", e.view.name, e.outcome, e.view.image);
        if let Some(j) = &job {
            text.push_str(&format!(" (job {j})"));
        }
        let a = grafana.annotation(e.at_ms, tags, text);
        let me = self.clone();
        tokio::spawn(async move {
            let outcome = match grafana.write(&a).await {
                Ok(()) => "written",
                Err(err) => {
                    tracing::warn!(error = %err, service = %a.tags[1], "deploy annotation not written");
                    "failed"
                }
            };
            me.inner
                .metrics
                .annotations
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
        });
    }

    /// Observes until the process ends: daemon events are a hint to look
    /// now, the poll interval bounds how stale tasks can be.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let since = now_ms();
                if let Err(e) = me.refresh().await {
                    tracing::warn!(error = %e, "swarm not observed; retrying");
                }
                // Events since the read began: none falls between the two.
                let mut events = me.inner.swarm.events(since);
                let poll = me.inner.settings.poll;
                // An event or the poll's timeout: re-read now (level-based).
                // The event stream ended or failed: re-open it.
                while let Ok(Some(Ok(_))) | Err(_) = tokio::time::timeout(poll, events.next()).await
                {
                    if let Err(e) = me.refresh().await {
                        tracing::warn!(error = %e, "swarm not observed; retrying");
                        break;
                    }
                }
                tokio::time::sleep(poll.min(Duration::from_secs(1))).await;
            }
        })
    }

    /// Keys the fingerprints of secret-looking environment values.
    pub fn fingerprint_key(&self) -> &[u8] {
        &self.inner.settings.fingerprint_key
    }

    /// The latest snapshot; read now when none has been read yet.
    pub async fn current(&self) -> Result<Arc<Snapshot>, DeployError> {
        let s = self.inner.snapshot.borrow().clone();
        if s.loaded {
            return Ok(s);
        }
        self.refresh().await
    }

    pub async fn services(&self, q: &ServiceQuery) -> Result<ServicePage, DeployError> {
        let snap = self.current().await?;
        let mut all: Vec<&ServiceView> = snap
            .services
            .values()
            .map(|(v, _)| v)
            .filter(|v| q.matches(v))
            .collect();
        all.sort_by(|a, b| a.stack.cmp(&b.stack).then(a.name.cmp(&b.name)));
        let size = q.effective_page_size();
        let mut stacks: Vec<String> = snap
            .services
            .values()
            .filter_map(|(v, _)| v.stack.clone())
            .collect();
        stacks.sort();
        stacks.dedup();
        Ok(ServicePage {
            total: all.len(),
            items: all
                .into_iter()
                .skip(q.page.saturating_mul(size))
                .take(size)
                .cloned()
                .collect(),
            page: q.page,
            page_size: size,
            stacks,
            observed_ms: snap.observed_ms,
            stale: snap.error.is_some(),
        })
    }

    pub fn parse_name(name: &str) -> Result<ServiceName, DeployError> {
        ServiceName::parse(name).map_err(DeployError::BadRequest)
    }

    pub async fn service(&self, name: &ServiceName) -> Result<ServiceDetail, DeployError> {
        let snap = self.current().await?;
        let (view, spec) = snap
            .services
            .get(name)
            .cloned()
            .ok_or_else(|| DeployError::NotFound(format!("no service {name} on this Swarm")))?;
        Ok(ServiceDetail {
            tasks: snap.tasks.get(&view.id).cloned().unwrap_or_default(),
            history: self.inner.history.list(name, HISTORY_SHOWN).await?,
            pin: self.inner.history.pin(name).await?,
            service: view,
            spec,
            observed_ms: snap.observed_ms,
            stale: snap.error.is_some(),
        })
    }

    /// Every recorded spec, newest first (also of a removed service).
    pub async fn history(&self, name: &ServiceName) -> Result<SpecHistory, DeployError> {
        let items = self.inner.history.list(name, usize::MAX).await?;
        if items.is_empty() && !self.current().await?.services.contains_key(name) {
            return Err(DeployError::NotFound(format!(
                "no service {name} and no recorded history"
            )));
        }
        Ok(SpecHistory {
            service: name.clone(),
            items,
        })
    }

    /// What changed between two recorded specs (see `SpecDiffQuery`).
    pub async fn diff(
        &self,
        name: &ServiceName,
        q: &SpecDiffQuery,
    ) -> Result<SpecDiff, DeployError> {
        let h = &self.inner.history;
        let to = match q.to {
            Some(seq) => h.get(name, seq).await?,
            None => h.latest(name).await?,
        }
        .ok_or_else(|| DeployError::NotFound(format!("no such recorded spec of {name}")))?;
        let from_seq = match q.from {
            Some(seq) => seq,
            None => to
                .record
                .seq
                .checked_sub(1)
                .filter(|s| *s > 0)
                .ok_or_else(|| {
                    DeployError::NotFound(format!(
                        "{name} has no spec recorded before #{}",
                        to.record.seq
                    ))
                })?,
        };
        let from = h.get(name, from_seq).await?.ok_or_else(|| {
            DeployError::NotFound(format!("no recorded spec #{from_seq} of {name}"))
        })?;
        Ok(SpecDiff {
            service: name.clone(),
            changes: model::deploy::diff(&from.record.summary, &to.record.summary),
            from: from.record,
            to: to.record,
        })
    }

    /// Lifts a rollback's pin, audited (`deploy.unpin`) with its reason.
    pub async fn unpin(
        &self,
        caller: &crate::identity::Caller,
        name: &ServiceName,
        reason: &str,
    ) -> Result<(), DeployError> {
        let history = self.inner.history.clone();
        let Some(pin) = history.pin(name).await? else {
            return Err(DeployError::NotFound(format!("{name} is not pinned")));
        };
        let plan = crate::action::Plan::new(caller, "deploy.unpin", format!("service:{name}"))
            .with_reason(reason)?;
        let n = name.clone();
        let r = self
            .inner
            .actions
            .run(plan, async move {
                let r = history.set_pin(&n, None).await;
                crate::action::Done::new(
                    if r.is_ok() {
                        model::audit::Outcome::Succeeded
                    } else {
                        model::audit::Outcome::Failed
                    },
                    r,
                )
            })
            .await?;
        r?;
        tracing::info!(service = %name, job = %pin.job, "deploy pin lifted");
        Ok(())
    }
}
