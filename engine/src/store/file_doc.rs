//! The development source for whole JSON documents (placement and routing:
//! `config/placement/dev.json`, `config/routing/dev.json`). Writes are
//! atomic (temp file, fsync, rename, fsync of the directory); readers see a
//! hot-reloaded snapshot. A file that does not parse keeps the previous
//! value and reports the error, so an operator's typo never empties a map.

use serde::de::DeserializeOwned;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, PartialEq)]
pub struct FileSnapshot<T> {
    /// The last value that parsed; `None` until one did.
    pub value: Option<Arc<T>>,
    /// Counts successful loads: 1 for the first, +1 for each change.
    pub revision: u64,
    /// Why the file on disk is not the value shown (unreadable, bad JSON).
    pub error: Option<String>,
}

// By hand: the value is behind an Arc, so `T` itself need not be Clone.
impl<T> Clone for FileSnapshot<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            revision: self.revision,
            error: self.error.clone(),
        }
    }
}

/// Writes `bytes` to `path` so that readers see the old file or the new one,
/// never a torn one, and the new one survives a crash once this returns.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("doc");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

pub struct FileDoc<T> {
    path: PathBuf,
    rx: watch::Receiver<FileSnapshot<T>>,
    _task: Arc<tokio::task::JoinHandle<()>>,
}

impl<T> Clone for FileDoc<T> {
    fn clone(&self) -> Self {
        Self {
            path: self.path.clone(),
            rx: self.rx.clone(),
            _task: self._task.clone(),
        }
    }
}

impl<T> Drop for FileDoc<T> {
    fn drop(&mut self) {
        // The poller stops with the last handle.
        if Arc::strong_count(&self._task) == 1 {
            self._task.abort();
        }
    }
}

enum Read {
    Unchanged,
    Loaded(u64, Vec<u8>),
    Failed(String),
}

fn read(path: &Path, last_hash: Option<u64>) -> Read {
    match std::fs::read(path) {
        Ok(bytes) => {
            let mut h = DefaultHasher::new();
            bytes.hash(&mut h);
            let hash = h.finish();
            if Some(hash) == last_hash {
                Read::Unchanged
            } else {
                Read::Loaded(hash, bytes)
            }
        }
        Err(e) => Read::Failed(format!("cannot read {}: {}", path.display(), e.kind())),
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> FileDoc<T> {
    /// Loads `path` now and re-reads it every `interval`.
    pub fn open(path: impl Into<PathBuf>, interval: Duration) -> Self {
        let path = path.into();
        let (tx, rx) = watch::channel(FileSnapshot {
            value: None,
            revision: 0,
            error: None,
        });
        let mut last_hash = None;
        Self::reload(&path, &tx, &mut last_hash);
        let p = path.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if tx.is_closed() {
                    return;
                }
                Self::reload(&p, &tx, &mut last_hash);
            }
        });
        Self {
            path,
            rx,
            _task: Arc::new(task),
        }
    }

    fn reload(path: &Path, tx: &watch::Sender<FileSnapshot<T>>, last_hash: &mut Option<u64>) {
        let outcome = match read(path, *last_hash) {
            Read::Unchanged => return,
            Read::Failed(e) => Err(e),
            Read::Loaded(hash, bytes) => {
                *last_hash = Some(hash);
                serde_json::from_slice::<T>(&bytes)
                    .map_err(|e| format!("{} does not parse: {e}", path.display()))
            }
        };
        tx.send_modify(|s| match outcome {
            Ok(v) => {
                s.value = Some(Arc::new(v));
                s.revision += 1;
                s.error = None;
            }
            Err(e) => {
                if s.error.as_deref() != Some(e.as_str()) {
                    tracing::warn!(error = %e, "dev file not reloaded; keeping the previous value");
                }
                s.error = Some(e);
            }
        });
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn snapshot(&self) -> FileSnapshot<T> {
        self.rx.borrow().clone()
    }

    /// A receiver that wakes on every reload or error.
    pub fn subscribe(&self) -> watch::Receiver<FileSnapshot<T>> {
        self.rx.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        n: u32,
    }

    async fn changed(rx: &mut watch::Receiver<FileSnapshot<Doc>>) -> FileSnapshot<Doc> {
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .unwrap();
        rx.borrow_and_update().clone()
    }

    #[tokio::test]
    async fn hot_reloads_and_keeps_the_old_value_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/placement/dev.json");
        write_atomic(&path, br#"{"n":1}"#).unwrap();
        let doc = FileDoc::<Doc>::open(&path, Duration::from_millis(20));
        let s = doc.snapshot();
        assert_eq!(s.value.as_deref(), Some(&Doc { n: 1 }));
        assert_eq!(s.revision, 1);
        let mut rx = doc.subscribe();
        rx.borrow_and_update();

        write_atomic(&path, br#"{"n":2}"#).unwrap();
        let s = changed(&mut rx).await;
        assert_eq!(s.value.as_deref(), Some(&Doc { n: 2 }));
        assert_eq!(s.revision, 2);

        write_atomic(&path, b"{not json").unwrap();
        let s = changed(&mut rx).await;
        assert_eq!(s.value.as_deref(), Some(&Doc { n: 2 }), "old value kept");
        assert_eq!(s.revision, 2);
        assert!(s.error.as_deref().unwrap().contains("does not parse"));

        write_atomic(&path, br#"{"n":3}"#).unwrap();
        let s = changed(&mut rx).await;
        assert_eq!(s.value.as_deref(), Some(&Doc { n: 3 }));
        assert!(s.error.is_none());
    }

    #[tokio::test]
    async fn a_missing_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let doc = FileDoc::<Doc>::open(dir.path().join("nope.json"), Duration::from_millis(20));
        let s = doc.snapshot();
        assert!(s.value.is_none());
        assert!(s.error.unwrap().contains("cannot read"));
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"1").unwrap();
        write_atomic(&path, b"2").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
