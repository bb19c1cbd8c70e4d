//! The Platform Drift page: the counts per category (each a link setting
//! the category filter), the items with what differs, since when, and
//! their remediation. Filters live in the URL (`?category=&stack=&q=`).

use super::api::get_drift;
use super::{category_tone, drift_href, is_swarm_service, REFRESH_MS};
use crate::error::AppError;
use crate::moves::MoveLauncher;
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::support::clock::use_period;
use crate::support::flow::background;
use crate::support::url::url_text;
use crate::ui::{copy_to_clipboard, error_alert, use_toasts, Badge, Select, TextInput, Time};
use leptos::prelude::*;
use leptos_router::components::A;
use model::deploy::SpecChange;
use model::drift::{DriftCategory, DriftItem, DriftQuery, DriftReport, Remediation};
use model::jobs::JobKind;

#[component]
pub fn DriftPage() -> impl IntoView {
    let info = page("/drift").expect("drift is a nav page");
    view! {
        <PageFrame info=info>
            <DriftView />
        </PageFrame>
    }
    .into_any()
}

/// The filters in the URL, and the text filter being typed.
#[derive(Clone, Copy)]
struct Filters {
    category: RwSignal<String>,
    stack: RwSignal<String>,
    q: RwSignal<String>,
    q_input: RwSignal<String>,
}

impl Filters {
    fn query(&self) -> DriftQuery {
        let text = |s: RwSignal<String>| Some(s.get()).filter(|v| !v.is_empty());
        DriftQuery {
            category: DriftCategory::parse(&self.category.get()),
            stack: text(self.stack),
            // Always sent, empty matching every subject: a query of only
            // `None`s encodes to no field at all, and the server function's
            // form decoding then refuses it ("missing field `query`").
            q: Some(self.q.get()),
        }
    }

    fn any(&self) -> bool {
        [self.category, self.stack, self.q]
            .iter()
            .any(|s| !s.with(String::is_empty))
    }
}

#[component]
fn DriftView() -> impl IntoView {
    let q = url_text("q");
    let f = Filters {
        category: url_text("category"),
        stack: url_text("stack"),
        q,
        q_input: RwSignal::new(q.get_untracked()),
    };
    // Back and forward change the URL, not the input: bring it along.
    Effect::new(move |_| f.q_input.set(f.q.get()));
    // Read again every REFRESH_MS in the browser, as the Deployments page
    // does: drift is computed from the Swarm observer's latest read.
    let tick = use_period(REFRESH_MS);
    let data = Resource::new(
        move || (f.query(), tick.get()),
        |(q, _)| background(get_drift(q)),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Computing drift…"</p> }>
            <DriftBody data=data f=f />
        </Transition>
    }
    .into_any()
}

/// The count of each category, and of every item.
type Counts = (Vec<(DriftCategory, usize)>, usize);

/// What the page shows of a report but its times, so that a read that
/// changed nothing re-renders nothing.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    counts: Vec<(DriftCategory, usize)>,
    total: usize,
    items: Vec<DriftItem>,
    stacks: Vec<String>,
    sources: Vec<String>,
    errors: Vec<String>,
    stale: bool,
}

impl Shown {
    fn of(r: &DriftReport) -> Self {
        Shown {
            counts: DriftCategory::ALL
                .into_iter()
                .map(|c| (c, r.count(c)))
                .collect(),
            total: r.total,
            items: r.items.clone(),
            stacks: r.stacks.clone(),
            sources: r.desired_sources.clone(),
            errors: r.errors.clone(),
            stale: r.stale,
        }
    }
}

/// Inside the `Transition`, so every read of `data` here holds it.
#[component]
fn DriftBody(data: Resource<Result<DriftReport, AppError>>, f: Filters) -> impl IntoView {
    let error =
        Memo::new(move |_| data.with(|d| d.as_ref().and_then(|r| r.as_ref().err().cloned())));
    let shown = report_part(data, Shown::of);
    let times = report_part(data, |r| (r.computed_ms, r.observed_ms));
    let counts: Memo<Option<Counts>> = shown_part(shown, |s| (s.counts.clone(), s.total));
    let items: Memo<Option<Vec<DriftItem>>> = shown_part(shown, |s| s.items.clone());
    let stacks: Memo<Option<Vec<String>>> = shown_part(shown, |s| s.stacks.clone());
    let sources: Memo<Option<Vec<String>>> = shown_part(shown, |s| s.sources.clone());
    let errors: Memo<Option<Vec<String>>> = shown_part(shown, |s| s.errors.clone());
    let stale: Memo<Option<bool>> = shown_part(shown, |s| s.stale);

    let mut categories = vec![("", "All categories")];
    categories.extend(DriftCategory::ALL.map(|c| (c.as_str(), c.label())));
    let stack_options = Signal::derive(move || {
        let mut o = vec![(String::new(), "All stacks".to_owned())];
        o.extend(
            stacks
                .get()
                .unwrap_or_default()
                .into_iter()
                .map(|s| (s.clone(), s)),
        );
        // A stack from a link that the desired state does not (or no
        // longer) declare.
        let current = f.stack.get();
        if !current.is_empty() && !o.iter().any(|(v, _)| *v == current) {
            o.push((current.clone(), current));
        }
        o
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        f.q.set(f.q_input.get_untracked().trim().to_owned());
    };
    view! {
        {move || error.get().map(error_alert)}
        {move || stale.get().unwrap_or(false).then(|| view! {
            <p class="warn-alert" role="status" data-testid="drift-stale">
                "Docker Engine unreachable: these items are from the last good read of Swarm"
                {move || times.get().map(|(_, observed)| view! { " (" <Time ms=observed /> ")" })}
                "."
            </p>
        })}
        {move || errors.get().filter(|e| !e.is_empty()).map(|e| view! {
            <div class="warn-alert" role="status" data-testid="drift-errors">
                <p>"Stack files that could not be read; their stacks are left out of the items:"</p>
                <ul>{e.into_iter().map(|e| view! { <li><code>{e}</code></li> }).collect_view()}</ul>
            </div>
        })}
        {move || counts.get().map(|(counts, total)| summary(counts, total, f))}
        <form class="filters" role="search" aria-label="Filter drift" on:submit=on_submit>
            <Select id="drift-category" label="Category" options=categories value=f.category />
            {stack_choice(stack_options, f.stack)}
            <TextInput id="drift-q" label="Subject contains" value=f.q_input placeholder="e.g. gateway" />
            <button type="submit" class="btn btn-secondary">"Filter"</button>
        </form>
        <ItemsTable items=items counts=counts filtered=Signal::derive(move || f.any()) />
        {move || sources.get().map(|s| view! {
            <p data-testid="drift-sources">
                "Desired state: "
                {if s.is_empty() {
                    view! { <span class="muted">"no stack file"</span> }.into_any()
                } else {
                    s.into_iter()
                        .enumerate()
                        .map(|(n, s)| view! { {(n > 0).then_some(", ")}<code>{s}</code> })
                        .collect_view()
                        .into_any()
                }}
                " and the config registry's current revisions."
            </p>
        })}
        {move || times.get().map(|(computed, observed)| view! {
            <p class="muted" data-testid="drift-computed">
                "Computed " <Time ms=computed /> " from Swarm as read " <Time ms=observed />
                " · read again every 3 s"
            </p>
        })}
    }
    .into_any()
}

/// One part of a report read, as a memo.
fn report_part<T: Clone + PartialEq + Send + Sync + 'static>(
    data: Resource<Result<DriftReport, AppError>>,
    f: fn(&DriftReport) -> T,
) -> Memo<Option<T>> {
    Memo::new(move |_| data.with(|d| d.as_ref().and_then(|r| r.as_ref().ok()).map(f)))
}

/// One part of what is shown, as a memo: it changes only when that part
/// does.
fn shown_part<T: Clone + PartialEq + Send + Sync + 'static>(
    shown: Memo<Option<Shown>>,
    f: fn(&Shown) -> T,
) -> Memo<Option<T>> {
    Memo::new(move |_| shown.with(|s| s.as_ref().map(f)))
}

/// The stack filter: the stacks the desired state declares.
fn stack_choice(options: Signal<Vec<(String, String)>>, value: RwSignal<String>) -> impl IntoView {
    view! {
        <div class="field">
            <label for="drift-stack">"Stack"</label>
            <select
                id="drift-stack"
                prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                {move || options.get().into_iter().map(|(v, l)| {
                    let same = v.clone();
                    view! { <option value=v selected=move || value.get() == same>{l}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

/// Every category with its count (of every item, before the filters):
/// each a link to the page filtered by it, keeping the other filters.
fn summary(counts: Vec<(DriftCategory, usize)>, total: usize, f: Filters) -> impl IntoView {
    let chip =
        move |value: &'static str, label: &'static str, count: usize, tone, testid: String| {
            let href = move || drift_href(value, &f.stack.get(), &f.q.get());
            let current = move || (f.category.get() == value).then_some("true");
            view! {
                <li>
                    <a href=href class="scope-link" aria-current=current data-category=value>
                        <Badge tone=tone>{label}": "<span data-testid=testid>{count}</span></Badge>
                    </a>
                </li>
            }
        };
    view! {
        <nav aria-label="Drift by category">
            <ul class="rights" data-testid="drift-summary">
                {chip("", "All", total, crate::ui::Tone::Neutral, "drift-count-all".to_owned())}
                {counts.into_iter().map(|(c, n)| {
                    let tone = if n == 0 { crate::ui::Tone::Ok } else { category_tone(c) };
                    chip(c.as_str(), c.label(), n, tone, format!("drift-count-{}", c.as_str()))
                }).collect_view()}
            </ul>
        </nav>
    }
}

/// The items, or why there are none. Rows are keyed by their place and
/// content: a read that changed a row re-renders that row only, so an
/// open remediation dialog stays open while the others refresh.
#[component]
fn ItemsTable(
    items: Memo<Option<Vec<DriftItem>>>,
    counts: Memo<Option<Counts>>,
    filtered: Signal<bool>,
) -> impl IntoView {
    let rows = move || {
        items
            .get()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(n, i)| {
                let key = serde_json::to_string(&i).unwrap_or_default();
                (n, key, i)
            })
            .collect::<Vec<_>>()
    };
    let any = move || items.with(|i| i.as_ref().is_some_and(|i| !i.is_empty()));
    let empty = move || {
        let shown = items.with(|i| i.as_ref().map(Vec::len))?;
        let total = counts.with(|c| c.as_ref().map(|c| c.1))?;
        (shown == 0).then(|| {
            if total == 0 {
                view! {
                    <p class="empty-state" data-testid="drift-none">
                        "No drift: the platform matches its stack files and the registry."
                    </p>
                }
                .into_any()
            } else {
                view! {
                    <p class="empty-state" data-testid="drift-empty">
                        {format!("No item matches these filters ({total} in all).")}
                    </p>
                }
                .into_any()
            }
        })
    };
    let caption = move || {
        let shown = items.with(|i| i.as_ref().map_or(0, Vec::len));
        let total = counts.with(|c| c.as_ref().map_or(0, |c| c.1));
        if filtered.get() {
            format!("{shown} of {total} items match the filters, most urgent category first")
        } else {
            format!("{shown} items, most urgent category first (hover a time for UTC)")
        }
    };
    view! {
        <Show when=any fallback=empty>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Drift items">
                <table class="data-table" data-testid="drift-items">
                    <caption>{caption}</caption>
                    <thead><tr>
                        <th scope="col">"Category"</th><th scope="col">"Subject"</th>
                        <th scope="col">"Desired"</th><th scope="col">"Observed"</th>
                        <th scope="col">"Differs in"</th><th scope="col">"Since"</th>
                        <th scope="col">"Remediation"</th>
                    </tr></thead>
                    <tbody>
                        <For each=rows key=|(n, key, _)| (*n, key.clone()) children=|(n, _, i)| item_row(n, i) />
                    </tbody>
                </table>
            </div>
        </Show>
    }
    .into_any()
}

fn item_row(n: usize, i: DriftItem) -> impl IntoView {
    let subject = if is_swarm_service(&i) {
        let href = crate::deploy::service_href(&i.subject);
        let shown = i.subject.clone();
        view! { <A href=href><code>{shown}</code></A> }.into_any()
    } else {
        view! { <code>{i.subject.clone()}</code> }.into_any()
    };
    let fix = remediation(n, &i.subject, i.remediation.clone());
    view! {
        <tr data-category=i.category.as_str() data-subject=i.subject.clone()>
            <td><Badge tone=category_tone(i.category)>{i.category.label()}</Badge></td>
            <td>
                {subject}
                {i.stack.clone().map(|s| view! { <br /><span class="muted">{format!("stack {s}")}</span> })}
            </td>
            <td data-testid="drift-desired">{or_dash(i.desired.clone())}</td>
            <td data-testid="drift-observed">{or_dash(i.observed.clone())}</td>
            <td>{fields_list(i.fields.clone())}</td>
            <td><Time ms=i.since_ms /></td>
            <td data-testid="drift-remediation">{fix}</td>
        </tr>
    }
}

fn or_dash(s: String) -> AnyView {
    if s.is_empty() {
        "—".into_any()
    } else {
        s.into_any()
    }
}

/// The differing fields, compactly: `field: from → to`.
fn fields_list(fields: Vec<SpecChange>) -> AnyView {
    if fields.is_empty() {
        return "—".into_any();
    }
    let value = |v: Option<String>| match v {
        Some(v) => view! { <code>{v}</code> }.into_any(),
        None => view! { <span class="muted">"none"</span> }.into_any(),
    };
    view! {
        <ul class="plain" data-testid="drift-fields">
            {fields.into_iter().map(|c| view! {
                <li data-field=c.field.clone()>
                    <code>{c.field.clone()}</code>": "{value(c.from)}" → "{value(c.to)}
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// What fixes an item: its job through the plan dialog (for holders of the
/// job's right; the others get the link), else a link to where it is
/// shown; and the command to run by hand, when there is one.
fn remediation(n: usize, subject: &str, r: Option<Remediation>) -> AnyView {
    let Some(r) = r else {
        return "—".into_any();
    };
    let action = match r.job {
        Some(kind) => {
            let input = r.input.clone().unwrap_or_else(|| serde_json::json!({}));
            view! {
                <FixLauncher
                    id=format!("fix-{n}")
                    label=r.label.clone()
                    title=format!("{}: {subject}", r.label)
                    kind=kind
                    input=input
                    href=r.href.clone()
                />
            }
            .into_any()
        }
        None => {
            view! { <A href=r.href.clone() attr:data-testid="drift-fix-link">{r.label.clone()}</A> }
                .into_any()
        }
    };
    view! {
        {action}
        {r.command.map(|c| view! { <CommandBlock command=c /> })}
    }
    .into_any()
}

/// The remediation job's plan dialog, or the page that starts it for a
/// caller without the job's right (the server would refuse the plan).
#[component]
fn FixLauncher(
    id: String,
    label: String,
    title: String,
    kind: JobKind,
    input: serde_json::Value,
    href: String,
) -> impl IntoView {
    let session = use_context::<crate::shell::layout::Session>();
    let can = Memo::new(move |_| {
        session
            .and_then(crate::iam::caller)
            .is_some_and(|w| w.can(kind.right()))
    });
    let link_label = label.clone();
    view! {
        <Show
            when=move || can.get()
            fallback=move || {
                let (href, label) = (href.clone(), link_label.clone());
                view! { <A href=href attr:data-testid="drift-fix-link">{label}</A> }
            }
        >
            <MoveLauncher
                id=id.clone()
                label=label.clone()
                title=title.clone()
                kind=kind
                input=Signal::stored(input.clone())
                secondary=true
            />
        </Show>
    }
}

/// A command to run by hand, with a button copying it.
#[component]
fn CommandBlock(command: String) -> impl IntoView {
    let toasts = use_toasts();
    let copied = command.clone();
    view! {
        <div data-testid="drift-command-block">
            <pre><code data-testid="drift-command">{command}</code></pre>
            <button
                type="button"
                class="link-button"
                aria-label="Copy the command"
                on:click=move |_| {
                    copy_to_clipboard(&copied);
                    toasts.info("Copied the command", None);
                }
            >
                "Copy"
            </button>
        </div>
    }
}
