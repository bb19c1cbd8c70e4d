//! One document: the current revision (read-only, with its metadata), its
//! pin with Unpin, its history, a diff between any two kept revisions,
//! Rollback, and the editor. A document that does not exist yet opens the
//! editor on an empty object (its first apply is against revision 0).

use super::api::{get_config, get_config_diff, get_config_history, unpin_config};
use super::editor::Editor;
use super::launch::ConfigLauncher;
use super::widgets::{source_text, DiffView, PinBadge, ShaChip};
use super::DocRef;
use crate::error::AppError;
use crate::shell::layout::Session;
use crate::ui::{error_alert, error_text, use_toasts, Button, ButtonKind, ReasonDialog, Time};
use leptos::prelude::*;
use leptos_router::components::A;
use model::config::{ConfigDiff, ConfigDocument, ConfigHistory, Domain, RevisionMeta};
use model::jobs::JobKind;
use model::rights::Right;
use model::ErrorCode;

#[component]
pub fn DocumentView(doc: DocRef) -> impl IntoView {
    let session = expect_context::<Session>();
    let may_write = Signal::derive(move || {
        crate::iam::caller(session).is_some_and(|w| w.can(Right::ConfigWrite))
    });
    // Bumped when the document changed here (an unpin).
    let tick = RwSignal::new(0u64);
    let d = doc.clone();
    let current = Resource::new(move || tick.get(), move |_| load(d.clone()));
    let label = doc.label();
    let stored = StoredValue::new(doc);
    view! {
        <p><A href="/config">"← All documents"</A></p>
        <h2 data-testid="config-doc-title"><code>{label}</code></h2>
        <Transition fallback=|| view! { <p class="muted">"Loading the document…"</p> }>
            {move || current.get().map(|loaded| {
                let doc = stored.get_value();
                match loaded.doc {
                    Err(e) if e.code() == ErrorCode::NotFound && Domain::parse(&doc.domain).is_some() => view! {
                        <p class="empty-state" data-testid="config-new">
                            "This document does not exist yet; its defaults apply. Write its first revision below."
                        </p>
                        <Editor doc=doc initial="{}".to_owned() base_revision=None may_write=may_write />
                    }
                    .into_any(),
                    Err(e) => error_alert(e),
                    Ok(c) => view! {
                        <Existing doc=doc current=c history=loaded.history diff=loaded.diff may_write=may_write tick=tick />
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

/// What the view shows at first, read in one go (one resource, so the
/// page hydrates without nested transitions): the document, its history
/// and the diff of the previous kept revision against the current one.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Loaded {
    doc: Result<ConfigDocument, AppError>,
    history: Option<Result<ConfigHistory, AppError>>,
    diff: Option<Shown>,
}

/// A diff as shown: `from` against `to`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Shown {
    from: u64,
    to: u64,
    diff: Result<ConfigDiff, AppError>,
}

async fn load(d: DocRef) -> Loaded {
    let doc = get_config(d.domain.clone(), d.name.clone(), d.scope.clone(), None).await;
    let Ok(current) = doc.as_ref().map(|c| c.summary.meta.revision) else {
        return Loaded {
            doc,
            history: None,
            diff: None,
        };
    };
    let history = get_config_history(d.domain.clone(), d.name.clone(), d.scope.clone()).await;
    let previous = history
        .as_ref()
        .ok()
        .and_then(|h| previous_kept(&h.revisions, current));
    let diff = match previous {
        Some(from) => Some(Shown {
            from,
            to: current,
            diff: get_config_diff(d.domain, d.name, d.scope, Some(from), Some(current)).await,
        }),
        None => None,
    };
    Loaded {
        doc,
        history: Some(history),
        diff,
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

#[component]
fn Existing(
    doc: DocRef,
    current: ConfigDocument,
    history: Option<Result<ConfigHistory, AppError>>,
    diff: Option<Shown>,
    may_write: Signal<bool>,
    tick: RwSignal<u64>,
) -> impl IntoView {
    let meta = current.summary.meta.clone();
    let text = pretty(&current.document);
    let pinned = current.summary.pinned.clone();
    view! {
        <dl class="facts" data-testid="config-meta">
            <dt>"Revision"</dt><dd data-testid="config-revision">{meta.revision}</dd>
            <dt>"SHA-256"</dt><dd><ShaChip sha=meta.sha256.clone() /></dd>
            <dt>"Updated by"</dt><dd>{meta.updated_by.clone().unwrap_or_else(|| "— (written outside the registry)".into())}</dd>
            <dt>"Updated"</dt><dd>{match meta.updated_at_ms {
                Some(ms) => view! { <Time ms=ms /> }.into_any(),
                None => "—".into_any(),
            }}</dd>
            {meta.job.clone().map(|j| view! { <dt>"Job"</dt><dd><A href=crate::jobs::job_href(j.as_str())><code>{j.to_string()}</code></A></dd> })}
            {meta.reason.clone().map(|r| view! { <dt>"Reason"</dt><dd>{r}</dd> })}
            <dt>"Source"</dt><dd><code>{source_text(&current.summary.source)}</code></dd>
        </dl>
        <Pinned doc=doc.clone() pin=pinned may_write=may_write tick=tick />
        <details class="config-current" open>
            <summary>"Current document"</summary>
            <pre class="config-json" data-testid="config-document" tabindex="0" role="region" aria-label="Current document">{text.clone()}</pre>
        </details>
        {match history {
            Some(Ok(h)) => view! { <History doc=doc.clone() revisions=h.revisions current=meta.clone() diff=diff may_write=may_write /> }.into_any(),
            Some(Err(e)) => error_alert(e),
            None => ().into_any(),
        }}
        <Editor doc=doc initial=text base_revision=Some(meta.revision) may_write=may_write />
    }
    .into_any()
}

/// The pin a rollback left, with Unpin (a reason, audited).
#[component]
fn Pinned(
    doc: DocRef,
    pin: Option<model::config::Pin>,
    may_write: Signal<bool>,
    tick: RwSignal<u64>,
) -> impl IntoView {
    let Some(pin) = pin else {
        return view! {
            <p data-testid="config-pinned" data-pinned="false" class="muted">"Not pinned: applies are allowed."</p>
        }
        .into_any();
    };
    let open = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let toasts = use_toasts();
    let stored = StoredValue::new(doc);
    let unpin = Action::new(move |reason: &String| {
        let d = stored.get_value();
        let call = unpin_config(d.domain, d.name, d.scope, reason.clone());
        async move {
            match call.await {
                Ok(_) => {
                    open.set(false);
                    toasts.info("Unpinned", None);
                    tick.update(|t| *t += 1);
                }
                Err(e) => {
                    failure.set(Some(error_text(&e)));
                    toasts.error(&e, None);
                }
            }
        }
    });
    let job = pin.job.clone();
    view! {
        <section class="card config-pin" data-testid="config-pinned" data-pinned="true">
            <p>
                <PinBadge pin=pin.clone() />" "
                {format!("Pinned by {} after a rollback to revision {}: ", pin.by, pin.revision)}
                <q>{pin.reason.clone()}</q>" "<Time ms=pin.at_ms />
                {job.map(|j| view! { " · " <A href=crate::jobs::job_href(j.as_str())>"the rollback job"</A> })}
            </p>
            <p class="muted">"Applies are refused until an operator unpins the document."</p>
            <Show when=move || may_write.get()>
                <Button kind=ButtonKind::Secondary attr:data-testid="config-unpin" on_click=move |_| { failure.set(None); open.set(true); }>"Unpin…"</Button>
            </Show>
            <ReasonDialog
                open=open
                id="config-unpin-dialog"
                title="Unpin the document"
                confirm="Unpin"
                pending=Signal::derive(move || unpin.pending().get())
                failure=failure
                on_confirm=Callback::new(move |reason| {
                    unpin.dispatch(reason);
                })
            >
                <p>"Applies to this document are allowed again. The document itself does not change."</p>
            </ReasonDialog>
        </section>
    }
    .into_any()
}

fn who(m: &RevisionMeta) -> String {
    m.updated_by.clone().unwrap_or_else(|| "—".into())
}

/// The revisions (newest first), the diff between two of them, and
/// Rollback to an earlier kept one.
#[component]
fn History(
    doc: DocRef,
    revisions: Vec<RevisionMeta>,
    current: RevisionMeta,
    diff: Option<Shown>,
    may_write: Signal<bool>,
) -> impl IntoView {
    let stored = StoredValue::new(doc);
    let for_rollback = revisions.clone();
    view! {
        {history_table(revisions.clone())}
        <Compare doc=stored.get_value() revisions=revisions initial=diff />
        <Show when=move || may_write.get()>
            <Rollback doc=stored.get_value() revisions=for_rollback.clone() current=current.clone() />
        </Show>
    }
    .into_any()
}

fn history_table(revisions: Vec<RevisionMeta>) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="History">
            <table class="data-table" data-testid="config-history">
                <caption>{format!("{} revisions, newest first", revisions.len())}</caption>
                <thead><tr>
                    <th scope="col">"Revision"</th><th scope="col">"SHA-256"</th><th scope="col">"By"</th>
                    <th scope="col">"When"</th><th scope="col">"Job"</th><th scope="col">"Reason"</th><th scope="col">"Kept"</th>
                </tr></thead>
                <tbody>
                    {revisions.into_iter().map(|m| view! {
                        <tr data-revision=m.revision.to_string()>
                            <td>{m.revision}</td>
                            <td><ShaChip sha=m.sha256.clone() /></td>
                            <td>{who(&m)}</td>
                            <td>{match m.updated_at_ms {
                                Some(ms) => view! { <Time ms=ms /> }.into_any(),
                                None => "—".into_any(),
                            }}</td>
                            <td>{m.job.clone().map(|j| view! { <A href=crate::jobs::job_href(j.as_str())><code>{j.to_string()}</code></A> })}</td>
                            <td class="audit-reason">{m.reason.clone().unwrap_or_default()}</td>
                            <td>{if m.kept { "yes" } else { "metadata only" }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The newest kept revision before `current`.
fn previous_kept(revisions: &[RevisionMeta], current: u64) -> Option<u64> {
    revisions
        .iter()
        .filter(|m| m.kept && m.revision < current)
        .map(|m| m.revision)
        .max()
}

fn revision_select(
    id: &'static str,
    label: &'static str,
    kept: Vec<u64>,
    value: RwSignal<Option<u64>>,
    on_pick: impl Fn(Option<u64>) + 'static,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select
                id=id
                data-testid=id
                on:change=move |ev| on_pick(event_target_value(&ev).parse().ok())
            >
                {kept.into_iter().map(|r| view! {
                    <option value=r.to_string() selected=move || value.get() == Some(r)>{format!("revision {r}")}</option>
                }).collect_view()}
            </select>
        </div>
    }
    .into_any()
}

/// The diff between two kept revisions (first: the previous one against
/// the current one, read with the document); another pair is fetched when
/// a select changes.
#[component]
fn Compare(doc: DocRef, revisions: Vec<RevisionMeta>, initial: Option<Shown>) -> impl IntoView {
    let kept: Vec<u64> = revisions
        .iter()
        .filter(|m| m.kept)
        .map(|m| m.revision)
        .collect();
    let Some(initial) = initial else {
        return view! {
            <section class="config-compare">
                <h3>"Diff"</h3>
                <p class="muted" data-testid="config-diff" data-empty="true">"Only one kept revision: nothing to compare yet."</p>
            </section>
        }
        .into_any();
    };
    let from = RwSignal::new(Some(initial.from));
    let to = RwSignal::new(Some(initial.to));
    let shown = RwSignal::new(initial.diff);
    let stored = StoredValue::new(doc);
    let fetch = Action::new(move |(f, t): &(Option<u64>, Option<u64>)| {
        let d = stored.get_value();
        let call = get_config_diff(d.domain, d.name, d.scope, *f, *t);
        async move { shown.set(call.await) }
    });
    let pick = move |which: RwSignal<Option<u64>>, v: Option<u64>| {
        which.set(v);
        fetch.dispatch((from.get_untracked(), to.get_untracked()));
    };
    view! {
        <section class="config-compare">
            <h3>"Diff"</h3>
            <div class="filters" role="group" aria-label="Revisions to compare">
                {revision_select("config-diff-from", "From", kept.clone(), from, move |v| pick(from, v))}
                {revision_select("config-diff-to", "To", kept, to, move |v| pick(to, v))}
            </div>
            {move || fetch.pending().get().then(|| view! { <p class="muted">"Comparing…"</p> })}
            {move || match shown.get() {
                Err(e) => error_alert(e),
                Ok(d) => view! {
                    <p class="muted" data-testid="config-diff-summary">
                        {format!("+{} −{} lines · {} JSON Patch operation(s)", d.added, d.removed, d.patch.len())}
                    </p>
                    <DiffView lines=d.lines testid="config-diff" />
                }
                .into_any(),
            }}
        </section>
    }
    .into_any()
}

/// Rollback to an earlier kept revision whose document differs (default:
/// the newest such); the job pins the document when it is done.
#[component]
fn Rollback(doc: DocRef, revisions: Vec<RevisionMeta>, current: RevisionMeta) -> impl IntoView {
    let targets: Vec<u64> = revisions
        .iter()
        .filter(|m| m.kept && m.revision < current.revision && m.sha256 != current.sha256)
        .map(|m| m.revision)
        .collect();
    let target = RwSignal::new(targets.first().copied());
    let stored = StoredValue::new(doc);
    let base = current.revision;
    let input = move || {
        let d = stored.get_value();
        let to = target.get_untracked();
        async move {
            let to = to.ok_or_else(|| "No earlier kept revision to roll back to.".to_owned())?;
            Ok(serde_json::json!({
                "domain": d.domain,
                "name": d.name,
                "scope": d.scope_text(),
                "to_revision": to,
                "base_revision": base,
            }))
        }
    };
    let none = targets.is_empty();
    view! {
        <section class="config-rollback page-actions" data-testid="config-rollback-form">
            <h3>"Roll back"</h3>
            {if none {
                view! { <p class="muted">"No earlier kept revision with a different document to roll back to."</p> }.into_any()
            } else {
                revision_select("config-rollback-target", "Back to", targets, target, move |v| target.set(v)).into_any()
            }}
            <ConfigLauncher
                id="config-rollback"
                label="Roll back…"
                title="Roll back the document"
                kind=JobKind::ConfigRollback
                input=input
                secondary=true
                disabled=Signal::derive(move || none)
            />
            <p class="muted">"The rollback writes the chosen revision's document as a new revision and pins the document: applies are refused until it is unpinned."</p>
        </section>
    }
    .into_any()
}
