//! One audited privileged action, the flow every such action runs (IAM
//! mutations, login, logout; jobs later):
//!
//! 1. the request is checked (a reason where one is required);
//! 2. a durable **intent** is written (bucket `audit_intents`, one key per
//!    action, created with `create`) holding the event the action will
//!    leave; if it cannot be written the action is refused and nothing runs;
//! 3. the digest before, the side effect, the digest after;
//! 4. the intent is marked finished with the real outcome (CAS), the chain
//!    event is appended (carrying the intent id), the intent is deleted.
//!
//! Steps 2–4 run in a task of their own, so a client that disconnects or a
//! request timeout does not cut an action in half.
//!
//! If the append fails even after its retries, the intent is kept (with
//! the real outcome) and the caller gets `Pending`: never a success for an
//! action whose event is not durable. Recovery (at start and then
//! periodically, on every replica) finishes each intent older than
//! `stale_after`: it claims the intent by CAS, appends its event unless the
//! chain already has one with that intent id (a crash between the append
//! and the delete), and deletes the intent. An intent that never got past
//! step 2 or 3 is finished with outcome `interrupted`: the action started,
//! whether its effect happened is unknown.
//!
//! Exactly once: only the holder of the intent's latest CAS writes the
//! event, and a holder loses it only by taking longer than `stale_after`,
//! which is chosen longer than any action can take.

use crate::audit::AuditLog;
use crate::identity::{now_ms, Caller};
use crate::store::{BucketOptions, Key, KeyPrefix, Kv, KvEntry, StoreError, Substrate};
use bytes::Bytes;
use futures::future::BoxFuture;
use model::audit::{AuditRecord, Outcome};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub const INTENT_BUCKET: &str = "audit_intents";
/// How long opening the intent bucket or writing an intent may take.
const INTENT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The request itself is wrong (e.g. the reason); nothing was done.
    #[error("{0}")]
    BadRequest(String),
    /// The intent could not be made durable; nothing was done.
    #[error("audit unavailable, nothing done: {0}")]
    Unavailable(String),
    /// The action ran but its event is not in the chain yet: the intent
    /// keeps it and recovery writes it.
    #[error("the action ran; its audit event is pending: {0}")]
    Pending(String),
}

/// How long an intent may stay untouched before recovery takes it over,
/// and how often recovery looks.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub stale_after: Duration,
    pub every: Duration,
}

/// Where an intent is in its life; each step is a CAS on the intent key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    /// Written before the effect; `record` says `interrupted`.
    Started,
    /// The runner reported; `record` holds the real outcome.
    Finished,
    /// A recovery claimed it.
    Recovering,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    /// The event this intent becomes (everything it needs: principal,
    /// action, target, tenant, reason, ids, digests, time).
    record: AuditRecord,
    stage: Stage,
    /// When `stage` was set (ms since the epoch, the writer's clock).
    since_ms: u64,
    /// Which runner or recovery set it (a random id per process), for logs.
    by: String,
}

type Digest = Arc<dyn Fn() -> BoxFuture<'static, Option<String>> + Send + Sync>;

/// What an action is about to do: its audit record (who, what, why, ids)
/// and how to digest what it changes.
pub struct Plan {
    record: AuditRecord,
    digest: Option<Digest>,
}

impl Plan {
    pub fn new(caller: &Caller, action: &str, target: impl Into<String>) -> Self {
        Self {
            record: caller.record(action, target, None, Outcome::Interrupted),
            digest: None,
        }
    }

    /// Requires a reason (the rules of `model::iam::check_reason`).
    pub fn with_reason(mut self, reason: &str) -> Result<Self, ActionError> {
        self.record.reason =
            Some(model::iam::check_reason(reason).map_err(ActionError::BadRequest)?);
        Ok(self)
    }

    /// A digest of the state the action changes, read before and after it
    /// (`None` when it cannot be read; the action does not depend on it).
    pub fn with_digest<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<String>> + Send + 'static,
    {
        self.digest = Some(Arc::new(move || -> BoxFuture<'static, Option<String>> {
            Box::pin(f())
        }));
        self
    }

    /// An event of a job's own step (its end), recorded for the principal
    /// who created it, with the reason they gave (already checked then).
    pub fn on_behalf(mut self, sub: &str, session: &str, reason: String) -> Self {
        self.record.principal_sub = sub.to_owned();
        self.record.principal_session = session.to_owned();
        self.record.reason = Some(reason);
        self
    }

    /// Carried for jobs: the client's idempotency key and the job id.
    pub fn with_job(mut self, idempotency_key: Option<String>, job_id: Option<String>) -> Self {
        self.record.idempotency_key = idempotency_key;
        self.record.job_id = job_id;
        self
    }
}

/// What the side effect reports.
pub struct Done<T> {
    pub outcome: Outcome,
    pub value: T,
    /// Who acted, when only the action tells (a login): (sub, session).
    pub principal: Option<(String, String)>,
}

impl<T> Done<T> {
    pub fn new(outcome: Outcome, value: T) -> Self {
        Self {
            outcome,
            value,
            principal: None,
        }
    }
}

/// Runs audited actions and recovers the intents of interrupted ones.
#[derive(Clone)]
pub struct Actions {
    audit: Arc<AuditLog>,
    intents: Arc<tokio::sync::OnceCell<Arc<dyn Kv>>>,
    store: Arc<dyn Substrate>,
    timing: Timing,
    /// This process, in intents it touches.
    me: Arc<str>,
}

fn random_id(prefix: &str) -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}-{hex}")
}

fn encode(i: &Intent) -> Result<Bytes, StoreError> {
    serde_json::to_vec(i)
        .map(Bytes::from)
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Actions {
    pub fn new(audit: Arc<AuditLog>, store: Arc<dyn Substrate>, timing: Timing) -> Self {
        Self {
            audit,
            intents: Arc::new(tokio::sync::OnceCell::new()),
            store,
            timing,
            me: random_id("p").into(),
        }
    }

    pub fn audit(&self) -> &Arc<AuditLog> {
        &self.audit
    }

    /// Opened on first use, so a store that is down at start (NATS) does not
    /// stop the server from starting.
    async fn kv(&self) -> Result<&Arc<dyn Kv>, StoreError> {
        self.intents
            .get_or_try_init(|| async {
                // History 2: each intent lives through a few CAS steps only.
                let opts = BucketOptions {
                    history: 2,
                    ..BucketOptions::default()
                };
                self.store.kv(INTENT_BUCKET, opts).await
            })
            .await
    }

    /// The ids of intents not finished yet (oldest key first).
    pub async fn open_intents(&self) -> Result<Vec<String>, StoreError> {
        self.kv().await?.keys(&KeyPrefix::All).await
    }

    /// Runs `effect` as one audited action: exactly one chain event
    /// whatever the outcome, or a refusal before anything ran.
    pub async fn run<T, Fut>(&self, plan: Plan, effect: Fut) -> Result<T, ActionError>
    where
        T: Send + 'static,
        Fut: Future<Output = Done<T>> + Send + 'static,
    {
        let this = self.clone();
        tokio::spawn(async move { this.flow(plan, effect).await })
            .await
            .unwrap_or_else(|e| {
                // The intent, if written, is left for recovery.
                tracing::error!(error = %e, "audited action's task failed");
                Err(ActionError::Pending("the action's task failed".into()))
            })
    }

    async fn flow<T, Fut>(&self, plan: Plan, effect: Fut) -> Result<T, ActionError>
    where
        Fut: Future<Output = Done<T>>,
    {
        let Plan { mut record, digest } = plan;
        let id = random_id("i");
        record.intent_id = Some(id.clone());
        let key = Key::parse(&id).map_err(|e| ActionError::Unavailable(e.to_string()))?;
        let unavailable = |e: StoreError| ActionError::Unavailable(e.to_string());
        // A store that does not answer refuses the action in good time,
        // before the request's own timeout.
        let kv = tokio::time::timeout(INTENT_WRITE_TIMEOUT, self.kv())
            .await
            .map_err(|_| ActionError::Unavailable("the intent store did not answer".into()))?
            .map_err(unavailable)?;
        if let Some(d) = &digest {
            record.before_digest = d().await;
        }
        let mut intent = Intent {
            record,
            stage: Stage::Started,
            since_ms: now_ms(),
            by: self.me.to_string(),
        };
        let rev = tokio::time::timeout(
            INTENT_WRITE_TIMEOUT,
            kv.create(&key, encode(&intent).map_err(unavailable)?),
        )
        .await
        .map_err(|_| ActionError::Unavailable("the intent store did not answer".into()))?
        .map_err(unavailable)?;

        let done = effect.await;
        let r = &mut intent.record;
        r.outcome = done.outcome;
        if let Some((sub, session)) = done.principal {
            r.principal_sub = sub;
            r.principal_session = session;
        }
        r.after_digest = match (&digest, done.outcome) {
            (Some(d), Outcome::Succeeded) => d().await,
            _ => r.before_digest.clone(),
        };
        match self.finish(&key, intent, rev).await {
            Ok(()) => Ok(done.value),
            // A failed action's answer is not a success either way; its
            // event stays pending in the intent.
            Err(e) if done.outcome != Outcome::Succeeded => {
                tracing::error!(error = %e, intent = %id, "audit event of a failed action pending");
                Ok(done.value)
            }
            Err(e) => {
                tracing::error!(error = %e, intent = %id, "audit event pending; recovery will write it");
                Err(ActionError::Pending(e.to_string()))
            }
        }
    }

    /// Marks the intent finished (CAS), appends its event, deletes it.
    async fn finish(&self, key: &Key, mut intent: Intent, rev: u64) -> Result<(), StoreError> {
        let kv = self.kv().await?;
        intent.stage = Stage::Finished;
        intent.since_ms = now_ms();
        // Losing this CAS means a recovery took the intent over (this
        // action took longer than `stale_after`): it writes the event.
        let rev = kv.update(key, encode(&intent)?, rev).await?;
        self.audit.append(intent.record).await?;
        // The event is durable; an intent left behind is removed by
        // recovery, which finds its event in the chain.
        if let Err(e) = kv.delete(key, Some(rev)).await {
            tracing::warn!(error = %e, intent = %key, "finished audit intent not deleted");
        }
        Ok(())
    }

    /// Finishes every intent whose stage is older than `stale_after`;
    /// answers how many events it wrote.
    pub async fn recover(&self) -> Result<usize, StoreError> {
        let kv = self.kv().await?;
        let mut written = 0;
        for id in kv.keys(&KeyPrefix::All).await? {
            let key = Key::parse(&id)?;
            let Some(entry) = kv.get(&key).await? else {
                continue;
            };
            match self.recover_one(kv, &key, entry).await {
                Ok(wrote) => written += usize::from(wrote),
                // Another replica claimed or finished it meanwhile.
                Err(StoreError::Conflict { .. } | StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    async fn recover_one(
        &self,
        kv: &Arc<dyn Kv>,
        key: &Key,
        e: KvEntry,
    ) -> Result<bool, StoreError> {
        let mut intent: Intent = match serde_json::from_slice(&e.value) {
            Ok(i) => i,
            Err(err) => {
                // Kept for an operator: deleting it would lose the fact.
                tracing::error!(intent = %key, error = %err, "unreadable audit intent left in place");
                return Ok(false);
            }
        };
        let age = now_ms().saturating_sub(intent.since_ms);
        if u128::from(age) < self.timing.stale_after.as_millis() {
            return Ok(false);
        }
        intent.stage = Stage::Recovering;
        intent.since_ms = now_ms();
        intent.by = self.me.to_string();
        let rev = kv.update(key, encode(&intent)?, e.revision).await?;
        let id = key.as_str();
        let wrote = if self.audit.has_intent(id).await? {
            false
        } else {
            tracing::warn!(intent = id, action = %intent.record.action,
                outcome = intent.record.outcome.as_str(), "finishing an interrupted audited action");
            self.audit.append(intent.record).await?;
            true
        };
        // Losing this means another recovery took over meanwhile; it finds
        // the event in the chain and only deletes the intent.
        if let Err(e) = kv.delete(key, Some(rev)).await {
            tracing::warn!(error = %e, intent = id, "recovered audit intent not deleted");
        }
        Ok(wrote)
    }

    /// Recovery in the background: once now (retried until the store is
    /// reachable) and then every `timing.every`.
    pub fn spawn_recovery(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.recover().await {
                    tracing::warn!(error = %e, "audit intent recovery failed; retrying");
                }
                tokio::time::sleep(this.timing.every).await;
            }
        })
    }
}
