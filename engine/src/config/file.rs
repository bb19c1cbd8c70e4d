//! Config documents as dev files: routing and placement are the files the
//! fleet reads (`config/routing/dev.json`, `config/placement/dev.json`:
//! one revision for the three maps), every other document is
//! `<dir>/<domain>/<scope>/<name>.json` holding `{revision, document}`.
//! Beside each file, `<file>.history.json` keeps every revision's
//! metadata, and `<file>.revs/<key>.<revision>.json` the documents of the
//! newest `KEPT` ones (so reading metadata never reads documents); pins are in
//! `<dir>/pins.json`. Every file is written atomically (temp + rename);
//! one writer at a time in this process.

use super::store::{decode_error, unrecorded, ConfigStore, ConfigStoreError, Stored, WriteMeta};
use crate::store::file_doc::write_atomic;
use async_trait::async_trait;
use model::config::{ConfigId, Domain, Pin, RevisionMeta, Scope};
use model::fleet::{PlacementDoc, RoutingDoc, ServiceKind};
use model::views::{DocSource, SourceKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Documents kept per key in a history file (metadata is kept for all).
const KEPT: usize = 16;
/// Revisions of metadata kept per key.
const METAS: usize = 1_000;

#[derive(Clone)]
pub struct FileConfigStore {
    placement: PathBuf,
    routing: PathBuf,
    dir: PathBuf,
    lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct History {
    /// Per document key, oldest first.
    entries: BTreeMap<String, Vec<Entry>>,
}

/// One revision's metadata; its document, while kept, is a file of its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    meta: RevisionMeta,
}

#[derive(Debug, Serialize, Deserialize)]
struct Plain {
    revision: u64,
    document: Value,
}

fn source(e: std::io::Error, path: &Path) -> ConfigStoreError {
    ConfigStoreError::Source(format!("{}: {}", path.display(), e.kind()))
}

/// The file's bytes, `None` when absent.
fn read(path: &Path) -> Result<Option<Vec<u8>>, ConfigStoreError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(source(e, path)),
    }
}

fn history_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".history.json");
    file.with_file_name(name)
}

impl FileConfigStore {
    pub fn new(placement: PathBuf, routing: PathBuf, dir: PathBuf) -> Self {
        Self {
            placement,
            routing,
            dir,
            lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn file(&self, id: &ConfigId) -> PathBuf {
        match id.domain {
            Domain::Routing => self.routing.clone(),
            Domain::Placement => self.placement.clone(),
            _ => self
                .dir
                .join(id.domain.as_str())
                .join(id.scope.token())
                .join(format!("{}.json", id.name)),
        }
    }

    /// The current document and revision, `None` when absent.
    fn current(&self, id: &ConfigId) -> Result<Option<(Value, u64)>, ConfigStoreError> {
        let path = self.file(id);
        let Some(bytes) = read(&path)? else {
            return Ok(None);
        };
        match (&id.domain, &id.scope) {
            (Domain::Routing, _) => {
                let doc: RoutingDoc =
                    serde_json::from_slice(&bytes).map_err(|e| decode_error(&e))?;
                let v = serde_json::to_value(&doc.routing).map_err(|e| decode_error(&e))?;
                Ok(Some((v, doc.revision)))
            }
            (Domain::Placement, Scope::Kind(k)) => {
                let doc: PlacementDoc =
                    serde_json::from_slice(&bytes).map_err(|e| decode_error(&e))?;
                let map = doc.map(*k).cloned().unwrap_or_default();
                let v = serde_json::to_value(&map).map_err(|e| decode_error(&e))?;
                Ok(Some((v, doc.revision)))
            }
            _ => {
                let p: Plain = serde_json::from_slice(&bytes).map_err(|e| decode_error(&e))?;
                Ok(Some((p.document, p.revision)))
            }
        }
    }

    fn history_of(&self, id: &ConfigId) -> Result<Vec<Entry>, ConfigStoreError> {
        let path = history_path(&self.file(id));
        Ok(match read(&path)? {
            Some(b) => {
                let h: History = serde_json::from_slice(&b).map_err(|e| decode_error(&e))?;
                h.entries.get(&id.key()).cloned().unwrap_or_default()
            }
            None => Vec::new(),
        })
    }

    fn rev_path(&self, id: &ConfigId, revision: u64) -> PathBuf {
        let file = self.file(id);
        let mut name = file.file_name().unwrap_or_default().to_os_string();
        name.push(".revs");
        file.with_file_name(name)
            .join(format!("{}.{revision}.json", id.key()))
    }

    /// A kept revision's document.
    fn kept(&self, id: &ConfigId, e: &Entry) -> Result<Option<Value>, ConfigStoreError> {
        if !e.meta.kept {
            return Ok(None);
        }
        match read(&self.rev_path(id, e.meta.revision))? {
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| decode_error(&e)),
            None => Ok(None),
        }
    }

    fn stored(
        &self,
        id: &ConfigId,
        document: Value,
        revision: u64,
    ) -> Result<Stored, ConfigStoreError> {
        let sha = model::config::sha256(&document);
        let history = self.history_of(id)?;
        // The placement file's revision moves with every kind's write: an
        // unchanged map keeps the metadata of the write that made it.
        let meta = history
            .iter()
            .rev()
            .find(|e| e.meta.revision == revision && e.meta.sha256 == sha)
            .or_else(|| history.last().filter(|e| e.meta.sha256 == sha))
            .map(|e| RevisionMeta {
                revision,
                ..e.meta.clone()
            })
            .unwrap_or_else(|| unrecorded(revision, &document));
        Ok(Stored { document, meta })
    }

    fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ConfigStoreError> {
        write_atomic(path, bytes).map_err(|e| source(e, path))
    }

    fn pins_path(&self) -> PathBuf {
        self.dir.join("pins.json")
    }

    fn pins(&self) -> Result<BTreeMap<String, Pin>, ConfigStoreError> {
        match read(&self.pins_path())? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| decode_error(&e)),
            None => Ok(BTreeMap::new()),
        }
    }

    /// The whole write, under the lock, off the async threads.
    fn write_blocking(
        &self,
        id: &ConfigId,
        document: &Value,
        expected: u64,
        meta: &WriteMeta,
    ) -> Result<RevisionMeta, ConfigStoreError> {
        let before = self.current(id)?;
        let current = before.as_ref().map_or(0, |(_, r)| r.to_owned());
        if current != expected {
            return Err(ConfigStoreError::Conflict { expected, current });
        }
        let path = self.file(id);
        let revision = expected + 1;
        let bytes = match (&id.domain, &id.scope) {
            (Domain::Routing, _) => {
                let routing = serde_json::from_value(document.clone())
                    .map_err(|_| ConfigStoreError::Source("not a routing document".into()))?;
                serde_json::to_vec_pretty(&RoutingDoc { revision, routing })
            }
            (Domain::Placement, Scope::Kind(k)) => {
                let mut doc: PlacementDoc = match read(&path)? {
                    Some(b) => serde_json::from_slice(&b).map_err(|e| decode_error(&e))?,
                    None => PlacementDoc::default(),
                };
                if let Some(m) = doc.map_mut(*k) {
                    *m = serde_json::from_value(document.clone())
                        .map_err(|_| ConfigStoreError::Source("not a placement map".into()))?;
                }
                doc.revision = revision;
                serde_json::to_vec_pretty(&doc)
            }
            _ => serde_json::to_vec_pretty(&Plain {
                revision,
                document: document.clone(),
            }),
        }
        .map_err(|e| ConfigStoreError::Source(e.to_string()))?;
        Self::write_file(&path, &bytes)?;
        let rec = meta.revision(revision, document);
        // The document is written; a lost history write leaves the
        // revision shown as unrecorded, never the document unwritten. The
        // revision it replaced is kept too when nobody recorded it (a file
        // edited by hand, the simulator's first write): a restore needs it.
        if let Err(e) = self.record(id, &rec, document, before) {
            tracing::warn!(document = %id, revision, error = %e, "config revision metadata not recorded");
        }
        Ok(rec)
    }

    fn record(
        &self,
        id: &ConfigId,
        rec: &RevisionMeta,
        document: &Value,
        before: Option<(Value, u64)>,
    ) -> Result<(), ConfigStoreError> {
        let path = history_path(&self.file(id));
        let mut h: History = match read(&path)? {
            Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
            None => History::default(),
        };
        let list = h.entries.entry(id.key()).or_default();
        let keep = |meta: RevisionMeta,
                    doc: &Value,
                    list: &mut Vec<Entry>|
         -> Result<(), ConfigStoreError> {
            let bytes =
                serde_json::to_vec(doc).map_err(|e| ConfigStoreError::Source(e.to_string()))?;
            Self::write_file(&self.rev_path(id, meta.revision), &bytes)?;
            list.push(Entry { meta });
            Ok(())
        };
        if let Some((doc, rev)) = before {
            let sha = model::config::sha256(&doc);
            if !list.iter().any(|e| e.meta.sha256 == sha && e.meta.kept) {
                keep(unrecorded(rev, &doc), &doc, list)?;
            }
        }
        keep(rec.clone(), document, list)?;
        let n = list.len();
        for (i, e) in list.iter_mut().enumerate() {
            if i + KEPT < n && e.meta.kept {
                e.meta.kept = false;
                let _ = std::fs::remove_file(self.rev_path(id, e.meta.revision));
            }
        }
        if n > METAS {
            list.drain(..n - METAS);
        }
        let bytes = serde_json::to_vec(&h).map_err(|e| ConfigStoreError::Source(e.to_string()))?;
        Self::write_file(&path, &bytes)
    }
}

#[async_trait]
impl ConfigStore for FileConfigStore {
    fn source(&self, id: &ConfigId) -> DocSource {
        DocSource {
            kind: SourceKind::File,
            backend: "file".into(),
            location: self.file(id).display().to_string(),
        }
    }

    async fn list(&self) -> Result<Vec<ConfigId>, ConfigStoreError> {
        let this = self.clone();
        blocking(move || {
            let mut out = Vec::new();
            if read(&this.routing)?.is_some() {
                out.push(ConfigId::routing());
            }
            if read(&this.placement)?.is_some() {
                out.extend(ServiceKind::WORKERS.map(ConfigId::placement));
            }
            for domain in Domain::ALL.into_iter().filter(|d| !d.is_fleet()) {
                let Ok(scopes) = std::fs::read_dir(this.dir.join(domain.as_str())) else {
                    continue;
                };
                for scope in scopes.flatten() {
                    let scope_name = scope.file_name().to_string_lossy().replacen('=', ":", 1);
                    let Ok(scope_id) = Scope::parse(&scope_name) else {
                        continue;
                    };
                    let Ok(files) = std::fs::read_dir(scope.path()) else {
                        continue;
                    };
                    for f in files.flatten() {
                        let name = f.file_name().to_string_lossy().to_string();
                        let Some(stem) = name.strip_suffix(".json") else {
                            continue;
                        };
                        if let Ok(id) = ConfigId::new(domain, stem, scope_id.clone()) {
                            out.push(id);
                        }
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }

    async fn get(&self, id: &ConfigId) -> Result<Option<Stored>, ConfigStoreError> {
        let (this, id) = (self.clone(), id.clone());
        blocking(move || match this.current(&id)? {
            Some((doc, rev)) => this.stored(&id, doc, rev).map(Some),
            None => Ok(None),
        })
        .await
    }

    async fn at(&self, id: &ConfigId, revision: u64) -> Result<Option<Stored>, ConfigStoreError> {
        let (this, id) = (self.clone(), id.clone());
        blocking(move || {
            if let Some((doc, rev)) = this.current(&id)? {
                if rev == revision {
                    return this.stored(&id, doc, rev).map(Some);
                }
            }
            // The placement file's revision moves with every kind's write:
            // a map's document at a revision is its newest recorded one at
            // or before it.
            let found = this
                .history_of(&id)?
                .into_iter()
                .rev()
                .find(|e| e.meta.revision <= revision)
                .filter(|e| e.meta.revision == revision || id.domain == Domain::Placement);
            match found {
                Some(e) => Ok(this.kept(&id, &e)?.map(|document| Stored {
                    document,
                    meta: e.meta,
                })),
                None => Ok(None),
            }
        })
        .await
    }

    async fn history(&self, id: &ConfigId) -> Result<Vec<RevisionMeta>, ConfigStoreError> {
        let (this, id) = (self.clone(), id.clone());
        blocking(move || {
            let mut by_rev: BTreeMap<u64, RevisionMeta> = this
                .history_of(&id)?
                .into_iter()
                .map(|e| (e.meta.revision, e.meta))
                .collect();
            if let Some((doc, rev)) = this.current(&id)? {
                let sha = model::config::sha256(&doc);
                // The placement file's revision moves with every kind's
                // write: the current revision of an unchanged map is the
                // last recorded one.
                let same_as_last = by_rev.values().next_back().is_some_and(|m| m.sha256 == sha);
                if !by_rev.contains_key(&rev) && !same_as_last {
                    by_rev.insert(rev, unrecorded(rev, &doc));
                }
            }
            Ok(by_rev.into_values().rev().collect())
        })
        .await
    }

    async fn write(
        &self,
        id: &ConfigId,
        document: &Value,
        expected: u64,
        meta: &WriteMeta,
    ) -> Result<RevisionMeta, ConfigStoreError> {
        let _one = self.lock.lock().await;
        let (this, id, document, meta) = (self.clone(), id.clone(), document.clone(), meta.clone());
        blocking(move || this.write_blocking(&id, &document, expected, &meta)).await
    }

    async fn pin(&self, id: &ConfigId) -> Result<Option<Pin>, ConfigStoreError> {
        let (this, key) = (self.clone(), id.key());
        blocking(move || Ok(this.pins()?.remove(&key))).await
    }

    async fn set_pin(&self, id: &ConfigId, pin: Option<&Pin>) -> Result<(), ConfigStoreError> {
        let _one = self.lock.lock().await;
        let (this, key, pin) = (self.clone(), id.key(), pin.cloned());
        blocking(move || {
            let mut pins = this.pins()?;
            match pin {
                Some(p) => pins.insert(key, p),
                None => pins.remove(&key),
            };
            let bytes = serde_json::to_vec_pretty(&pins)
                .map_err(|e| ConfigStoreError::Source(e.to_string()))?;
            Self::write_file(&this.pins_path(), &bytes)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConfigStoreError> + Send + 'static,
) -> Result<T, ConfigStoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ConfigStoreError::Source(e.to_string()))?
}

/// The folder of the other documents when none is configured: two above
/// the placement file (`config/placement/dev.json` → `config/`).
pub fn default_dir(placement: &Path) -> PathBuf {
    placement
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("config"))
}
