//! Users: the Gateway's users with their roles; roles are assigned and
//! removed here, each change with a reason.

use super::api::{assign_role, list_roles, list_users, unassign_role};
use super::{caller, sessions_href};
use crate::error::AppError;
use crate::shell::frame::PageFrame;
use crate::shell::layout::Session;
use crate::shell::nav::page;
use crate::ui::{
    error_alert, error_text, use_toasts, Badge, Button, ButtonKind, ReasonDialog, Tone,
};
use leptos::prelude::*;
use leptos_router::components::A;
use model::iam::{IamRole, IamUser};
use model::rights::Right;

/// The roles a dialog offers: those the user lacks (assign) or holds
/// (remove).
fn role_choices(all: &[IamRole], user: &IamUser, assign: bool) -> Vec<String> {
    if assign {
        all.iter()
            .filter(|r| !user.roles.contains(&r.name))
            .map(|r| r.name.clone())
            .collect()
    } else {
        user.roles.clone()
    }
}

#[derive(Debug, Clone)]
struct RoleChange {
    user: IamUser,
    role: String,
    reason: String,
    assign: bool,
}

#[component]
fn RolePicker(
    #[prop(into)] id: String,
    user: RwSignal<Option<IamUser>>,
    roles: LocalResource<Result<Vec<IamRole>, AppError>>,
    assign: bool,
    value: RwSignal<String>,
) -> impl IntoView {
    let choices = move || {
        let all = roles.get().and_then(Result::ok).unwrap_or_default();
        user.get()
            .map(|u| role_choices(&all, &u, assign))
            .unwrap_or_default()
    };
    view! {
        <p>
            {if assign { "Give " } else { "Take from " }}
            <strong>{move || user.get().map(|u| format!("{} ({})", u.display_name, u.username))}</strong>
            " the rights of one more role or one fewer; it applies at their next request."
        </p>
        {move || roles.get().and_then(Result::err).map(error_alert)}
        <div class="field">
            <label for=id.clone()>"Role"</label>
            <select
                id=id
                data-testid="role-select"
                prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                <option value="">"Choose a role…"</option>
                {move || choices().into_iter().map(|r| {
                    let text = r.clone();
                    view! { <option value=r>{text}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let info = page("/users").expect("users is a nav page");
    let toasts = use_toasts();
    let session = expect_context::<Session>();
    let users = Resource::new(|| (), |_| list_users());
    // Only the role dialogs need the roles: loaded in the browser, kept
    // out of the "Last request" panel unless the call fails.
    let roles = LocalResource::new(|| crate::support::flow::background(list_roles()));
    let target = RwSignal::new(None::<IamUser>);
    let role = RwSignal::new(String::new());
    let assign_open = RwSignal::new(false);
    let remove_open = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let change = Action::new(move |c: &RoleChange| {
        let RoleChange {
            user,
            role,
            reason,
            assign,
        } = c.clone();
        async move {
            let (done, result) = if assign {
                (
                    format!("Role {role} assigned to {}", user.username),
                    assign_role(user.id, role, reason).await,
                )
            } else {
                (
                    format!("Role {role} removed from {}", user.username),
                    unassign_role(user.id, role, reason).await,
                )
            };
            match result {
                Ok(()) => {
                    assign_open.set(false);
                    remove_open.set(false);
                    toasts.info(done, None);
                    users.refetch();
                }
                Err(e) => {
                    failure.set(Some(error_text(&e)));
                    toasts.error(&e, None);
                }
            }
        }
    });
    let open_dialog = move |u: IamUser, assign: bool| {
        target.set(Some(u));
        role.set(String::new());
        failure.set(None);
        if assign { assign_open } else { remove_open }.set(true);
    };
    let confirm = move |assign: bool, reason: String| {
        let Some(user) = target.get_untracked() else {
            return;
        };
        let role = role.get_untracked();
        if role.is_empty() {
            failure.set(Some("Choose a role first.".into()));
        } else {
            change.dispatch(RoleChange {
                user,
                role,
                reason,
                assign,
            });
        }
    };
    let pending = Signal::derive(move || change.pending().get());
    view! {
        <PageFrame info=info>
            <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || users.get().map(|r| match r {
                    Err(e) => error_alert(e),
                    Ok(list) if list.is_empty() => view! { <p class="empty-state">"The Gateway has no users."</p> }.into_any(),
                    Ok(list) => {
                        let write = caller(session).is_some_and(|w| w.can(Right::IamWrite));
                        view! {
                            <div class="table-wrap" tabindex="0" role="region" aria-label="Gateway users">
                                <table class="data-table" data-testid="users-table">
                                    <caption>"Gateway users; a name opens their sessions"</caption>
                                    <thead>
                                        <tr>
                                            <th scope="col">"Username"</th>
                                            <th scope="col">"Display name"</th>
                                            <th scope="col">"Roles"</th>
                                            <th scope="col">"Status"</th>
                                            {write.then(|| view! { <th scope="col">"Actions"</th> })}
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list.into_iter().map(|u| user_row(u, write, open_dialog)).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                })}
            </Transition>
            <ReasonDialog open=assign_open id="assign-role" title="Assign role" confirm="Assign" pending failure on_confirm=Callback::new(move |reason| confirm(true, reason))>
                <RolePicker id="assign-role-select" user=target roles=roles assign=true value=role />
            </ReasonDialog>
            <ReasonDialog open=remove_open id="remove-role" title="Remove role" confirm="Remove" pending failure on_confirm=Callback::new(move |reason| confirm(false, reason))>
                <RolePicker id="remove-role-select" user=target roles=roles assign=false value=role />
            </ReasonDialog>
        </PageFrame>
    }
}

fn user_row(
    u: IamUser,
    write: bool,
    open_dialog: impl Fn(IamUser, bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let roles = if u.roles.is_empty() {
        view! { <span class="muted">"none"</span> }.into_any()
    } else {
        u.roles
            .clone()
            .into_iter()
            .map(|r| view! { <Badge tone=Tone::Info>{r}</Badge>" " })
            .collect_view()
            .into_any()
    };
    let actions = write.then(|| {
        let (for_assign, for_remove) = (u.clone(), u.clone());
        view! {
            <td class="row-actions">
                <Button kind=ButtonKind::Secondary attr:data-testid="assign-button" label=format!("Assign role to {}", u.username) on_click=move |_| open_dialog(for_assign.clone(), true)>
                    "Assign role"
                </Button>
                {(!u.roles.is_empty()).then(|| view! {
                    <Button kind=ButtonKind::Secondary attr:data-testid="remove-role-button" label=format!("Remove role from {}", u.username) on_click=move |_| open_dialog(for_remove.clone(), false)>
                        "Remove role"
                    </Button>
                })}
            </td>
        }
    });
    let username = u.username.clone();
    view! {
        <tr data-user=u.username>
            <td><A href=sessions_href(&u.id)>{username}</A></td>
            <td>{u.display_name}</td>
            <td>{roles}</td>
            <td>
                {if u.disabled {
                    view! { <Badge tone=Tone::Warn>"disabled"</Badge> }
                } else {
                    view! { <Badge tone=Tone::Ok>"active"</Badge> }
                }}
            </td>
            {actions}
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> IamRole {
        IamRole {
            name: name.into(),
            description: String::new(),
            rights: vec![],
        }
    }

    #[test]
    fn dialogs_offer_the_roles_that_make_sense() {
        let all = [role("operator"), role("read-only"), role("iam-admin")];
        let ann = IamUser {
            id: "u-ann".into(),
            username: "ann".into(),
            display_name: "Ann".into(),
            roles: vec!["read-only".into()],
            disabled: false,
        };
        assert_eq!(role_choices(&all, &ann, true), ["operator", "iam-admin"]);
        assert_eq!(role_choices(&all, &ann, false), ["read-only"]);
    }
}
