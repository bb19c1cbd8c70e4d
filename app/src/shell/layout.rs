use super::nav::{pages, visible, Section};
use super::search::GlobalSearch;
use crate::error::AppError;
use crate::support::flow::RequestRecord;
use crate::ui::{Badge, IdChip, ToastRegion, Tone};
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use model::rights::WhoAmI;

#[cfg(feature = "hydrate")]
pub const THEME_KEY: &str = "control.theme";

/// The signed-in operator, fetched once per mount of the layout (signing
/// in or out moves between the login page and the layout, so it is fresh).
#[derive(Clone, Copy)]
pub struct Session(pub Resource<Result<Option<WhoAmI>, AppError>>);

/// The app frame around every page but the login page: the page's own
/// content comes as children (fallback) or through the router's outlet.
#[component]
pub fn Layout(#[prop(optional)] children: Option<Children>) -> impl IntoView {
    let session = Session(Resource::new(|| (), |_| super::api::whoami()));
    provide_context(session);
    let may_listen = Signal::derive(move || {
        session
            .0
            .get()
            .and_then(|r| r.ok().flatten())
            .is_some_and(|w| w.can(model::rights::Right::FleetRead))
    });
    crate::support::live::provide_live(may_listen);
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <A href="/" attr:class="brand">
                "Cloudlysis Control"
            </A>
            <GlobalSearch />
            <crate::support::live::LiveBadge />
            <UserMenu session />
        </header>
        <FlagsBanner />
        <div class="frame">
            <SideNav session />
            <main id="main" tabindex="-1">
                {match children {
                    Some(c) => c().into_any(),
                    None => view! { <Outlet /> }.into_any(),
                }}
            </main>
            <LastRequestPanel />
        </div>
        <ToastRegion />
    }
}

/// The `banner` flag and a change freeze, above every page. Fetched in
/// the browser (and kept out of the "Last request" panel): the server
/// render of the layout never waits on it, so no page's render is held
/// behind it.
#[component]
fn FlagsBanner() -> impl IntoView {
    let flags = LocalResource::new(|| {
        crate::support::flow::background(crate::config::api::platform_flags())
    });
    move || {
        flags
            .get()
            .and_then(Result::ok)
            .filter(|f| f.banner.is_some() || f.freeze)
            .map(|f| {
                view! {
                    <div class="flags-banner" role="status" data-testid="flags-banner">
                        {f.freeze.then(|| view! { <strong>"Change freeze: only config changes run. "</strong> })}
                        {f.banner.clone()}
                    </div>
                }
            })
    }
}

/// Who is signed in, and the way out.
#[component]
fn UserMenu(session: Session) -> impl IntoView {
    let logout = ServerAction::<super::api::Logout>::new();
    view! {
        <Transition fallback=|| ()>
            {move || {
                session
                    .0
                    .get()
                    .and_then(|r| r.ok().flatten())
                    .map(|who| {
                        let roles = who.roles.join(", ");
                        view! {
                            <div class="user-menu" data-testid="user-menu">
                                <span class="who">
                                    <strong data-testid="user-name">{who.display_name.clone()}</strong>
                                    <span class="muted">" ("{roles}")"</span>
                                </span>
                                <ActionForm action=logout>
                                    <button type="submit" class="btn btn-secondary" data-testid="sign-out">
                                        "Sign out"
                                    </button>
                                </ActionForm>
                            </div>
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
fn SideNav(session: Session) -> impl IntoView {
    let nav_ref: NodeRef<leptos::html::Nav> = NodeRef::new();
    let sections = move || {
        let who = session.0.get().and_then(|r| r.ok().flatten());
        Section::ALL
            .into_iter()
            .filter_map(|s| {
                let pages: Vec<_> = pages()
                    .filter(|p| p.section == s && who.as_ref().is_some_and(|w| visible(p, w)))
                    .collect();
                if pages.is_empty() {
                    return None;
                }
                let links = pages
                    .into_iter()
                    .map(|p| view! { <li><A href=p.path>{p.title}</A></li> })
                    .collect_view();
                let heading_id = format!("nav-{}", s.label().to_lowercase());
                Some(view! {
                    <div class="nav-section">
                        <h2 id=heading_id.clone()>{s.label()}</h2>
                        <ul aria-labelledby=heading_id>{links}</ul>
                    </div>
                })
            })
            .collect_view()
    };
    let sections = view! { <Transition fallback=|| ()>{sections}</Transition> };
    view! {
        <nav
            class="sidenav"
            aria-label="Main"
            node_ref=nav_ref
            on:keydown=move |_ev| {
                #[cfg(feature = "hydrate")]
                if let Some(el) = nav_ref.get_untracked() {
                    crate::support::dom::move_focus(&el, &_ev);
                }
            }
        >
            {sections}
        </nav>
    }
}

/// Where the ids panel's collapsed state is remembered.
#[cfg(feature = "hydrate")]
const PANEL_KEY: &str = "control.ids_panel";

/// The most recent server calls with the ids the server echoed, so an
/// operator can copy them into a ticket. Filled in the browser only. It
/// collapses to a narrow strip (remembered in this browser) to leave the
/// width to the page.
#[component]
fn LastRequestPanel() -> impl IntoView {
    let items = RwSignal::new(Vec::<RequestRecord>::new());
    let collapsed = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| items.set(crate::support::flow::history().get()));
    #[cfg(feature = "hydrate")]
    Effect::new(move |prev: Option<()>| {
        // After hydration, so the first client render matches the server's.
        if prev.is_none() {
            if let Some(v) = crate::support::dom::storage_get(PANEL_KEY) {
                collapsed.set(v == "collapsed");
            }
        } else {
            let v = if collapsed.get() { "collapsed" } else { "open" };
            crate::support::dom::storage_set(PANEL_KEY, v);
        }
        collapsed.track();
    });
    let toggle_label = move || {
        if collapsed.get() {
            "Show request ids"
        } else {
            "Hide request ids"
        }
    };
    view! {
        <aside
            class="last-request"
            class:collapsed=move || collapsed.get()
            aria-labelledby="last-request-title"
            data-testid="last-request"
        >
            <div class="panel-head">
                <h2 id="last-request-title">"Last request"</h2>
                <button
                    type="button"
                    class="btn btn-ghost panel-toggle"
                    data-testid="ids-panel-toggle"
                    aria-controls="last-request-body"
                    aria-expanded=move || if collapsed.get() { "false" } else { "true" }
                    aria-label=toggle_label
                    title=toggle_label
                    on:click=move |_| collapsed.update(|c| *c = !*c)
                >
                    {move || if collapsed.get() { "«" } else { "»" }}
                </button>
            </div>
            <div id="last-request-body" hidden=move || collapsed.get()>
            {move || {
                let list = items.get();
                match list.split_first() {
                    None => view! { <p class="muted">"No request from this browser yet."</p> }.into_any(),
                    Some((last, older)) => {
                        let older = older.to_vec();
                        view! {
                            <RecordView rec=last.clone() />
                            <Show when={
                                let empty = older.is_empty();
                                move || !empty
                            }>
                                <h3>"Earlier"</h3>
                            </Show>
                            <ul class="older">
                                {older
                                    .iter()
                                    .map(|r| view! { <li><code>{r.request_id.clone()}</code>" "{short_path(&r.path)}</li> })
                                    .collect_view()}
                            </ul>
                        }
                        .into_any()
                    }
                }
            }}
            </div>
        </aside>
    }
}

fn short_path(p: &str) -> String {
    let path = p.split('?').next().unwrap_or(p);
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

#[component]
fn RecordView(rec: RequestRecord) -> impl IntoView {
    let tone = match rec.status {
        200..=299 => Tone::Ok,
        0 => Tone::Error,
        400..=499 => Tone::Warn,
        _ => Tone::Error,
    };
    let status = if rec.status == 0 {
        "no answer".to_owned()
    } else {
        rec.status.to_string()
    };
    view! {
        <div class="record">
            <p>
                <code>{short_path(&rec.path)}</code>" "
                <Badge tone=tone>{status}</Badge>
            </p>
            <IdChip kind="request id" value=rec.request_id.clone() />
            {rec.correlation_id.clone().map(|c| view! { <IdChip kind="correlation id" value=c /> })}
            {rec.trace_id.clone().map(|t| view! { <IdChip kind="trace id" value=t /> })}
        </div>
    }
}
