//! The config registry (docs/config.md): every runtime configuration
//! document by `{domain, name, scope}`, with its revisions, history,
//! diffs and validation (JSON Schema + the semantic rules of
//! `model::config`), the live values the control plane itself reads
//! (flags, gate thresholds), and the `config.apply` / `config.rollback`
//! workflows (`flow.rs`) planned by `plan.rs`. Both doors call this
//! facade; the store (`store.rs`) is the dev files or the substrate's KV.

pub mod diff;
pub mod file;
mod flow;
pub mod kv;
mod plan;
pub mod schema;
pub mod store;

pub use flow::{workflows, ConfigFlow, FlowSettings};

use crate::action::{Actions, Done, Plan as ActionPlan};
use crate::error::{ClientError, ClientView};
use crate::fleet::writer::DocWriter;
use crate::identity::Caller;
use model::audit::Outcome;
use model::config::{
    ConfigDiff, ConfigDocument, ConfigHistory, ConfigId, ConfigIssue, ConfigList, ConfigSummary,
    Context, Definition, Domain, Flags, Scope, ValidateRequest, Validation,
};
use model::fleet::{PlacementMap, RoutingConfig, ServiceKind};
use model::gates::Thresholds;
use model::ErrorCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use store::{ConfigStore, ConfigStoreError, Stored};
use tokio::sync::watch;

/// Claims of base revisions (`Registry::claim`).
pub const CLAIMS_BUCKET: &str = "config_claims";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] ConfigStoreError),
    #[error("audit: {0}")]
    Audit(#[from] crate::action::ActionError),
}

impl ClientError for ConfigError {
    fn client_view(&self) -> ClientView {
        match self {
            Self::NotFound(m) => ClientView::new(ErrorCode::NotFound, m.clone()),
            Self::BadRequest(m) => ClientView::new(ErrorCode::BadRequest, m.clone()),
            Self::Store(ConfigStoreError::Conflict { current, .. }) => ClientView::new(
                ErrorCode::Conflict,
                format!("the document changed meanwhile (now at revision {current}): reload it"),
            ),
            Self::Store(ConfigStoreError::Decode(where_)) => ClientView::new(
                ErrorCode::ConfigDecode,
                format!("the stored document does not decode ({where_}); an operator must repair it at the source"),
            ),
            Self::Store(ConfigStoreError::Source(_)) => ClientView::new(
                ErrorCode::Unavailable,
                "the configuration source is unavailable; retry",
            ),
            Self::Audit(crate::action::ActionError::BadRequest(m)) => {
                ClientView::new(ErrorCode::BadRequest, m.clone())
            }
            Self::Audit(_) => ClientView::new(
                ErrorCode::Unavailable,
                "the audit log is unavailable; nothing was done",
            ),
        }
    }
}

/// The registry's settings (config section `[config]`).
#[derive(Debug, Clone, Copy)]
pub struct RegistrySettings {
    /// How often the live documents (flags, thresholds) are re-read.
    pub follow_every: Duration,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            follow_every: Duration::from_secs(1),
        }
    }
}

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ConfigStore>,
    /// The substrate the job engine uses: the claims of base revisions
    /// live there (atomic across replicas whatever the document source).
    substrate: Arc<dyn crate::store::Substrate>,
    actions: Actions,
    /// `[gates]` from the boot config: the thresholds while no document.
    boot: Thresholds,
    thresholds: watch::Sender<Thresholds>,
    flags: watch::Sender<Flags>,
    /// The revisions of (flags, gates) the live values were read from.
    loaded: watch::Sender<(u64, u64)>,
    settings: RegistrySettings,
}

fn id_from(domain: &str, name: &str, scope: Option<&str>) -> Result<ConfigId, ConfigError> {
    let domain = Domain::parse(domain)
        .ok_or_else(|| ConfigError::NotFound(format!("no config domain {domain:?}")))?;
    let scope = match scope {
        Some(s) => Scope::parse(s).map_err(ConfigError::BadRequest)?,
        None => match domain {
            Domain::Placement => {
                return Err(ConfigError::BadRequest(
                    "scope: placement documents are per kind (kind:aggregate, …)".into(),
                ))
            }
            _ => Scope::Platform,
        },
    };
    ConfigId::new(domain, name, scope).map_err(ConfigError::BadRequest)
}

impl Registry {
    pub fn new(
        store: Arc<dyn ConfigStore>,
        substrate: Arc<dyn crate::store::Substrate>,
        actions: Actions,
        boot: Thresholds,
        settings: RegistrySettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                substrate,
                actions,
                boot,
                thresholds: watch::channel(boot).0,
                flags: watch::channel(Flags::default()).0,
                loaded: watch::channel((0, 0)).0,
                settings,
            }),
        }
    }

    /// A document's identity from the parts of a request.
    pub fn id(domain: &str, name: &str, scope: Option<&str>) -> Result<ConfigId, ConfigError> {
        id_from(domain, name, scope)
    }

    pub fn store(&self) -> &Arc<dyn ConfigStore> {
        &self.inner.store
    }

    /// The move workflows write placement and routing through this.
    pub fn writer(&self) -> DocWriter {
        DocWriter::Store(self.inner.store.clone())
    }

    /// Claims `base` of `id` for `job`: of the jobs planned from one base
    /// revision, one is accepted. A claim whose job ended without writing
    /// (or was never stored, after a minute) is taken over.
    pub async fn claim(
        &self,
        id: &ConfigId,
        base: u64,
        job: &model::ids::JobId,
        live: impl Fn(model::ids::JobId) -> futures::future::BoxFuture<'static, Option<bool>>,
    ) -> Result<Result<(), String>, ConfigStoreError> {
        use crate::store::{BucketOptions, Key, StoreError};
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Claim {
            job: model::ids::JobId,
            at_ms: u64,
        }
        let kv = self
            .inner
            .substrate
            .kv(
                CLAIMS_BUCKET,
                BucketOptions {
                    history: 2,
                    replicas: 1,
                },
            )
            .await?;
        let key = Key::parse(&format!("{}.{base}", id.key()))?;
        let mine = serde_json::to_vec(&Claim {
            job: job.clone(),
            at_ms: crate::identity::now_ms(),
        })
        .map_err(|e| ConfigStoreError::Source(e.to_string()))?;
        loop {
            match kv.create(&key, mine.clone().into()).await {
                Ok(_) => return Ok(Ok(())),
                Err(StoreError::AlreadyExists | StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(e) = kv.get(&key).await? else {
                continue;
            };
            let Ok(held) = serde_json::from_slice::<Claim>(&e.value) else {
                return Err(ConfigStoreError::Decode(format!("claim {key}")));
            };
            if &held.job == job {
                return Ok(Ok(()));
            }
            let stale = match live(held.job.clone()).await {
                Some(alive) => !alive,
                None => crate::identity::now_ms().saturating_sub(held.at_ms) > 60_000,
            };
            if !stale {
                return Ok(Err(format!(
                    "{id} at revision {base} is being changed by {}: plan again when it is done",
                    held.job
                )));
            }
            match kv.update(&key, mine.clone().into(), e.revision).await {
                Ok(_) => return Ok(Ok(())),
                Err(StoreError::Conflict { .. } | StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn actions(&self) -> &Actions {
        &self.inner.actions
    }

    /// The gates' thresholds, live.
    pub fn thresholds(&self) -> watch::Receiver<Thresholds> {
        self.inner.thresholds.subscribe()
    }

    /// The control plane's flags, live.
    pub fn flags(&self) -> watch::Receiver<Flags> {
        self.inner.flags.subscribe()
    }

    /// The (flags, gates) revisions the live values come from.
    pub fn loaded(&self) -> watch::Receiver<(u64, u64)> {
        self.inner.loaded.subscribe()
    }

    /// Re-reads the live documents now (and then every `follow_every`
    /// from `spawn_follow`). A document that cannot be read or decoded
    /// keeps the values in force and says so in the log.
    pub async fn refresh(&self) {
        let read = |id: ConfigId| async move {
            match self.inner.store.get(&id).await {
                Ok(s) => Ok(s),
                Err(e) => {
                    tracing::warn!(document = %id, error = %e, "live config not re-read; keeping the values in force");
                    Err(())
                }
            }
        };
        let (mut frev, mut grev) = *self.inner.loaded.borrow();
        if let Ok(s) = read(ConfigId::flags()).await {
            let (f, rev) = match s {
                Some(s) => match serde_json::from_value::<Flags>(s.document) {
                    Ok(f) => (Some(f), s.meta.revision),
                    Err(_) => (None, frev),
                },
                None => (Some(Flags::default()), 0),
            };
            if let Some(f) = f {
                self.inner
                    .flags
                    .send_if_modified(|cur| std::mem::replace(cur, f.clone()) != f);
                frev = rev;
            }
        }
        if let Ok(s) = read(ConfigId::gates()).await {
            let (t, rev) = match s {
                Some(s) => match serde_json::from_value::<Thresholds>(s.document) {
                    Ok(t) => (Some(t), s.meta.revision),
                    Err(_) => (None, grev),
                },
                None => (Some(self.inner.boot), 0),
            };
            if let Some(t) = t {
                self.inner
                    .thresholds
                    .send_if_modified(|cur| std::mem::replace(cur, t) != t);
                grev = rev;
            }
        }
        self.inner
            .loaded
            .send_if_modified(|cur| std::mem::replace(cur, (frev, grev)) != (frev, grev));
    }

    /// Follows the live documents until the registry is dropped.
    pub fn spawn_follow(&self) {
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.settings.follow_every;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                Registry { inner }.refresh().await;
            }
        });
    }

    async fn summary(&self, id: &ConfigId, s: &Stored) -> Result<ConfigSummary, ConfigError> {
        Ok(ConfigSummary {
            id: id.clone(),
            meta: s.meta.clone(),
            source: self.inner.store.source(id),
            pinned: self.inner.store.pin(id).await?,
        })
    }

    /// Every document, filtered by domain and scope.
    pub async fn list(
        &self,
        domain: Option<Domain>,
        scope: Option<&Scope>,
    ) -> Result<ConfigList, ConfigError> {
        let mut items = Vec::new();
        for id in self.inner.store.list().await? {
            if domain.is_some_and(|d| d != id.domain) || scope.is_some_and(|s| *s != id.scope) {
                continue;
            }
            if let Some(s) = self.inner.store.get(&id).await? {
                items.push(self.summary(&id, &s).await?);
            }
        }
        Ok(ConfigList { items })
    }

    /// The current document, or an older revision while it is kept.
    pub async fn get(
        &self,
        id: &ConfigId,
        revision: Option<u64>,
    ) -> Result<ConfigDocument, ConfigError> {
        let current = self
            .inner
            .store
            .get(id)
            .await?
            .ok_or_else(|| ConfigError::NotFound(format!("no document {id}")))?;
        let current_revision = current.meta.revision;
        let s = match revision {
            None => current,
            Some(r) if r == current_revision => current,
            Some(r) => self.inner.store.at(id, r).await?.ok_or_else(|| {
                ConfigError::NotFound(format!("revision {r} of {id} is not kept"))
            })?,
        };
        Ok(ConfigDocument {
            summary: self.summary(id, &s).await?,
            document: s.document,
            current_revision,
        })
    }

    pub async fn history(&self, id: &ConfigId) -> Result<ConfigHistory, ConfigError> {
        let revisions = self.inner.store.history(id).await?;
        if revisions.is_empty() {
            return Err(ConfigError::NotFound(format!("no document {id}")));
        }
        Ok(ConfigHistory {
            id: id.clone(),
            revisions,
        })
    }

    /// `from` (default: the revision before `to`) against `to` (default:
    /// the current one).
    pub async fn diff(
        &self,
        id: &ConfigId,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<ConfigDiff, ConfigError> {
        let to_doc = self.get(id, to).await?;
        let from = match from {
            Some(f) => f,
            None => {
                let h = self.inner.store.history(id).await?;
                h.iter()
                    .map(|m| m.revision)
                    .find(|r| *r < to_doc.summary.meta.revision)
                    .ok_or_else(|| {
                        ConfigError::NotFound(format!(
                            "{id} has no revision before {}",
                            to_doc.summary.meta.revision
                        ))
                    })?
            }
        };
        let from_doc = self.get(id, Some(from)).await?;
        Ok(diff::diff(&from_doc.document, &to_doc.document))
    }

    /// What the cross-document rules read: the current routing, the
    /// placement maps and the definition names.
    pub async fn context(&self) -> Result<Context, ConfigError> {
        let store = &self.inner.store;
        let routing: RoutingConfig = match store.get(&ConfigId::routing()).await? {
            Some(s) => serde_json::from_value(s.document).unwrap_or_default(),
            None => RoutingConfig::default(),
        };
        let mut placements = std::collections::BTreeMap::new();
        for k in ServiceKind::WORKERS {
            if let Some(s) = store.get(&ConfigId::placement(k)).await? {
                let m: PlacementMap = serde_json::from_value(s.document).unwrap_or_default();
                placements.insert(k, m);
            }
        }
        let definitions = store
            .list()
            .await?
            .into_iter()
            .filter(|id| id.domain == Domain::Definitions)
            .map(|id| id.name)
            .collect();
        Ok(Context {
            routing,
            placements,
            definitions,
        })
    }

    /// Every issue of `doc` as the document `id`: the schema first, then
    /// (when it passes) the semantic rules against the other documents.
    pub async fn issues(
        &self,
        id: &ConfigId,
        doc: &Value,
    ) -> Result<Vec<ConfigIssue>, ConfigError> {
        Ok(Self::issues_in(id, doc, self.context().await?))
    }

    /// `issues` against a context already read (a plan reads it once).
    /// The current placement maps stay in it even for a placement change:
    /// their tenants are the ones that must keep a shard.
    pub fn issues_in(id: &ConfigId, doc: &Value, mut cx: Context) -> Vec<ConfigIssue> {
        let schema = schema::issues(id.domain, doc);
        if !schema.is_empty() {
            return schema;
        }
        if id.domain == Domain::Definitions {
            cx.definitions.insert(id.name.clone());
        }
        model::config::validate(id, doc, &cx)
    }

    /// `config.validate`: no side effect. A text's syntax error and every
    /// issue carry the line they are at.
    pub async fn validate(&self, req: &ValidateRequest) -> Result<Validation, ConfigError> {
        let id = ConfigId::new(req.domain, &req.name, req.scope.clone())
            .map_err(ConfigError::BadRequest)?;
        let (doc, lines) = match (&req.text, &req.document) {
            (Some(text), None) => match serde_json::from_str::<Value>(text) {
                Ok(v) => (v, Some(model::config::pointer_lines(text))),
                Err(e) => {
                    let mut i = ConfigIssue::new(
                        model::config::code::SYNTAX,
                        "",
                        format!(
                            "not JSON: {}",
                            model::error::safe_serde_detail(&e.to_string())
                        ),
                    );
                    i.line = Some(e.line() as u32);
                    return Ok(Validation {
                        valid: false,
                        issues: vec![i],
                        sha256: None,
                    });
                }
            },
            (None, Some(d)) => (d.clone(), None),
            _ => {
                return Err(ConfigError::BadRequest(
                    "give the document as `text` or as `document`, one of the two".into(),
                ))
            }
        };
        let mut issues = self.issues(&id, &doc).await?;
        if let Some(lines) = lines {
            for i in &mut issues {
                i.line = lines.get(&i.pointer).copied();
            }
        }
        Ok(Validation {
            valid: issues.is_empty(),
            issues,
            sha256: Some(model::config::sha256(&doc)),
        })
    }

    /// The runner definitions, each with where it is active.
    pub async fn definitions(&self) -> Result<Vec<model::config::DefinitionView>, ConfigError> {
        let ids = self.inner.store.list().await?;
        let mut active: std::collections::BTreeMap<String, Vec<Scope>> = Default::default();
        for id in ids.iter().filter(|i| i.domain == Domain::Activation) {
            if let Some(s) = self.inner.store.get(id).await? {
                if let Ok(a) = serde_json::from_value::<model::config::Activation>(s.document) {
                    for d in a.active {
                        active.entry(d).or_default().push(id.scope.clone());
                    }
                }
            }
        }
        let mut out = Vec::new();
        for id in ids.iter().filter(|i| i.domain == Domain::Definitions) {
            let Some(s) = self.inner.store.get(id).await? else {
                continue;
            };
            out.push(model::config::DefinitionView {
                name: id.name.clone(),
                definition: serde_json::from_value::<Definition>(s.document.clone()).ok(),
                meta: s.meta,
                active_in: active.remove(&id.name).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Lifts a rollback's pin, with a reason, audited (before/after: the
    /// document's digest and the pin).
    pub async fn unpin(
        &self,
        caller: &Caller,
        id: &ConfigId,
        reason: &str,
    ) -> Result<(), ConfigError> {
        if self.inner.store.pin(id).await?.is_none() {
            return Err(ConfigError::NotFound(format!("{id} is not pinned")));
        }
        let (store, id2) = (self.inner.store.clone(), id.clone());
        let plan = ActionPlan::new(caller, "config.unpin", format!("config:{id}"))
            .with_reason(reason)?
            .with_digest(move || {
                let (store, id) = (store.clone(), id2.clone());
                async move { digest(&*store, &id).await }
            });
        let (store, id2) = (self.inner.store.clone(), id.clone());
        let r = self
            .inner
            .actions
            .run(plan, async move {
                let r = store.set_pin(&id2, None).await;
                Done::new(
                    if r.is_ok() {
                        Outcome::Succeeded
                    } else {
                        Outcome::Failed
                    },
                    r,
                )
            })
            .await?;
        Ok(r?)
    }
}

/// `sha256:<hex> pinned:<bool>` of a document now: the audit digest.
pub(crate) async fn digest(store: &dyn ConfigStore, id: &ConfigId) -> Option<String> {
    let doc = store.get(id).await.ok()?;
    let pinned = store.pin(id).await.ok()?.is_some();
    Some(format!(
        "sha256:{} pinned:{pinned}",
        doc.map_or_else(|| "none".to_owned(), |d| d.meta.sha256)
    ))
}
