//! Embedded backend: one redb file in the data directory. Every write is
//! one ACID transaction committed with fsync before it is acknowledged, so
//! a `kill -9` at any point loses no acknowledged write. Watches and tails
//! are served in-process from a broadcast of committed changes, backed by
//! the on-disk change log when a subscriber falls behind.

use super::{
    check_bucket, check_name, BucketOptions, EventLog, Key, KeyPrefix, Kv, KvEntry, KvEvent,
    LogRecord, Revision, StoreError, Substrate, TailStream, WatchStream,
};
use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

const OP_PUT: u8 = 0;
const OP_DELETE: u8 = 1;

/// (bucket, key) → (revision, op, value): the latest state of each key; a
/// deleted key keeps its delete marker so CAS sees its latest revision.
const LATEST: TableDefinition<(&str, &str), (u64, u8, &[u8])> = TableDefinition::new("kv_latest");
/// (bucket, revision) → (key, op, value): the kept change log.
const CHANGES: TableDefinition<(&str, u64), (&str, u8, &[u8])> = TableDefinition::new("kv_changes");
/// (bucket, key, revision): index of each key's kept revisions, for pruning.
const KEY_REVS: TableDefinition<(&str, &str, u64), ()> = TableDefinition::new("kv_key_revs");
/// bucket → last revision.
const BUCKET_REV: TableDefinition<&str, u64> = TableDefinition::new("kv_bucket_rev");
/// bucket → history depth it was created with.
const BUCKET_DEPTH: TableDefinition<&str, u8> = TableDefinition::new("kv_bucket_depth");
/// (log, seq) → record.
const LOG: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("log_records");
/// log → last sequence.
const LOG_SEQ: TableDefinition<&str, u64> = TableDefinition::new("log_seq");

const CHANNEL: usize = 1024;

mod upgrade;
pub use upgrade::BACKUP as V2_BACKUP_FILE;

/// A stored change as the event watchers and `history` see.
fn change(key: &str, op: u8, value: Bytes, revision: Revision) -> KvEvent {
    if op == OP_DELETE {
        KvEvent::Delete {
            key: key.to_owned(),
            revision,
        }
    } else {
        KvEvent::Put(KvEntry {
            key: key.to_owned(),
            value,
            revision,
        })
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

struct Shared {
    db: Database,
    /// Serialises writers so committed changes are broadcast in revision order.
    write: Mutex<()>,
    kv_tx: Mutex<HashMap<String, broadcast::Sender<KvEvent>>>,
    log_tx: Mutex<HashMap<String, broadcast::Sender<LogRecord>>>,
}

impl Shared {
    fn kv_sender(&self, bucket: &str) -> broadcast::Sender<KvEvent> {
        let mut m = self.kv_tx.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(bucket.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL).0)
            .clone()
    }

    fn log_sender(&self, log: &str) -> broadcast::Sender<LogRecord> {
        let mut m = self.log_tx.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(log.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL).0)
            .clone()
    }
}

#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(unavailable)?
}

impl EmbeddedStore {
    /// Opens (or creates) the store file `control.redb` in `dir`. A file
    /// written by redb 2.x (releases before the redb 4 upgrade) is upgraded
    /// on open, the old one kept as [`V2_BACKUP_FILE`] beside it.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("control.redb");
        let dir = dir.to_path_buf();
        let db = blocking(move || {
            std::fs::create_dir_all(&dir).map_err(unavailable)?;
            let db = match Database::create(&path) {
                // Written by a release on redb 2: upgraded once, here.
                Err(DatabaseError::UpgradeRequired(_)) => {
                    upgrade::from_v2(&dir, &path)?;
                    Database::create(&path).map_err(unavailable)?
                }
                other => other.map_err(unavailable)?,
            };
            let w = db.begin_write().map_err(unavailable)?;
            w.open_table(LATEST).map_err(unavailable)?;
            w.open_table(CHANGES).map_err(unavailable)?;
            w.open_table(KEY_REVS).map_err(unavailable)?;
            w.open_table(BUCKET_REV).map_err(unavailable)?;
            w.open_table(BUCKET_DEPTH).map_err(unavailable)?;
            w.open_table(LOG).map_err(unavailable)?;
            w.open_table(LOG_SEQ).map_err(unavailable)?;
            w.commit().map_err(unavailable)?;
            Ok(db)
        })
        .await?;
        Ok(Self {
            shared: Arc::new(Shared {
                db,
                write: Mutex::new(()),
                kv_tx: Mutex::new(HashMap::new()),
                log_tx: Mutex::new(HashMap::new()),
            }),
        })
    }
}

#[async_trait]
impl Substrate for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn kv(&self, bucket: &str, opts: BucketOptions) -> Result<Arc<dyn Kv>, StoreError> {
        check_bucket(bucket, &opts)?;
        let shared = self.shared.clone();
        let name = bucket.to_owned();
        let depth = blocking(move || {
            let _w = shared.write.lock().unwrap_or_else(|p| p.into_inner());
            let w = shared.db.begin_write().map_err(unavailable)?;
            let depth = {
                let mut t = w.open_table(BUCKET_DEPTH).map_err(unavailable)?;
                let existing = t
                    .get(name.as_str())
                    .map_err(unavailable)?
                    .map(|g| g.value());
                match existing {
                    Some(d) => d,
                    None => {
                        t.insert(name.as_str(), opts.history).map_err(unavailable)?;
                        opts.history
                    }
                }
            };
            w.commit().map_err(unavailable)?;
            Ok(depth)
        })
        .await?;
        Ok(Arc::new(EmbeddedKv {
            shared: self.shared.clone(),
            bucket: bucket.to_owned(),
            depth,
        }))
    }

    async fn log(&self, name: &str) -> Result<Arc<dyn EventLog>, StoreError> {
        check_name("log", name)?;
        Ok(Arc::new(EmbeddedLog {
            shared: self.shared.clone(),
            name: name.to_owned(),
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let shared = self.shared.clone();
        blocking(move || {
            let r = shared.db.begin_read().map_err(unavailable)?;
            r.open_table(BUCKET_REV).map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}

pub struct EmbeddedKv {
    shared: Arc<Shared>,
    bucket: String,
    depth: u8,
}

enum Write {
    Create(Bytes),
    Update(Bytes, Revision),
    Put(Bytes),
    Delete(Option<Revision>),
}

impl EmbeddedKv {
    /// One write transaction: checks the precondition, writes the latest
    /// state, the change log and the per-key index, prunes history beyond
    /// the depth, commits, then broadcasts the change.
    async fn write(&self, key: &Key, op: Write) -> Result<Option<Revision>, StoreError> {
        let shared = self.shared.clone();
        let bucket = self.bucket.clone();
        let key = key.as_str().to_owned();
        let depth = self.depth as usize;
        blocking(move || {
            let _guard = shared.write.lock().unwrap_or_else(|p| p.into_inner());
            let w = shared.db.begin_write().map_err(unavailable)?;
            let event;
            {
                let mut latest = w.open_table(LATEST).map_err(unavailable)?;
                let current = latest
                    .get((bucket.as_str(), key.as_str()))
                    .map_err(unavailable)?
                    .map(|g| {
                        let (rev, op, _) = g.value();
                        (rev, op == OP_PUT)
                    });
                let present_rev = current.and_then(|(r, present)| present.then_some(r));
                let (value, is_delete) = match op {
                    Write::Create(v) => {
                        if present_rev.is_some() {
                            return Err(StoreError::AlreadyExists);
                        }
                        (v, false)
                    }
                    Write::Update(v, expected) => {
                        if current.map(|(r, _)| r) != Some(expected) {
                            return Err(match present_rev {
                                None => StoreError::NotFound,
                                Some(r) => StoreError::Conflict { current: Some(r) },
                            });
                        }
                        (v, false)
                    }
                    Write::Put(v) => (v, false),
                    Write::Delete(expected) => {
                        if let Some(e) = expected {
                            if current.map(|(r, _)| r) != Some(e) {
                                return Err(StoreError::Conflict {
                                    current: present_rev,
                                });
                            }
                        }
                        if present_rev.is_none() {
                            return Ok(None);
                        }
                        (Bytes::new(), true)
                    }
                };
                let mut revs = w.open_table(BUCKET_REV).map_err(unavailable)?;
                let rev = revs
                    .get(bucket.as_str())
                    .map_err(unavailable)?
                    .map(|g| g.value())
                    .unwrap_or(0)
                    + 1;
                revs.insert(bucket.as_str(), rev).map_err(unavailable)?;
                let opcode = if is_delete { OP_DELETE } else { OP_PUT };
                latest
                    .insert(
                        (bucket.as_str(), key.as_str()),
                        (rev, opcode, value.as_ref()),
                    )
                    .map_err(unavailable)?;
                let mut changes = w.open_table(CHANGES).map_err(unavailable)?;
                changes
                    .insert(
                        (bucket.as_str(), rev),
                        (key.as_str(), opcode, value.as_ref()),
                    )
                    .map_err(unavailable)?;
                let mut key_revs = w.open_table(KEY_REVS).map_err(unavailable)?;
                key_revs
                    .insert((bucket.as_str(), key.as_str(), rev), ())
                    .map_err(unavailable)?;
                let kept: Vec<u64> = key_revs
                    .range(
                        (bucket.as_str(), key.as_str(), 0)
                            ..=(bucket.as_str(), key.as_str(), u64::MAX),
                    )
                    .map_err(unavailable)?
                    .map(|r| r.map(|(k, _)| k.value().2))
                    .collect::<Result<_, _>>()
                    .map_err(unavailable)?;
                if kept.len() > depth {
                    for old in &kept[..kept.len() - depth] {
                        key_revs
                            .remove((bucket.as_str(), key.as_str(), *old))
                            .map_err(unavailable)?;
                        changes
                            .remove((bucket.as_str(), *old))
                            .map_err(unavailable)?;
                    }
                }
                event = change(&key, opcode, value, rev);
            }
            w.commit().map_err(unavailable)?;
            let rev = event.revision();
            // No receiver is fine: nobody watches this bucket right now.
            let _ = shared.kv_sender(&bucket).send(event);
            Ok(Some(rev))
        })
        .await
    }

    fn read_changes(
        shared: &Shared,
        bucket: &str,
        prefix: &KeyPrefix,
        after: Revision,
    ) -> Result<Vec<KvEvent>, StoreError> {
        let r = shared.db.begin_read().map_err(unavailable)?;
        let changes = r.open_table(CHANGES).map_err(unavailable)?;
        let mut out = Vec::new();
        for item in changes
            .range((bucket, after.saturating_add(1))..=(bucket, u64::MAX))
            .map_err(unavailable)?
        {
            let (k, v) = item.map_err(unavailable)?;
            let rev = k.value().1;
            let (key, op, value) = v.value();
            if !prefix.matches(key) {
                continue;
            }
            out.push(change(key, op, Bytes::copy_from_slice(value), rev));
        }
        Ok(out)
    }

    /// Present keys under the prefix with their values, and the bucket's
    /// revision at the time of the read.
    fn snapshot(
        shared: &Shared,
        bucket: &str,
        prefix: &KeyPrefix,
    ) -> Result<(Vec<KvEntry>, Revision), StoreError> {
        let r = shared.db.begin_read().map_err(unavailable)?;
        let revs = r.open_table(BUCKET_REV).map_err(unavailable)?;
        let at = revs
            .get(bucket)
            .map_err(unavailable)?
            .map(|g| g.value())
            .unwrap_or(0);
        let latest = r.open_table(LATEST).map_err(unavailable)?;
        let start = match prefix {
            KeyPrefix::All => "",
            KeyPrefix::Under(p) => p.as_str(),
        };
        let mut out = Vec::new();
        for item in latest.range((bucket, start)..).map_err(unavailable)? {
            let (k, v) = item.map_err(unavailable)?;
            let (b, key) = k.value();
            if b != bucket || !prefix.matches(key) {
                break;
            }
            let (rev, op, value) = v.value();
            if op == OP_PUT {
                out.push(KvEntry {
                    key: key.to_owned(),
                    value: Bytes::copy_from_slice(value),
                    revision: rev,
                });
            }
        }
        Ok((out, at))
    }
}

#[async_trait]
impl Kv for EmbeddedKv {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn get(&self, key: &Key) -> Result<Option<KvEntry>, StoreError> {
        let shared = self.shared.clone();
        let bucket = self.bucket.clone();
        let key = key.as_str().to_owned();
        blocking(move || {
            let r = shared.db.begin_read().map_err(unavailable)?;
            let t = r.open_table(LATEST).map_err(unavailable)?;
            let got = t
                .get((bucket.as_str(), key.as_str()))
                .map_err(unavailable)?;
            Ok(got.and_then(|g| {
                let (rev, op, value) = g.value();
                (op == OP_PUT).then(|| KvEntry {
                    key: key.clone(),
                    value: Bytes::copy_from_slice(value),
                    revision: rev,
                })
            }))
        })
        .await
    }

    async fn create(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError> {
        self.write(key, Write::Create(value))
            .await
            .map(|r| r.unwrap_or_default())
    }

    async fn update(
        &self,
        key: &Key,
        value: Bytes,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        self.write(key, Write::Update(value, expected))
            .await
            .map(|r| r.unwrap_or_default())
    }

    async fn put(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError> {
        self.write(key, Write::Put(value))
            .await
            .map(|r| r.unwrap_or_default())
    }

    async fn delete(&self, key: &Key, expected: Option<Revision>) -> Result<(), StoreError> {
        self.write(key, Write::Delete(expected)).await.map(|_| ())
    }

    async fn keys(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StoreError> {
        let shared = self.shared.clone();
        let bucket = self.bucket.clone();
        let prefix = prefix.clone();
        blocking(move || {
            Ok(Self::snapshot(&shared, &bucket, &prefix)?
                .0
                .into_iter()
                .map(|e| e.key)
                .collect())
        })
        .await
    }

    async fn history(&self, key: &Key) -> Result<Vec<KvEvent>, StoreError> {
        let shared = self.shared.clone();
        let bucket = self.bucket.clone();
        let key = key.as_str().to_owned();
        blocking(move || {
            let r = shared.db.begin_read().map_err(unavailable)?;
            let key_revs = r.open_table(KEY_REVS).map_err(unavailable)?;
            let changes = r.open_table(CHANGES).map_err(unavailable)?;
            let mut out = Vec::new();
            for item in key_revs
                .range(
                    (bucket.as_str(), key.as_str(), 0)..=(bucket.as_str(), key.as_str(), u64::MAX),
                )
                .map_err(unavailable)?
            {
                let rev = item.map_err(unavailable)?.0.value().2;
                if let Some(g) = changes.get((bucket.as_str(), rev)).map_err(unavailable)? {
                    let (_, op, value) = g.value();
                    out.push(change(&key, op, Bytes::copy_from_slice(value), rev));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn watch(
        &self,
        prefix: &KeyPrefix,
        after: Option<Revision>,
    ) -> Result<WatchStream, StoreError> {
        // Subscribe before reading, so nothing committed in between is missed.
        let mut live = self.shared.kv_sender(&self.bucket).subscribe();
        let shared = self.shared.clone();
        let bucket = self.bucket.clone();
        let p = prefix.clone();
        let (initial, mut last) = blocking(move || match after {
            None => {
                let (mut entries, at) = Self::snapshot(&shared, &bucket, &p)?;
                entries.sort_by_key(|e| e.revision);
                Ok((
                    entries.into_iter().map(KvEvent::Put).collect::<Vec<_>>(),
                    at,
                ))
            }
            Some(r) => {
                let events = Self::read_changes(&shared, &bucket, &p, r)?;
                let last = events.last().map(|e| e.revision()).unwrap_or(r);
                Ok((events, last))
            }
        })
        .await?;
        if let Some(r) = after {
            last = last.max(r);
        }
        let (tx, rx) = mpsc::channel::<Result<KvEvent, StoreError>>(CHANNEL);
        let shared = self.shared.clone();
        let bucket = self.bucket.clone();
        let prefix = prefix.clone();
        tokio::spawn(async move {
            for e in initial {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            loop {
                // Ends with the subscriber, not at the next change: the task
                // holds the database open.
                let next_change = tokio::select! {
                    r = live.recv() => r,
                    _ = tx.closed() => return,
                };
                match next_change {
                    Ok(e) => {
                        if e.revision() <= last {
                            continue;
                        }
                        last = e.revision();
                        if prefix.matches(e.key()) && tx.send(Ok(e)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the broadcast: catch up from the log.
                        let (s, b, p, from) =
                            (shared.clone(), bucket.clone(), prefix.clone(), last);
                        match blocking(move || Self::read_changes(&s, &b, &p, from)).await {
                            Ok(events) => {
                                for e in events {
                                    last = e.revision();
                                    if tx.send(Ok(e)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(err) => {
                                let _ = tx.send(Err(err)).await;
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|x| (x, rx))
        })))
    }
}

pub struct EmbeddedLog {
    shared: Arc<Shared>,
    name: String,
}

impl EmbeddedLog {
    fn read_sync(
        shared: &Shared,
        name: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let r = shared.db.begin_read().map_err(unavailable)?;
        let t = r.open_table(LOG).map_err(unavailable)?;
        let mut out = Vec::new();
        for item in t
            .range((name, from.max(1))..=(name, u64::MAX))
            .map_err(unavailable)?
            .take(limit)
        {
            let (k, v) = item.map_err(unavailable)?;
            out.push(LogRecord {
                seq: k.value().1,
                data: Bytes::copy_from_slice(v.value()),
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    fn name(&self) -> &str {
        &self.name
    }

    async fn append(&self, data: Bytes, expected_last: Option<u64>) -> Result<u64, StoreError> {
        let shared = self.shared.clone();
        let name = self.name.clone();
        blocking(move || {
            let _guard = shared.write.lock().unwrap_or_else(|p| p.into_inner());
            let w = shared.db.begin_write().map_err(unavailable)?;
            let seq = {
                let mut seqs = w.open_table(LOG_SEQ).map_err(unavailable)?;
                let last = seqs
                    .get(name.as_str())
                    .map_err(unavailable)?
                    .map(|g| g.value())
                    .unwrap_or(0);
                if let Some(e) = expected_last {
                    if e != last {
                        return Err(StoreError::Conflict {
                            current: Some(last),
                        });
                    }
                }
                let seq = last + 1;
                seqs.insert(name.as_str(), seq).map_err(unavailable)?;
                let mut t = w.open_table(LOG).map_err(unavailable)?;
                t.insert((name.as_str(), seq), data.as_ref())
                    .map_err(unavailable)?;
                seq
            };
            w.commit().map_err(unavailable)?;
            let _ = shared.log_sender(&name).send(LogRecord { seq, data });
            Ok(seq)
        })
        .await
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        let shared = self.shared.clone();
        let name = self.name.clone();
        blocking(move || Self::read_sync(&shared, &name, from, limit)).await
    }

    async fn tail(&self, from: u64) -> Result<TailStream, StoreError> {
        let mut live = self.shared.log_sender(&self.name).subscribe();
        let (tx, rx) = mpsc::channel::<Result<LogRecord, StoreError>>(CHANNEL);
        let shared = self.shared.clone();
        let name = self.name.clone();
        tokio::spawn(async move {
            // `next` is the next sequence owed to the subscriber.
            let mut next = from.max(1);
            loop {
                let (s, n) = (shared.clone(), name.clone());
                let batch = match blocking(move || Self::read_sync(&s, &n, next, 1024)).await {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                if batch.is_empty() {
                    break;
                }
                for r in batch {
                    next = r.seq + 1;
                    if tx.send(Ok(r)).await.is_err() {
                        return;
                    }
                }
            }
            loop {
                // Ends with the subscriber, not at the next change: the task
                // holds the database open.
                let next_change = tokio::select! {
                    r = live.recv() => r,
                    _ = tx.closed() => return,
                };
                match next_change {
                    Ok(r) if r.seq < next => {}
                    Ok(r) if r.seq == next => {
                        next += 1;
                        if tx.send(Ok(r)).await.is_err() {
                            return;
                        }
                    }
                    // A gap (lag, or appended between catch-up and subscribe
                    // ordering): re-read from the log.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        let (s, n, from) = (shared.clone(), name.clone(), next);
                        match blocking(move || Self::read_sync(&s, &n, from, usize::MAX)).await {
                            Ok(batch) => {
                                for r in batch {
                                    next = r.seq + 1;
                                    if tx.send(Ok(r)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|x| (x, rx))
        })))
    }

    async fn last_seq(&self) -> Result<u64, StoreError> {
        let shared = self.shared.clone();
        let name = self.name.clone();
        blocking(move || {
            let r = shared.db.begin_read().map_err(unavailable)?;
            let t = r.open_table(LOG_SEQ).map_err(unavailable)?;
            Ok(t.get(name.as_str())
                .map_err(unavailable)?
                .map(|g| g.value())
                .unwrap_or(0))
        })
        .await
    }
}
