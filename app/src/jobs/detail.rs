//! One job: its steps as a timeline (attempts, durations, errors,
//! outputs), live from `/admin/v1/jobs/{id}/events`; cancel with a reason;
//! its ids, copyable, and a link to its audit events.

use super::api::{cancel_job, get_job};
use super::widgets::{duration, step_tone, Progress, StateBadge};
use crate::shell::frame::PageFrame;
use crate::shell::layout::Session;
use crate::shell::nav::page;
use crate::support::clock::use_now;
use crate::support::format::encode;
use crate::ui::{
    error_alert, error_text, use_toasts, Badge, Button, ButtonKind, IdChip, ReasonDialog, Time,
};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use model::jobs::Job;

#[component]
pub fn JobPage() -> impl IntoView {
    let info = page("/jobs").expect("jobs is a nav page");
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("job").unwrap_or_default());
    let fetched = Resource::new(move || id.get(), get_job);
    // The latest record from the live stream, newer than the fetch.
    let live = RwSignal::new(None::<Job>);
    Effect::new(move |_| {
        let id = id.get();
        live.set(None);
        crate::support::live::listen(
            &format!("/admin/v1/jobs/{}/events", encode(&id)),
            "job",
            move |data| {
                if let Ok(j) = serde_json::from_str::<Job>(&data) {
                    live.set(Some(j));
                }
            },
        );
    });
    let session = expect_context::<Session>();
    let toasts = use_toasts();
    let open = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let cancel = Action::new(move |(id, reason): &(String, String)| {
        let call = cancel_job(id.clone(), reason.clone());
        async move {
            match call.await {
                Ok(j) => {
                    open.set(false);
                    live.set(Some(j));
                    toasts.info("Cancel requested", None);
                }
                Err(e) => {
                    failure.set(Some(error_text(&e)));
                    toasts.error(&e, None);
                }
            }
        }
    });
    view! {
        <PageFrame info=info>
            <Transition fallback=|| view! { <p class="muted">"Loading the job…"</p> }>
                {move || fetched.get().map(|r| match (r, live.get()) {
                    (Err(e), _) => error_alert(e),
                    (Ok(fetched), newer) => {
                        let j = match newer {
                            Some(n) if n.id == fetched.id && n.updated_ms >= fetched.updated_ms => n,
                            _ => fetched,
                        };
                        let may_cancel = !j.state.is_terminal()
                            && j.cancel.is_none()
                            && !j.past_point_of_no_return()
                            && crate::iam::caller(session).is_some_and(|w| w.can(j.kind.right()));
                        job_view(j, may_cancel, open, failure).into_any()
                    }
                })}
            </Transition>
            <ReasonDialog
                open=open
                id="cancel-job"
                title="Cancel job"
                confirm="Cancel job"
                pending=Signal::derive(move || cancel.pending().get())
                failure=failure
                on_confirm=Callback::new(move |reason| {
                    cancel.dispatch((id.get_untracked(), reason));
                })
            >
                <p>"The job stops before its next step and undoes what it did so far. A job past its point of no return cannot be cancelled."</p>
            </ReasonDialog>
        </PageFrame>
    }
}

fn job_view(
    j: Job,
    may_cancel: bool,
    open: RwSignal<bool>,
    failure: RwSignal<Option<String>>,
) -> impl IntoView {
    let now = use_now();
    let audit = format!("/audit?id={}", encode(j.id.as_str()));
    let steps = j.steps.clone().into_iter().map(|s| {
        let (name, label) = (s.name.clone(), s.name.clone());
        let took = s.started_ms.map(|start| s.finished_ms.unwrap_or_else(|| now.get_untracked()).saturating_sub(start));
        view! {
            <li class="step" data-testid="job-step" data-step=name data-state=format!("{:?}", s.state).to_lowercase()>
                <div class="step-head">
                    <Badge tone=step_tone(s.state)>{format!("{:?}", s.state).to_lowercase()}</Badge>
                    " "<strong>{label}</strong>
                    <span class="muted">{format!(" attempt {}/{}", s.attempts, s.max_attempts)}</span>
                    {took.map(|t| view! { <span class="muted">{format!(" · {}", duration(t))}</span> })}
                </div>
                {s.error.map(|e| view! { <p class="field-error" data-testid="step-error"><code>{e.code}</code>": "{e.message}</p> })}
                {s.output.map(|o| view! { <pre class="step-output">{o.to_string()}</pre> })}
            </li>
        }
    }).collect_view();
    view! {
        <section class="job" data-testid="job-detail" data-job=j.id.to_string()>
            <h2><code>{j.id.to_string()}</code>" "<StateBadge state=j.state /></h2>
            <dl class="facts">
                <dt>"Kind"</dt><dd>{j.kind.as_str()}</dd>
                <dt>"Target"</dt><dd>{match j.target.tenant() {
                    Some(t) => view! { <a href=format!("/tenants/{}", crate::support::format::encode(t.as_str())) data-testid="job-tenant-link">{j.target.to_string()}</a> }.into_any(),
                    None => j.target.to_string().into_any(),
                }}</dd>
                <dt>"Progress"</dt><dd><Progress job=j.clone() /></dd>
                <dt>"By"</dt><dd>{j.principal.sub.clone()}</dd>
                <dt>"Reason"</dt><dd>{j.reason.clone()}</dd>
                <dt>"Created"</dt><dd><Time ms=j.created_ms /></dd>
                {j.waiting_for.clone().map(|w| view! { <dt>"Waiting for"</dt><dd data-testid="waiting-for">{w}</dd> })}
                {j.error.clone().map(|e| view! { <dt>"Error"</dt><dd class="field-error"><code>{e.code}</code>": "{e.message}</dd> })}
                {j.cancel.clone().map(|c| view! { <dt>"Cancelled by"</dt><dd>{format!("{}: {}", c.by.sub, c.reason)}</dd> })}
                <dt>"Ids"</dt>
                <dd>
                    <IdChip kind="job" value=j.id.to_string() />
                    <IdChip kind="request" value=j.ids.request_id.clone() />
                    <IdChip kind="correlation" value=j.ids.correlation_id.clone() />
                    <IdChip kind="trace" value=j.ids.trace_id.clone() />
                    <IdChip kind="idempotency key" value=j.idempotency_key.clone() />
                </dd>
            </dl>
            <p><a href=audit data-testid="job-audit-link">"Audit events of this job"</a></p>
            {reverse_of(&j).map(|(kind, input)| view! {
                <div class="page-actions" data-testid="job-reverse">
                    <crate::moves::MoveLauncher id="reverse-job" label=format!("Plan the reverse ({kind})") title=format!("Walk back: {kind}") kind=kind input=Signal::stored(input) secondary=true />
                </div>
            })}
            {may_cancel.then(|| view! {
                <Button kind=ButtonKind::Danger attr:data-testid="cancel-job" on_click=move |_| { failure.set(None); open.set(true); }>"Cancel job"</Button>
            })}
            <h3>"Steps"</h3>
            <ol class="timeline" data-testid="job-steps">{steps}</ol>
        </section>
    }
}

/// The reverse job a finished move offers in its result.
fn reverse_of(j: &Job) -> Option<(model::jobs::JobKind, serde_json::Value)> {
    let r = j.result.as_ref()?.get("reverse")?;
    let kind = serde_json::from_value(r.get("kind")?.clone()).ok()?;
    Some((kind, r.get("input")?.clone()))
}
