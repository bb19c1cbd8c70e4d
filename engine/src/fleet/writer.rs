//! Writing placement and routing for the move workflows: through the
//! config registry's store (so every write has its revision metadata and
//! history), always by compare-and-set on the revision the writer read.

use crate::config::store::{ConfigStore, ConfigStoreError, WriteMeta};
use crate::config::{file::FileConfigStore, kv::KvConfigStore};
use crate::store::Substrate;
use model::config::ConfigId;
use model::fleet::{PlacementMap, RoutingConfig, ServiceKind};
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

impl From<ConfigStoreError> for WriteError {
    fn from(e: ConfigStoreError) -> Self {
        match e {
            ConfigStoreError::Conflict { expected, current } => {
                Self::Conflict { expected, current }
            }
            e => Self::Unavailable(e.to_string()),
        }
    }
}

#[derive(Clone)]
pub enum DocWriter {
    Store(Arc<dyn ConfigStore>),
    /// Fixed documents (tests, benches): nothing can be written.
    None,
}

impl DocWriter {
    /// The dev files (other config documents beside them, in `config/`).
    pub fn files(placement: PathBuf, routing: PathBuf) -> Self {
        let dir = crate::config::file::default_dir(&placement);
        Self::Store(Arc::new(FileConfigStore::new(placement, routing, dir)))
    }

    /// The substrate's `placement` and `routing` buckets.
    pub fn kv(store: Arc<dyn Substrate>) -> Self {
        Self::Store(Arc::new(KvConfigStore::new(store)))
    }

    fn store(&self) -> Result<&Arc<dyn ConfigStore>, WriteError> {
        match self {
            Self::Store(s) => Ok(s),
            Self::None => Err(WriteError::ReadOnly("fixed documents")),
        }
    }

    async fn read<T: serde::de::DeserializeOwned + Default>(
        &self,
        id: &ConfigId,
    ) -> Result<(T, u64), WriteError> {
        match self.store()?.get(id).await? {
            Some(s) => Ok((
                serde_json::from_value(s.document).map_err(|e| {
                    WriteError::Unavailable(format!(
                        "{id} does not decode: {}",
                        model::error::safe_serde_detail(&e.to_string())
                    ))
                })?,
                s.meta.revision,
            )),
            None => Ok((T::default(), 0)),
        }
    }

    async fn write<T: serde::Serialize>(
        &self,
        id: &ConfigId,
        doc: &T,
        expected: u64,
        meta: &WriteMeta,
    ) -> Result<u64, WriteError> {
        let v = serde_json::to_value(doc).map_err(|e| WriteError::Unavailable(e.to_string()))?;
        Ok(self.store()?.write(id, &v, expected, meta).await?.revision)
    }

    /// One kind's map and the revision to write against.
    pub async fn read_placement(
        &self,
        kind: ServiceKind,
    ) -> Result<(PlacementMap, u64), WriteError> {
        if kind.placement_key().is_none() {
            return Err(WriteError::ReadOnly("the gateway has no placement map"));
        }
        self.read(&ConfigId::placement(kind)).await
    }

    /// Writes `map` if the document is still at `expected`; the new revision.
    pub async fn write_placement(
        &self,
        kind: ServiceKind,
        map: &PlacementMap,
        expected: u64,
        meta: &WriteMeta,
    ) -> Result<u64, WriteError> {
        if kind.placement_key().is_none() {
            return Err(WriteError::ReadOnly("the gateway has no placement map"));
        }
        self.write(&ConfigId::placement(kind), map, expected, meta)
            .await
    }

    pub async fn read_routing(&self) -> Result<(RoutingConfig, u64), WriteError> {
        self.read(&ConfigId::routing()).await
    }

    pub async fn write_routing(
        &self,
        routing: &RoutingConfig,
        expected: u64,
        meta: &WriteMeta,
    ) -> Result<u64, WriteError> {
        self.write(&ConfigId::routing(), routing, expected, meta)
            .await
    }
}
