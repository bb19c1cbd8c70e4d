//! NATS JetStream backend: each bucket is a JetStream KV bucket, each log a
//! stream with one subject. Buckets and streams are created on first use
//! with the configured replicas and history. The client reconnects by
//! itself; watches and tails run on ordered consumers, which resume from the
//! last delivered sequence after a reconnect (no gap, no duplicate).

use super::{
    check_bucket, check_name, BucketOptions, EventLog, Key, KeyPrefix, Kv, KvEntry, KvEvent,
    LogRecord, Revision, StoreError, Substrate, TailStream, WatchStream,
};
use async_nats::jetstream::{self, consumer, kv, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How to reach and authenticate to NATS. Secrets are redacted in `Debug`.
#[derive(Clone, Default)]
pub struct NatsOptions {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub creds_file: Option<PathBuf>,
    pub tls_required: bool,
    pub ca_file: Option<PathBuf>,
    /// Client name shown in the server's connection list.
    pub name: String,
}

impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("creds_file", &self.creds_file)
            .field("tls_required", &self.tls_required)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[derive(Clone)]
pub struct NatsStore {
    client: async_nats::Client,
    js: jetstream::Context,
}

impl NatsStore {
    /// Connects. The first connection is retried in the background, so a
    /// control plane can start while NATS is down (readiness says so).
    pub async fn connect(opts: &NatsOptions) -> Result<Self, StoreError> {
        let mut o = async_nats::ConnectOptions::new()
            .name(if opts.name.is_empty() {
                "control"
            } else {
                &opts.name
            })
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None::<usize>);
        if let (Some(u), Some(p)) = (&opts.user, &opts.password) {
            o = o.user_and_password(u.clone(), p.clone());
        }
        if let Some(t) = &opts.token {
            o = o.token(t.clone());
        }
        if let Some(c) = &opts.creds_file {
            o = o
                .credentials_file(c)
                .await
                .map_err(|e| StoreError::Invalid(format!("creds file: {}", e.kind())))?;
        }
        if opts.tls_required {
            o = o.require_tls(true);
        }
        if let Some(ca) = &opts.ca_file {
            o = o.add_root_certificates(ca.clone());
        }
        let client = o.connect(opts.url.as_str()).await.map_err(unavailable)?;
        let js = jetstream::new(client.clone());
        Ok(Self { client, js })
    }
}

#[async_trait]
impl Substrate for NatsStore {
    fn backend(&self) -> &'static str {
        "nats"
    }

    async fn kv(&self, bucket: &str, opts: BucketOptions) -> Result<Arc<dyn Kv>, StoreError> {
        check_bucket(bucket, &opts)?;
        let store = match self.js.get_key_value(bucket).await {
            Ok(s) => s,
            Err(_) => self
                .js
                .create_key_value(kv::Config {
                    bucket: bucket.to_owned(),
                    history: i64::from(opts.history),
                    num_replicas: opts.replicas.max(1),
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?,
        };
        Ok(Arc::new(NatsKv {
            bucket: bucket.to_owned(),
            store,
        }))
    }

    async fn log(&self, name: &str) -> Result<Arc<dyn EventLog>, StoreError> {
        check_name("log", name)?;
        let subject = format!("control.log.{name}");
        let stream = self
            .js
            .get_or_create_stream(stream::Config {
                name: format!("LOG_{name}"),
                subjects: vec![subject.clone()],
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        Ok(Arc::new(NatsLog {
            name: name.to_owned(),
            subject,
            js: self.js.clone(),
            stream,
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        tokio::time::timeout(Duration::from_secs(2), self.client.flush())
            .await
            .map_err(|_| StoreError::Unavailable("NATS did not answer within 2 s".into()))?
            .map_err(unavailable)?;
        self.js
            .query_account()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

pub struct NatsKv {
    bucket: String,
    store: kv::Store,
}

fn subject_filter(prefix: &KeyPrefix) -> String {
    match prefix {
        KeyPrefix::All => ">".into(),
        KeyPrefix::Under(p) => format!("{p}>"),
    }
}

fn to_event(e: kv::Entry) -> KvEvent {
    match e.operation {
        kv::Operation::Put => KvEvent::Put(KvEntry {
            key: e.key,
            value: e.value,
            revision: e.revision,
        }),
        kv::Operation::Delete | kv::Operation::Purge => KvEvent::Delete {
            key: e.key,
            revision: e.revision,
        },
    }
}

impl NatsKv {
    async fn latest_revision(&self) -> Result<Revision, StoreError> {
        Ok(self
            .store
            .stream
            .get_info()
            .await
            .map_err(unavailable)?
            .state
            .last_sequence)
    }

    /// The error for a lost compare-and-swap, with the current revision.
    async fn lost_cas(&self, key: &Key, absent_is_not_found: bool) -> StoreError {
        match self.get(key).await {
            Ok(Some(e)) => StoreError::Conflict {
                current: Some(e.revision),
            },
            Ok(None) if absent_is_not_found => StoreError::NotFound,
            Ok(None) => StoreError::Conflict { current: None },
            Err(e) => e,
        }
    }
}

#[async_trait]
impl Kv for NatsKv {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn get(&self, key: &Key) -> Result<Option<KvEntry>, StoreError> {
        let e = self.store.entry(key.as_str()).await.map_err(unavailable)?;
        Ok(e.and_then(|e| match e.operation {
            kv::Operation::Put => Some(KvEntry {
                key: e.key,
                value: e.value,
                revision: e.revision,
            }),
            _ => None,
        }))
    }

    async fn create(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError> {
        self.store
            .create(key.as_str(), value)
            .await
            .map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => StoreError::AlreadyExists,
                kv::CreateErrorKind::InvalidKey => StoreError::InvalidKey(key.to_string()),
                _ => unavailable(e),
            })
    }

    async fn update(
        &self,
        key: &Key,
        value: Bytes,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        // NATS reads an expected revision of 0 as "must not exist", which is
        // `create`; no key ever has revision 0, so this CAS cannot succeed.
        if expected == 0 {
            return Err(self.lost_cas(key, true).await);
        }
        match self.store.update(key.as_str(), value, expected).await {
            Ok(r) => Ok(r),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                Err(self.lost_cas(key, true).await)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put(&self, key: &Key, value: Bytes) -> Result<Revision, StoreError> {
        self.store
            .put(key.as_str(), value)
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, key: &Key, expected: Option<Revision>) -> Result<(), StoreError> {
        let latest = self.store.entry(key.as_str()).await.map_err(unavailable)?;
        let (latest_rev, present_rev) = match &latest {
            None => (None, None),
            Some(e) if e.operation == kv::Operation::Put => (Some(e.revision), Some(e.revision)),
            Some(e) => (Some(e.revision), None),
        };
        if let Some(e) = expected {
            if latest_rev != Some(e) {
                return Err(StoreError::Conflict {
                    current: present_rev,
                });
            }
        }
        // Absent already: nothing to write (the embedded backend agrees).
        let Some(r) = present_rev else {
            return Ok(());
        };
        match self
            .store
            .delete_expect_revision(key.as_str(), Some(r))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                Err(self.lost_cas(key, false).await)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn keys(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = self
            .store
            .keys()
            .await
            .map_err(unavailable)?
            .try_filter(|k| futures::future::ready(prefix.matches(k)))
            .try_collect()
            .await
            .map_err(unavailable)?;
        // The server's listing follows the stream: a key written while it
        // runs is delivered again. The contract is a set.
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn history(&self, key: &Key) -> Result<Vec<KvEvent>, StoreError> {
        if self
            .store
            .entry(key.as_str())
            .await
            .map_err(unavailable)?
            .is_none()
        {
            // Never written: the server would wait for a first message.
            return Ok(Vec::new());
        }
        self.store
            .history(key.as_str())
            .await
            .map_err(unavailable)?
            .map_ok(to_event)
            .try_collect()
            .await
            .map_err(unavailable)
    }

    async fn watch(
        &self,
        prefix: &KeyPrefix,
        after: Option<Revision>,
    ) -> Result<WatchStream, StoreError> {
        let filter = subject_filter(prefix);
        // Delete markers at or below this revision belong to keys that are
        // absent now: not part of the initial state.
        let snapshot = match after {
            None => Some(self.latest_revision().await?),
            Some(_) => None,
        };
        let first = match after {
            None => self.store.watch_with_history(filter.clone()).await,
            Some(r) => self.store.watch_from_revision(filter.clone(), r + 1).await,
        }
        .map_err(unavailable)?;
        let store = self.store.clone();
        let (tx, rx) = mpsc::channel::<Result<KvEvent, StoreError>>(1024);
        tokio::spawn(async move {
            let mut last = after.unwrap_or(0);
            let mut inner = first;
            let mut backoff = Duration::from_millis(100);
            loop {
                match inner.next().await {
                    Some(Ok(entry)) => {
                        backoff = Duration::from_millis(100);
                        let e = to_event(entry);
                        if e.revision() <= last {
                            continue; // already delivered before a resume
                        }
                        last = e.revision();
                        let initial_delete = matches!(e, KvEvent::Delete { .. })
                            && snapshot.is_some_and(|s| e.revision() <= s);
                        if !initial_delete && tx.send(Ok(e)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // A transient failure (server restart, missed heartbeats):
                    // resume from the last delivered revision, so the caller
                    // sees neither a gap nor a duplicate.
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, last, "kv watch interrupted; resuming")
                    }
                    None => tracing::warn!(last, "kv watch ended; resuming"),
                }
                loop {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    if tx.is_closed() {
                        return;
                    }
                    match store.watch_from_revision(filter.clone(), last + 1).await {
                        Ok(w) => {
                            inner = w;
                            break;
                        }
                        Err(err) => {
                            tracing::debug!(error = %err, "kv watch resume failed; retrying")
                        }
                    }
                }
            }
        });
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|x| (x, rx))
        })))
    }
}

pub struct NatsLog {
    name: String,
    subject: String,
    js: jetstream::Context,
    stream: stream::Stream,
}

impl NatsLog {
    async fn ordered_from(&self, from: u64) -> Result<consumer::pull::Ordered, StoreError> {
        ordered(&self.stream, &self.subject, from).await
    }
}

async fn ordered(
    stream: &stream::Stream,
    subject: &str,
    from: u64,
) -> Result<consumer::pull::Ordered, StoreError> {
    let c = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from.max(1),
            },
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
    c.messages().await.map_err(unavailable)
}

fn record(m: jetstream::Message) -> Result<LogRecord, StoreError> {
    let seq = m.info().map_err(unavailable)?.stream_sequence;
    Ok(LogRecord {
        seq,
        data: m.message.payload.clone(),
    })
}

#[async_trait]
impl EventLog for NatsLog {
    fn name(&self) -> &str {
        &self.name
    }

    async fn append(&self, data: Bytes, expected_last: Option<u64>) -> Result<u64, StoreError> {
        let mut p = jetstream::message::PublishMessage::build().payload(data);
        if let Some(e) = expected_last {
            p = p.expected_last_sequence(e);
        }
        let ack = self
            .js
            .send_publish(self.subject.clone(), p)
            .await
            .map_err(unavailable)?;
        match ack.await {
            Ok(a) => Ok(a.sequence),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                Err(StoreError::Conflict {
                    current: Some(self.last_seq().await?),
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        let last = self.last_seq().await?;
        let from = from.max(1);
        if limit == 0 || from > last {
            return Ok(Vec::new());
        }
        let want = ((last - from + 1) as usize).min(limit);
        let mut msgs = self.ordered_from(from).await?;
        let mut out = Vec::with_capacity(want);
        while out.len() < want {
            match tokio::time::timeout(Duration::from_secs(5), msgs.next()).await {
                Ok(Some(m)) => out.push(record(m.map_err(unavailable)?)?),
                Ok(None) => break,
                Err(_) => return Err(StoreError::Unavailable("log read timed out".into())),
            }
        }
        Ok(out)
    }

    async fn tail(&self, from: u64) -> Result<TailStream, StoreError> {
        let first = self.ordered_from(from).await?;
        let (stream, subject) = (self.stream.clone(), self.subject.clone());
        let (tx, rx) = mpsc::channel::<Result<LogRecord, StoreError>>(1024);
        tokio::spawn(async move {
            let mut next = from.max(1);
            let mut inner = first;
            let mut backoff = Duration::from_millis(100);
            loop {
                match inner.next().await {
                    Some(Ok(m)) => match record(m) {
                        Ok(r) if r.seq < next => continue,
                        Ok(r) => {
                            backoff = Duration::from_millis(100);
                            next = r.seq + 1;
                            if tx.send(Ok(r)).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "log tail got an unreadable message; resuming")
                        }
                    },
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, next, "log tail interrupted; resuming")
                    }
                    None => tracing::warn!(next, "log tail ended; resuming"),
                }
                loop {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    if tx.is_closed() {
                        return;
                    }
                    match ordered(&stream, &subject, next).await {
                        Ok(o) => {
                            inner = o;
                            break;
                        }
                        Err(err) => {
                            tracing::debug!(error = %err, "log tail resume failed; retrying")
                        }
                    }
                }
            }
        });
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|x| (x, rx))
        })))
    }

    async fn last_seq(&self) -> Result<u64, StoreError> {
        Ok(self
            .stream
            .get_info()
            .await
            .map_err(unavailable)?
            .state
            .last_sequence)
    }
}
