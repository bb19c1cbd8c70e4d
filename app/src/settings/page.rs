//! Settings: this control plane's build and readiness, and the operator's
//! interface preferences.

use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::status::{api::get_server_status, status_summary};
use crate::support::url::{url_page, url_sort};
use crate::ui::{sort_and_page, Button, ButtonKind, Cell, Column, DataTable, Modal, Select, Tone};
use leptos::prelude::*;
use model::CheckStatus;

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
    let info = page("/settings").expect("settings is a nav page");
    let toasts = crate::ui::use_toasts();
    let status = Resource::new(|| (), |_| get_server_status());
    // A diagnostics run is one flow: its calls share a correlation id and a trace.
    let recheck = Action::new(move |_: &()| async move {
        #[cfg(feature = "hydrate")]
        let _flow = crate::support::flow::begin_flow();
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
    let sort = url_sort(None);
    let pg = url_page();
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
                if let Some(t) = crate::support::dom::storage_get(crate::shell::layout::THEME_KEY) {
                    theme.set(t);
                }
            }
            let t = theme.get();
            crate::support::dom::set_theme(&t);
            crate::support::dom::storage_set(crate::shell::layout::THEME_KEY, &t);
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
                        crate::support::flow::clear();
                        confirm_clear.set(false);
                        toasts.info("Request history cleared", None);
                    }>"Clear"</Button>
                </div>
            </Modal>
        </PageFrame>
    }
}
