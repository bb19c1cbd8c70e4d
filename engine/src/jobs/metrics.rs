//! The job engine's metrics (prometheus-client), exposed on `/metrics`
//! beside the HTTP ones. Labels are bounded: the kind, the outcome, and a
//! step's class (its name up to `:`), never an id or an endpoint.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub kind: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub kind: String,
    pub step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

fn step_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

pub struct JobMetrics {
    registry: Mutex<Registry>,
    pub created: Family<KindLabel, Counter>,
    pub finished: Family<OutcomeLabels, Counter>,
    pub in_flight: Family<KindLabel, Gauge>,
    pub waiting: Family<KindLabel, Gauge>,
    pub step_seconds: Family<StepLabels, Histogram, fn() -> Histogram>,
    pub step_retries: Family<StepLabels, Counter>,
    pub takeovers: Family<KindLabel, Counter>,
    pub replays: Counter,
    pub idempotency_conflicts: Family<CodeLabel, Counter>,
}

impl Default for JobMetrics {
    fn default() -> Self {
        let m = Self {
            registry: Mutex::new(Registry::default()),
            created: Family::default(),
            finished: Family::default(),
            in_flight: Family::default(),
            waiting: Family::default(),
            step_seconds: Family::new_with_constructor(step_histogram as fn() -> Histogram),
            step_retries: Family::default(),
            takeovers: Family::default(),
            replays: Counter::default(),
            idempotency_conflicts: Family::default(),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|p| p.into_inner());
            r.register(
                "control_jobs_created",
                "Jobs created, by kind",
                m.created.clone(),
            );
            r.register(
                "control_jobs_finished",
                "Jobs that reached a terminal state, by kind and outcome",
                m.finished.clone(),
            );
            r.register(
                "control_jobs_in_flight",
                "Jobs not finished (pending, running, cancelling), by kind",
                m.in_flight.clone(),
            );
            r.register(
                "control_jobs_waiting",
                "Jobs waiting for a lock, by kind",
                m.waiting.clone(),
            );
            r.register(
                "control_job_step_duration_seconds",
                "Duration of one step attempt, by kind and step class",
                m.step_seconds.clone(),
            );
            r.register(
                "control_job_step_retries",
                "Step attempts that failed and were retried",
                m.step_retries.clone(),
            );
            r.register(
                "control_job_lease_takeovers",
                "Jobs claimed after another runner's lease expired",
                m.takeovers.clone(),
            );
            r.register(
                "control_job_idempotency_replays",
                "Job creates answered with the stored response",
                m.replays.clone(),
            );
            r.register(
                "control_job_idempotency_conflicts",
                "Job creates refused for their Idempotency-Key, by code",
                m.idempotency_conflicts.clone(),
            );
        }
        m
    }
}

impl JobMetrics {
    /// Prometheus text exposition (without the `# EOF` of OpenMetrics,
    /// since it is appended to the other metrics).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode_registry(&mut out, &r).is_err() {
            return String::new();
        }
        out
    }
}

/// A step's class for labels: `reload:http://…` → `reload`.
pub fn step_class(name: &str) -> String {
    name.split(':').next().unwrap_or(name).to_owned()
}

pub fn kind(k: model::jobs::JobKind) -> KindLabel {
    KindLabel {
        kind: k.as_str().to_owned(),
    }
}
