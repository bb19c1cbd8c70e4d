//! The Overview: the control plane's status, fleet health per kind and the
//! placement maps, refetched when the live feed says something changed.

use super::api::{get_fleet_health, get_placements};
use super::DocMetaLine;
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::status::{api::get_server_status, status_summary};
use crate::support::live::use_live;
use crate::ui::{error_alert, Badge, Tone};
use leptos::prelude::*;
use leptos_router::components::A;
use model::views::InstanceQuery;

#[component]
pub fn Overview() -> impl IntoView {
    let info = page("/").expect("overview is a nav page");
    let live = use_live();
    let status = Resource::new(|| (), |_| get_server_status());
    let health = Resource::new(
        move || live.key(),
        |_| {
            crate::support::flow::background(get_fleet_health(InstanceQuery {
                page_size: 1,
                ..Default::default()
            }))
        },
    );
    let placements = Resource::new(
        move || live.key().map(|k| (k.1, k.2)),
        |_| crate::support::flow::background(get_placements()),
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
                        Err(e) => error_alert(e),
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
                        Err(e) => error_alert(e),
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
