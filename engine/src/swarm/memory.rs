//! A deterministic in-memory Swarm for the tests of everything above the
//! trait: services with versions and one previous spec (as Swarm keeps),
//! tasks set by the test, events on every change.

use super::{Swarm, SwarmError, SwarmEvent};
use async_trait::async_trait;
use bollard::models::{
    Node, ObjectVersion, Service, ServiceServiceStatus, ServiceSpec, ServiceUpdateStatus,
    ServiceUpdateStatusStateEnum, Task,
};
use futures::stream::BoxStream;
use futures::StreamExt;
use model::deploy::UpdateState;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

#[derive(Default)]
struct State {
    next_id: u64,
    version: u64,
    services: BTreeMap<String, Service>,
    tasks: Vec<Task>,
    nodes: Vec<Node>,
    /// Every update call that reached the daemon: (service id, version sent).
    updates: Vec<(String, u64)>,
    down: bool,
    /// Updates complete at once, with every replica running the new image.
    converge: bool,
    /// Images the "engine" does not have (all others it has).
    missing_images: std::collections::BTreeSet<String>,
}

pub struct MemorySwarm {
    state: Mutex<State>,
    events: broadcast::Sender<SwarmEvent>,
    now_ms: Mutex<u64>,
}

impl Default for MemorySwarm {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            events: broadcast::channel(1024).0,
            now_ms: Mutex::new(1_000_000),
        }
    }
}

fn update_enum(s: UpdateState) -> ServiceUpdateStatusStateEnum {
    use ServiceUpdateStatusStateEnum as E;
    match s {
        UpdateState::Updating => E::UPDATING,
        UpdateState::Paused => E::PAUSED,
        UpdateState::Completed => E::COMPLETED,
        UpdateState::RollbackStarted => E::ROLLBACK_STARTED,
        UpdateState::RollbackPaused => E::ROLLBACK_PAUSED,
        UpdateState::RollbackCompleted => E::ROLLBACK_COMPLETED,
    }
}

impl MemorySwarm {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, action: &str, svc: &Service, update_state: Option<UpdateState>) {
        let _ = self.events.send(SwarmEvent {
            action: action.into(),
            service_id: svc.id.clone(),
            service: svc.spec.as_ref().and_then(|s| s.name.clone()),
            update_state,
            time_ms: *self.now_ms.lock().unwrap_or_else(|p| p.into_inner()),
        });
    }

    /// Creates a service; returns its id.
    pub fn create(&self, spec: ServiceSpec) -> String {
        let svc = {
            let mut st = self.lock();
            st.next_id += 1;
            st.version += 1;
            let id = format!("svc{:04}", st.next_id);
            let svc = Service {
                id: Some(id.clone()),
                version: Some(ObjectVersion {
                    index: Some(st.version),
                }),
                spec: Some(spec),
                ..Default::default()
            };
            st.services.insert(id, svc.clone());
            svc
        };
        self.emit("create", &svc, None);
        svc.id.unwrap_or_default()
    }

    /// Applies `f` to a service as the daemon would (a new version) and
    /// emits an update event.
    fn change(&self, id: &str, update_state: Option<UpdateState>, f: impl FnOnce(&mut Service)) {
        let svc = {
            let mut st = self.lock();
            st.version += 1;
            let v = st.version;
            let Some(svc) = st.services.get_mut(id) else {
                return;
            };
            f(svc);
            svc.version = Some(ObjectVersion { index: Some(v) });
            svc.clone()
        };
        self.emit("update", &svc, update_state);
    }

    /// Changes a service's spec by hand (a `docker service update`).
    pub fn set_spec(&self, id: &str, spec: ServiceSpec) {
        self.change(id, None, |s| s.spec = Some(spec));
    }

    /// Sets the update status the daemon reports (and bumps the version,
    /// as the daemon does).
    pub fn set_update_state(&self, id: &str, state: UpdateState, message: &str) {
        self.change(id, Some(state), |s| {
            s.update_status = Some(ServiceUpdateStatus {
                state: Some(update_enum(state)),
                message: Some(message.into()),
                ..Default::default()
            });
        });
    }

    pub fn remove(&self, id: &str) {
        let svc = self.lock().services.remove(id);
        if let Some(svc) = svc {
            self.emit("remove", &svc, None);
        }
    }

    /// Replaces every task of `service_id`; running counts follow them.
    pub fn set_tasks(&self, service_id: &str, tasks: Vec<Task>) {
        let mut st = self.lock();
        st.tasks
            .retain(|t| t.service_id.as_deref() != Some(service_id));
        let running = tasks
            .iter()
            .filter(|t| {
                t.status.as_ref().and_then(|s| s.state) == Some(bollard::models::TaskState::RUNNING)
            })
            .count() as u64;
        st.tasks.extend(tasks);
        if let Some(svc) = st.services.get_mut(service_id) {
            let desired = svc
                .spec
                .as_ref()
                .and_then(|s| s.mode.as_ref())
                .and_then(|m| m.replicated.as_ref())
                .and_then(|r| r.replicas)
                .and_then(|r| u64::try_from(r).ok());
            svc.service_status = Some(ServiceServiceStatus {
                running_tasks: Some(running),
                desired_tasks: desired,
                completed_tasks: None,
            });
        }
    }

    pub fn set_nodes(&self, nodes: Vec<Node>) {
        self.lock().nodes = nodes;
    }

    pub fn set_image_missing(&self, image: &str, missing: bool) {
        let mut st = self.lock();
        if missing {
            st.missing_images.insert(image.to_owned());
        } else {
            st.missing_images.remove(image);
        }
    }

    /// Makes updates complete at once: the update status `completed` and
    /// one running task per replica of the new image (a healthy deploy).
    pub fn set_converge(&self, on: bool) {
        self.lock().converge = on;
    }

    /// Makes every call fail as an unreachable daemon does.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// The update calls that reached this "daemon", in order.
    pub fn updates(&self) -> Vec<(String, u64)> {
        self.lock().updates.clone()
    }

    pub fn set_now_ms(&self, ms: u64) {
        *self.now_ms.lock().unwrap_or_else(|p| p.into_inner()) = ms;
    }

    fn up(&self) -> Result<std::sync::MutexGuard<'_, State>, SwarmError> {
        let st = self.lock();
        if st.down {
            return Err(SwarmError::Unavailable(
                "connection refused (memory swarm down)".into(),
            ));
        }
        Ok(st)
    }
}

#[async_trait]
impl Swarm for MemorySwarm {
    async fn api_version(&self) -> Result<String, SwarmError> {
        drop(self.up()?);
        Ok("1.41".into())
    }

    async fn services(&self) -> Result<Vec<Service>, SwarmError> {
        Ok(self.up()?.services.values().cloned().collect())
    }

    async fn service(&self, name_or_id: &str) -> Result<Option<Service>, SwarmError> {
        Ok(self
            .up()?
            .services
            .values()
            .find(|s| {
                s.id.as_deref() == Some(name_or_id)
                    || s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(name_or_id)
            })
            .cloned())
    }

    async fn tasks(&self, service_id: Option<&str>) -> Result<Vec<Task>, SwarmError> {
        Ok(self
            .up()?
            .tasks
            .iter()
            .filter(|t| service_id.is_none_or(|id| t.service_id.as_deref() == Some(id)))
            .cloned()
            .collect())
    }

    async fn nodes(&self) -> Result<Vec<Node>, SwarmError> {
        Ok(self.up()?.nodes.clone())
    }

    async fn image_present(&self, image: &str) -> Result<bool, SwarmError> {
        Ok(!self.up()?.missing_images.contains(image))
    }

    async fn update_service(
        &self,
        id: &str,
        spec: ServiceSpec,
        version: u64,
    ) -> Result<(), SwarmError> {
        let svc = {
            let mut st = self.up()?;
            st.updates.push((id.to_owned(), version));
            st.version += 1;
            let next = st.version;
            let converge = st.converge;
            let svc = st
                .services
                .get_mut(id)
                .ok_or_else(|| SwarmError::NotFound(format!("service {id}")))?;
            let current = svc.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            if current != version {
                return Err(SwarmError::Conflict(format!(
                    "update out of sequence: version {version}, current {current}"
                )));
            }
            svc.spec = Some(spec);
            svc.version = Some(ObjectVersion { index: Some(next) });
            svc.update_status = Some(ServiceUpdateStatus {
                state: Some(if converge {
                    ServiceUpdateStatusStateEnum::COMPLETED
                } else {
                    ServiceUpdateStatusStateEnum::UPDATING
                }),
                ..Default::default()
            });
            svc.clone()
        };
        if self.lock().converge {
            let replicas = svc
                .spec
                .as_ref()
                .and_then(|s| s.mode.as_ref())
                .and_then(|m| m.replicated.as_ref())
                .and_then(|r| r.replicas)
                .unwrap_or(1);
            let image = svc
                .spec
                .as_ref()
                .and_then(|s| s.task_template.clone())
                .unwrap_or_default();
            let tasks = (0..replicas)
                .map(|n| Task {
                    id: Some(format!("{id}-v{version}-{n}")),
                    service_id: Some(id.to_owned()),
                    slot: Some(n + 1),
                    desired_state: Some(bollard::models::TaskState::RUNNING),
                    spec: Some(image.clone()),
                    status: Some(bollard::models::TaskStatus {
                        state: Some(bollard::models::TaskState::RUNNING),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect();
            self.set_tasks(id, tasks);
        }
        self.emit("update", &svc, Some(UpdateState::Updating));
        Ok(())
    }

    /// Subscribed when called, so nothing after the call is missed.
    fn events(&self, _since_ms: u64) -> BoxStream<'static, Result<SwarmEvent, SwarmError>> {
        tokio_stream_of(self.events.subscribe())
    }
}

fn tokio_stream_of(
    rx: broadcast::Receiver<SwarmEvent>,
) -> BoxStream<'static, Result<SwarmEvent, SwarmError>> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => return Some((Ok(ev), rx)),
                // A slow reader missed events: state is re-read anyway.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}
