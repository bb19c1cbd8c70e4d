//! Every spec of every service the control plane has seen or applied, in
//! the substrate (bucket `deploy_history`): Swarm keeps one previous spec
//! and clears it on an automatic rollback, so this is what "what changed"
//! and rollback read. One key per record, `spec.<service>.<seq>`, written
//! with `create`: two replicas recording the same change make one record.

use crate::store::{BucketOptions, Key, KeyPrefix, Kv, StoreError, Substrate};
use bollard::models::ServiceSpec;
use model::deploy::{Pin, ServiceName, SpecRecord};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub const BUCKET: &str = "deploy_history";
/// Records kept per service; older ones are deleted when a new one lands.
pub const KEPT_PER_SERVICE: usize = 200;

/// What one key holds: the record as served, and the full spec as the
/// daemon sent it (it may hold secret values; it never leaves the server
/// except back to the daemon in a rollback).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub record: SpecRecord,
    pub spec: ServiceSpec,
}

#[derive(Clone)]
pub struct History {
    store: Arc<dyn Substrate>,
    kv: Arc<OnceCell<Arc<dyn Kv>>>,
}

/// Service names may hold dots, keys use them as separators; `=` is in
/// neither a service name nor special in keys.
fn token(s: &ServiceName) -> String {
    s.as_str().replace('.', "=")
}

fn key(s: &ServiceName, seq: u64) -> Result<Key, StoreError> {
    Key::parse(&format!("spec.{}.{seq:010}", token(s)))
}

fn pin_key(s: &ServiceName) -> Result<Key, StoreError> {
    Key::parse(&format!("pin.{}", token(s)))
}

fn prefix(s: &ServiceName) -> Result<KeyPrefix, StoreError> {
    KeyPrefix::parse(&format!("spec.{}.", token(s)))
}

impl History {
    pub fn new(store: Arc<dyn Substrate>) -> Self {
        Self {
            store,
            kv: Arc::new(OnceCell::new()),
        }
    }

    async fn kv(&self) -> Result<&Arc<dyn Kv>, StoreError> {
        self.kv
            .get_or_try_init(|| async {
                self.store
                    .kv(
                        BUCKET,
                        BucketOptions {
                            history: 1,
                            ..BucketOptions::default()
                        },
                    )
                    .await
            })
            .await
    }

    /// Sequence numbers recorded for a service, ascending.
    async fn seqs(&self, s: &ServiceName) -> Result<Vec<u64>, StoreError> {
        let mut seqs: Vec<u64> = self
            .kv()
            .await?
            .keys(&prefix(s)?)
            .await?
            .iter()
            .filter_map(|k| k.rsplit('.').next()?.parse().ok())
            .collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    pub async fn get(&self, s: &ServiceName, seq: u64) -> Result<Option<Stored>, StoreError> {
        let Some(e) = self.kv().await?.get(&key(s, seq)?).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&e.value)
            .map(Some)
            .map_err(|e| StoreError::Decode(format!("{BUCKET}: {e}")))
    }

    pub async fn latest(&self, s: &ServiceName) -> Result<Option<Stored>, StoreError> {
        match self.seqs(s).await?.last() {
            Some(&seq) => self.get(s, seq).await,
            None => Ok(None),
        }
    }

    /// Newest first, at most `limit`.
    pub async fn list(&self, s: &ServiceName, limit: usize) -> Result<Vec<SpecRecord>, StoreError> {
        let mut out = Vec::new();
        for seq in self.seqs(s).await?.into_iter().rev().take(limit) {
            if let Some(st) = self.get(s, seq).await? {
                out.push(st.record);
            }
        }
        Ok(out)
    }

    /// Records `record` (its `seq` is assigned here) unless the newest
    /// record already has the same spec: returns the record written, or
    /// None when it was already there (another replica was first).
    pub async fn record(
        &self,
        mut record: SpecRecord,
        spec: ServiceSpec,
    ) -> Result<Option<SpecRecord>, StoreError> {
        let s = record.service.clone();
        loop {
            let seqs = self.seqs(&s).await?;
            if let Some(&last) = seqs.last() {
                if let Some(prev) = self.get(&s, last).await? {
                    if prev.record.spec_sha256 == record.spec_sha256
                        && prev.record.service_id == record.service_id
                    {
                        return Ok(None);
                    }
                }
            }
            record.seq = seqs.last().map_or(1, |l| l + 1);
            let value = serde_json::to_vec(&Stored {
                record: record.clone(),
                spec: spec.clone(),
            })
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
            match self
                .kv()
                .await?
                .create(&key(&s, record.seq)?, value.into())
                .await
            {
                Ok(_) => {
                    self.trim(&s, &seqs).await;
                    return Ok(Some(record));
                }
                // Another replica wrote this seq: look again.
                Err(StoreError::AlreadyExists | StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn pin(&self, s: &ServiceName) -> Result<Option<Pin>, StoreError> {
        let Some(e) = self.kv().await?.get(&pin_key(s)?).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&e.value)
            .map(Some)
            .map_err(|e| StoreError::Decode(format!("{BUCKET}: {e}")))
    }

    /// Pins (`Some`) or unpins (`None`) a service.
    pub async fn set_pin(&self, s: &ServiceName, pin: Option<&Pin>) -> Result<(), StoreError> {
        let kv = self.kv().await?;
        match pin {
            Some(p) => {
                let v = serde_json::to_vec(p).map_err(|e| StoreError::Invalid(e.to_string()))?;
                kv.put(&pin_key(s)?, v.into()).await.map(|_| ())
            }
            None => match kv.delete(&pin_key(s)?, None).await {
                Ok(()) | Err(StoreError::NotFound) => Ok(()),
                Err(e) => Err(e),
            },
        }
    }

    async fn trim(&self, s: &ServiceName, before: &[u64]) {
        let excess = (before.len() + 1).saturating_sub(KEPT_PER_SERVICE);
        for &seq in before.iter().take(excess) {
            let Ok(k) = key(s, seq) else { continue };
            if let Ok(kv) = self.kv().await {
                if let Err(e) = kv.delete(&k, None).await {
                    tracing::warn!(error = %e, service = %s, seq, "old deploy record not deleted");
                }
            }
        }
    }
}
