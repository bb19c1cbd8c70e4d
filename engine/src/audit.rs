//! The tamper-evident audit log: every event carries a keyed hash (HMAC-
//! SHA-256) over its content and the previous event's hash, and the chain
//! head is anchored separately (a KV key updated by CAS). The verifier finds
//! an edited, deleted, reordered or truncated event and says where.
//!
//! Groundwork for the identity issue: privileged routes start appending
//! here when they get their rights checks.

use crate::store::{EventLog, Key, Kv, StoreError};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    Denied,
}

/// What happened, by whom, why, with which result and ids. No secrets:
/// before/after are digests, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time_ms: u64,
    pub principal_sub: String,
    pub principal_session: String,
    pub action: String,
    pub target: String,
    pub tenant: Option<String>,
    pub reason: Option<String>,
    pub outcome: Outcome,
    pub request_id: String,
    pub correlation_id: String,
    pub trace_id: String,
    pub before_digest: Option<String>,
    pub after_digest: Option<String>,
}

/// A record as stored: its place in the chain and the chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: u64,
    #[serde(flatten)]
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verdict {
    Intact {
        events: u64,
    },
    /// The event at `seq` does not match its hash (edited), or its link to
    /// the previous event is broken (an event before it was deleted or the
    /// order changed).
    Broken {
        seq: u64,
        problem: String,
    },
    /// The log ends before the anchored head: events were cut off the end.
    Truncated {
        last_seq: u64,
        anchored_seq: u64,
    },
}

const GENESIS: &str = "genesis";
const ANCHOR_KEY: &str = "audit_head";

pub struct AuditLog {
    log: Arc<dyn EventLog>,
    anchor: Arc<dyn Kv>,
    key: Vec<u8>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl AuditLog {
    /// `key` is the chain's HMAC key (a secret: from config / `_FILE`).
    pub fn new(log: Arc<dyn EventLog>, anchor: Arc<dyn Kv>, key: &[u8]) -> Self {
        Self {
            log,
            anchor,
            key: key.to_vec(),
        }
    }

    fn hash(&self, seq: u64, record: &AuditRecord, prev: &str) -> Result<String, StoreError> {
        let body = serde_json::to_vec(record).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        mac.update(&seq.to_be_bytes());
        mac.update(prev.as_bytes());
        mac.update(&body);
        Ok(hex(&mac.finalize().into_bytes()))
    }

    fn anchor_key() -> Key {
        Key::parse(ANCHOR_KEY).expect("a valid constant key")
    }

    /// Appends one record at the end of the chain and moves the anchor. Two
    /// writers never fork the chain: the append is conditional on the last
    /// sequence it linked to, and retried on a conflict.
    pub async fn append(&self, record: AuditRecord) -> Result<AuditEvent, StoreError> {
        for _ in 0..16 {
            let last = self.log.last_seq().await?;
            let prev_hash = match last {
                0 => GENESIS.to_owned(),
                n => {
                    let r = self.log.read(n, 1).await?;
                    let e: AuditEvent =
                        serde_json::from_slice(&r.first().ok_or(StoreError::NotFound)?.data)
                            .map_err(|e| StoreError::Decode(e.to_string()))?;
                    e.hash
                }
            };
            let seq = last + 1;
            let hash = self.hash(seq, &record, &prev_hash)?;
            let event = AuditEvent {
                seq,
                record: record.clone(),
                prev_hash,
                hash,
            };
            let bytes =
                serde_json::to_vec(&event).map_err(|e| StoreError::Invalid(e.to_string()))?;
            match self.log.append(Bytes::from(bytes), Some(last)).await {
                Ok(_) => {
                    self.move_anchor(&event).await?;
                    return Ok(event);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "audit append kept conflicting".into(),
        ))
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
            match self.anchor.get(&key).await? {
                None => match self.anchor.create(&key, value.clone()).await {
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
                    match self.anchor.update(&key, value.clone(), cur.revision).await {
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
            let page = self.log.read(from, 1000).await?;
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
                if self.hash(e.seq, &e.record, &e.prev_hash)? != e.hash {
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
        if let Some(a) = self.anchor.get(&Self::anchor_key()).await? {
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
