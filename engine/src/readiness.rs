//! Readiness: the dependencies this process needs before it can serve
//! operators. Each check is bounded by a timeout so a hung dependency makes
//! `/ready` answer 503, never hang.

use model::{CheckStatus, ReadyReport};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

pub trait DependencyCheck: Send + Sync {
    fn name(&self) -> &str;
    /// `Err(reason)` when the dependency cannot be used. The reason is shown
    /// to operators, so it must not carry secrets.
    fn check(&self) -> CheckFuture<'_>;
}

/// The data directory must exist and accept a durable write.
pub struct DataDirCheck {
    dir: PathBuf,
}

impl DataDirCheck {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl DependencyCheck for DataDirCheck {
    fn name(&self) -> &str {
        "data_dir"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let probe = self.dir.join(".ready-probe");
            let res = async {
                tokio::fs::write(&probe, b"ok").await?;
                tokio::fs::remove_file(&probe).await
            }
            .await;
            res.map_err(|e| {
                format!(
                    "data dir {} is not writable: {}",
                    self.dir.display(),
                    e.kind()
                )
            })
        })
    }
}

/// The state store answers (embedded file readable, or NATS connected with
/// JetStream available).
pub struct StoreCheck(pub Arc<dyn crate::store::Substrate>);

impl DependencyCheck for StoreCheck {
    fn name(&self) -> &str {
        "store"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.to_string()) })
    }
}

#[derive(Clone)]
pub struct Readiness {
    checks: Vec<Arc<dyn DependencyCheck>>,
    timeout: Duration,
}

impl Readiness {
    pub fn new(timeout: Duration) -> Self {
        Self {
            checks: Vec::new(),
            timeout,
        }
    }

    pub fn with_check(mut self, check: Arc<dyn DependencyCheck>) -> Self {
        self.checks.push(check);
        self
    }

    /// Runs every check concurrently; each is cut off at the timeout.
    pub async fn report(&self) -> ReadyReport {
        let runs = self.checks.iter().map(|c| async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(self.timeout, c.check()).await;
            let reason = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some(reason),
                Err(_) => Some(format!("no answer within {} ms", self.timeout.as_millis())),
            };
            CheckStatus {
                name: c.name().to_owned(),
                ok: reason.is_none(),
                reason,
                latency_ms: started.elapsed().as_millis() as u64,
            }
        });
        ReadyReport::from_checks(futures::future::join_all(runs).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, Result<(), String>, Duration);
    impl DependencyCheck for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn check(&self) -> CheckFuture<'_> {
            Box::pin(async move {
                tokio::time::sleep(self.2).await;
                self.1.clone()
            })
        }
    }

    #[tokio::test]
    async fn writable_data_dir_is_ready() {
        let dir = tempfile::tempdir().unwrap();
        let r = Readiness::new(Duration::from_secs(1))
            .with_check(Arc::new(DataDirCheck::new(dir.path())));
        let rep = r.report().await;
        assert!(rep.ready, "{rep:?}");
        assert!(!dir.path().join(".ready-probe").exists());
    }

    #[tokio::test]
    async fn missing_data_dir_is_not_ready_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("nope");
        let r =
            Readiness::new(Duration::from_secs(1)).with_check(Arc::new(DataDirCheck::new(&gone)));
        let rep = r.report().await;
        assert!(!rep.ready);
        assert!(rep.checks[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("not writable"));
    }

    #[tokio::test]
    async fn hung_check_times_out_and_checks_run_concurrently() {
        let r = Readiness::new(Duration::from_millis(100))
            .with_check(Arc::new(Fixed("slow", Ok(()), Duration::from_secs(5))))
            .with_check(Arc::new(Fixed("fast", Ok(()), Duration::from_millis(80))));
        let started = Instant::now();
        let rep = r.report().await;
        assert!(started.elapsed() < Duration::from_millis(1000));
        assert!(!rep.ready);
        assert_eq!(rep.checks[0].name, "slow");
        assert!(rep.checks[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("no answer"));
        assert!(rep.checks[1].ok);
    }
}
