//! The `Swarm` trait over the Docker Engine API (bollard 0.21).
//!
//! API version: bollard 0.21 sends unversioned request paths (its version
//! negotiation only takes effect from 0.22), so the daemon answers at its
//! own default version, which is its newest. The control plane therefore
//! checks the daemon's version at connect and refuses one older than
//! `MIN_API_VERSION` (1.41, Docker 20.10: task counts in the service list);
//! newer daemons answer in a superset of the 1.41 objects.

use super::{Swarm, SwarmError, SwarmEvent};
use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::models::{Node, Service, ServiceSpec, Task};
use bollard::query_parameters::{
    EventsOptionsBuilder, InspectServiceOptions, ListNodesOptions, ListServicesOptionsBuilder,
    ListTasksOptionsBuilder, UpdateServiceOptions,
};
use bollard::Docker;
use futures::stream::BoxStream;
use futures::StreamExt;
use model::deploy::UpdateState;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub const MIN_API_VERSION: (u32, u32) = (1, 41);

/// How to reach the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwarmConnect {
    /// The local socket (`/var/run/docker.sock`).
    Socket { path: PathBuf },
    /// TCP with mutual TLS (`tcp://host:2376` and the client's PEM files).
    Tls {
        addr: String,
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    },
}

/// Connects on first use (and again after a failed attempt), so that the
/// control plane starts and serves while the daemon is away.
pub struct DockerSwarm {
    how: Option<SwarmConnect>,
    timeout_secs: u64,
    client: tokio::sync::OnceCell<Docker>,
}

fn map_err(e: BollardError) -> SwarmError {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => SwarmError::NotFound(message),
            409 => SwarmError::Conflict(message),
            // "update out of sequence": the version read is stale.
            _ if message.contains("out of sequence") => SwarmError::Conflict(message),
            // "This node is not a swarm manager" and the like.
            503 => SwarmError::Unavailable(message),
            _ => SwarmError::Engine(message),
        },
        BollardError::JsonDataError { message, .. } => {
            SwarmError::Engine(format!("an answer of the daemon did not decode: {message}"))
        }
        other => SwarmError::Unavailable(other.to_string()),
    }
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl DockerSwarm {
    /// No I/O: the first call connects. `None`: no Swarm configured, every
    /// call answers `Unavailable`.
    pub fn lazy(how: Option<SwarmConnect>, timeout_secs: u64) -> Self {
        Self {
            how,
            timeout_secs,
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// Connects now and checks the daemon's API version (see the module doc).
    pub async fn connect(how: &SwarmConnect, timeout_secs: u64) -> Result<Self, SwarmError> {
        let me = Self::lazy(Some(how.clone()), timeout_secs);
        me.client().await?;
        Ok(me)
    }

    async fn client(&self) -> Result<&Docker, SwarmError> {
        self.client
            .get_or_try_init(|| async {
                let how = self.how.as_ref().ok_or_else(|| {
                    SwarmError::Unavailable("no Docker Engine configured (swarm.connect = none)".into())
                })?;
                let docker = open(how, self.timeout_secs)?;
                let v = docker
                    .version()
                    .await
                    .map_err(map_err)?
                    .api_version
                    .unwrap_or_default();
                match parse_version(&v) {
                    Some(have) if have >= MIN_API_VERSION => Ok(docker),
                    _ => Err(SwarmError::Unavailable(format!(
                        "the Docker Engine speaks API {v:?}; the control plane needs {}.{} or newer",
                        MIN_API_VERSION.0, MIN_API_VERSION.1
                    ))),
                }
            })
            .await
    }

    /// The bollard client once connected (test set-up: images, services).
    pub fn docker(&self) -> Option<&Docker> {
        self.client.get()
    }
}

fn open(how: &SwarmConnect, timeout_secs: u64) -> Result<Docker, SwarmError> {
    match how {
        SwarmConnect::Socket { path } => Docker::connect_with_socket(
            &path.to_string_lossy(),
            timeout_secs,
            bollard::API_DEFAULT_VERSION,
        ),
        SwarmConnect::Tls {
            addr,
            ca,
            cert,
            key,
        } => Docker::connect_with_ssl(
            addr,
            key,
            cert,
            ca,
            timeout_secs,
            bollard::API_DEFAULT_VERSION,
        ),
    }
    .map_err(map_err)
}

/// A path segment as the Engine API takes it (names are `[a-zA-Z0-9_.-]`;
/// anything else is escaped rather than trusted).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_.-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn decode<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, SwarmError> {
    serde_json::from_slice(raw)
        .map_err(|e| SwarmError::Engine(format!("an answer of the daemon did not decode: {e}")))
}

/// bollard 0.21 names the container spec's healthcheck `HealthCheck`; the
/// daemon sends `Healthcheck`. Decoded through bollard it is lost, and a
/// spec written back without it (a rollback) would drop the service's
/// healthcheck. The key is renamed in the answer's bytes before one decode
/// (the daemon reads either spelling). Only a key can match: a quote inside
/// a JSON string is escaped.
fn fix_healthcheck(raw: &[u8]) -> Vec<u8> {
    const FROM: &[u8] = b"\"Healthcheck\":";
    const TO: &[u8] = b"\"HealthCheck\":";
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.windows(FROM.len()).position(|w| w == FROM) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(TO);
        rest = &rest[i + FROM.len()..];
    }
    out.extend_from_slice(rest);
    out
}

impl DockerSwarm {
    /// One GET over the socket (`None`: 404), for the reads bollard's
    /// models lose data on (see `fix_healthcheck`).
    async fn raw_get(
        &self,
        socket: &std::path::Path,
        uri: &str,
    ) -> Result<Option<Vec<u8>>, SwarmError> {
        use http_body_util::BodyExt;
        let unavailable = |e: &dyn std::fmt::Display| SwarmError::Unavailable(e.to_string());
        let call = async {
            let stream = tokio::net::UnixStream::connect(socket)
                .await
                .map_err(|e| unavailable(&e))?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| unavailable(&e))?;
            tokio::spawn(conn);
            let req = hyper::Request::get(uri)
                .header(hyper::header::HOST, "docker")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .map_err(|e| SwarmError::Engine(e.to_string()))?;
            let res = send.send_request(req).await.map_err(|e| unavailable(&e))?;
            let status = res.status().as_u16();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| unavailable(&e))?
                .to_bytes()
                .to_vec();
            Ok::<_, SwarmError>((status, body))
        };
        let (status, body) = tokio::time::timeout(Duration::from_secs(self.timeout_secs), call)
            .await
            .map_err(|_| {
                SwarmError::Unavailable(format!(
                    "no answer from the daemon in {} s",
                    self.timeout_secs
                ))
            })??;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("status {status}"));
            return Err(map_err(BollardError::DockerResponseServerError {
                status_code: status,
                message,
            }));
        }
        Ok(Some(body))
    }
}

fn event_of(m: bollard::models::EventMessage) -> SwarmEvent {
    let actor = m.actor.unwrap_or_default();
    let attrs = actor.attributes.unwrap_or_default();
    SwarmEvent {
        action: m.action.unwrap_or_default(),
        service_id: actor.id,
        service: attrs.get("name").cloned(),
        update_state: attrs
            .get("updatestate.new")
            .and_then(|s| UpdateState::parse(s)),
        time_ms: m
            .time_nano
            .and_then(|n| u64::try_from(n / 1_000_000).ok())
            .or_else(|| m.time.and_then(|s| u64::try_from(s * 1000).ok()))
            .unwrap_or(0),
    }
}

#[async_trait]
impl Swarm for DockerSwarm {
    async fn api_version(&self) -> Result<String, SwarmError> {
        self.client()
            .await?
            .version()
            .await
            .map_err(map_err)?
            .api_version
            .ok_or_else(|| SwarmError::Engine("the daemon reported no API version".into()))
    }

    async fn services(&self) -> Result<Vec<Service>, SwarmError> {
        let docker = self.client().await?;
        if let Some(SwarmConnect::Socket { path }) = &self.how {
            let raw = self.raw_get(path, "/services?status=true").await?;
            return decode(&fix_healthcheck(&raw.unwrap_or_default()));
        }
        docker
            .list_services(Some(
                ListServicesOptionsBuilder::default().status(true).build(),
            ))
            .await
            .map_err(map_err)
    }

    async fn service(&self, name_or_id: &str) -> Result<Option<Service>, SwarmError> {
        let docker = self.client().await?;
        if let Some(SwarmConnect::Socket { path }) = &self.how {
            let Some(raw) = self
                .raw_get(path, &format!("/services/{}", encode(name_or_id)))
                .await?
            else {
                return Ok(None);
            };
            return decode(&fix_healthcheck(&raw)).map(Some);
        }
        match docker
            .inspect_service(name_or_id, None::<InspectServiceOptions>)
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e) => match map_err(e) {
                SwarmError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn tasks(&self, service_id: Option<&str>) -> Result<Vec<Task>, SwarmError> {
        let mut filters: HashMap<&str, Vec<&str>> = HashMap::new();
        if let Some(id) = service_id {
            filters.insert("service", vec![id]);
        }
        self.client()
            .await?
            .list_tasks(Some(
                ListTasksOptionsBuilder::default().filters(&filters).build(),
            ))
            .await
            .map_err(map_err)
    }

    async fn nodes(&self) -> Result<Vec<Node>, SwarmError> {
        self.client()
            .await?
            .list_nodes(None::<ListNodesOptions>)
            .await
            .map_err(map_err)
    }

    async fn image_present(&self, image: &str) -> Result<bool, SwarmError> {
        match self.client().await?.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) => match map_err(e) {
                SwarmError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn update_service(
        &self,
        id: &str,
        spec: ServiceSpec,
        version: u64,
    ) -> Result<(), SwarmError> {
        let version = i32::try_from(version)
            .map_err(|_| SwarmError::Engine(format!("version {version} exceeds the API's i32")))?;
        self.client()
            .await?
            .update_service(
                id,
                spec,
                UpdateServiceOptions {
                    version,
                    ..Default::default()
                },
                None,
            )
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    fn events(&self, since_ms: u64) -> BoxStream<'static, Result<SwarmEvent, SwarmError>> {
        // Connect (if need be) inside the stream: this call does no I/O.
        let (how, timeout) = (self.how.clone(), self.timeout_secs);
        let docker = self.client.get().cloned();
        futures::stream::once(async move {
            match docker {
                Some(d) => Ok(d),
                None => DockerSwarm::lazy(how, timeout).client().await.cloned(),
            }
        })
        .flat_map(move |r| match r {
            Ok(d) => {
                let filters: HashMap<&str, Vec<&str>> = [("type", vec!["service"])].into();
                // The daemon's `since` is in whole seconds: round down.
                let since = (since_ms / 1000).to_string();
                d.events(Some(
                    EventsOptionsBuilder::default()
                        .since(&since)
                        .filters(&filters)
                        .build(),
                ))
                .map(|r| r.map(event_of).map_err(map_err))
                .boxed()
            }
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .boxed()
    }
}
