//! Roles & Permissions: the roles, the rights they grant and who holds them.

use super::api::{list_roles, list_users};
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::ui::{error_alert, error_text, Badge, Tone};
use leptos::prelude::*;
use leptos_router::components::A;
use model::iam::{IamRole, IamUser};

#[component]
pub fn RolesPage() -> impl IntoView {
    let info = page("/roles").expect("roles is a nav page");
    let roles = Resource::new(|| (), |_| list_roles());
    let users = Resource::new(|| (), |_| list_users());
    view! {
        <PageFrame info=info>
            <Transition fallback=|| view! { <p class="muted">"Loading roles…"</p> }>
                {move || roles.get().map(|r| match r {
                    Err(e) => error_alert(e),
                    Ok(list) if list.is_empty() => view! { <p class="empty-state">"The Gateway defines no roles."</p> }.into_any(),
                    Ok(list) => {
                        let (users, users_error) = match users.get() {
                            Some(Ok(u)) => (u, None),
                            Some(Err(e)) => (Vec::new(), Some(e)),
                            None => (Vec::new(), None),
                        };
                        view! {
                            {users_error.map(|e| view! { <p class="field-error" role="alert">"Holders unknown: "{error_text(&e)}</p> })}
                            <ul class="plain role-list" data-testid="roles-list">
                                {list.into_iter().map(|role| role_card(role, &users)).collect_view()}
                            </ul>
                        }.into_any()
                    }
                })}
            </Transition>
        </PageFrame>
    }
}

fn role_card(role: IamRole, users: &[IamUser]) -> impl IntoView {
    let holders: Vec<String> = users
        .iter()
        .filter(|u| u.roles.contains(&role.name))
        .map(|u| u.username.clone())
        .collect();
    view! {
        <li class="card" data-role=role.name.clone()>
            <h2>{role.name.clone()}</h2>
            <p>{role.description}</p>
            <h3>"Rights"</h3>
            <ul class="rights">
                {role.rights.into_iter().map(|r| view! { <li><code class="badge right">{r}</code></li> }).collect_view()}
            </ul>
            <h3>"Held by"</h3>
            <p class="muted">
                "Roles are assigned and removed per user on the "
                <A href="/users">"Users"</A>" page."
            </p>
            {if holders.is_empty() {
                view! { <p class="muted">"No user holds this role."</p> }.into_any()
            } else {
                let badges = holders
                    .into_iter()
                    .map(|u| view! { <Badge tone=Tone::Info>{u}</Badge>" " })
                    .collect_view();
                view! { <p data-testid="role-holders">{badges}</p> }.into_any()
            }}
        </li>
    }
}
