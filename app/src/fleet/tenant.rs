//! One tenant: where its work goes, per service kind.

use super::api::get_tenant;
use super::{state_label, DocMetaLine};
use crate::support::live::use_live;
use crate::ui::{error_alert, Badge, Breadcrumbs, Tone};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn TenantDetailPage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let live = use_live();
    let data = Resource::new(
        move || (tenant(), live.key().map(|k| (k.1, k.2))),
        |(t, _)| {
            use crate::support::flow::{background, for_tenant};
            background(for_tenant(t.clone(), get_tenant(t)))
        },
    );
    crate::mark_hydrated();
    view! {
        <Title text=move || format!("Tenant {}", tenant()) />
        <Breadcrumbs items=vec![("Control".to_owned(), Some("/".to_owned())), ("Tenants".to_owned(), Some("/tenants".to_owned())), (tenant(), None)] />
        <h1>"Tenant " <code>{tenant}</code></h1>
        <TenantActions tenant=Signal::derive(tenant) />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => error_alert(e),
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

/// Drain, resume and migrate, for holders of the rights; each opens the
/// plan dialog.
#[component]
fn TenantActions(tenant: Signal<String>) -> impl IntoView {
    use crate::moves::MoveLauncher;
    use model::jobs::JobKind;
    use model::rights::Right;
    let session = expect_context::<crate::shell::layout::Session>();
    let can = move |r: Right| crate::iam::caller(session).is_some_and(|w| w.can(r));
    let kind = RwSignal::new("aggregate".to_owned());
    let target = RwSignal::new(String::new());
    let whole = Signal::derive(move || serde_json::json!({ "tenant": tenant.get() }));
    let migrate = Signal::derive(
        move || serde_json::json!({ "tenant": tenant.get(), "kind": kind.get(), "target": target.get().trim() }),
    );
    view! {
        <Show when=move || can(Right::TenantsDrain)>
            <div class="page-actions" data-testid="tenant-actions">
                <MoveLauncher id="drain-tenant" label="Drain" title="Drain this tenant" kind=JobKind::TenantsDrain input=whole secondary=true />
                <MoveLauncher id="resume-tenant" label="Resume" title="Resume this tenant" kind=JobKind::TenantsResume input=whole secondary=true />
            </div>
        </Show>
        <Show when=move || can(Right::TenantsMigrate)>
            <form class="page-actions" data-testid="migrate-form" on:submit=|ev| ev.prevent_default()>
                <label for="migrate-kind">"Kind"</label>
                <select id="migrate-kind" data-testid="migrate-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="aggregate">"aggregate"</option>
                    <option value="projection">"projection"</option>
                    <option value="runner">"runner"</option>
                </select>
                <label for="migrate-target">"Target shard"</label>
                <input id="migrate-target" data-testid="migrate-target" type="text" required
                    prop:value=move || target.get()
                    on:input=move |ev| target.set(event_target_value(&ev)) />
                <MoveLauncher id="migrate-tenant" label="Migrate…" title="Migrate this tenant" kind=JobKind::TenantsMigrate input=migrate />
            </form>
        </Show>
    }
    .into_any()
}
