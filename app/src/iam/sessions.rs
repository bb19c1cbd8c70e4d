//! Sessions: the Gateway's sessions, filtered by user, with revoke.

use super::api::{list_sessions, revoke_session};
use super::{caller, sessions_href};
use crate::shell::frame::PageFrame;
use crate::shell::layout::Session;
use crate::shell::nav::page;
use crate::ui::{
    error_alert, error_text, use_toasts, Badge, Button, ButtonKind, IdChip, ReasonDialog,
    TextInput, Time, Tone,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use model::iam::IamSession;
use model::rights::Right;

#[component]
pub fn SessionsPage() -> impl IntoView {
    let info = page("/sessions").expect("sessions is a nav page");
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
                                    <td><Time ms=s.created_ms /></td>
                                    <td><Time ms=s.last_seen_ms /></td>
                                    <td><Time ms=s.expires_ms /></td>
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
                            <div class="table-wrap" tabindex="0" role="region" aria-label="Gateway sessions">
                                <table class="data-table" data-testid="sessions-table">
                                    <caption>"Gateway sessions, newest first (hover a time for UTC)"</caption>
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
