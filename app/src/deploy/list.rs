//! The Deployments page: every Swarm service by stack then name, paged on
//! the server, filtered by stack, status, version and name (in the URL).
//! With `?service=` the page shows that one service.

use super::api::list_services;
use super::detail::ServiceDetailView;
use super::{
    engine_time, parse_status, service_href, sha_chip, stale_alert, status_tone, update_tone,
    use_changes, version_text, STATUSES,
};
use crate::error::AppError;
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::support::flow::background;
use crate::support::url::{url_page, url_text};
use crate::ui::{error_alert, Badge, Pager, TextInput, Time};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use model::deploy::{ServicePage, ServiceQuery, ServiceView};

const LIST_PAGE: usize = 50;

#[component]
pub fn DeploymentsPage() -> impl IntoView {
    let info = page("/deployments").expect("deployments is a nav page");
    let query = use_query_map();
    let service = Memo::new(move |_| {
        query
            .read()
            .get("service")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    });
    view! {
        <PageFrame info=info>
            {move || match service.get() {
                Some(name) => view! { <ServiceDetailView name=name /> }.into_any(),
                None => view! { <ServiceList /> }.into_any(),
            }}
        </PageFrame>
    }
    .into_any()
}

/// The list's state in the URL, and the text filters being typed.
#[derive(Clone, Copy)]
struct Filters {
    stack: RwSignal<String>,
    status: RwSignal<String>,
    version: RwSignal<String>,
    name: RwSignal<String>,
    page: RwSignal<usize>,
    version_input: RwSignal<String>,
    name_input: RwSignal<String>,
}

impl Filters {
    fn query(&self) -> ServiceQuery {
        let text = |s: RwSignal<String>| Some(s.get()).filter(|v| !v.is_empty());
        ServiceQuery {
            stack: text(self.stack),
            status: parse_status(&self.status.get()),
            version: text(self.version),
            q: text(self.name),
            page: self.page.get(),
            page_size: LIST_PAGE,
        }
    }

    fn any(&self) -> bool {
        [self.stack, self.status, self.version, self.name]
            .iter()
            .any(|s| !s.with(String::is_empty))
    }
}

#[component]
fn ServiceList() -> impl IntoView {
    let (version, name) = (url_text("version"), url_text("q"));
    let f = Filters {
        stack: url_text("stack"),
        status: url_text("status"),
        version,
        name,
        page: url_page(),
        version_input: RwSignal::new(version.get_untracked()),
        name_input: RwSignal::new(name.get_untracked()),
    };
    // Back and forward change the URL, not the inputs: bring them along.
    Effect::new(move |_| f.version_input.set(f.version.get()));
    Effect::new(move |_| f.name_input.set(f.name.get()));
    // Read again on every change the Swarm observer pushes.
    let tick = use_changes();
    let data = Resource::new(
        move || (f.query(), tick.get()),
        |(q, _)| background(list_services(q)),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading services…"</p> }>
            <ListBody data=data f=f />
        </Transition>
    }
    .into_any()
}

/// The page of services without the time it was read, so that a refresh
/// that changed nothing re-renders nothing (focus and the screen reader's
/// place stay where they are).
#[derive(Debug, Clone, PartialEq)]
struct Listed {
    items: Vec<ServiceView>,
    total: usize,
}

/// Inside the `Transition`, so every read of `data` here holds it.
#[component]
fn ListBody(data: Resource<Result<ServicePage, AppError>>, f: Filters) -> impl IntoView {
    let error =
        Memo::new(move |_| data.with(|d| d.as_ref().and_then(|r| r.as_ref().err().cloned())));
    let listed = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref().and_then(|r| r.as_ref().ok()).map(|p| Listed {
                items: p.items.clone(),
                total: p.total,
            })
        })
    });
    let stacks = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|p| p.stacks.clone())
        })
        .unwrap_or_default()
    });
    let stale = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .and_then(|r| r.as_ref().ok())
                .is_some_and(|p| p.stale)
        })
    });
    let observed = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|p| p.observed_ms)
        })
    });
    let total = Signal::derive(move || listed.with(|l| l.as_ref().map_or(0, |l| l.total)));
    let stack_options = Signal::derive(move || {
        let mut o = vec![(String::new(), "All stacks".to_owned())];
        o.extend(stacks.get().into_iter().map(|s| (s.clone(), s)));
        // A stack from a link that is not (or no longer) on the Swarm.
        let current = f.stack.get();
        if !current.is_empty() && !o.iter().any(|(v, _)| *v == current) {
            o.push((current.clone(), current));
        }
        o
    });
    let mut statuses = vec![(String::new(), "All".to_owned())];
    statuses.extend(STATUSES.map(|s| (s.as_str().to_owned(), s.as_str().to_owned())));
    let status_options = Signal::stored(statuses);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        f.page.set(0);
        f.version
            .set(f.version_input.get_untracked().trim().to_owned());
        f.name.set(f.name_input.get_untracked().trim().to_owned());
    };
    view! {
        <form class="filters" role="search" aria-label="Filter services" on:submit=on_submit>
            {choice("deploy-stack", "Stack", stack_options, f.stack, f.page)}
            {choice("deploy-status", "Status", status_options, f.status, f.page)}
            <TextInput id="deploy-version" label="Version or tag" value=f.version_input placeholder="e.g. 1.4.2" />
            <TextInput id="deploy-q" label="Name contains" value=f.name_input placeholder="e.g. gateway" />
            <button type="submit" class="btn btn-secondary">"Filter"</button>
        </form>
        {move || error.get().map(error_alert)}
        {move || stale.get().then(stale_alert)}
        {move || observed.get().map(|ms| view! {
            <p class="muted" data-testid="deploy-observed">"Observed " <Time ms=ms /> " · read again every 3 s"</p>
        })}
        {move || listed.get().map(|l| services_table(l.items, f.any()))}
        <Pager total=total page=f.page page_size=LIST_PAGE />
    }
    .into_any()
}

/// A labelled select of a filter in the URL; a new choice starts at page 1.
fn choice(
    id: &'static str,
    label: &'static str,
    options: Signal<Vec<(String, String)>>,
    value: RwSignal<String>,
    page: RwSignal<usize>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select
                id=id
                prop:value=move || value.get()
                on:change=move |ev| {
                    value.set(event_target_value(&ev));
                    page.set(0);
                }
            >
                {move || options.get().into_iter().map(|(v, l)| {
                    let same = v.clone();
                    view! { <option value=v selected=move || value.get() == same>{l}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

fn replicas_text(s: &ServiceView) -> String {
    match s.replicas_desired {
        Some(d) => format!("{}/{d}", s.replicas_running),
        None => format!("{} (global)", s.replicas_running),
    }
}

/// The image without its digest (`repository:tag`), which a chip shows.
fn image_text(s: &ServiceView) -> String {
    match &s.image_ref.tag {
        Some(t) => format!("{}:{t}", s.image_ref.repository),
        None => s.image_ref.repository.clone(),
    }
}

fn service_row(s: ServiceView) -> impl IntoView {
    let name = s.name.to_string();
    let (href, shown) = (service_href(&name), name.clone());
    view! {
        <tr data-service=name>
            <td><A href=href><code>{shown}</code></A></td>
            <td>{s.stack.clone().unwrap_or_else(|| "—".into())}</td>
            <td data-testid="version">{version_text(&s)}</td>
            <td>
                <code>{image_text(&s)}</code>" "
                {s.image_ref.digest.clone().map(|d| sha_chip("digest", d))}
            </td>
            <td data-testid="status" data-status=s.status.as_str()>
                <Badge tone=status_tone(s.status)>{s.status.as_str()}</Badge>
            </td>
            <td data-testid="replicas">{replicas_text(&s)}</td>
            <td>{match s.update.clone() {
                Some(u) => view! {
                    <Badge tone=update_tone(u.state)>{u.state.as_str()}</Badge>
                    {u.message.map(|m| view! { " " <span class="muted">{m}</span> })}
                }.into_any(),
                None => "—".into_any(),
            }}</td>
            <td>{engine_time(s.updated_at.as_deref())}</td>
        </tr>
    }
}

/// The services, one row group per stack (the server sorts by stack).
fn services_table(items: Vec<ServiceView>, filtered: bool) -> AnyView {
    if items.is_empty() {
        let text = if filtered {
            "No services match these filters."
        } else {
            "No services on this Swarm."
        };
        return view! { <p class="empty-state" data-testid="deploy-empty">{text}</p> }.into_any();
    }
    let mut groups: Vec<(Option<String>, Vec<ServiceView>)> = Vec::new();
    for s in items {
        match groups.last_mut() {
            Some((stack, v)) if *stack == s.stack => v.push(s),
            _ => groups.push((s.stack.clone(), vec![s])),
        }
    }
    let bodies = groups
        .into_iter()
        .map(|(stack, services)| {
            let label = match &stack {
                Some(s) => format!("Stack {s}"),
                None => "Not in a stack".to_owned(),
            };
            view! {
                <tbody data-stack=stack.unwrap_or_default()>
                    <tr class="group-row"><th scope="rowgroup" colspan="8">{label}</th></tr>
                    {services.into_iter().map(service_row).collect_view()}
                </tbody>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Services">
            <table class="data-table" data-testid="deploy-services">
                <caption>"Services by stack, then name (paged on the server; hover a time for UTC, a digest for all of it)"</caption>
                <thead><tr>
                    <th scope="col">"Service"</th><th scope="col">"Stack"</th><th scope="col">"Version"</th>
                    <th scope="col">"Image"</th><th scope="col">"Status"</th><th scope="col">"Replicas"</th>
                    <th scope="col">"Update"</th><th scope="col">"Last update"</th>
                </tr></thead>
                {bodies}
            </table>
        </div>
    }
    .into_any()
}
