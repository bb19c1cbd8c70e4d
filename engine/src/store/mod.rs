//! The state substrate: a revisioned key-value store and an append-only
//! event log, behind two small traits with two backends (embedded redb and
//! NATS JetStream) that pass one conformance suite (engine/tests/).

pub mod embedded;
pub mod file_doc;
pub mod namespaced;
pub mod nats;
mod typed;

pub use typed::TypedKv;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::fmt;
use std::sync::Arc;

pub type Revision = u64;

/// Errors every backend reports the same way. None of them is a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    /// A compare-and-swap lost: `current` is the revision now stored
    /// (`None` when the key is absent), so the caller can re-read and retry.
    #[error("revision conflict (current: {current:?})")]
    Conflict { current: Option<Revision> },
    #[error("stored value cannot be decoded: {0}")]
    Decode(String),
    /// The backend cannot be reached or did not answer; retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

pub const MAX_KEY_LEN: usize = 256;

fn valid_token(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'='))
}

/// A key: dot-separated tokens of `[A-Za-z0-9_=-]`, at most 256 bytes. The
/// same rule holds for both backends (it is a subset of NATS subjects).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        if s.len() > MAX_KEY_LEN {
            return Err(StoreError::InvalidKey(format!(
                "longer than {MAX_KEY_LEN} bytes"
            )));
        }
        if !s.split('.').all(valid_token) {
            return Err(StoreError::InvalidKey(format!(
                "{:?} must be dot-separated tokens of [A-Za-z0-9_=-]",
                s.chars().take(64).collect::<String>()
            )));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a watch or `keys` covers: every key, or the keys under `a.b.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPrefix {
    All,
    Under(String),
}

impl KeyPrefix {
    /// `""` is every key; otherwise a valid key followed by a dot (`tenants.`).
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        if s.is_empty() {
            return Ok(Self::All);
        }
        let Some(stem) = s.strip_suffix('.') else {
            return Err(StoreError::InvalidKey(format!(
                "prefix {s:?} must end with `.`"
            )));
        };
        Key::parse(stem)?;
        Ok(Self::Under(s.to_owned()))
    }

    pub fn matches(&self, key: &str) -> bool {
        match self {
            Self::All => true,
            Self::Under(p) => key.starts_with(p.as_str()),
        }
    }
}

/// Bucket and log names: `[A-Za-z0-9_-]{1,64}`.
pub fn check_name(kind: &str, name: &str) -> Result<(), StoreError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(StoreError::Invalid(format!(
            "{kind} name {name:?} must be 1-64 chars of [A-Za-z0-9_-]"
        )));
    }
    Ok(())
}

/// A bucket request both backends accept: a valid name and a history
/// depth of 1..=64 (the JetStream KV limit).
pub fn check_bucket(name: &str, opts: &BucketOptions) -> Result<(), StoreError> {
    check_name("bucket", name)?;
    if !(1..=64).contains(&opts.history) {
        return Err(StoreError::Invalid("history must be 1..=64".into()));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: Bytes,
    pub revision: Revision,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvEvent {
    Put(KvEntry),
    Delete { key: String, revision: Revision },
}

impl KvEvent {
    pub fn revision(&self) -> Revision {
        match self {
            Self::Put(e) => e.revision,
            Self::Delete { revision, .. } => *revision,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Self::Put(e) => &e.key,
            Self::Delete { key, .. } => key,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketOptions {
    /// Revisions kept per key (1..=64), for `history` and watch resume.
    pub history: u8,
    /// Copies kept by a clustered backend (NATS); ignored by the embedded one.
    pub replicas: usize,
}

impl Default for BucketOptions {
    fn default() -> Self {
        Self {
            history: 16,
            replicas: 1,
        }
    }
}

pub type WatchStream = BoxStream<'static, Result<KvEvent, StoreError>>;

/// A revisioned key-value bucket.
#[async_trait]
pub trait Kv: Send + Sync {
    fn bucket(&self) -> &str;
    /// The current value and its revision; `None` when absent or deleted.
    async fn get(&self, key: &Key) -> Result<Option<KvEntry>, StoreError>;
    /// Writes only if the key is absent (never written, or deleted).
    async fn create(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError>;
    /// Compare-and-swap: writes only if the key's latest revision is
    /// `expected`. Otherwise `NotFound` when the key is absent, or
    /// `Conflict { current }`.
    async fn update(
        &self,
        key: &Key,
        value: Bytes,
        expected: Revision,
    ) -> Result<Revision, StoreError>;
    /// Unconditional write, for seeding only.
    async fn put(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError>;
    /// Deletes (leaves a delete marker in history). With `expected`, only if
    /// the latest revision matches. Deleting an absent key without
    /// `expected` is a no-op.
    async fn delete(&self, key: &Key, expected: Option<Revision>) -> Result<(), StoreError>;
    /// Present keys under the prefix, sorted.
    async fn keys(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StoreError>;
    /// The key's kept revisions, oldest first, delete markers included.
    async fn history(&self, key: &Key) -> Result<Vec<KvEvent>, StoreError>;
    /// Without `after`: the current state of every present key under the
    /// prefix (in revision order), then every later change. With
    /// `after = Some(r)`: every kept change with revision > r, then every
    /// later change. Never a gap or a duplicate while the stream lives.
    async fn watch(
        &self,
        prefix: &KeyPrefix,
        after: Option<Revision>,
    ) -> Result<WatchStream, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub seq: u64,
    pub data: Bytes,
}

pub type TailStream = BoxStream<'static, Result<LogRecord, StoreError>>;

/// An append-only event log. Sequences start at 1; an empty log's last
/// sequence is 0.
#[async_trait]
pub trait EventLog: Send + Sync {
    fn name(&self) -> &str;
    /// Appends; with `expected_last`, only if the log's last sequence is that.
    async fn append(&self, data: Bytes, expected_last: Option<u64>) -> Result<u64, StoreError>;
    /// Up to `limit` records with sequence ≥ `from`, in order.
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError>;
    /// Records with sequence ≥ `from`, then every later append.
    async fn tail(&self, from: u64) -> Result<TailStream, StoreError>;
    async fn last_seq(&self) -> Result<u64, StoreError>;
}

/// A backend: hands out buckets and logs (created on first use).
#[async_trait]
pub trait Substrate: Send + Sync {
    /// `embedded` or `nats`.
    fn backend(&self) -> &'static str;
    async fn kv(&self, bucket: &str, opts: BucketOptions) -> Result<Arc<dyn Kv>, StoreError>;
    async fn log(&self, name: &str) -> Result<Arc<dyn EventLog>, StoreError>;
    /// Ok when the backend is usable right now (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(Key::parse("tenants.t-1.placement").is_ok());
        assert!(Key::parse("a=b_c-1").is_ok());
        for bad in ["", ".a", "a.", "a..b", "a b", "a/b", "a*", "a>", "ü"] {
            assert!(
                matches!(Key::parse(bad), Err(StoreError::InvalidKey(_))),
                "{bad:?}"
            );
        }
        assert!(Key::parse(&"a".repeat(257)).is_err());
        assert!(Key::parse(&"a".repeat(256)).is_ok());
    }

    #[test]
    fn prefixes_end_with_a_dot() {
        assert_eq!(KeyPrefix::parse("").unwrap(), KeyPrefix::All);
        let p = KeyPrefix::parse("tenants.").unwrap();
        assert!(p.matches("tenants.a"));
        assert!(!p.matches("tenantsx.a"));
        assert!(!p.matches("tenants"));
        assert!(KeyPrefix::parse("tenants").is_err());
        assert!(KeyPrefix::parse(".").is_err());
    }

    #[test]
    fn names_are_validated() {
        assert!(check_name("bucket", "placement_v1").is_ok());
        assert!(check_name("bucket", "").is_err());
        assert!(check_name("bucket", "a.b").is_err());
    }
}
