//! Placement and routing, kept current from their source and served as one
//! immutable `FleetState` that is swapped whole on every change: a reader
//! holds either the old state or the new one, never half of each.

use super::now_ms;
use crate::store::file_doc::{FileDoc, FileSnapshot};
use crate::store::{BucketOptions, KeyPrefix, KvEvent, StoreError, Substrate, WatchStream};
use model::fleet::{
    PlacementDoc, PlacementMap, RoutingConfig, RoutingDoc, ServiceKind, ShardId, TenantId,
};
use model::views::{DocMeta, DocSource, SourceKind};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const PLACEMENT_BUCKET: &str = "placement";
pub const ROUTING_BUCKET: &str = "routing";
pub const ROUTING_KEY: &str = "routing";

/// Everything the fleet pages and APIs read, consistent at one moment.
#[derive(Debug, Clone)]
pub struct FleetState {
    pub placements: BTreeMap<ServiceKind, (Arc<PlacementMap>, DocMeta)>,
    pub routing: (Arc<RoutingConfig>, DocMeta),
    /// Every tenant named by any placement map, sorted.
    pub tenants: Arc<Vec<TenantId>>,
    /// Per kind: tenant → shard, for O(1) lookups.
    index: Arc<HashMap<ServiceKind, HashMap<TenantId, ShardId>>>,
}

impl FleetState {
    fn empty(source: &DocSource) -> Self {
        let meta = DocMeta {
            revision: 0,
            source: source.clone(),
            error: None,
            loaded_at_ms: 0,
        };
        Self {
            placements: ServiceKind::WORKERS
                .into_iter()
                .map(|k| (k, (Arc::new(PlacementMap::default()), meta.clone())))
                .collect(),
            routing: (Arc::new(RoutingConfig::default()), meta),
            tenants: Arc::new(Vec::new()),
            index: Arc::new(HashMap::new()),
        }
    }

    fn reindex(mut self) -> Self {
        let mut index = HashMap::new();
        let mut all = std::collections::BTreeSet::new();
        for (kind, (map, _)) in &self.placements {
            let m: HashMap<TenantId, ShardId> = map
                .tenants
                .iter()
                .map(|(t, s)| (t.clone(), s.clone()))
                .collect();
            all.extend(map.tenants.keys().cloned());
            index.insert(*kind, m);
        }
        self.tenants = Arc::new(all.into_iter().collect());
        self.index = Arc::new(index);
        self
    }

    /// The shard of a tenant for a kind, and whether it is the default.
    pub fn shard_of(&self, kind: ServiceKind, tenant: &TenantId) -> Option<(&ShardId, bool)> {
        if let Some(s) = self.index.get(&kind).and_then(|m| m.get(tenant)) {
            return Some((s, false));
        }
        self.placements
            .get(&kind)
            .and_then(|(m, _)| m.default_shard.as_ref())
            .map(|s| (s, true))
    }

    pub fn placement(&self, kind: ServiceKind) -> Option<&(Arc<PlacementMap>, DocMeta)> {
        self.placements.get(&kind)
    }

    /// The placement revision an instance of `kind` should have loaded (the
    /// gateway routes for every kind, so it needs the newest of them).
    pub fn current_placement_revision(&self, kind: ServiceKind) -> u64 {
        match kind {
            ServiceKind::Gateway => self
                .placements
                .values()
                .map(|(_, m)| m.revision)
                .max()
                .unwrap_or(0),
            k => self
                .placements
                .get(&k)
                .map(|(_, m)| m.revision)
                .unwrap_or(0),
        }
    }
}

/// Holds the current `FleetState` and keeps it current from its source.
#[derive(Clone)]
pub struct FleetDocs {
    rx: watch::Receiver<Arc<FleetState>>,
    _task: Arc<TaskGuard>,
}

struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl FleetDocs {
    pub fn current(&self) -> Arc<FleetState> {
        self.rx.borrow().clone()
    }

    /// Wakes on every swap.
    pub fn subscribe(&self) -> watch::Receiver<Arc<FleetState>> {
        self.rx.clone()
    }

    /// A fixed state (tests and benchmarks).
    pub fn fixed(placement: PlacementDoc, routing: RoutingDoc) -> Self {
        let source = DocSource {
            kind: SourceKind::File,
            backend: "file".into(),
            location: "fixed".into(),
        };
        let state = apply_files(
            FleetState::empty(&source),
            Some(&placement),
            Some(&routing),
            &source,
            &source,
        );
        let (tx, rx) = watch::channel(Arc::new(state));
        let task = tokio::spawn(async move {
            tx.closed().await;
        });
        Self {
            rx,
            _task: Arc::new(TaskGuard(task)),
        }
    }

    /// The dev files, re-read every `interval`.
    pub fn from_files(placement: PathBuf, routing: PathBuf, interval: Duration) -> Self {
        let psrc = DocSource {
            kind: SourceKind::File,
            backend: "file".into(),
            location: placement.display().to_string(),
        };
        let rsrc = DocSource {
            kind: SourceKind::File,
            backend: "file".into(),
            location: routing.display().to_string(),
        };
        let pdoc = FileDoc::<PlacementDoc>::open(placement, interval);
        let rdoc = FileDoc::<RoutingDoc>::open(routing, interval);
        let build =
            move |p: &FileDoc<PlacementDoc>, r: &FileDoc<RoutingDoc>, prev: Option<&FleetState>| {
                file_state(prev, &p.snapshot(), &r.snapshot(), &psrc, &rsrc)
            };
        let (tx, rx) = watch::channel(Arc::new(build(&pdoc, &rdoc, None)));
        let task = tokio::spawn(async move {
            let (mut pr, mut rr) = (pdoc.subscribe(), rdoc.subscribe());
            loop {
                tokio::select! {
                    c = pr.changed() => if c.is_err() { return },
                    c = rr.changed() => if c.is_err() { return },
                    _ = tx.closed() => return,
                }
                let prev = tx.borrow().clone();
                tx.send_replace(Arc::new(build(&pdoc, &rdoc, Some(&prev))));
            }
        });
        Self {
            rx,
            _task: Arc::new(TaskGuard(task)),
        }
    }

    /// The substrate's `placement` bucket (keys `aggregate_placement`, ...)
    /// and `routing` bucket (key `routing`), watched. The store may be down
    /// at start or later: the documents then show the error and the watches
    /// are opened again with backoff.
    pub fn from_kv(store: Arc<dyn Substrate>) -> Self {
        let backend = store.backend().to_owned();
        let src = |loc: &str| DocSource {
            kind: SourceKind::Kv,
            backend: backend.clone(),
            location: loc.to_owned(),
        };
        let mut state = FleetState::empty(&src(PLACEMENT_BUCKET));
        for k in ServiceKind::WORKERS {
            if let Some((_, m)) = state.placements.get_mut(&k) {
                m.source = src(&format!(
                    "{PLACEMENT_BUCKET}/{}",
                    k.placement_key().unwrap_or_default()
                ));
            }
        }
        state.routing.1.source = src(&format!("{ROUTING_BUCKET}/{ROUTING_KEY}"));
        let (tx, rx) = watch::channel(Arc::new(state));
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                match open_watches(&*store).await {
                    Ok((pw, rw)) => {
                        backoff = Duration::from_millis(200);
                        follow(pw, rw, &tx).await;
                    }
                    Err(e) => {
                        let mut next = (**tx.borrow()).clone();
                        let msg = format!("cannot watch the documents: {e}");
                        for (_, m) in next.placements.values_mut() {
                            m.error = Some(msg.clone());
                        }
                        next.routing.1.error = Some(msg);
                        tx.send_replace(Arc::new(next));
                    }
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        Self {
            rx,
            _task: Arc::new(TaskGuard(task)),
        }
    }
}

async fn open_watches(store: &dyn Substrate) -> Result<(WatchStream, WatchStream), StoreError> {
    let opts = BucketOptions {
        history: 16,
        replicas: 1,
    };
    let pkv = store.kv(PLACEMENT_BUCKET, opts).await?;
    let rkv = store.kv(ROUTING_BUCKET, opts).await?;
    Ok((
        pkv.watch(&KeyPrefix::All, None).await?,
        rkv.watch(&KeyPrefix::All, None).await?,
    ))
}

/// Applies changes until a watch ends or nobody reads the state any more.
async fn follow(mut pw: WatchStream, mut rw: WatchStream, tx: &watch::Sender<Arc<FleetState>>) {
    use futures::StreamExt;
    loop {
        let ev = tokio::select! {
            e = pw.next() => e.map(|e| (true, e)),
            e = rw.next() => e.map(|e| (false, e)),
            _ = tx.closed() => return,
        };
        let Some((is_placement, ev)) = ev else { return };
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "fleet document watch error");
                continue;
            }
        };
        let mut next = (**tx.borrow()).clone();
        let changed = if is_placement {
            apply_placement_event(&mut next, &ev)
        } else {
            apply_routing_event(&mut next, &ev)
        };
        if changed {
            tx.send_replace(Arc::new(next.reindex()));
        }
    }
}

/// The state for the current file snapshots: a document that parsed
/// replaces the old one; one that did not keeps it and records the error.
fn file_state(
    prev: Option<&FleetState>,
    ps: &FileSnapshot<PlacementDoc>,
    rs: &FileSnapshot<RoutingDoc>,
    psrc: &DocSource,
    rsrc: &DocSource,
) -> FleetState {
    let base = prev.cloned().unwrap_or_else(|| FleetState::empty(psrc));
    let mut st = apply_files(base, ps.value.as_deref(), rs.value.as_deref(), psrc, rsrc);
    for (_, m) in st.placements.values_mut() {
        m.error = ps.error.clone();
        m.source = psrc.clone();
    }
    st.routing.1.error = rs.error.clone();
    st.routing.1.source = rsrc.clone();
    st
}

fn apply_files(
    mut state: FleetState,
    placement: Option<&PlacementDoc>,
    routing: Option<&RoutingDoc>,
    psrc: &DocSource,
    rsrc: &DocSource,
) -> FleetState {
    let now = now_ms();
    let mut placement_changed = false;
    if let Some(doc) = placement {
        for k in ServiceKind::WORKERS {
            let changed = state
                .placements
                .get(&k)
                .is_none_or(|(_, m)| m.revision != doc.revision);
            if changed {
                placement_changed = true;
                let map = doc.map(k).cloned().unwrap_or_default();
                let meta = DocMeta {
                    revision: doc.revision,
                    source: psrc.clone(),
                    error: None,
                    loaded_at_ms: now,
                };
                state.placements.insert(k, (Arc::new(map), meta));
            }
        }
    }
    if let Some(doc) = routing {
        if state.routing.1.revision != doc.revision || state.routing.1.loaded_at_ms == 0 {
            state.routing = (
                Arc::new(doc.routing.clone()),
                DocMeta {
                    revision: doc.revision,
                    source: rsrc.clone(),
                    error: None,
                    loaded_at_ms: now,
                },
            );
        }
    }
    if placement_changed {
        state.reindex()
    } else {
        state
    }
}

fn kind_of_placement_key(key: &str) -> Option<ServiceKind> {
    ServiceKind::WORKERS
        .into_iter()
        .find(|k| k.placement_key() == Some(key))
}

/// Applies a KV change to the placement maps; a value that does not decode
/// keeps the previous map and records the error.
fn apply_placement_event(state: &mut FleetState, ev: &KvEvent) -> bool {
    let Some(kind) = kind_of_placement_key(ev.key()) else {
        return false;
    };
    let Some((map, meta)) = state.placements.get_mut(&kind) else {
        return false;
    };
    apply_doc(map, meta, ev, "the placement map");
    true
}

fn apply_routing_event(state: &mut FleetState, ev: &KvEvent) -> bool {
    if ev.key() != ROUTING_KEY {
        return false;
    }
    let (routing, meta) = &mut state.routing;
    apply_doc(routing, meta, ev, "the routing document");
    true
}

/// One document's slot: a put that decodes replaces it, one that does not
/// keeps the previous value with the error, a delete empties it.
fn apply_doc<T: serde::de::DeserializeOwned + Default>(
    slot: &mut Arc<T>,
    meta: &mut DocMeta,
    ev: &KvEvent,
    what: &str,
) {
    match ev {
        KvEvent::Put(e) => match serde_json::from_slice::<T>(&e.value) {
            Ok(doc) => {
                *slot = Arc::new(doc);
                meta.revision = e.revision;
                meta.error = None;
                meta.loaded_at_ms = now_ms();
            }
            Err(err) => {
                meta.error = Some(format!("revision {} does not decode: {err}", e.revision))
            }
        },
        KvEvent::Delete { revision, .. } => {
            *slot = Arc::new(T::default());
            meta.revision = *revision;
            meta.error = Some(format!("{what} was deleted"));
        }
    }
}
