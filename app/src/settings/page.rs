//! Page components. Pages that are not connected yet say honestly what they
//! will show; none renders invented data.

use crate::api::status::get_server_status;
use crate::components::{
    sort_and_page, Breadcrumbs, Button, ButtonKind, Cell, Column, DataTable, Modal, Select, Sort,
    Tone,
};
use crate::error::AppError;
use crate::nav::{page, PageInfo};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use model::{CheckStatus, ServerStatus};

#[component]
pub fn PageFrame(info: &'static PageInfo, children: Children) -> impl IntoView {
    let mut crumbs = vec![("Control".to_owned(), Some("/".to_owned()))];
    if info.path != "/" {
        crumbs.push((info.section.label().to_owned(), None));
    }
    crumbs.push((info.title.to_owned(), None));
    crate::mark_hydrated();
    view! {
        <Title text=info.title />
        <Breadcrumbs items=crumbs />
        <h1>{info.title}</h1>
        {children()}
    }
}

#[component]
fn EmptyState(info: &'static PageInfo) -> impl IntoView {
    view! {
        <section class="empty-state" aria-labelledby="empty-title">
            <h2 id="empty-title">"Nothing to show yet"</h2>
            <p>"This page will show: " {info.purpose}</p>
            <p class="muted">"It is not connected to the platform in this build, so it shows no data rather than invented data."</p>
        </section>
    }
}

/// A page whose capability is not built yet: title, breadcrumbs, and an
/// honest empty state.
pub fn placeholder(path: &'static str) -> impl IntoView {
    let info = page(path).expect("every routed placeholder is in nav::PAGES");
    view! {
        <PageFrame info=info>
            <EmptyState info=info />
        </PageFrame>
    }
}

pub fn status_summary(r: Result<ServerStatus, AppError>, link_to_settings: bool) -> AnyView {
    match r {
        Ok(s) => {
            let (tone, label) = if s.readiness.ready { (Tone::Ok, "ready") } else { (Tone::Error, "not ready") };
            view! {
                <p data-testid="cp-status">
                    <crate::components::Badge tone=tone>{label}</crate::components::Badge>
                    " version " <code>{s.build.version.clone()}</code>
                    " (" <code>{s.build.git_sha.clone()}</code> ") · mode " {s.mode.clone()}
                    " · store " {s.store_backend.clone()} " · up " {format_uptime(s.uptime_secs)}
                </p>
                {link_to_settings.then(|| view! { <p><A href="/settings">"Details in Settings"</A></p> })}
            }
            .into_any()
        }
        Err(e) => view! { <p class="field-error" role="alert">{format!("Status unavailable ({}): {}", e.0.code.as_str(), e.0.message)}</p> }.into_any(),
    }
}

pub fn format_uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn check_rows(checks: &[CheckStatus]) -> Vec<Vec<Cell>> {
    checks
        .iter()
        .map(|c| {
            vec![
                Cell::Text(c.name.clone()),
                if c.ok {
                    Cell::Badge(Tone::Ok, "ok".into())
                } else {
                    Cell::Badge(Tone::Error, "failing".into())
                },
                Cell::Number(c.latency_ms as f64, format!("{} ms", c.latency_ms)),
                Cell::Text(c.reason.clone().unwrap_or_else(|| "—".into())),
            ]
        })
        .collect()
}

const CHECKS_PAGE: usize = 10;

#[component]
pub fn Settings() -> impl IntoView {
    let info = page("/settings").expect("settings is in nav::PAGES");
    let toasts = crate::components::use_toasts();
    let status = Resource::new(|| (), |_| get_server_status());
    // A diagnostics run is one flow: its calls share a correlation id and a trace.
    let recheck = Action::new(move |_: &()| async move {
        #[cfg(feature = "hydrate")]
        let _flow = crate::flow::begin_flow();
        let first = get_server_status().await;
        match first {
            Ok(_) => get_server_status().await,
            Err(e) => Err(e),
        }
    });
    Effect::new(move |_| {
        if let Some(res) = recheck.value().get() {
            match res {
                Ok(s) => {
                    status.set(Some(Ok(s)));
                    toasts.info("Readiness checked", None);
                }
                Err(e) => toasts.error(&e, None),
            }
        }
    });
    let sort = RwSignal::new(None::<Sort>);
    let pg = RwSignal::new(0usize);
    let all_rows = move || {
        status
            .get()
            .and_then(|r| r.ok())
            .map(|s| check_rows(&s.readiness.checks))
            .unwrap_or_default()
    };
    let rows = Signal::derive(move || sort_and_page(all_rows(), sort.get(), pg.get(), CHECKS_PAGE));
    let total = Signal::derive(move || all_rows().len());

    let theme = RwSignal::new("system".to_owned());
    #[cfg(feature = "hydrate")]
    {
        // After hydration, so the first client render matches the server's:
        // the first run loads the stored choice, every run applies and saves.
        Effect::new(move |prev: Option<()>| {
            if prev.is_none() {
                if let Some(t) = crate::dom::storage_get(crate::layout::THEME_KEY) {
                    theme.set(t);
                }
            }
            let t = theme.get();
            crate::dom::set_theme(&t);
            crate::dom::storage_set(crate::layout::THEME_KEY, &t);
        });
    }

    let confirm_clear = RwSignal::new(false);
    view! {
        <PageFrame info=info>
            <section class="card" aria-labelledby="build-title">
                <h2 id="build-title">"This control plane"</h2>
                <Suspense fallback=|| view! { <p class="muted">"Loading status…"</p> }>
                    {move || status.get().map(|r| status_summary(r, false))}
                </Suspense>
            </section>
            <section class="card" aria-labelledby="ready-title">
                <h2 id="ready-title">"Readiness"</h2>
                // Inside Suspense: the rows read the resource, which the
                // server renders only once it has resolved.
                <Suspense fallback=|| view! { <p class="muted">"Loading checks…"</p> }>
                <DataTable
                    caption="Dependency checks behind GET /ready"
                    columns=vec![
                        Column { label: "Check", sortable: true },
                        Column { label: "Result", sortable: true },
                        Column { label: "Latency", sortable: true },
                        Column { label: "Reason", sortable: false },
                    ]
                    rows=rows
                    total=total
                    sort=sort
                    page=pg
                    page_size=CHECKS_PAGE
                />
                </Suspense>
                <Button on_click=move |_| { recheck.dispatch(()); } disabled=Signal::derive(move || recheck.pending().get())>
                    "Check readiness now"
                </Button>
            </section>
            <section class="card" aria-labelledby="prefs-title">
                <h2 id="prefs-title">"Interface"</h2>
                <Select id="theme" label="Theme" options=vec![("system", "System"), ("light", "Light"), ("dark", "Dark")] value=theme />
                <p>"The last requests panel keeps your five most recent server calls in this browser."</p>
                <Button kind=ButtonKind::Danger on_click=move |_| confirm_clear.set(true)>
                    "Clear request history…"
                </Button>
            </section>
            <Modal open=confirm_clear id="confirm-clear" title="Clear request history?">
                <p>"The ids of your recent requests are removed from this browser. Server logs keep them."</p>
                <div class="modal-actions">
                    <Button kind=ButtonKind::Secondary on_click=move |_| confirm_clear.set(false)>"Cancel"</Button>
                    <Button kind=ButtonKind::Danger on_click=move |_| {
                        #[cfg(feature = "hydrate")]
                        crate::flow::clear();
                        confirm_clear.set(false);
                        toasts.info("Request history cleared", None);
                    }>"Clear"</Button>
                </div>
            </Modal>
        </PageFrame>
    }
}

/// The search page says what it recognised; the lookup itself arrives with
/// the investigation capability.
#[component]
pub fn Search() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    crate::mark_hydrated();
    view! {
        <Title text="Search" />
        <Breadcrumbs items=vec![("Control".to_owned(), Some("/".to_owned())), ("Search".to_owned(), None)] />
        <h1>"Search"</h1>
        {move || match model::search::recognise(&q()) {
            Ok(found) => view! {
                <section class="card" data-testid="search-result" data-kind=found.kind_param()>
                    <p>"Recognised a " <strong>{found.kind_label()}</strong> ":"</p>
                    <crate::components::IdChip kind=found.kind_label() value=found.id().to_owned() />
                    <p class="muted">
                        "Looking up everything under this id (requests, jobs, audit events, logs and traces) is not connected in this build."
                    </p>
                </section>
            }.into_any(),
            Err(e) => view! {
                <section class="card" data-testid="search-result" data-kind="invalid">
                    <p role="alert" class="field-error">{e.to_string()}</p>
                </section>
            }.into_any(),
        }}
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    crate::mark_hydrated();
    view! {
        <Title text="Page not found" />
        <h1>"Page not found"</h1>
        <section class="empty-state" data-testid="not-found">
            <p>"There is no page at this address."</p>
            <p><A href="/">"Go to the Overview"</A></p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_human_readable() {
        assert_eq!(format_uptime(5), "5s");
        assert_eq!(format_uptime(125), "2m 5s");
        assert_eq!(format_uptime(3 * 3600 + 120), "3h 2m");
        assert_eq!(format_uptime(2 * 86_400 + 3600), "2d 1h");
    }
}
