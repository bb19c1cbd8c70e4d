//! The confirmation flow of a config change: the plan (the document's
//! diff, who it reaches, then the gates and steps as every move shows
//! them), a reason, an Idempotency-Key made once per opening, then the
//! job's live page. A blocked plan cannot be started. The job is created
//! from the input the operator planned, not from the plan's own `input`.

use super::api;
use super::widgets::DiffView;
use crate::moves::PlanView;
use crate::ui::{error_text, use_toasts, Button, ButtonKind, ReasonDialog};
use leptos::prelude::*;
use model::config::{ConfigChange, Impact};
use model::jobs::JobKind;
use model::moves::Plan;
use std::future::Future;

/// A config plan as the operator confirms it: the change, then the plan.
#[component]
pub fn ConfigPlanView(plan: Plan) -> impl IntoView {
    let change = plan.change.clone();
    view! {
        <div class="config-plan" data-testid="config-plan-view">
            {change.map(|c| view! { <ChangeView change=c /> })}
            <PlanView plan=plan />
        </div>
    }
    .into_any()
}

#[component]
fn ChangeView(change: ConfigChange) -> impl IntoView {
    let diff = change.diff;
    let ops = diff.patch.len();
    view! {
        <section class="config-change" data-testid="plan-change">
            <h3>{format!("{} against revision {}", change.id, change.base_revision)}</h3>
            <p class="muted" data-testid="plan-diff-summary">
                {format!("+{} −{} lines · {ops} JSON Patch operation(s)", diff.added, diff.removed)}
            </p>
            <DiffView lines=diff.lines testid="plan-diff" />
            <ImpactView impact=change.impact />
        </section>
    }
    .into_any()
}

fn list_or_none(items: Vec<String>) -> AnyView {
    if items.is_empty() {
        view! { <span class="muted">"none"</span> }.into_any()
    } else {
        view! {
            <ul class="plain config-list">
                {items.into_iter().map(|i| view! { <li><code>{i}</code></li> }).collect_view()}
            </ul>
        }
        .into_any()
    }
}

/// Who a change reaches.
#[component]
fn ImpactView(impact: Impact) -> impl IntoView {
    let listed = impact.moves.len() as u64;
    let moved = impact.tenants_moved;
    let fraction = format!("{:.1} %", impact.max_shard_fraction * 100.0);
    view! {
        <dl class="facts config-impact" data-testid="plan-impact">
            <dt>"Tenants moved"</dt><dd data-testid="impact-moved">{moved}</dd>
            <dt>"Tenants whose resolution changes"</dt><dd data-testid="impact-changed">{impact.tenants_changed}</dd>
            <dt>"Largest share of one shard moved"</dt><dd data-testid="impact-fraction">{fraction}</dd>
            <dt>"Receiving shards"</dt><dd data-testid="impact-receiving">{list_or_none(impact.receiving_shards)}</dd>
            <dt>"Must load the change"</dt><dd data-testid="impact-reload">{list_or_none(impact.reload)}</dd>
        </dl>
        {(!impact.moves.is_empty()).then(|| view! {
            <table class="data-table" data-testid="impact-moves">
                <caption>{if listed < moved { format!("The first {listed} of {moved} moves") } else { format!("{moved} moves") }}</caption>
                <thead><tr><th scope="col">"Kind"</th><th scope="col">"Tenant"</th><th scope="col">"From"</th><th scope="col">"To"</th></tr></thead>
                <tbody>
                    {impact.moves.into_iter().map(|m| view! {
                        <tr>
                            <td>{m.kind.as_str()}</td>
                            <td><code>{m.tenant.to_string()}</code></td>
                            <td>{m.from.unwrap_or_else(|| "—".into())}</td>
                            <td>{m.to.unwrap_or_else(|| "—".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
    .into_any()
}

/// Why a plan cannot be started, if it cannot.
pub(super) fn not_startable(plan: &Option<Result<Plan, String>>) -> Option<&'static str> {
    match plan {
        Some(Ok(p)) if p.blocked => Some("A gate failed: this plan cannot be started."),
        Some(Ok(_)) => None,
        _ => Some("No plan to start: wait for it, or close and try again."),
    }
}

/// A button opening the plan dialog of a `kind` config job. `input` makes
/// the job's input when the dialog opens (it may read a document first);
/// its error is shown in the dialog.
#[component]
pub fn ConfigLauncher<F, Fut>(
    /// The button's `data-testid`; the dialog is `<id>-dialog`.
    #[prop(into)]
    id: String,
    #[prop(into)] label: String,
    #[prop(into)] title: String,
    kind: JobKind,
    input: F,
    #[prop(optional)] secondary: bool,
    #[prop(into, optional)] disabled: Signal<bool>,
) -> impl IntoView
where
    F: Fn() -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<serde_json::Value, String>> + Send + 'static,
{
    let open = RwSignal::new(false);
    let key = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<String>);
    let plan = RwSignal::new(None::<Result<Plan, String>>);
    let asked = RwSignal::new(serde_json::Value::Null);
    let toasts = use_toasts();
    let started = crate::jobs::launch::go_to_job();
    let fetch = Action::new(move |_: &()| {
        let made = input();
        async move {
            let result = match made.await {
                Err(e) => Err(e),
                Ok(i) => {
                    asked.set(i.clone());
                    api::plan_config(kind, i.to_string())
                        .await
                        .map_err(|e| error_text(&e))
                }
            };
            plan.set(Some(result));
        }
    });
    let run = Action::new(move |(k, reason): &(String, String)| {
        let current = plan.get_untracked();
        let asked = asked.get_untracked();
        let (k, reason) = (k.clone(), reason.clone());
        async move {
            if let Some(why) = not_startable(&current) {
                failure.set(Some(why.into()));
                return;
            }
            let Some(Ok(p)) = current else { return };
            match api::create_config(kind, asked.to_string(), p.hash, k, reason).await {
                Ok(job) => {
                    open.set(false);
                    started.set(Some(job));
                }
                Err(e) => {
                    failure.set(Some(error_text(&e)));
                    toasts.error(&e, None);
                }
            }
        }
    });
    let dialog = format!("{id}-dialog");
    view! {
        <Button
            kind=if secondary { ButtonKind::Secondary } else { ButtonKind::Primary }
            attr:data-testid=id.clone()
            disabled=disabled
            on_click=move |_| {
                key.set(crate::jobs::launch::new_key());
                failure.set(None);
                plan.set(None);
                asked.set(serde_json::Value::Null);
                fetch.dispatch(());
                open.set(true);
            }
        >{label.clone()}</Button>
        <ReasonDialog
            open=open
            id=dialog
            title=title
            confirm="Start job"
            pending=Signal::derive(move || run.pending().get() || plan.get().is_none())
            failure=failure
            on_confirm=Callback::new(move |reason| {
                run.dispatch((key.get_untracked(), reason));
            })
        >
            {move || match plan.get() {
                None => view! { <p class="muted">"Planning…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="field-error" role="alert" data-testid="plan-error">{e}</p> }.into_any(),
                Some(Ok(p)) => view! { <ConfigPlanView plan=p /> }.into_any(),
            }}
        </ReasonDialog>
    }
    .into_any()
}
