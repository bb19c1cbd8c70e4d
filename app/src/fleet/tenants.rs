//! Tenants: a server-paged, filterable list with each tenant's shards.

use super::api::list_tenants;
use super::{health_tone, DocMetaLine};
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::support::live::use_live;
use crate::support::url::{url_page, url_sort, url_text};
use crate::ui::{error_alert, Cell, Column, DataTable, Sort, SortDir, TextInput};
use leptos::prelude::*;
use model::fleet::ServiceKind;
use model::views::{TenantQuery, TenantSort};

const TENANT_PAGE: usize = 50;

#[component]
pub fn TenantsPage() -> impl IntoView {
    let info = page("/tenants").expect("tenants is a nav page");
    let live = use_live();
    let applied = url_text("q");
    let filter = RwSignal::new(applied.get_untracked());
    // Back and forward change the URL, not the input: bring it along.
    Effect::new(move |_| filter.set(applied.get()));
    let pg = url_page();
    let sort = url_sort(Some(Sort {
        column: 0,
        dir: SortDir::Asc,
    }));
    let q = move || {
        let s = sort.get().unwrap_or(Sort {
            column: 0,
            dir: SortDir::Asc,
        });
        let (sort_by, kind) = match s.column {
            1 => (TenantSort::Shard, Some(ServiceKind::Aggregate)),
            2 => (TenantSort::Shard, Some(ServiceKind::Projection)),
            3 => (TenantSort::Shard, Some(ServiceKind::Runner)),
            _ => (TenantSort::Tenant, None),
        };
        TenantQuery {
            q: Some(applied.get()).filter(|s| !s.is_empty()),
            kind,
            shard: None,
            sort: sort_by,
            desc: s.dir == SortDir::Desc,
            page: pg.get(),
            page_size: TENANT_PAGE,
        }
    };
    let data = Resource::new(
        move || (q(), live.key()),
        |(q, _)| crate::support::flow::background(list_tenants(q)),
    );
    let rows = Signal::derive(move || {
        data.get()
            .and_then(|r| r.ok())
            .map(|p| {
                p.items
                    .into_iter()
                    .map(|row| {
                        let mut cells = vec![Cell::Link(
                            format!("/tenants/{}", row.tenant),
                            row.tenant.to_string(),
                        )];
                        for pl in row.placements {
                            let shard = pl
                                .shard
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| "—".into());
                            let label = if pl.by_default {
                                format!("{shard} (default) · {}", pl.health.as_str())
                            } else {
                                format!("{shard} · {}", pl.health.as_str())
                            };
                            cells.push(Cell::Badge(health_tone(pl.health), label));
                        }
                        cells.push(match row.job {
                            Some(j) => Cell::Link(
                                crate::jobs::job_href(j.id.as_str()),
                                format!("{} ({})", j.kind, j.state.as_str()),
                            ),
                            None => Cell::Text(String::new()),
                        });
                        cells
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let total = Signal::derive(move || {
        data.get()
            .and_then(|r| r.ok())
            .map(|p| p.total)
            .unwrap_or(0)
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        pg.set(0);
        applied.set(filter.get_untracked().trim().to_ascii_lowercase());
    };
    view! {
        <PageFrame info=info>
            <Transition fallback=|| view! { <p class="muted">"Loading tenants…"</p> }>
                {move || data.get().map(|r| match r {
                    Ok(p) => view! {
                        <DocMetaLine label="Placement" meta=p.placement.clone() />
                        <DocMetaLine label="Routing" meta=p.routing.clone() />
                    }.into_any(),
                    Err(e) => error_alert(e),
                })}
            </Transition>
            <form class="filters" role="search" aria-label="Filter tenants" on:submit=on_submit>
                <TextInput id="tenant-filter" label="Tenant id contains" value=filter placeholder="e.g. t-001" />
                <button type="submit" class="btn btn-secondary">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading tenants…"</p> }>
                <DataTable
                    caption="Tenants and their shard per service kind (paged on the server)"
                    columns=vec![Column { label: "Tenant", sortable: true }, Column { label: "Aggregate", sortable: true }, Column { label: "Projection", sortable: true }, Column { label: "Runner", sortable: true }, Column { label: "Running job", sortable: false }]
                    rows=rows
                    total=total
                    sort=sort
                    page=pg
                    page_size=TENANT_PAGE
                />
            </Transition>
        </PageFrame>
    }
}
