//! The job engine's metrics (prometheus-client), registered in the control
//! plane's registry (`/metrics`). Labels are bounded: the kind, the
//! outcome, and a step's class (its name up to `:`), never an id or an
//! endpoint.

use model::jobs::{JobKind, JobState};
use model::ErrorCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

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

/// The codes `Jobs::conflict` counts (the refusals of an Idempotency-Key).
const CONFLICT_CODES: [ErrorCode; 4] = [
    ErrorCode::IdempotencyKeyRequired,
    ErrorCode::BadIdempotencyKey,
    ErrorCode::IdempotencyKeyReused,
    ErrorCode::IdempotencyInFlight,
];

impl Default for JobMetrics {
    /// Every bounded label set starts at 0, so a dashboard shows 0 for a
    /// kind that has run no job yet rather than "no data". Step classes
    /// are known only once a job of the kind runs them.
    fn default() -> Self {
        let m = Self {
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
        for k in JobKind::ALL {
            let label = kind(k);
            m.created.get_or_create_owned(&label);
            m.in_flight.get_or_create_owned(&label);
            m.waiting.get_or_create_owned(&label);
            m.takeovers.get_or_create_owned(&label);
            for state in JobState::ALL.into_iter().filter(|s| s.is_terminal()) {
                m.finished.get_or_create_owned(&OutcomeLabels {
                    kind: label.kind.clone(),
                    outcome: state.as_str().to_owned(),
                });
            }
        }
        for code in CONFLICT_CODES {
            m.idempotency_conflicts.get_or_create_owned(&CodeLabel {
                code: code.as_str().to_owned(),
            });
        }
        m
    }
}

impl JobMetrics {
    /// One step attempt's duration. The step class's retry counter starts
    /// at 0 with its first attempt: a step that never retried shows 0.
    pub fn step_attempt(&self, labels: &StepLabels, seconds: f64) {
        self.step_seconds.get_or_create(labels).observe(seconds);
        self.step_retries.get_or_create_owned(labels);
    }

    /// Adds the job engine's families to the control plane's registry.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "control_jobs_created",
            "Jobs created, by kind",
            self.created.clone(),
        );
        r.register(
            "control_jobs_finished",
            "Jobs that reached a terminal state, by kind and outcome",
            self.finished.clone(),
        );
        r.register(
            "control_jobs_in_flight",
            "Jobs not finished (pending, running, cancelling), by kind",
            self.in_flight.clone(),
        );
        r.register(
            "control_jobs_waiting",
            "Jobs waiting for a lock, by kind",
            self.waiting.clone(),
        );
        r.register(
            "control_job_step_duration_seconds",
            "Duration of one step attempt, by kind and step class",
            self.step_seconds.clone(),
        );
        r.register(
            "control_job_step_retries",
            "Step attempts that failed and were retried",
            self.step_retries.clone(),
        );
        r.register(
            "control_job_lease_takeovers",
            "Jobs claimed after another runner's lease expired",
            self.takeovers.clone(),
        );
        r.register(
            "control_job_idempotency_replays",
            "Job creates answered with the stored response",
            self.replays.clone(),
        );
        r.register(
            "control_job_idempotency_conflicts",
            "Job creates refused for their Idempotency-Key, by code",
            self.idempotency_conflicts.clone(),
        );
    }
}

/// A step's class for labels: `reload:http://…` → `reload`.
pub fn step_class(name: &str) -> String {
    name.split(':').next().unwrap_or(name).to_owned()
}

pub fn kind(k: JobKind) -> KindLabel {
    KindLabel {
        kind: k.as_str().to_owned(),
    }
}
