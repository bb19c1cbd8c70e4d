//! Overview, Fleet, Tenants (+ detail) and Scale & Placement: server-paged,
//! refetched when the live feed says something changed.

use crate::api::fleet::{get_fleet_health, get_placements, get_tenant, list_tenants};
use crate::api::status::get_server_status;
use crate::components::{
    Badge, Breadcrumbs, Cell, Column, DataTable, Select, Sort, SortDir, TextInput, Tone,
};
use crate::error::AppError;
use crate::live::use_live;
use crate::nav::page;
use crate::pages::{status_summary, PageFrame};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use model::fleet::{ServiceKind, ShardState};
use model::views::{DocMeta, HealthStatus, InstanceQuery, SourceKind, TenantQuery, TenantSort};

pub fn health_tone(h: HealthStatus) -> Tone {
    match h {
        HealthStatus::Healthy => Tone::Ok,
        HealthStatus::Unready => Tone::Warn,
        HealthStatus::Down | HealthStatus::Timeout => Tone::Error,
        HealthStatus::Unknown => Tone::Neutral,
    }
}

fn state_label(s: Option<ShardState>) -> (Tone, &'static str) {
    match s {
        Some(ShardState::Active) => (Tone::Ok, "active"),
        Some(ShardState::Draining) => (Tone::Warn, "draining"),
        Some(ShardState::Disabled) => (Tone::Neutral, "disabled"),
        None => (Tone::Error, "not in routing"),
    }
}

/// "revision 3 · file /path" with the load error, if any.
#[component]
pub fn DocMetaLine(#[prop(into)] label: String, meta: DocMeta) -> impl IntoView {
    let source = match meta.source.kind {
        SourceKind::File => format!("file {}", meta.source.location),
        SourceKind::Kv => format!("{} KV {}", meta.source.backend, meta.source.location),
    };
    let testid = format!("meta-{}", label.to_lowercase());
    view! {
        <p class="doc-meta" data-testid=testid>
            <strong>{label}</strong>" revision "<code data-testid="revision">{meta.revision}</code>" · "{source}
            {meta.error.map(|e| view! { <span class="field-error" role="alert">" · not reloaded: "{e}</span> })}
        </p>
    }
}

fn error_view(e: AppError) -> AnyView {
    view! { <p class="field-error" role="alert">{format!("{} ({})", e.0.message, e.0.code.as_str())}</p> }.into_any()
}

#[component]
pub fn Overview() -> impl IntoView {
    let info = page("/").expect("overview is in nav::PAGES");
    let live = use_live();
    let status = Resource::new(|| (), |_| get_server_status());
    let health = Resource::new(
        move || live.key(),
        |_| {
            crate::flow::background(get_fleet_health(InstanceQuery {
                page_size: 1,
                ..Default::default()
            }))
        },
    );
    let placements = Resource::new(
        move || live.key().map(|k| (k.1, k.2)),
        |_| crate::flow::background(get_placements()),
    );
    view! {
        <PageFrame info=info>
            <section class="card" aria-labelledby="cp-title">
                <h2 id="cp-title">"Control plane"</h2>
                <Suspense fallback=|| view! { <p class="muted">"Loading status…"</p> }>
                    {move || status.get().map(|r| status_summary(r, true))}
                </Suspense>
            </section>
            <section class="card" aria-labelledby="health-title">
                <h2 id="health-title">"Fleet health"</h2>
                <Transition fallback=|| view! { <p class="muted">"Loading fleet health…"</p> }>
                    {move || health.get().map(|r| match r {
                        Err(e) => error_view(e),
                        Ok(h) => view! {
                            <table class="data-table" data-testid="health-summary">
                                <caption>"Instances per service kind (details on the Fleet page)"</caption>
                                <thead><tr><th scope="col">"Kind"</th><th scope="col">"Instances"</th><th scope="col">"Healthy"</th><th scope="col">"Unhealthy"</th><th scope="col">"Not reloaded"</th></tr></thead>
                                <tbody>
                                    {h.summary.into_iter().map(|k| view! {
                                        <tr data-kind=k.kind.as_str()>
                                            <td><A href=format!("/fleet?kind={}", k.kind)>{k.kind.as_str()}</A></td>
                                            <td>{k.instances}</td>
                                            <td>{k.healthy}</td>
                                            <td data-testid="unhealthy">{if k.unhealthy > 0 { view! { <Badge tone=Tone::Error>{k.unhealthy}</Badge> }.into_any() } else { view! { "0" }.into_any() }}</td>
                                            <td data-testid="not-reloaded">{if k.not_reloaded > 0 { view! { <Badge tone=Tone::Warn>{k.not_reloaded}</Badge> }.into_any() } else { view! { "0" }.into_any() }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    })}
                </Transition>
            </section>
            <section class="card" aria-labelledby="placement-title">
                <h2 id="placement-title">"Placement"</h2>
                <Transition fallback=|| view! { <p class="muted">"Loading placement…"</p> }>
                    {move || placements.get().map(|r| match r {
                        Err(e) => error_view(e),
                        Ok(list) => view! {
                            <ul class="plain">
                                {list.into_iter().map(|p| view! {
                                    <li>
                                        <DocMetaLine label=p.kind.as_str() meta=p.placement.clone() />
                                        " "{p.tenant_count}" tenants on "{p.shards.len()}" shards"
                                    </li>
                                }).collect_view()}
                            </ul>
                            <p><A href="/placement">"Scale & Placement"</A>" · "<A href="/tenants">"Tenants"</A></p>
                        }.into_any(),
                    })}
                </Transition>
            </section>
        </PageFrame>
    }
}

const FLEET_PAGE: usize = 50;

fn age(now_ms: u64, at_ms: u64) -> String {
    if at_ms == 0 {
        return "never".into();
    }
    let s = now_ms.saturating_sub(at_ms) / 1000;
    if s < 120 {
        format!("{s}s ago")
    } else {
        format!("{}m ago", s / 60)
    }
}

#[component]
pub fn FleetPage() -> impl IntoView {
    let info = page("/fleet").expect("fleet is in nav::PAGES");
    let live = use_live();
    let query = use_query_map();
    let kind = RwSignal::new(query.read_untracked().get("kind").unwrap_or_default());
    let status = RwSignal::new(query.read_untracked().get("status").unwrap_or_default());
    let pg = RwSignal::new(0usize);
    let sort = RwSignal::new(None::<Sort>);
    let q = move || InstanceQuery {
        kind: ServiceKind::parse(&kind.get()),
        status: HealthStatus::parse(&status.get()),
        not_reloaded: false,
        page: pg.get(),
        page_size: FLEET_PAGE,
    };
    let data = Resource::new(
        move || (q(), live.key()),
        |(q, _)| crate::flow::background(get_fleet_health(q)),
    );
    // Data age ticks in the browser; on the server it is relative to the snapshot.
    let now = RwSignal::new(None::<u64>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |prev: Option<()>| {
        if prev.is_none() {
            let _ = set_interval_with_handle(
                move || now.set(Some(js_sys::Date::now() as u64)),
                std::time::Duration::from_secs(1),
            );
        }
    });
    let rows = Signal::derive(move || {
        data.get()
            .and_then(|r| r.ok())
            .map(|p| {
                let n = now.get().unwrap_or(p.generated_at_ms);
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
                            Cell::Text(
                                i.latency_ms
                                    .map(|l| format!("{l} ms"))
                                    .unwrap_or_else(|| "—".into()),
                            ),
                            Cell::Text(age(n, i.checked_at_ms)),
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
                {move || data.get().map(|r| r.err().map(error_view))}
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

const TENANT_PAGE: usize = 50;

#[component]
pub fn TenantsPage() -> impl IntoView {
    let info = page("/tenants").expect("tenants is in nav::PAGES");
    let live = use_live();
    let filter = RwSignal::new(String::new());
    let applied = RwSignal::new(String::new());
    let pg = RwSignal::new(0usize);
    let sort = RwSignal::new(Some(Sort {
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
        |(q, _)| crate::flow::background(list_tenants(q)),
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
                    Err(e) => error_view(e),
                })}
            </Transition>
            <form class="filters" role="search" aria-label="Filter tenants" on:submit=on_submit>
                <TextInput id="tenant-filter" label="Tenant id contains" value=filter placeholder="e.g. t-001" />
                <button type="submit" class="btn btn-secondary">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading tenants…"</p> }>
                <DataTable
                    caption="Tenants and their shard per service kind (paged on the server)"
                    columns=vec![Column { label: "Tenant", sortable: true }, Column { label: "Aggregate", sortable: true }, Column { label: "Projection", sortable: true }, Column { label: "Runner", sortable: true }]
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

#[component]
pub fn TenantDetailPage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let live = use_live();
    let data = Resource::new(
        move || (tenant(), live.key().map(|k| (k.1, k.2))),
        |(t, _)| crate::flow::background(get_tenant(t)),
    );
    crate::mark_hydrated();
    view! {
        <Title text=move || format!("Tenant {}", tenant()) />
        <Breadcrumbs items=vec![("Control".to_owned(), Some("/".to_owned())), ("Tenants".to_owned(), Some("/tenants".to_owned())), (tenant(), None)] />
        <h1>"Tenant " <code>{tenant}</code></h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => error_view(e),
                Ok(d) => view! {
                    <DocMetaLine label="Placement" meta=d.placement.clone() />
                    <DocMetaLine label="Routing" meta=d.routing.clone() />
                    {(!d.known).then(|| view! { <p class="muted">"No placement map names this tenant; it resolves to the default shards."</p> })}
                    <table class="data-table" data-testid="resolutions">
                        <caption>"Where this tenant's work goes, per service kind"</caption>
                        <thead><tr><th scope="col">"Kind"</th><th scope="col">"Shard"</th><th scope="col">"State"</th><th scope="col">"Endpoints"</th></tr></thead>
                        <tbody>
                            {d.resolutions.into_iter().map(|(kind, res)| match res {
                                Ok(r) => {
                                    let (tone, label) = state_label(Some(r.state));
                                    view! {
                                        <tr data-kind=kind.as_str()>
                                            <td>{kind.as_str()}</td>
                                            <td>{r.shard.to_string()}{r.by_default.then_some(" (default)")}</td>
                                            <td><Badge tone=tone>{label}</Badge></td>
                                            <td>{r.endpoints.join(", ")}</td>
                                        </tr>
                                    }.into_any()
                                }
                                Err(e) => view! {
                                    <tr data-kind=kind.as_str()>
                                        <td>{kind.as_str()}</td>
                                        <td colspan="3"><Badge tone=Tone::Error>{e.code.as_str()}</Badge>" "{e.message}</td>
                                    </tr>
                                }.into_any(),
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
pub fn PlacementPage() -> impl IntoView {
    let info = page("/placement").expect("placement is in nav::PAGES");
    let live = use_live();
    let data = Resource::new(
        move || live.key(),
        |_| crate::flow::background(get_placements()),
    );
    view! {
        <PageFrame info=info>
            <Transition fallback=|| view! { <p class="muted">"Loading placement…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => error_view(e),
                    Ok(list) => list.into_iter().map(|p| view! {
                        <section class="card" data-testid=format!("placement-{}", p.kind)>
                            <h2>{p.kind.as_str()}</h2>
                            <DocMetaLine label="Placement" meta=p.placement.clone() />
                            <DocMetaLine label="Routing" meta=p.routing.clone() />
                            <p>{p.tenant_count}" tenants named · default shard "{p.default_shard.map(|s| s.to_string()).unwrap_or_else(|| "none".into())}</p>
                            {(!p.issues.is_empty()).then({ let issues = p.issues.clone(); move || view! {
                                <ul class="issues" role="alert">
                                    {issues.into_iter().map(|i| view! { <li><Badge tone=Tone::Error>{i.code.as_str()}</Badge>" "{i.message}" ("{i.path}")"</li> }).collect_view()}
                                </ul>
                            }})}
                            <table class="data-table">
                                <caption>{format!("{} shards", p.shards.len())}</caption>
                                <thead><tr><th scope="col">"Shard"</th><th scope="col">"Tenants"</th><th scope="col">"State"</th><th scope="col">"Endpoints"</th></tr></thead>
                                <tbody>
                                    {p.shards.into_iter().map(|s| {
                                        let (tone, label) = state_label(s.state);
                                        view! {
                                            <tr data-shard=s.shard.to_string()>
                                                <td>{s.shard.to_string()}{s.is_default.then_some(" (default)")}</td>
                                                <td data-testid="tenant-count">{s.tenant_count}</td>
                                                <td><Badge tone=tone>{label}</Badge></td>
                                                <td>
                                                    {s.endpoints.into_iter().map(|e| view! {
                                                        <span class="endpoint">{e.url}" "<Badge tone=health_tone(e.status)>{e.status.as_str()}</Badge></span>
                                                    }).collect_view()}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </section>
                    }).collect_view().into_any(),
                })}
            </Transition>
        </PageFrame>
    }
}
