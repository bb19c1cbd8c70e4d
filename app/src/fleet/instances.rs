//! Fleet: every instance with its health, paged on the server.

use super::api::get_fleet_health;
use super::health_tone;
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::support::live::use_live;
use crate::support::url::{url_page, url_sort, url_text};
use crate::ui::{error_alert, Cell, Column, DataTable, Select, Tone};
use leptos::prelude::*;
use model::fleet::ServiceKind;
use model::views::{HealthStatus, InstanceQuery};

const FLEET_PAGE: usize = 50;

#[component]
pub fn FleetPage() -> impl IntoView {
    let info = page("/fleet").expect("fleet is a nav page");
    let live = use_live();
    let kind = url_text("kind");
    let status = url_text("status");
    let pg = url_page();
    let sort = url_sort(None);
    let q = move || InstanceQuery {
        kind: ServiceKind::parse(&kind.get()),
        status: HealthStatus::parse(&status.get()),
        not_reloaded: false,
        page: pg.get(),
        page_size: FLEET_PAGE,
    };
    let data = Resource::new(
        move || (q(), live.key()),
        |(q, _)| crate::support::flow::background(get_fleet_health(q)),
    );
    let rows = Signal::derive(move || {
        data.get()
            .and_then(|r| r.ok())
            .map(|p| {
                p.instances
                    .into_iter()
                    .map(|i| {
                        let loaded = match (i.loaded_placement_revision, i.kind) {
                            (Some(l), ServiceKind::Gateway) => format!(
                                "p{l}/{} r{}/{}",
                                i.current_placement_revision,
                                i.loaded_routing_revision.unwrap_or(0),
                                i.current_routing_revision
                            ),
                            (Some(l), _) => format!("{l} / {}", i.current_placement_revision),
                            (None, _) => "—".into(),
                        };
                        vec![
                            Cell::Text(i.endpoint),
                            Cell::Text(i.kind.as_str().into()),
                            Cell::Text(i.shard.to_string()),
                            Cell::Badge(health_tone(i.status), i.status.as_str().into()),
                            Cell::Text(i.version.unwrap_or_else(|| "—".into())),
                            if i.not_reloaded {
                                Cell::Badge(Tone::Warn, format!("not reloaded {loaded}"))
                            } else {
                                Cell::Text(loaded)
                            },
                            Cell::Trend(
                                i.latency_ms.map_or(f64::INFINITY, |l| l as f64),
                                i.latency_ms
                                    .map(|l| format!("{l} ms"))
                                    .unwrap_or_else(|| "—".into()),
                                i.recent_latency_ms,
                            ),
                            Cell::Time(i.checked_at_ms),
                            Cell::Text(if i.draining_tenants.is_empty() {
                                "—".into()
                            } else {
                                i.draining_tenants.join(", ")
                            }),
                            Cell::Text(i.last_error.unwrap_or_default()),
                        ]
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
    let col = |label, sortable| Column { label, sortable };
    view! {
        <PageFrame info=info>
            <div class="filters" role="group" aria-label="Filters">
                <Select id="fleet-kind" label="Kind" options=vec![("", "All"), ("gateway", "gateway"), ("aggregate", "aggregate"), ("projection", "projection"), ("runner", "runner")] value=kind />
                <Select id="fleet-status" label="Status" options=vec![("", "All"), ("healthy", "healthy"), ("unready", "unready"), ("down", "down"), ("timeout", "timeout"), ("unknown", "unknown")] value=status />
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading instances…"</p> }>
                {move || data.get().map(|r| r.err().map(error_alert))}
                <DataTable
                    caption="Instances (probed every few seconds; data age per row)"
                    columns=vec![col("Endpoint", false), col("Kind", false), col("Shard", false), col("Status", false), col("Version", false), col("Loaded revision", false), col("Latency", false), col("Data age", false), col("Draining", false), col("Last error", false)]
                    rows=rows
                    total=total
                    sort=sort
                    page=pg
                    page_size=FLEET_PAGE
                />
            </Transition>
        </PageFrame>
    }
}
