//! Pieces both Jobs pages show: the state badge, the progress bar, the
//! duration.

use crate::ui::{Badge, Tone};
use leptos::prelude::*;
use model::jobs::{Job, JobState, StepState};

pub fn state_tone(s: JobState) -> Tone {
    match s {
        JobState::Succeeded => Tone::Ok,
        JobState::Failed => Tone::Error,
        JobState::Cancelled | JobState::Cancelling => Tone::Warn,
        JobState::Running => Tone::Info,
        JobState::Pending | JobState::Waiting => Tone::Neutral,
    }
}

#[component]
pub fn StateBadge(state: JobState) -> impl IntoView {
    view! { <span data-testid="job-state" data-state=state.as_str()><Badge tone=state_tone(state)>{state.as_str()}</Badge></span> }
}

pub fn step_tone(s: StepState) -> Tone {
    match s {
        StepState::Succeeded => Tone::Ok,
        StepState::Failed => Tone::Error,
        StepState::Running => Tone::Info,
        StepState::Pending | StepState::Skipped => Tone::Neutral,
    }
}

#[component]
pub fn Progress(job: Job) -> impl IntoView {
    let p = job.progress();
    // A step moving many items (an evacuation's tenants) counts those.
    let (done, total, text) = match p.items {
        Some(i) => (i.done, i.total, format!(" {}/{} items", i.done, i.total)),
        None => (
            p.done as u64,
            p.total as u64,
            format!(" {}/{}", p.done, p.total),
        ),
    };
    let label = format!("{done} of {total}");
    view! {
        <span class="progress-cell" data-testid="job-progress">
            <progress max=total.max(1).to_string() value=done.to_string() aria-label=label.clone()></progress>
            <span class="muted">{text}</span>
        </span>
    }
}

/// `1.2 s`, `3 min 4 s`: how long something took (or has taken).
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}
