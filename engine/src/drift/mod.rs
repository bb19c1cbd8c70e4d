//! Drift: desired (the platform's stack files, and the config registry's
//! current revisions as the fleet reads them) against observed (Swarm's
//! services and tasks, and the revisions each instance reports loaded).
//! The facade both doors call (docs/drift.md). Every report is computed
//! from both levels afresh; only the `since` of an item whose state has no
//! time of its own is remembered between reports.

mod compute;
pub mod stack;

pub use compute::{compute, config_changes, image_differs, Observed};
pub use stack::{DesiredService, StackError, StackFile};

use crate::fleet::FleetService;
use crate::swarm::{DeployError, Deployments};
use model::drift::{DriftCategory, DriftCount, DriftItem, DriftQuery, DriftReport, Remediation};
use model::jobs::JobKind;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One desired stack: the name it is deployed under and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSource {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct DriftSettings {
    pub stacks: Vec<StackSource>,
}

#[derive(Clone)]
pub struct Drift {
    inner: Arc<Inner>,
}

struct Inner {
    deploy: Deployments,
    fleet: FleetService,
    settings: DriftSettings,
    /// When each item was first seen without a break.
    first_seen: Mutex<HashMap<(DriftCategory, String), u64>>,
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

impl Drift {
    pub fn new(deploy: Deployments, fleet: FleetService, settings: DriftSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                deploy,
                fleet,
                settings,
                first_seen: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Reads every stack file (they are small, and an edit shows at once),
    /// on a blocking thread: a large file takes a parse worth not holding
    /// a runtime worker for. A file that cannot be read or parsed is
    /// reported, and its stack is left out rather than reported as all
    /// missing or all extra.
    async fn desired(&self) -> (Vec<StackFile>, Vec<String>) {
        let key = self.inner.deploy.fingerprint_key().to_vec();
        let stacks = self.inner.settings.stacks.clone();
        let read = move || {
            let fp = |k: &str, v: &str| crate::swarm::fingerprint(&key, k, v);
            let mut files = Vec::new();
            let mut errors = Vec::new();
            for s in &stacks {
                match stack::read(&s.name, &s.path, &fp) {
                    Ok(f) => files.push(f),
                    Err(e) => {
                        tracing::warn!(stack = %s.name, error = %e, "stack file unusable for drift");
                        errors.push(e.to_string());
                    }
                }
            }
            (files, errors)
        };
        tokio::task::spawn_blocking(read).await.unwrap_or_else(|e| {
            (
                Vec::new(),
                vec![format!("reading the stack files failed: {e}")],
            )
        })
    }

    pub async fn report(&self, q: &DriftQuery) -> Result<DriftReport, DeployError> {
        let (stacks, errors) = self.desired().await;
        let snap = self.inner.deploy.current().await?;
        let fleet = self.inner.fleet.health();
        let now = now_ms();
        let mut items = compute(
            &stacks,
            &Observed {
                services: &snap.services,
                tasks: &snap.tasks,
                instances: &fleet.instances,
            },
            now,
        );
        self.rollback_targets(&stacks, &mut items).await?;
        self.keep_since(&mut items, now);
        let summary = DriftCategory::ALL
            .into_iter()
            .map(|category| DriftCount {
                category,
                count: items.iter().filter(|i| i.category == category).count(),
            })
            .collect();
        let total = items.len();
        Ok(DriftReport {
            summary,
            total,
            items: items.into_iter().filter(|i| q.matches(i)).collect(),
            stacks: stacks.iter().map(|s| s.stack.clone()).collect(),
            desired_sources: self
                .inner
                .settings
                .stacks
                .iter()
                .map(|s| format!("{} ({})", s.path.display(), s.name))
                .collect(),
            errors,
            observed_ms: snap.observed_ms,
            stale: snap.error.is_some(),
            computed_ms: now,
        })
    }

    /// A mismatched service whose history holds a spec matching its stack
    /// file (someone updated it by hand) is fixed by rolling back to that
    /// spec: the job, with its plan and gates, replaces the command.
    async fn rollback_targets(
        &self,
        stacks: &[StackFile],
        items: &mut [DriftItem],
    ) -> Result<(), DeployError> {
        let history = self.inner.deploy.history_store();
        for item in items.iter_mut().filter(|i| {
            matches!(
                i.category,
                DriftCategory::VersionMismatch | DriftCategory::ConfigMismatch
            )
        }) {
            let Some(d) = stacks
                .iter()
                .flat_map(|s| &s.services)
                .find(|d| d.name.as_str() == item.subject)
            else {
                continue;
            };
            // Newest first; the first is the spec running now.
            let records = history.list(&d.name, usize::MAX).await?;
            if let Some(r) = records.iter().skip(1).find(|r| {
                !image_differs(&r.summary.image, &d.spec.image)
                    && config_changes(&r.summary, d).is_empty()
            }) {
                item.remediation = Some(Remediation {
                    label: format!(
                        "Roll back to recorded spec #{} (as the stack file says)",
                        r.seq
                    ),
                    job: Some(JobKind::DeployRollback),
                    input: Some(serde_json::json!({ "service": d.name.as_str(), "to_seq": r.seq })),
                    href: format!("/deployments?service={}", d.name),
                    command: None,
                });
            }
        }
        Ok(())
    }

    /// Items without a time of their own (`since_ms == now`) keep the time
    /// this replica first saw them; forgotten once they are gone.
    fn keep_since(&self, items: &mut [DriftItem], now: u64) {
        let mut seen = self
            .inner
            .first_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut next = HashMap::with_capacity(items.len());
        for i in items.iter_mut() {
            let key = (i.category, i.subject.clone());
            let first = seen.get(&key).copied().unwrap_or(now);
            if i.since_ms == now {
                i.since_ms = first;
            }
            next.insert(key, first.min(i.since_ms));
        }
        *seen = next;
    }
}
