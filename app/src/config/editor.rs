//! The document editor: the text with a line-number gutter, Validate (on
//! the server: every issue with its line, marked in the gutter), Plan (a
//! `config.apply` of the parsed text: diff, impact, gates, steps) and
//! Apply (a reason, then the job's live page). Editing the text drops a
//! validation or plan made of the text before.

use super::api::{create_config, plan_config, validate_config};
use super::launch::{not_startable, ConfigPlanView};
use super::DocRef;
use crate::jobs::launch::go_to_job;
use crate::ui::{error_text, use_toasts, Badge, Button, ButtonKind, ReasonDialog, Tone};
use leptos::prelude::*;
use model::config::Validation;
use model::jobs::JobKind;
use model::moves::Plan;
use std::collections::BTreeSet;

fn line_count(text: &str) -> usize {
    text.split('\n').count().max(1)
}

#[component]
pub fn Editor(
    doc: DocRef,
    /// The text the editor starts with (the current document, pretty).
    initial: String,
    /// The revision edited (`None`: the document does not exist yet).
    base_revision: Option<u64>,
    may_write: Signal<bool>,
) -> impl IntoView {
    let text = RwSignal::new(initial);
    let validation = RwSignal::new(None::<Result<Validation, String>>);
    let plan = RwSignal::new(None::<Result<Plan, String>>);
    let not_json = RwSignal::new(None::<String>);
    // The input as planned: the job is created from it.
    let asked = RwSignal::new(serde_json::Value::Null);
    let stored = StoredValue::new(doc);
    let lines = Memo::new(move |_| text.with(|t| line_count(t)));
    let marked = Memo::new(move |_| {
        validation.with(|v| match v {
            Some(Ok(v)) => v
                .issues
                .iter()
                .filter_map(|i| i.line)
                .collect::<BTreeSet<u32>>(),
            _ => BTreeSet::new(),
        })
    });
    let validate = Action::new(move |t: &String| {
        let d = stored.get_value();
        let call = validate_config(d.domain, d.name, d.scope, t.clone());
        async move {
            validation.set(Some(call.await.map_err(|e| error_text(&e))));
        }
    });
    let plan_it = Action::new(move |input: &serde_json::Value| {
        let call = plan_config(JobKind::ConfigApply, input.to_string());
        async move {
            plan.set(Some(call.await.map_err(|e| error_text(&e))));
        }
    });
    let on_plan = move || {
        plan.set(None);
        not_json.set(None);
        let document = match text.with_untracked(|t| serde_json::from_str::<serde_json::Value>(t)) {
            Ok(v) => v,
            Err(e) => {
                not_json.set(Some(format!(
                    "The text is not JSON (line {}, column {}): fix it first; Validate says where.",
                    e.line(),
                    e.column()
                )));
                return;
            }
        };
        let d = stored.get_value();
        let mut input = serde_json::json!({
            "domain": d.domain,
            "name": d.name,
            "scope": d.scope_text(),
            "document": document,
        });
        if let Some(b) = base_revision {
            input["base_revision"] = b.into();
        }
        asked.set(input.clone());
        plan_it.dispatch(input);
    };

    // Apply: the plan shown, a reason, the job.
    let open = RwSignal::new(false);
    let key = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<String>);
    let toasts = use_toasts();
    let started = go_to_job();
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
            match create_config(JobKind::ConfigApply, asked.to_string(), p.hash, k, reason).await {
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
    let cannot_apply = Signal::derive(move || {
        plan.with(|p| not_startable(p).is_some()) || plan_it.pending().get()
    });

    view! {
        <section class="config-editor" data-testid="config-editor-section">
            <h3>"Edit"</h3>
            <label for="config-editor">"Document (JSON)"</label>
            <div class="editor">
                <pre class="editor-gutter" aria-hidden="true" data-testid="config-gutter">
                    {move || {
                        let marked = marked.get();
                        (1..=lines.get() as u32).map(|n| {
                            let issue = marked.contains(&n);
                            view! {
                                <span class="gutter-line" class:gutter-issue=issue data-line=n data-issue=issue.then_some("true")>{n}</span>
                                "\n"
                            }
                        }).collect_view()
                    }}
                </pre>
                <textarea
                    id="config-editor"
                    data-testid="config-editor"
                    class="editor-text"
                    spellcheck="false"
                    autocomplete="off"
                    wrap="off"
                    rows=move || lines.get().to_string()
                    prop:value=move || text.get()
                    on:input=move |ev| {
                        text.set(event_target_value(&ev));
                        validation.set(None);
                        plan.set(None);
                        not_json.set(None);
                    }
                ></textarea>
            </div>
            <div class="page-actions">
                <Button
                    kind=ButtonKind::Secondary
                    attr:data-testid="config-validate"
                    disabled=Signal::derive(move || validate.pending().get())
                    on_click=move |_| { validate.dispatch(text.get_untracked()); }
                >"Validate"</Button>
                <Show when=move || may_write.get()>
                    <Button
                        kind=ButtonKind::Secondary
                        attr:data-testid="config-plan"
                        disabled=Signal::derive(move || plan_it.pending().get())
                        on_click=move |_| on_plan()
                    >"Plan"</Button>
                    <Button
                        kind=ButtonKind::Primary
                        attr:data-testid="config-apply"
                        disabled=cannot_apply
                        on_click=move |_| {
                            key.set(crate::jobs::launch::new_key());
                            failure.set(None);
                            open.set(true);
                        }
                    >"Apply…"</Button>
                </Show>
            </div>
            {move || not_json.get().map(|m| view! { <p class="field-error" role="alert" data-testid="config-not-json">{m}</p> })}
            {move || validation.get().map(|v| match v {
                Err(e) => view! { <p class="field-error" role="alert" data-testid="config-validate-error">{e}</p> }.into_any(),
                Ok(v) if v.valid => view! {
                    <p class="verdict verdict-ok" data-testid="config-valid">
                        "Valid"{v.sha256.map(|s| format!(" · sha256 {}", s.chars().take(12).collect::<String>()))}
                    </p>
                }.into_any(),
                Ok(v) => view! {
                    <div role="alert">
                        <p class="verdict verdict-error">{format!("{} issue(s)", v.issues.len())}</p>
                        <ul class="issues" data-testid="config-issues">
                            {v.issues.into_iter().map(|i| {
                                let line = i.line.map(|l| l.to_string());
                                let at = if i.pointer.is_empty() { "(the document)".to_owned() } else { i.pointer.clone() };
                                let code = i.code.clone();
                                view! {
                                    <li data-testid="config-issue" data-code=i.code data-line=line.clone()>
                                        {format!("line {}", line.clone().unwrap_or_else(|| "?".into()))}
                                        " · "<Badge tone=Tone::Error>{code}</Badge>
                                        " · "<code>{at}</code>
                                        " · "{i.message.clone()}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </div>
                }.into_any(),
            })}
            {move || plan.get().map(|p| match p {
                Err(e) => view! { <p class="field-error" role="alert" data-testid="plan-error">{e}</p> }.into_any(),
                Ok(p) => view! {
                    <section class="card" data-testid="config-plan-result">
                        <h3>"Plan"</h3>
                        <ConfigPlanView plan=p />
                    </section>
                }.into_any(),
            })}
            {move || plan_it.pending().get().then(|| view! { <p class="muted">"Planning…"</p> })}
            <ReasonDialog
                open=open
                id="config-apply-dialog"
                title="Apply the change"
                confirm="Start job"
                pending=Signal::derive(move || run.pending().get())
                failure=failure
                on_confirm=Callback::new(move |reason| {
                    run.dispatch((key.get_untracked(), reason));
                })
            >
                <p>{move || format!(
                    "Starts the config.apply job of the plan shown (plan {}): it writes {} and waits until it is loaded; a failure or a cancel writes the previous revision back.",
                    plan.with(|p| match p { Some(Ok(p)) => p.hash.chars().take(12).collect::<String>(), _ => "—".into() }),
                    stored.with_value(|d| d.label()),
                )}</p>
            </ReasonDialog>
        </section>
    }
    .into_any()
}
