//! Where config documents live: one interface, two sources (the dev files
//! and the substrate's KV buckets), one conformance suite
//! (engine/tests/config_store.rs). Every write is a compare-and-set on the
//! revision the writer read; metadata (who, when, which job, why) is kept
//! per revision beside the document.

use async_trait::async_trait;
use model::config::{ConfigId, Pin, RevisionMeta};
use model::ids::JobId;
use model::views::DocSource;
use serde_json::Value;

/// The source's errors, each with a stable code, none carrying document
/// content (a document may hold secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigStoreError {
    /// The document moved since it was read: its current revision (0:
    /// absent).
    #[error("the document is at revision {current}, not {expected}")]
    Conflict { expected: u64, current: u64 },
    /// The stored bytes are not a JSON document.
    #[error("the stored document does not decode ({0})")]
    Decode(String),
    /// The source cannot be read or written now (retryable).
    #[error("the configuration source is unavailable: {0}")]
    Source(String),
}

impl ConfigStoreError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "conflict",
            Self::Decode(_) => "config_decode",
            Self::Source(_) => "config_source",
        }
    }
}

impl From<crate::store::StoreError> for ConfigStoreError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Decode(m) => Self::Decode(m),
            e => Self::Source(e.to_string()),
        }
    }
}

/// The safe part of a decode error: where, never what.
pub(super) fn decode_error(e: &serde_json::Error) -> ConfigStoreError {
    ConfigStoreError::Decode(format!("line {} column {}", e.line(), e.column()))
}

/// A document at one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub document: Value,
    pub meta: RevisionMeta,
}

/// Who writes, for the revision's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteMeta {
    pub updated_by: String,
    pub job: Option<JobId>,
    pub reason: Option<String>,
}

impl WriteMeta {
    pub fn revision(&self, revision: u64, document: &Value) -> RevisionMeta {
        RevisionMeta {
            revision,
            sha256: model::config::sha256(document),
            updated_by: Some(self.updated_by.clone()),
            updated_at_ms: Some(crate::identity::now_ms()),
            job: self.job.clone(),
            reason: self.reason.clone(),
            kept: true,
        }
    }
}

/// The metadata of a revision nobody recorded (written outside the
/// registry): its revision and digest only.
pub(super) fn unrecorded(revision: u64, document: &Value) -> RevisionMeta {
    RevisionMeta {
        revision,
        sha256: model::config::sha256(document),
        updated_by: None,
        updated_at_ms: None,
        job: None,
        reason: None,
        kept: true,
    }
}

#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// Where the document lives (shown with it).
    fn source(&self, id: &ConfigId) -> DocSource;
    /// The documents present, sorted.
    async fn list(&self) -> Result<Vec<ConfigId>, ConfigStoreError>;
    /// The current revision; `None` when there is none.
    async fn get(&self, id: &ConfigId) -> Result<Option<Stored>, ConfigStoreError>;
    /// One revision, if its document is still kept.
    async fn at(&self, id: &ConfigId, revision: u64) -> Result<Option<Stored>, ConfigStoreError>;
    /// Every known revision, newest first (`kept: false` where only the
    /// metadata outlived the document).
    async fn history(&self, id: &ConfigId) -> Result<Vec<RevisionMeta>, ConfigStoreError>;
    /// Writes `document` if the current revision is `expected` (0: there
    /// is none yet); the new revision's metadata.
    async fn write(
        &self,
        id: &ConfigId,
        document: &Value,
        expected: u64,
        meta: &WriteMeta,
    ) -> Result<RevisionMeta, ConfigStoreError>;
    async fn pin(&self, id: &ConfigId) -> Result<Option<Pin>, ConfigStoreError>;
    async fn set_pin(&self, id: &ConfigId, pin: Option<&Pin>) -> Result<(), ConfigStoreError>;
}
