//! The Leptos UI, one folder per domain (`fleet`, `iam`, `audit`,
//! `deploy`, `drift`, `status`, `settings`): its pages, and in its `api` the server
//! functions that form the BFF. `shell` is the frame around them, `ui` the primitives
//! they share, `support` the plumbing. Server-only code sits behind the
//! `ssr` feature.
//!
//! A new page is one `pages!` entry in its domain's `mod.rs` plus its page
//! file; a new domain is also one line in `shell::nav::DOMAINS`.

pub mod audit;
pub mod config;
pub mod deploy;
pub mod drift;
pub mod error;
pub mod fleet;
pub mod iam;
pub mod jobs;
pub mod moves;
pub mod settings;
pub mod shell;
pub mod status;
pub mod support;
pub mod ui;

use leptos::prelude::*;
use leptos::tachys::view::iterators::StaticVec;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::any_nested_route::AnyNestedRoute;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;
use shell::layout::Layout;
use shell::not_found::NotFound;

/// Internal response header carrying the CSP nonce of this render to the
/// server's security-header middleware, which removes it.
pub const CSP_NONCE_HEADER: &str = "x-control-csp-nonce";

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    export_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <meta name=support::build_id::META_NAME content=support::build_id::BUILD_ID />
                // Here, not in `App`: only the server knows the hashed name.
                <HashedStylesheet id="leptos" options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[cfg(feature = "ssr")]
fn export_nonce() {
    use http::{HeaderName, HeaderValue};
    if let (Some(nonce), Some(res)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(v) = HeaderValue::from_str(&nonce) {
            res.insert_header(HeaderName::from_static(CSP_NONCE_HEADER), v);
        }
    }
}

/// Marks the page as interactive once its own view is hydrated (with lazy
/// routes that is after the app shell); end-to-end tests wait for it.
/// Every page calls it: `PageFrame`, and the pages without one.
pub(crate) fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(body) = leptos::prelude::document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

/// Every domain's routes (`shell::nav::routes`), inside the layout.
#[component(transparent)]
fn DomainRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::any_nested_route::IntoAnyNestedRoute;
    let routes: Vec<AnyNestedRoute> = shell::nav::routes().map(|route| route()).collect();
    // One erased route: what the component macro makes of the return type
    // when components are erased (cargo-leptos builds), and a plain
    // `MatchNestedRoutes` otherwise.
    StaticVec::from(routes).into_any_nested_route()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    ui::provide_toasts();
    support::clock::provide_clock();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        // The pinned theme (Settings) applies on every page, login included.
        if let Some(t) = support::dom::storage_get(shell::layout::THEME_KEY) {
            support::dom::set_theme(&t);
        }
    });
    view! {
        <Title formatter=|t: String| format!("{t} · Cloudlysis Control") />
        <Router>
            <Routes fallback=|| view! { <Layout><NotFound /></Layout> }>
                <Route path=path!("/login") view=shell::login::LoginPage />
                <ParentRoute path=path!("") view=|| view! { <Layout /> }>
                    <Route path=path!("/search") view=shell::search::Search />
                    <DomainRoutes />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The wasm entry point calls this (frontend/src/lib.rs).
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    // A page from another build would not hydrate: say so instead.
    if support::build_id::check_document() {
        // Lazy routes (see `support::lazy`) need the async hydration entry point.
        leptos::mount::hydrate_lazy(App);
    }
}
