//! Users, Sessions and Roles & Permissions: the Gateway's IAM as the
//! control plane proxies it. Changes ask for a reason (it lands in the
//! audit log) and are offered only to callers holding `control.iam.write`;
//! the server checks the right either way.

use crate::api::iam::{
    assign_role, list_roles, list_sessions, list_users, revoke_session, unassign_role,
};
use crate::audit_page::{encode, error_alert, error_text, format_ms};
use crate::components::{use_toasts, Badge, Button, ButtonKind, IdChip, Modal, TextInput, Tone};
use crate::error::AppError;
use crate::layout::Session;
use crate::nav::page;
use crate::pages::PageFrame;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use model::auth::{Right, WhoAmI};
use model::iam::{check_reason, IamRole, IamSession, IamUser};

/// The signed-in caller, once known.
fn caller(session: Session) -> Option<WhoAmI> {
    session.0.get().and_then(Result::ok).flatten()
}

fn sessions_href(user: &str) -> String {
    format!("/sessions?user={}", encode(user))
}

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

/// A dialog that asks for a reason before a change. The reason is checked
/// here with the server's own rule, so a 400 is the exception; a server
/// error stays in the dialog (and in a toast, with its request id).
#[component]
fn ReasonDialog(
    open: RwSignal<bool>,
    #[prop(into)] id: String,
    #[prop(into)] title: String,
    #[prop(into)] confirm: String,
    #[prop(into)] pending: Signal<bool>,
    failure: RwSignal<Option<String>>,
    on_confirm: Callback<String>,
    children: ChildrenFn,
) -> impl IntoView {
    let field = format!("{id}-reason");
    view! {
        <Modal open=open id=id title=title>
            {children()}
            {
                // Created each time the dialog opens, so it starts empty.
                let reason = RwSignal::new(String::new());
                let invalid = RwSignal::new(None::<String>);
                let err_id = format!("{field}-error");
                let err_id2 = err_id.clone();
                let label = confirm.clone();
                view! {
                    <div class="field">
                        <label for=field.clone()>"Reason (recorded in the audit log)"</label>
                        <textarea
                            id=field.clone()
                            data-testid="reason-input"
                            rows="3"
                            required
                            prop:value=move || reason.get()
                            on:input=move |ev| {
                                reason.set(event_target_value(&ev));
                                invalid.set(None);
                            }
                            aria-invalid=move || if invalid.get().is_some() { "true" } else { "false" }
                            aria-describedby=move || invalid.get().map(|_| err_id.clone())
                        ></textarea>
                        {move || invalid.get().map(|e| view! { <p class="field-error" id=err_id2.clone() role="alert">{e}</p> })}
                    </div>
                    {move || failure.get().map(|e| view! { <p class="field-error" role="alert" data-testid="dialog-error">{e}</p> })}
                    <div class="modal-actions">
                        <Button kind=ButtonKind::Secondary on_click=move |_| open.set(false)>"Cancel"</Button>
                        <Button
                            kind=ButtonKind::Danger
                            attr:data-testid="confirm-button"
                            disabled=pending
                            on_click=move |_| match check_reason(&reason.get_untracked()) {
                                Ok(r) => on_confirm.run(r),
                                Err(e) => invalid.set(Some(e)),
                            }
                        >
                            {label}
                        </Button>
                    </div>
                }
            }
        </Modal>
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
    let info = page("/users").expect("users is in nav::PAGES");
    let toasts = use_toasts();
    let session = expect_context::<Session>();
    let users = Resource::new(|| (), |_| list_users());
    // Only the role dialogs need the roles: loaded in the browser, kept
    // out of the "Last request" panel unless the call fails.
    let roles = LocalResource::new(|| crate::flow::background(list_roles()));
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
                            <div class="table-wrap">
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

#[component]
pub fn SessionsPage() -> impl IntoView {
    let info = page("/sessions").expect("sessions is in nav::PAGES");
    let toasts = use_toasts();
    let session = expect_context::<Session>();
    let query = use_query_map();
    let user = Memo::new(move |_| {
        query
            .read()
            .get("user")
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
    });
    let filter = RwSignal::new(user.get_untracked().unwrap_or_default());
    // Back and forward change the URL, not the input: bring it along.
    Effect::new(move |_| filter.set(user.get().unwrap_or_default()));
    let sessions = Resource::new(move || user.get(), list_sessions);
    let open = RwSignal::new(false);
    // The session to revoke, and whether it is the caller's own.
    let target = RwSignal::new(None::<(IamSession, bool)>);
    let failure = RwSignal::new(None::<String>);
    let revoke = Action::new(move |(id, reason): &(String, String)| {
        let call = revoke_session(id.clone(), reason.clone());
        async move {
            match call.await {
                Ok(()) => {
                    open.set(false);
                    toasts.info("Session revoked", None);
                    sessions.refetch();
                }
                Err(e) => {
                    failure.set(Some(error_text(&e)));
                    toasts.error(&e, None);
                }
            }
        }
    });
    let navigate = use_navigate();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match filter.get_untracked().trim() {
            "" => navigate("/sessions", Default::default()),
            u => navigate(&sessions_href(u), Default::default()),
        }
    };
    view! {
        <PageFrame info=info>
            <form class="filters" role="search" aria-label="Filter sessions" on:submit=on_submit>
                <TextInput id="sessions-user" label="User id" value=filter placeholder="e.g. u-admin" />
                <button type="submit" class="btn btn-secondary">"Filter"</button>
                // A plain link: <A> would mark it as the current page.
                {move || user.get().is_some().then(|| view! { <a href="/sessions" class="btn btn-ghost">"All sessions"</a> })}
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading sessions…"</p> }>
                {move || sessions.get().map(|r| match r {
                    Err(e) => error_alert(e),
                    Ok(list) if list.is_empty() => {
                        let text = match user.get_untracked() {
                            Some(u) => format!("User {u} has no sessions."),
                            None => "There are no sessions.".to_owned(),
                        };
                        view! { <p class="empty-state" data-testid="sessions-empty">{text}</p> }.into_any()
                    }
                    Ok(list) => {
                        let me = caller(session);
                        let write = me.as_ref().is_some_and(|w| w.can(Right::IamWrite));
                        let mine = me.map(|w| w.session_id);
                        let rows = list.into_iter().map(|s| {
                            let is_mine = mine.as_deref() == Some(s.id.as_str());
                            let revoke_button = (write && !s.revoked).then(|| {
                                let label = format!("Revoke session {}", s.id);
                                let s = s.clone();
                                view! {
                                    <Button kind=ButtonKind::Danger attr:data-testid="revoke-button" label=label on_click=move |_| {
                                        target.set(Some((s.clone(), is_mine)));
                                        failure.set(None);
                                        open.set(true);
                                    }>
                                        "Revoke"
                                    </Button>
                                }
                            });
                            view! {
                                <tr data-session=s.id.clone() data-revoked=s.revoked.to_string()>
                                    <td>
                                        <IdChip kind="session" value=s.id.clone() />
                                        {is_mine.then(|| view! { <span data-testid="this-session"><Badge tone=Tone::Info>"this session"</Badge></span> })}
                                    </td>
                                    <td><A href=sessions_href(&s.sub)>{s.username.clone()}</A></td>
                                    <td>{format_ms(s.created_ms)}</td>
                                    <td>{format_ms(s.last_seen_ms)}</td>
                                    <td>{format_ms(s.expires_ms)}</td>
                                    <td>
                                        {if s.revoked {
                                            view! { <Badge tone=Tone::Error>"Revoked"</Badge> }
                                        } else {
                                            view! { <Badge tone=Tone::Ok>"Active"</Badge> }
                                        }}
                                    </td>
                                    {write.then(|| view! { <td>{revoke_button}</td> })}
                                </tr>
                            }
                        }).collect_view();
                        view! {
                            <div class="table-wrap">
                                <table class="data-table" data-testid="sessions-table">
                                    <caption>"Gateway sessions, newest first (times in UTC)"</caption>
                                    <thead>
                                        <tr>
                                            <th scope="col">"Session"</th>
                                            <th scope="col">"User"</th>
                                            <th scope="col">"Created"</th>
                                            <th scope="col">"Last seen"</th>
                                            <th scope="col">"Expires"</th>
                                            <th scope="col">"Status"</th>
                                            {write.then(|| view! { <th scope="col">"Actions"</th> })}
                                        </tr>
                                    </thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                })}
            </Transition>
            <ReasonDialog
                open=open
                id="revoke-session"
                title="Revoke session"
                confirm="Revoke"
                pending=Signal::derive(move || revoke.pending().get())
                failure=failure
                on_confirm=Callback::new(move |reason| {
                    if let Some((s, _)) = target.get_untracked() {
                        revoke.dispatch((s.id, reason));
                    }
                })
            >
                {move || target.get().map(|(s, own)| view! {
                    <p>"Session "<code>{s.id}</code>" of "<strong>{s.username}</strong>" ends now: its token stops working at the next request."</p>
                    {own.then(|| view! { <p class="field-error">"This is your own session: you will be signed out."</p> })}
                })}
            </ReasonDialog>
        </PageFrame>
    }
}

#[component]
pub fn RolesPage() -> impl IntoView {
    let info = page("/roles").expect("roles is in nav::PAGES");
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
        assert_eq!(sessions_href("u ann"), "/sessions?user=u%20ann");
    }
}
