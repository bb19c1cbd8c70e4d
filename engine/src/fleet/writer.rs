//! Writing placement and routing, always by compare-and-set on the
//! revision the writer read: to the dev files (one revision for the three
//! placement maps, bumped by each write) or to the substrate's KV buckets
//! (the entry's revision). Only the move workflows write through here.

use super::docs::{PLACEMENT_BUCKET, ROUTING_BUCKET, ROUTING_KEY};
use crate::store::file_doc::write_atomic;
use crate::store::{BucketOptions, Key, StoreError, Substrate};
use model::fleet::{PlacementDoc, PlacementMap, RoutingConfig, RoutingDoc, ServiceKind};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The document moved since it was read: its current revision.
    #[error("the document is at revision {current}, not {expected}")]
    Conflict { expected: u64, current: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("the fleet documents here cannot be written ({0})")]
    ReadOnly(&'static str),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

#[derive(Clone)]
pub enum DocWriter {
    Files {
        placement: PathBuf,
        routing: PathBuf,
        /// One writer at a time in this process (the dev files have one
        /// process writing them).
        lock: Arc<tokio::sync::Mutex<()>>,
    },
    Kv(Arc<dyn Substrate>),
    /// Fixed documents (tests, benches): nothing can be written.
    None,
}

fn io(e: std::io::Error) -> WriteError {
    WriteError::Unavailable(e.to_string())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> Result<T, WriteError> {
    let bytes = std::fs::read(path).map_err(io)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| WriteError::Unavailable(format!("{} does not parse: {e}", path.display())))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, WriteError> {
    serde_json::to_vec_pretty(v).map_err(|e| WriteError::Unavailable(e.to_string()))
}

fn placement_key(kind: ServiceKind) -> Result<Key, WriteError> {
    let k = kind
        .placement_key()
        .ok_or(WriteError::ReadOnly("the gateway has no placement map"))?;
    Ok(Key::parse(k)?)
}

const OPTS: BucketOptions = BucketOptions {
    history: 16,
    replicas: 1,
};

/// A KV document and its revision (0 and the default when absent).
async fn kv_read<T: serde::de::DeserializeOwned + Default>(
    store: &Arc<dyn Substrate>,
    bucket: &str,
    key: &Key,
    what: &str,
) -> Result<(T, u64), WriteError> {
    let kv = store.kv(bucket, OPTS).await?;
    match kv.get(key).await? {
        Some(e) => Ok((
            serde_json::from_slice(&e.value)
                .map_err(|err| WriteError::Unavailable(format!("{what} does not decode: {err}")))?,
            e.revision,
        )),
        None => Ok((T::default(), 0)),
    }
}

/// CAS of a KV document on `expected` (0: it must not exist yet).
async fn kv_write<T: serde::Serialize>(
    store: &Arc<dyn Substrate>,
    bucket: &str,
    key: &Key,
    value: &T,
    expected: u64,
) -> Result<u64, WriteError> {
    let kv = store.kv(bucket, OPTS).await?;
    let bytes = bytes::Bytes::from(encode(value)?);
    let r = if expected == 0 {
        kv.create(key, bytes).await
    } else {
        kv.update(key, bytes, expected).await
    };
    r.map_err(|e| conflict(e, expected))
}

/// Writes a whole dev file off the async threads.
async fn file_write<T: serde::Serialize>(
    path: &std::path::Path,
    doc: &T,
) -> Result<(), WriteError> {
    let (path, bytes) = (path.to_path_buf(), encode(doc)?);
    tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
        .await
        .map_err(|e| WriteError::Unavailable(e.to_string()))?
        .map_err(io)
}

impl DocWriter {
    pub fn files(placement: PathBuf, routing: PathBuf) -> Self {
        Self::Files {
            placement,
            routing,
            lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// One kind's map and the revision to write against.
    pub async fn read_placement(
        &self,
        kind: ServiceKind,
    ) -> Result<(PlacementMap, u64), WriteError> {
        match self {
            Self::Files { placement, .. } => {
                let doc: PlacementDoc = read_json(placement)?;
                let map = doc.map(kind).cloned().unwrap_or_default();
                Ok((map, doc.revision))
            }
            Self::Kv(store) => {
                kv_read(
                    store,
                    PLACEMENT_BUCKET,
                    &placement_key(kind)?,
                    "the placement map",
                )
                .await
            }
            Self::None => Err(WriteError::ReadOnly("fixed documents")),
        }
    }

    /// Writes `map` if the document is still at `expected`; the new revision.
    pub async fn write_placement(
        &self,
        kind: ServiceKind,
        map: &PlacementMap,
        expected: u64,
    ) -> Result<u64, WriteError> {
        match self {
            Self::Files {
                placement, lock, ..
            } => {
                let _one = lock.lock().await;
                let mut doc: PlacementDoc = read_json(placement)?;
                if doc.revision != expected {
                    return Err(WriteError::Conflict {
                        expected,
                        current: doc.revision,
                    });
                }
                if let Some(m) = doc.map_mut(kind) {
                    *m = map.clone();
                }
                doc.revision += 1;
                file_write(placement, &doc).await?;
                Ok(doc.revision)
            }
            Self::Kv(store) => {
                kv_write(
                    store,
                    PLACEMENT_BUCKET,
                    &placement_key(kind)?,
                    map,
                    expected,
                )
                .await
            }
            Self::None => Err(WriteError::ReadOnly("fixed documents")),
        }
    }

    pub async fn read_routing(&self) -> Result<(RoutingConfig, u64), WriteError> {
        match self {
            Self::Files { routing, .. } => {
                let doc: RoutingDoc = read_json(routing)?;
                Ok((doc.routing, doc.revision))
            }
            Self::Kv(store) => {
                kv_read(
                    store,
                    ROUTING_BUCKET,
                    &Key::parse(ROUTING_KEY)?,
                    "the routing document",
                )
                .await
            }
            Self::None => Err(WriteError::ReadOnly("fixed documents")),
        }
    }

    pub async fn write_routing(
        &self,
        routing_doc: &RoutingConfig,
        expected: u64,
    ) -> Result<u64, WriteError> {
        match self {
            Self::Files { routing, lock, .. } => {
                let _one = lock.lock().await;
                let doc: RoutingDoc = read_json(routing)?;
                if doc.revision != expected {
                    return Err(WriteError::Conflict {
                        expected,
                        current: doc.revision,
                    });
                }
                let next = RoutingDoc {
                    revision: doc.revision + 1,
                    routing: routing_doc.clone(),
                };
                file_write(routing, &next).await?;
                Ok(next.revision)
            }
            Self::Kv(store) => {
                kv_write(
                    store,
                    ROUTING_BUCKET,
                    &Key::parse(ROUTING_KEY)?,
                    routing_doc,
                    expected,
                )
                .await
            }
            Self::None => Err(WriteError::ReadOnly("fixed documents")),
        }
    }
}

fn conflict(e: StoreError, expected: u64) -> WriteError {
    match e {
        StoreError::Conflict { current, .. } => WriteError::Conflict {
            expected,
            current: current.unwrap_or(0),
        },
        StoreError::AlreadyExists => WriteError::Conflict {
            expected,
            current: expected + 1,
        },
        e => WriteError::Unavailable(e.to_string()),
    }
}
