//! A whole simulated fleet in one process: instances from a topology, the
//! dev placement/routing files seeded from it, the Gateway's identity
//! provider shared by every gateway instance, a behaviour ticker, and the
//! control API for fault knobs and key rotation.

use crate::gateway::{Iam, IamConfig};
use crate::instance::{Effect, Faults, Instance, InstanceInfo};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use model::fleet::{
    PlacementDoc, RoutingConfig, RoutingDoc, ServiceKind, ShardId, ShardRoute, ShardState, TenantId,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Topology {
    pub workers: Vec<ServiceKind>,
    pub shards: usize,
    pub replicas: usize,
    pub gateways: usize,
    pub tenants: usize,
    pub version: String,
    pub git_sha: String,
    pub host: IpAddr,
    /// First port; 0 picks free ports.
    pub base_port: u16,
    /// Users, roles and token settings of the gateways' identity provider.
    pub iam: IamConfig,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            workers: ServiceKind::WORKERS.to_vec(),
            shards: 4,
            replicas: 2,
            gateways: 1,
            tenants: 500,
            version: "1.0.0".into(),
            git_sha: "sim".into(),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 0,
            iam: IamConfig::default(),
        }
    }
}

pub fn shard_name(kind: ServiceKind, i: usize) -> String {
    format!("{}{i}", &kind.as_str()[..1])
}

pub fn tenant_name(i: usize) -> String {
    format!("t-{i:05}")
}

struct Slot {
    instance: Instance,
    /// Gateways serve the IAM API next to their own routes.
    iam: Option<Iam>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Slot {
    async fn serve(&self) -> std::io::Result<()> {
        let addr = self.instance.info().addr;
        let listener = TcpListener::bind(addr).await?;
        self.spawn(listener);
        Ok(())
    }

    fn spawn(&self, listener: TcpListener) {
        let mut router = self.instance.router();
        if let Some(iam) = &self.iam {
            router = router.merge(iam.router());
        }
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        if let Some(old) = self.server.lock().unwrap().replace(h) {
            old.abort();
        }
    }

    fn stop(&self) {
        if let Some(h) = self.server.lock().unwrap().take() {
            h.abort();
        }
    }
}

pub struct Fleet {
    slots: Vec<Arc<Slot>>,
    iam: Iam,
    pub control_addr: SocketAddr,
    pub placement_path: PathBuf,
    pub routing_path: PathBuf,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for s in &self.slots {
            s.stop();
        }
    }
}

/// Writes `doc` unless the file already holds the same content (revision
/// aside); a changed document gets the next revision.
fn write_doc<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq>(
    path: &Path,
    mut doc: T,
    rev: impl Fn(&mut T) -> &mut u64,
) -> std::io::Result<()> {
    let existing: Option<T> = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(mut old) = existing {
        let old_rev = *rev(&mut old);
        *rev(&mut doc) = old_rev;
        if old == doc {
            return Ok(());
        }
        *rev(&mut doc) = old_rev + 1;
    } else {
        *rev(&mut doc) = 1;
    }
    let bytes = serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("doc")
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

impl Fleet {
    /// Starts every instance and the control API (on `control_port`; 0 picks
    /// one), and seeds `<config_dir>/placement/dev.json` and
    /// `<config_dir>/routing/dev.json` from the topology.
    pub async fn start(
        topo: &Topology,
        config_dir: &Path,
        control_port: u16,
    ) -> std::io::Result<Fleet> {
        let placement_path = config_dir.join("placement/dev.json");
        let routing_path = config_dir.join("routing/dev.json");
        let mut planned: Vec<(ServiceKind, Option<String>, u32, TcpListener)> = Vec::new();
        let mut port = topo.base_port;
        let mut bind = || {
            let p = port;
            if port != 0 {
                port += 1;
            }
            SocketAddr::new(topo.host, p)
        };
        for g in 0..topo.gateways {
            planned.push((
                ServiceKind::Gateway,
                None,
                g as u32,
                TcpListener::bind(bind()).await?,
            ));
        }
        for kind in &topo.workers {
            for s in 0..topo.shards {
                for r in 0..topo.replicas {
                    planned.push((
                        *kind,
                        Some(shard_name(*kind, s)),
                        r as u32,
                        TcpListener::bind(bind()).await?,
                    ));
                }
            }
        }

        let mut routing = RoutingConfig::default();
        for (kind, shard, _, l) in &planned {
            let shard =
                ShardId::parse(shard.as_deref().unwrap_or("g0")).map_err(std::io::Error::other)?;
            let url = format!("http://{}", l.local_addr()?);
            routing
                .kinds
                .entry(*kind)
                .or_insert_with(BTreeMap::new)
                .entry(shard)
                .or_insert_with(|| ShardRoute {
                    endpoints: Vec::new(),
                    state: ShardState::Active,
                })
                .endpoints
                .push(url);
        }
        let mut placement = PlacementDoc::default();
        for kind in &topo.workers {
            if let Some(map) = placement.map_mut(*kind) {
                map.default_shard =
                    Some(ShardId::parse(&shard_name(*kind, 0)).map_err(std::io::Error::other)?);
                for t in 0..topo.tenants {
                    let tenant = TenantId::parse(&tenant_name(t)).map_err(std::io::Error::other)?;
                    let shard = ShardId::parse(&shard_name(*kind, t % topo.shards.max(1)))
                        .map_err(std::io::Error::other)?;
                    map.tenants.insert(tenant, shard);
                }
            }
        }
        write_doc(&placement_path, placement, |d| &mut d.revision)?;
        write_doc(
            &routing_path,
            RoutingDoc {
                revision: 0,
                routing,
            },
            |d| &mut d.revision,
        )?;

        let iam = Iam::new(topo.iam.clone());
        let mut slots = Vec::new();
        for (kind, shard, replica, listener) in planned {
            let addr = listener.local_addr()?;
            let id = match &shard {
                Some(s) => format!("{}-{s}-{replica}", kind.as_str()),
                None => format!("{}-{replica}", kind.as_str()),
            };
            let instance = Instance::new(
                InstanceInfo {
                    id,
                    kind,
                    shard,
                    replica,
                    addr,
                    version: topo.version.clone(),
                    git_sha: topo.git_sha.clone(),
                    faults: Faults::default(),
                    loaded_placement_revision: None,
                    loaded_routing_revision: None,
                },
                placement_path.clone(),
                routing_path.clone(),
            );
            let slot = Arc::new(Slot {
                instance,
                iam: (kind == ServiceKind::Gateway).then(|| iam.clone()),
                server: Mutex::new(None),
            });
            slot.spawn(listener);
            slots.push(slot);
        }

        let ticker = {
            let slots = slots.clone();
            tokio::spawn(async move {
                let mut t = tokio::time::interval(Duration::from_millis(200));
                loop {
                    t.tick().await;
                    for s in &slots {
                        s.instance.tick();
                    }
                }
            })
        };
        let control = TcpListener::bind(SocketAddr::new(topo.host, control_port)).await?;
        let control_addr = control.local_addr()?;
        let api = Router::new()
            .route("/sim/instances", get(list))
            .route("/sim/instances/{id}/faults", put(set_faults))
            .route("/sim/effects", get(effects))
            .with_state(Arc::new(slots.clone()))
            .merge(
                Router::new()
                    .route("/sim/gateway/rotate-key", post(rotate_key))
                    .with_state(iam.clone()),
            );
        let control_task = tokio::spawn(async move {
            let _ = axum::serve(control, api).await;
        });
        Ok(Fleet {
            slots,
            iam,
            control_addr,
            placement_path,
            routing_path,
            tasks: vec![ticker, control_task],
        })
    }

    /// The identity provider every gateway instance serves.
    pub fn iam(&self) -> &Iam {
        &self.iam
    }

    /// `http://addr` of the first gateway instance; empty when the topology
    /// has no gateway.
    pub fn gateway_url(&self) -> String {
        self.slots
            .iter()
            .map(|s| s.instance.info())
            .find(|i| i.kind == ServiceKind::Gateway)
            .map(|i| format!("http://{}", i.addr))
            .unwrap_or_default()
    }

    /// Every instance's marked side effects, by instance id.
    pub fn effects(&self) -> BTreeMap<String, BTreeMap<String, Effect>> {
        self.slots
            .iter()
            .map(|s| (s.instance.info().id, s.instance.effects()))
            .collect()
    }

    pub fn instances(&self) -> Vec<InstanceInfo> {
        self.slots.iter().map(|s| s.instance.info()).collect()
    }

    /// The `traceparent` headers the instances received, newest last, per
    /// instance id (trace propagation tests).
    pub fn traceparents(&self) -> BTreeMap<String, Vec<String>> {
        self.slots
            .iter()
            .map(|s| (s.instance.info().id, s.instance.traceparents()))
            .collect()
    }

    /// Applies fault knobs to one instance; `down` stops or restarts its listener.
    pub async fn set_faults(&self, id: &str, faults: Faults) -> Result<(), String> {
        apply(&self.slots, id, faults).await
    }
}

async fn apply(slots: &[Arc<Slot>], id: &str, faults: Faults) -> Result<(), String> {
    let slot = slots
        .iter()
        .find(|s| s.instance.info().id == id)
        .ok_or_else(|| format!("no instance {id}"))?;
    if !(0.0..=1.0).contains(&faults.error_rate) {
        return Err("error_rate must be within 0..=1".into());
    }
    let was_down = slot.instance.info().faults.down;
    let down = faults.down;
    slot.instance.set_faults(faults);
    if down && !was_down {
        slot.stop();
    } else if !down && was_down {
        slot.serve()
            .await
            .map_err(|e| format!("cannot listen again: {e}"))?;
    }
    Ok(())
}

/// Every instance's marked side effects: `{instance id: {marker: effect}}`.
async fn effects(
    State(slots): State<Arc<Vec<Arc<Slot>>>>,
) -> Json<BTreeMap<String, BTreeMap<String, Effect>>> {
    Json(
        slots
            .iter()
            .map(|s| (s.instance.info().id, s.instance.effects()))
            .collect(),
    )
}

async fn list(State(slots): State<Arc<Vec<Arc<Slot>>>>) -> Json<Vec<InstanceInfo>> {
    Json(slots.iter().map(|s| s.instance.info()).collect())
}

async fn set_faults(
    State(slots): State<Arc<Vec<Arc<Slot>>>>,
    UrlPath(id): UrlPath<String>,
    Json(f): Json<Faults>,
) -> Response {
    match apply(&slots, &id, f).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": e })),
        )
            .into_response(),
    }
}

async fn rotate_key(State(iam): State<Iam>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "kid": iam.rotate_key() }))
}
