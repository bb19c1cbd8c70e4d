//! The Definitions page: every runner definition (effect or saga) with its
//! version, triggers and revision, where it is active, and Activate /
//! Deactivate for a chosen scope: a `config.apply` of that scope's
//! activation document with the definition added or removed.

use super::api::{get_config, list_definitions};
use super::launch::ConfigLauncher;
use super::DocRef;
use crate::shell::frame::PageFrame;
use crate::shell::layout::Session;
use crate::shell::nav::page;
use crate::ui::{error_alert, error_text, Badge, Time, Tone};
use leptos::prelude::*;
use leptos_router::components::A;
use model::config::{DefinitionKind, DefinitionView, Scope};
use model::jobs::JobKind;
use model::rights::Right;
use model::ErrorCode;

#[component]
pub fn DefinitionsPage() -> impl IntoView {
    let info = page("/definitions").expect("definitions is a nav page");
    let session = expect_context::<Session>();
    let may_write = Signal::derive(move || {
        crate::iam::caller(session).is_some_and(|w| w.can(Right::ConfigWrite))
    });
    let data = Resource::new(|| (), |_| list_definitions());
    let scope = RwSignal::new("platform".to_owned());
    let new_name = RwSignal::new(String::new());
    view! {
        <PageFrame info=info>
            <Show when=move || may_write.get()>
                <form class="filters" data-testid="activation-form" on:submit=|ev| ev.prevent_default()>
                    <div class="field">
                        <label for="activation-scope">"Scope to activate in or deactivate from"</label>
                        <input id="activation-scope" data-testid="activation-scope" type="text" autocomplete="off" spellcheck="false"
                            placeholder="platform, kind:runner or tenant:<id>"
                            prop:value=move || scope.get()
                            on:input=move |ev| scope.set(event_target_value(&ev)) />
                    </div>
                    <div class="field">
                        <label for="new-definition-name">"New definition named"</label>
                        <input id="new-definition-name" data-testid="new-definition-name" type="text" autocomplete="off" spellcheck="false"
                            prop:value=move || new_name.get()
                            on:input=move |ev| new_name.set(event_target_value(&ev)) />
                    </div>
                    <A
                        href=move || DocRef::new("definitions", new_name.get().trim(), &Scope::Platform).href()
                        attr:class="btn btn-secondary"
                        attr:data-testid="new-definition"
                    >"Write it…"</A>
                </form>
            </Show>
            <Transition fallback=|| view! { <p class="muted">"Loading definitions…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => error_alert(e),
                    Ok(l) if l.items.is_empty() => view! {
                        <p class="empty-state" data-testid="definitions-empty">"No runner definitions yet."</p>
                    }.into_any(),
                    Ok(l) => {
                        let count = l.items.len();
                        let rows = l.items.into_iter().map(|d| view! { <DefinitionRow d=d scope=scope may_write=may_write /> }).collect_view();
                        view! {
                            <div class="table-wrap" tabindex="0" role="region" aria-label="Definitions">
                                <table class="data-table" data-testid="definitions-table">
                                    <caption>{format!("{count} definitions")}</caption>
                                    <thead><tr>
                                        <th scope="col">"Name"</th><th scope="col">"Kind"</th><th scope="col">"Version"</th>
                                        <th scope="col">"Triggers"</th><th scope="col">"Revision"</th><th scope="col">"Updated by"</th>
                                        <th scope="col">"Updated"</th><th scope="col">"Active in"</th><th scope="col">"Actions"</th>
                                    </tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                })}
            </Transition>
        </PageFrame>
    }
    .into_any()
}

fn kind_label(k: DefinitionKind) -> &'static str {
    match k {
        DefinitionKind::Effect => "effect",
        DefinitionKind::Saga => "saga",
    }
}

/// The input of a `config.apply` of `scope`'s activation document with
/// `name` added (`on`) or removed, against its current revision (a
/// document that does not exist yet starts from `{"active": []}`).
async fn activation_input(
    scope: String,
    name: String,
    on: bool,
) -> Result<serde_json::Value, String> {
    let scope = scope.trim().to_owned();
    if scope.is_empty() {
        return Err("Type a scope: platform, kind:runner or tenant:<id>.".into());
    }
    let arg = (scope != "platform").then(|| scope.clone());
    let (mut document, base) = match get_config("activation".into(), "activation".into(), arg, None)
        .await
    {
        Ok(d) => (d.document, Some(d.current_revision)),
        Err(e) if e.code() == ErrorCode::NotFound => (serde_json::json!({ "active": [] }), None),
        Err(e) => return Err(error_text(&e)),
    };
    let mut active: Vec<serde_json::Value> = document
        .get("active")
        .and_then(|a| a.as_array())
        .cloned()
        .unwrap_or_default();
    let named = serde_json::Value::String(name);
    active.retain(|a| *a != named);
    if on {
        active.push(named);
    }
    match document.as_object_mut() {
        Some(o) => {
            o.insert("active".into(), active.into());
        }
        None => document = serde_json::json!({ "active": active }),
    }
    let mut input = serde_json::json!({
        "domain": "activation",
        "name": "activation",
        "scope": scope,
        "document": document,
    });
    if let Some(b) = base {
        input["base_revision"] = b.into();
    }
    Ok(input)
}

#[component]
fn DefinitionRow(
    d: DefinitionView,
    scope: RwSignal<String>,
    may_write: Signal<bool>,
) -> impl IntoView {
    let doc = DocRef::new("definitions", &d.name, &Scope::Platform);
    let active: Vec<String> = d.active_in.iter().map(|s| s.to_string()).collect();
    let active_here = Signal::derive(move || scope.with(|s| active.iter().any(|a| a == s.trim())));
    let name = StoredValue::new(d.name.clone());
    let activate = move || activation_input(scope.get_untracked(), name.get_value(), true);
    let deactivate = move || activation_input(scope.get_untracked(), name.get_value(), false);
    let (kind, version, triggers) = match d.definition {
        Some(def) => (
            view! { <Badge tone=Tone::Info>{kind_label(def.kind)}</Badge> }.into_any(),
            def.version.to_string(),
            def.triggers.join(", "),
        ),
        None => (
            view! { <Badge tone=Tone::Error>"not a valid definition"</Badge> }.into_any(),
            "—".to_owned(),
            "—".to_owned(),
        ),
    };
    let testid = d.name.clone();
    let shown = d.name.clone();
    view! {
        <tr data-definition=d.name>
            <td><A href=doc.href()><code>{shown}</code></A></td>
            <td>{kind}</td>
            <td>{version}</td>
            <td><code>{triggers}</code></td>
            <td>{d.meta.revision}</td>
            <td>{d.meta.updated_by.clone().unwrap_or_else(|| "—".into())}</td>
            <td>{match d.meta.updated_at_ms {
                Some(ms) => view! { <Time ms=ms /> }.into_any(),
                None => "—".into_any(),
            }}</td>
            <td data-testid="active-in">
                {if d.active_in.is_empty() {
                    view! { <span class="muted">"nowhere"</span> }.into_any()
                } else {
                    d.active_in.into_iter().map(|s| {
                        let a = DocRef::new("activation", "activation", &s);
                        let shown = s.to_string();
                        view! { <A href=a.href() attr:class="scope-link"><Badge tone=Tone::Ok>{shown}</Badge></A>" " }
                    }).collect_view().into_any()
                }}
            </td>
            <td class="row-actions">
                <Show when=move || may_write.get()>
                    <ConfigLauncher
                        id=format!("activate-{testid}")
                        label="Activate…"
                        title=format!("Activate {}", name.get_value())
                        kind=JobKind::ConfigApply
                        input=activate
                        secondary=true
                        disabled=Signal::derive(move || active_here.get())
                    />
                    <ConfigLauncher
                        id=format!("deactivate-{testid}")
                        label="Deactivate…"
                        title=format!("Deactivate {}", name.get_value())
                        kind=JobKind::ConfigApply
                        input=deactivate
                        secondary=true
                        disabled=Signal::derive(move || !active_here.get())
                    />
                </Show>
            </td>
        </tr>
    }
    .into_any()
}
