//! Scale & Placement: shards per service kind with their tenants and
//! endpoints.

use super::api::get_placements;
use super::{health_tone, state_label, DocMetaLine};
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::support::live::use_live;
use crate::ui::{error_alert, Badge, Tone};
use leptos::prelude::*;

#[component]
pub fn PlacementPage() -> impl IntoView {
    let info = page("/placement").expect("placement is a nav page");
    let live = use_live();
    let data = Resource::new(
        move || live.key(),
        |_| crate::support::flow::background(get_placements()),
    );
    let session = expect_context::<crate::shell::layout::Session>();
    let may_reload = move || {
        crate::iam::caller(session).is_some_and(|w| w.can(model::rights::Right::RoutingReload))
    };
    view! {
        <PageFrame info=info>
            <Show when=may_reload>
                <div class="page-actions">
                    <crate::jobs::JobLauncher
                        id="reload-routing"
                        label="Reload routing"
                        title="Reload routing on every gateway"
                        create=crate::jobs::api::reload_routing
                    >
                        <p>"Every gateway instance reloads the routing directory and placement, one step per instance, and the job waits until each reports the current routing revision as loaded. First it checks that every gateway answers."</p>
                    </crate::jobs::JobLauncher>
                </div>
            </Show>
            <Transition fallback=|| view! { <p class="muted">"Loading placement…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => error_alert(e),
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
                                                    {(!s.moving.is_empty()).then({ let moving = s.moving.clone(); move || view! {
                                                        <ul class="moving" data-testid="moving">
                                                            {moving.into_iter().map(|m| view! {
                                                                <li><a href=crate::jobs::job_href(m.job.as_str())>{format!("{} {} → {}", m.tenant, m.from, m.to)}</a></li>
                                                            }).collect_view()}
                                                        </ul>
                                                    }})}
                                                    {s.endpoints.into_iter().map(|e| view! {
                                                        <span class="endpoint">{e.url}" "<Badge tone=health_tone(e.status)>{e.status.as_str()}</Badge></span>
                                                    }).collect_view()}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <ShardActions kind=p.kind />
                        </section>
                    }).collect_view().into_any(),
                })}
            </Transition>
        </PageFrame>
    }
}

/// Evacuate a shard, mark its state, make it the default: for holders of
/// the rights, each through the plan dialog.
#[component]
fn ShardActions(kind: model::fleet::ServiceKind) -> impl IntoView {
    use crate::moves::MoveLauncher;
    use model::jobs::JobKind;
    use model::rights::Right;
    let session = expect_context::<crate::shell::layout::Session>();
    let can = move |r: Right| crate::iam::caller(session).is_some_and(|w| w.can(r));
    let k = kind.as_str();
    let shard = RwSignal::new(String::new());
    let targets = RwSignal::new(String::new());
    let state = RwSignal::new("draining".to_owned());
    let stop_first = RwSignal::new(false);
    let concurrency = RwSignal::new("4".to_owned());
    let evacuate = Signal::derive(move || {
        let t: Vec<String> = targets
            .get()
            .split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect();
        serde_json::json!({ "kind": k, "shard": shard.get().trim(), "targets": t, "stop_on_first_failure": stop_first.get(), "concurrency": concurrency.get().trim().parse::<u32>().unwrap_or(4) })
    });
    let set_state = Signal::derive(
        move || serde_json::json!({ "kind": k, "shard": shard.get().trim(), "state": state.get() }),
    );
    let set_default =
        Signal::derive(move || serde_json::json!({ "kind": k, "shard": shard.get().trim() }));
    let id = move |what: &str| format!("{what}-{k}");
    view! {
        <Show when=move || can(Right::TenantsMigrate) || can(Right::PlacementWrite)>
            <form class="page-actions" data-testid=id("shard-actions") on:submit=|ev| ev.prevent_default()>
                <label for=id("shard")>"Shard"</label>
                <input id=id("shard") data-testid="shard-input" type="text" prop:value=move || shard.get() on:input=move |ev| shard.set(event_target_value(&ev)) />
                <Show when=move || can(Right::TenantsMigrate)>
                    <label for=id("targets")>"Targets (comma-separated)"</label>
                    <input id=id("targets") data-testid="targets-input" type="text" prop:value=move || targets.get() on:input=move |ev| targets.set(event_target_value(&ev)) />
                    <label for=id("concurrency")>"At once"</label>
                    <input id=id("concurrency") data-testid="concurrency-input" type="number" min="1" max="64" prop:value=move || concurrency.get() on:input=move |ev| concurrency.set(event_target_value(&ev)) />
                    <label><input type="checkbox" data-testid="stop-first" prop:checked=move || stop_first.get() on:change=move |ev| stop_first.set(event_target_checked(&ev)) />" stop on first failure"</label>
                    <MoveLauncher id=id("evacuate") label="Evacuate…" title=format!("Evacuate a {k} shard") kind=JobKind::ShardsEvacuate input=evacuate />
                </Show>
                <Show when=move || can(Right::PlacementWrite)>
                    <label for=id("state")>"State"</label>
                    <select id=id("state") data-testid="state-select" on:change=move |ev| state.set(event_target_value(&ev))>
                        <option value="draining">"draining"</option>
                        <option value="disabled">"disabled"</option>
                        <option value="active">"active"</option>
                    </select>
                    <MoveLauncher id=id("set-state") label="Mark…" title=format!("Mark a {k} shard") kind=JobKind::ShardsSetState input=set_state secondary=true />
                    <MoveLauncher id=id("set-default") label="Make default…" title=format!("Make a {k} shard the default") kind=JobKind::PlacementSetDefault input=set_default secondary=true />
                </Show>
            </form>
        </Show>
    }
    .into_any()
}
