//! Config documents in the substrate's KV buckets. Routing and placement
//! stay where the platform's services read them (`routing/routing`,
//! `placement/<kind>_placement`); the other domains live in `config`,
//! keyed `<domain>.<scope>.<name>`. Revision metadata and pins live in
//! `config_meta`; a document's kept revisions are the bucket's history.

use super::store::{decode_error, unrecorded, ConfigStore, ConfigStoreError, Stored, WriteMeta};
use crate::fleet::docs::{PLACEMENT_BUCKET, ROUTING_BUCKET, ROUTING_KEY};
use crate::store::{BucketOptions, Key, KeyPrefix, Kv, KvEvent, StoreError, Substrate};
use async_trait::async_trait;
use model::config::{ConfigId, Domain, Pin, RevisionMeta, Scope};
use model::views::{DocSource, SourceKind};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const CONFIG_BUCKET: &str = "config";
pub const META_BUCKET: &str = "config_meta";

/// The fleet buckets' options are the ones `FleetDocs` opens them with.
const FLEET_OPTS: BucketOptions = BucketOptions {
    history: 16,
    replicas: 1,
};
const CONFIG_OPTS: BucketOptions = BucketOptions {
    history: 32,
    replicas: 1,
};

pub struct KvConfigStore {
    store: Arc<dyn Substrate>,
}

impl KvConfigStore {
    pub fn new(store: Arc<dyn Substrate>) -> Self {
        Self { store }
    }

    /// The bucket and key of a document.
    fn place(id: &ConfigId) -> (&'static str, String) {
        match (&id.domain, &id.scope) {
            (Domain::Routing, _) => (ROUTING_BUCKET, ROUTING_KEY.to_owned()),
            (Domain::Placement, Scope::Kind(k)) => (
                PLACEMENT_BUCKET,
                k.placement_key().unwrap_or_default().to_owned(),
            ),
            _ => (CONFIG_BUCKET, id.key()),
        }
    }

    async fn doc_kv(&self, id: &ConfigId) -> Result<(Arc<dyn Kv>, Key), ConfigStoreError> {
        let (bucket, key) = Self::place(id);
        let opts = if bucket == CONFIG_BUCKET {
            CONFIG_OPTS
        } else {
            FLEET_OPTS
        };
        Ok((self.store.kv(bucket, opts).await?, Key::parse(&key)?))
    }

    async fn meta_kv(&self) -> Result<Arc<dyn Kv>, ConfigStoreError> {
        Ok(self.store.kv(META_BUCKET, CONFIG_OPTS).await?)
    }

    fn rev_key(id: &ConfigId, revision: u64) -> Result<Key, ConfigStoreError> {
        Ok(Key::parse(&format!("rev.{}.{revision}", id.key()))?)
    }

    fn pin_key(id: &ConfigId) -> Result<Key, ConfigStoreError> {
        Ok(Key::parse(&format!("pin.{}", id.key()))?)
    }

    async fn recorded(
        &self,
        id: &ConfigId,
        revision: u64,
    ) -> Result<Option<RevisionMeta>, ConfigStoreError> {
        let kv = self.meta_kv().await?;
        match kv.get(&Self::rev_key(id, revision)?).await? {
            Some(e) => Ok(serde_json::from_slice(&e.value).ok()),
            None => Ok(None),
        }
    }

    async fn stored(
        &self,
        id: &ConfigId,
        revision: u64,
        bytes: &[u8],
    ) -> Result<Stored, ConfigStoreError> {
        let document: Value = serde_json::from_slice(bytes).map_err(|e| decode_error(&e))?;
        let meta = match self.recorded(id, revision).await? {
            Some(m) if m.sha256 == model::config::sha256(&document) => m,
            _ => unrecorded(revision, &document),
        };
        Ok(Stored { document, meta })
    }
}

fn id_of(domain: Domain, scope: &str, name: &str) -> Option<ConfigId> {
    let scope = Scope::parse(&scope.replacen('=', ":", 1)).ok()?;
    ConfigId::new(domain, name, scope).ok()
}

#[async_trait]
impl ConfigStore for KvConfigStore {
    fn source(&self, id: &ConfigId) -> DocSource {
        let (bucket, key) = Self::place(id);
        DocSource {
            kind: SourceKind::Kv,
            backend: self.store.backend().to_owned(),
            location: format!("{bucket}/{key}"),
        }
    }

    async fn list(&self) -> Result<Vec<ConfigId>, ConfigStoreError> {
        let mut out = Vec::new();
        let routing = self.store.kv(ROUTING_BUCKET, FLEET_OPTS).await?;
        if routing.get(&Key::parse(ROUTING_KEY)?).await?.is_some() {
            out.push(ConfigId::routing());
        }
        let placement = self.store.kv(PLACEMENT_BUCKET, FLEET_OPTS).await?;
        let present = placement.keys(&KeyPrefix::All).await?;
        for k in model::fleet::ServiceKind::WORKERS {
            if present
                .iter()
                .any(|p| Some(p.as_str()) == k.placement_key())
            {
                out.push(ConfigId::placement(k));
            }
        }
        let config = self.store.kv(CONFIG_BUCKET, CONFIG_OPTS).await?;
        for key in config.keys(&KeyPrefix::All).await? {
            let mut parts = key.splitn(3, '.');
            let (Some(d), Some(s), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            if let Some(id) = Domain::parse(d).and_then(|d| id_of(d, s, n)) {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    async fn get(&self, id: &ConfigId) -> Result<Option<Stored>, ConfigStoreError> {
        let (kv, key) = self.doc_kv(id).await?;
        match kv.get(&key).await? {
            Some(e) => Ok(Some(self.stored(id, e.revision, &e.value).await?)),
            None => Ok(None),
        }
    }

    async fn at(&self, id: &ConfigId, revision: u64) -> Result<Option<Stored>, ConfigStoreError> {
        let (kv, key) = self.doc_kv(id).await?;
        for ev in kv.history(&key).await? {
            if let KvEvent::Put(e) = ev {
                if e.revision == revision {
                    return Ok(Some(self.stored(id, e.revision, &e.value).await?));
                }
            }
        }
        Ok(None)
    }

    async fn history(&self, id: &ConfigId) -> Result<Vec<RevisionMeta>, ConfigStoreError> {
        let (kv, key) = self.doc_kv(id).await?;
        let mut by_rev: BTreeMap<u64, RevisionMeta> = BTreeMap::new();
        let meta = self.meta_kv().await?;
        let prefix = KeyPrefix::parse(&format!("rev.{}.", id.key()))?;
        for k in meta.keys(&prefix).await? {
            if let Some(e) = meta.get(&Key::parse(&k)?).await? {
                if let Ok(mut m) = serde_json::from_slice::<RevisionMeta>(&e.value) {
                    m.kept = false;
                    by_rev.insert(m.revision, m);
                }
            }
        }
        for ev in kv.history(&key).await? {
            if let KvEvent::Put(e) = ev {
                let Ok(doc) = serde_json::from_slice::<Value>(&e.value) else {
                    continue;
                };
                let sha = model::config::sha256(&doc);
                match by_rev.get_mut(&e.revision) {
                    Some(m) if m.sha256 == sha => m.kept = true,
                    _ => {
                        by_rev.insert(e.revision, unrecorded(e.revision, &doc));
                    }
                }
            }
        }
        Ok(by_rev.into_values().rev().collect())
    }

    async fn write(
        &self,
        id: &ConfigId,
        document: &Value,
        expected: u64,
        meta: &WriteMeta,
    ) -> Result<RevisionMeta, ConfigStoreError> {
        let (kv, key) = self.doc_kv(id).await?;
        let bytes = bytes::Bytes::from(
            serde_json::to_vec_pretty(document)
                .map_err(|e| ConfigStoreError::Source(e.to_string()))?,
        );
        let r = if expected == 0 {
            kv.create(&key, bytes).await
        } else {
            kv.update(&key, bytes, expected).await
        };
        let revision = match r {
            Ok(rev) => rev,
            Err(StoreError::Conflict {
                current: Some(current),
            }) => return Err(ConfigStoreError::Conflict { expected, current }),
            Err(
                StoreError::Conflict { current: None }
                | StoreError::AlreadyExists
                | StoreError::NotFound,
            ) => {
                let current = kv.get(&key).await?.map_or(0, |e| e.revision);
                return Err(ConfigStoreError::Conflict { expected, current });
            }
            Err(e) => return Err(e.into()),
        };
        let rec = meta.revision(revision, document);
        // The document is written; a lost metadata write leaves the
        // revision shown as unrecorded, never the document unwritten.
        let stored = async {
            let bytes = serde_json::to_vec(&rec).map_err(|e| StoreError::Invalid(e.to_string()))?;
            self.meta_kv()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
                .put(
                    &Self::rev_key(id, revision).map_err(|e| StoreError::Invalid(e.to_string()))?,
                    bytes.into(),
                )
                .await
        };
        if let Err(e) = stored.await {
            tracing::warn!(document = %id, revision, error = %e, "config revision metadata not recorded");
        }
        Ok(rec)
    }

    async fn pin(&self, id: &ConfigId) -> Result<Option<Pin>, ConfigStoreError> {
        let kv = self.meta_kv().await?;
        match kv.get(&Self::pin_key(id)?).await? {
            Some(e) => serde_json::from_slice(&e.value)
                .map(Some)
                .map_err(|e| decode_error(&e)),
            None => Ok(None),
        }
    }

    async fn set_pin(&self, id: &ConfigId, pin: Option<&Pin>) -> Result<(), ConfigStoreError> {
        let kv = self.meta_kv().await?;
        let key = Self::pin_key(id)?;
        match pin {
            Some(p) => {
                let bytes =
                    serde_json::to_vec(p).map_err(|e| ConfigStoreError::Source(e.to_string()))?;
                kv.put(&key, bytes.into()).await?;
            }
            None => kv.delete(&key, None).await?,
        }
        Ok(())
    }
}
