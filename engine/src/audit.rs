//! The tamper-evident audit log: every event carries a keyed hash (HMAC-
//! SHA-256) over its content and the previous event's hash, and the chain
//! head is anchored separately (a KV key updated by CAS). The verifier finds
//! an edited, deleted, reordered or truncated event and says where.
//!
//! Event types live in `model::audit` (the UI lists them too).
//!
//! Appends are serialised within a process (one at a time through the
//! read-head / append / anchor sequence), and a conflict with another
//! replica is retried with backoff and jitter until a deadline.
//!
//! An event's hash covers the record's fields exactly as stored (in stored
//! order, unknown fields included), so adding a field to `AuditRecord`
//! never breaks the verification of older events.

use crate::store::{BucketOptions, EventLog, Key, Kv, StoreError, Substrate};
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use model::audit::{AuditEvent, AuditPage, AuditQuery, AuditRecord, Outcome, Verdict};

type HmacSha256 = Hmac<Sha256>;

/// A listing or export that cannot be answered: the query is wrong (what
/// is allowed is in the message), or the log cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

const GENESIS: &str = "genesis";
const ANCHOR_KEY: &str = "audit_head";
const LOG_NAME: &str = "audit";
const ANCHOR_BUCKET: &str = "audit_anchor";
/// How long an append keeps retrying conflicts with other replicas.
pub const APPEND_DEADLINE: Duration = Duration::from_secs(10);

type Handles = (Arc<dyn EventLog>, Arc<dyn Kv>);

pub struct AuditLog {
    /// Opened on first use when built with `lazy`, so a store that is down
    /// at start (NATS) does not stop the server from starting.
    handles: tokio::sync::OnceCell<Handles>,
    store: Option<Arc<dyn Substrate>>,
    key: Vec<u8>,
    /// Events read so far, in order: listing reads only what is new.
    seen: Mutex<Seen>,
    /// One append at a time in this process: only other replicas contend.
    append_turn: tokio::sync::Mutex<()>,
    append_deadline: Duration,
    /// `control_audit_appends_total`: each append's final outcome.
    appends: Family<AppendOutcome, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppendOutcome {
    outcome: &'static str,
}

const APPENDED: AppendOutcome = AppendOutcome { outcome: "ok" };
const NOT_APPENDED: AppendOutcome = AppendOutcome { outcome: "error" };

/// Both outcomes at 0 from the start: "no failed append" is a series.
fn appends_family() -> Family<AppendOutcome, Counter> {
    let f = Family::default();
    for o in [APPENDED, NOT_APPENDED] {
        f.get_or_create_owned(&o);
    }
    f
}

#[derive(Default)]
struct Seen {
    events: Vec<AuditEvent>,
    last_log_seq: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A stored event's fields in stored order, each value as its exact bytes.
struct StoredFields(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for StoredFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = StoredFields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an audit event object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<StoredFields, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry::<String, Box<RawValue>>()? {
                    out.push(kv);
                }
                Ok(StoredFields(out))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// The record's JSON as the hash covers it: the stored event without its
/// chain fields, byte for byte. For an event this release wrote it equals
/// `serde_json::to_vec(&record)`, the input used since the first release.
fn stored_record(data: &[u8]) -> Result<Vec<u8>, String> {
    let StoredFields(fields) = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    let mut names = std::collections::HashSet::new();
    let mut out = vec![b'{'];
    for (name, value) in &fields {
        // A repeated field could show one value and hash another.
        if !names.insert(name.as_str()) {
            return Err(format!("field {name:?} appears twice"));
        }
        if matches!(name.as_str(), "seq" | "prev_hash" | "hash") {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend(serde_json::to_vec(name).map_err(|e| e.to_string())?);
        out.push(b':');
        out.extend(value.get().as_bytes());
    }
    out.push(b'}');
    Ok(out)
}

impl AuditLog {
    /// `key` is the chain's HMAC key (a secret: from config / `_FILE`).
    pub fn new(log: Arc<dyn EventLog>, anchor: Arc<dyn Kv>, key: &[u8]) -> Self {
        Self {
            handles: tokio::sync::OnceCell::new_with(Some((log, anchor))),
            store: None,
            key: key.to_vec(),
            seen: Mutex::new(Seen::default()),
            append_turn: tokio::sync::Mutex::new(()),
            append_deadline: APPEND_DEADLINE,
            appends: appends_family(),
        }
    }

    /// The `audit` log and `audit_anchor` bucket of `store`, opened when
    /// first needed.
    pub fn lazy(store: Arc<dyn Substrate>, key: &[u8]) -> Self {
        Self {
            handles: tokio::sync::OnceCell::new(),
            store: Some(store),
            key: key.to_vec(),
            seen: Mutex::new(Seen::default()),
            append_turn: tokio::sync::Mutex::new(()),
            append_deadline: APPEND_DEADLINE,
            appends: appends_family(),
        }
    }

    /// How long an append retries conflicts (default `APPEND_DEADLINE`).
    pub fn with_append_deadline(mut self, d: Duration) -> Self {
        self.append_deadline = d;
        self
    }

    pub fn append_deadline(&self) -> Duration {
        self.append_deadline
    }

    /// Adds `control_audit_appends_total` to the control plane's registry.
    pub fn register_metrics(&self, r: &mut Registry) {
        r.register(
            "control_audit_appends",
            "Audit appends by final outcome (after the retries of conflicts): ok, or error (the chain lacks the event)",
            self.appends.clone(),
        );
    }

    async fn handles(&self) -> Result<&Handles, StoreError> {
        self.handles
            .get_or_try_init(|| async {
                let store = self
                    .store
                    .as_ref()
                    .ok_or_else(|| StoreError::Unavailable("audit log not configured".into()))?;
                Ok((
                    store.log(LOG_NAME).await?,
                    store.kv(ANCHOR_BUCKET, BucketOptions::default()).await?,
                ))
            })
            .await
    }

    async fn log(&self) -> Result<&Arc<dyn EventLog>, StoreError> {
        Ok(&self.handles().await?.0)
    }

    async fn anchor(&self) -> Result<&Arc<dyn Kv>, StoreError> {
        Ok(&self.handles().await?.1)
    }

    /// Reads the events appended since the last call into the cache and
    /// runs `f` over all of them (oldest first).
    async fn with_events<T>(&self, f: impl FnOnce(&[AuditEvent]) -> T) -> Result<T, StoreError> {
        let mut from = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_log_seq
            + 1;
        let mut fresh = Vec::new();
        loop {
            let page = self.log().await?.read(from, 1000).await?;
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            for r in &page {
                let e: AuditEvent = serde_json::from_slice(&r.data)
                    .map_err(|e| StoreError::Decode(format!("audit event {}: {e}", r.seq)))?;
                fresh.push((r.seq, e));
            }
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for (seq, e) in fresh {
            // Another caller may have read the same events meanwhile.
            if seq > seen.last_log_seq {
                seen.last_log_seq = seq;
                seen.events.push(e);
            }
        }
        Ok(f(&seen.events))
    }

    /// One page of the events matching `q`, newest first.
    pub async fn query(&self, q: &AuditQuery) -> Result<AuditPage, AuditError> {
        q.check().map_err(AuditError::BadQuery)?;
        let (page, size) = (q.page(), q.page_size());
        self.with_events(|all| {
            let matching: Vec<&AuditEvent> = all.iter().rev().filter(|e| q.matches(e)).collect();
            AuditPage {
                total: matching.len(),
                events: matching
                    .into_iter()
                    .skip((page - 1) * size)
                    .take(size)
                    .cloned()
                    .collect(),
                page,
                page_size: size,
            }
        })
        .await
        .map_err(AuditError::from)
    }

    /// Every event matching `q` (paging ignored), oldest first: the export.
    pub async fn export(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
        q.check().map_err(AuditError::BadQuery)?;
        Ok(self
            .with_events(|all| all.iter().filter(|e| q.matches(e)).cloned().collect())
            .await?)
    }

    fn mac(&self, seq: u64, prev: &str, record_json: &[u8]) -> Result<HmacSha256, StoreError> {
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        mac.update(&seq.to_be_bytes());
        mac.update(prev.as_bytes());
        mac.update(record_json);
        Ok(mac)
    }

    fn hash(&self, seq: u64, record: &AuditRecord, prev: &str) -> Result<String, StoreError> {
        let body = serde_json::to_vec(record).map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(hex(&self.mac(seq, prev, &body)?.finalize().into_bytes()))
    }

    /// Whether the stored bytes of event `e` match its hash, compared in
    /// constant time.
    fn hash_matches(&self, e: &AuditEvent, data: &[u8]) -> Result<bool, StoreError> {
        let (Ok(body), Some(expected)) = (stored_record(data), unhex(&e.hash)) else {
            return Ok(false);
        };
        Ok(self
            .mac(e.seq, &e.prev_hash, &body)?
            .verify_slice(&expected)
            .is_ok())
    }

    /// Whether an event completing intent `id` is in the chain (recovery
    /// checks this for a crash between the append and the intent's delete).
    pub async fn has_intent(&self, id: &str) -> Result<bool, StoreError> {
        self.with_events(|all| {
            all.iter()
                .any(|e| e.record.intent_id.as_deref() == Some(id))
        })
        .await
    }

    fn anchor_key() -> Key {
        Key::parse(ANCHOR_KEY).expect("a valid constant key")
    }

    /// Appends one record at the end of the chain and moves the anchor. Two
    /// writers never fork the chain: the append is conditional on the last
    /// sequence it linked to. Within this process appends take turns; a
    /// conflict with another replica is retried with exponential backoff and
    /// jitter until the append deadline.
    pub async fn append(&self, record: AuditRecord) -> Result<AuditEvent, StoreError> {
        let r = self.append_in_turn(&record).await;
        let outcome = if r.is_ok() { APPENDED } else { NOT_APPENDED };
        self.appends.get_or_create(&outcome).inc();
        r
    }

    async fn append_in_turn(&self, record: &AuditRecord) -> Result<AuditEvent, StoreError> {
        let _turn = self.append_turn.lock().await;
        let deadline = Instant::now() + self.append_deadline;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(event) = self.try_append(record).await? {
                // The event is durable; a lagging anchor is moved by the
                // next append, so its failure does not fail this one.
                if let Err(e) = self.move_anchor(&event).await {
                    tracing::warn!(error = %e, seq = event.seq, "audit anchor not moved");
                }
                return Ok(event);
            }
            // Full jitter, so replicas that collided do not collide again.
            let wait = rand::rng().random_range(pause / 2..=pause);
            if Instant::now() + wait > deadline {
                return Err(StoreError::Unavailable(
                    "audit append kept conflicting until its deadline".into(),
                ));
            }
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// One conditional append after the current head; `None` on a conflict.
    async fn try_append(&self, record: &AuditRecord) -> Result<Option<AuditEvent>, StoreError> {
        let log = self.log().await?;
        let last = log.last_seq().await?;
        let prev_hash = match last {
            0 => GENESIS.to_owned(),
            n => {
                let r = log.read(n, 1).await?;
                let e: AuditEvent =
                    serde_json::from_slice(&r.first().ok_or(StoreError::NotFound)?.data)
                        .map_err(|e| StoreError::Decode(e.to_string()))?;
                e.hash
            }
        };
        let seq = last + 1;
        let hash = self.hash(seq, record, &prev_hash)?;
        let event = AuditEvent {
            seq,
            record: record.clone(),
            prev_hash,
            hash,
        };
        let bytes = serde_json::to_vec(&event).map_err(|e| StoreError::Invalid(e.to_string()))?;
        match log.append(Bytes::from(bytes), Some(last)).await {
            Ok(_) => Ok(Some(event)),
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Appends, and when that fails writes the whole record to the error
    /// log instead: for events of something that already happened (an
    /// action that ran, a request already refused), which must not be lost
    /// silently nor turned into a failure of their own.
    pub async fn append_or_log(&self, record: AuditRecord) {
        if let Err(e) = self.append(record.clone()).await {
            tracing::error!(error = %e, action = %record.action, target = %record.target,
                principal = %record.principal_sub, outcome = record.outcome.as_str(),
                request_id = %record.request_id, "audit append failed; the chain lacks this event");
        }
    }

    async fn move_anchor(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let key = Self::anchor_key();
        let value = Bytes::from(
            serde_json::to_vec(&Anchor {
                seq: event.seq,
                hash: event.hash.clone(),
            })
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
        );
        loop {
            match self.anchor().await?.get(&key).await? {
                None => match self.anchor().await?.create(&key, value.clone()).await {
                    Ok(_) => return Ok(()),
                    Err(StoreError::AlreadyExists) => continue,
                    Err(e) => return Err(e),
                },
                Some(cur) => {
                    let a: Anchor = serde_json::from_slice(&cur.value)
                        .map_err(|e| StoreError::Decode(e.to_string()))?;
                    // A later event already anchored the head: nothing to do.
                    if a.seq >= event.seq {
                        return Ok(());
                    }
                    match self
                        .anchor()
                        .await?
                        .update(&key, value.clone(), cur.revision)
                        .await
                    {
                        Ok(_) => return Ok(()),
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Walks the whole chain and checks it against the anchor.
    pub async fn verify(&self) -> Result<Verdict, StoreError> {
        let mut prev = GENESIS.to_owned();
        let mut expected_seq = 1u64;
        let mut from = 1u64;
        loop {
            let page = self.log().await?.read(from, 1000).await?;
            if page.is_empty() {
                break;
            }
            for r in &page {
                from = r.seq + 1;
                let e: AuditEvent = match serde_json::from_slice(&r.data) {
                    Ok(e) => e,
                    Err(err) => {
                        return Ok(Verdict::Broken {
                            seq: expected_seq,
                            problem: format!("unreadable event: {err}"),
                        })
                    }
                };
                if e.seq != expected_seq {
                    return Ok(Verdict::Broken {
                        seq: expected_seq,
                        problem: format!("expected event {expected_seq}, found event {}", e.seq),
                    });
                }
                if e.prev_hash != prev {
                    return Ok(Verdict::Broken {
                        seq: e.seq,
                        problem:
                            "does not link to the previous event (deleted or reordered before it)"
                                .into(),
                    });
                }
                if !self.hash_matches(&e, &r.data)? {
                    return Ok(Verdict::Broken {
                        seq: e.seq,
                        problem: "content does not match its hash (edited)".into(),
                    });
                }
                prev = e.hash;
                expected_seq += 1;
            }
        }
        let last = expected_seq - 1;
        if let Some(a) = self.anchor().await?.get(&Self::anchor_key()).await? {
            let a: Anchor =
                serde_json::from_slice(&a.value).map_err(|e| StoreError::Decode(e.to_string()))?;
            if a.seq > last {
                return Ok(Verdict::Truncated {
                    last_seq: last,
                    anchored_seq: a.seq,
                });
            }
            if a.seq == last && a.hash != prev {
                return Ok(Verdict::Broken {
                    seq: last,
                    problem: "the last event differs from the anchored head".into(),
                });
            }
        }
        Ok(Verdict::Intact { events: last })
    }
}
