//! The Leptos UI: pages, components, routes, and the server functions that
//! form the BFF. Server-only code sits behind the `ssr` feature.

pub mod api;
mod audit_page;
pub mod client;
pub mod components;
#[cfg(feature = "hydrate")]
mod dom;
pub mod error;
mod fleet_pages;
pub mod flow;
mod iam_pages;
mod layout;
mod lazy;
pub mod live;
pub mod login;
pub mod nav;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, Lazy};

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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    components::provide_toasts();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        // The pinned theme (Settings) applies on every page, login included.
        if let Some(t) = dom::storage_get(layout::THEME_KEY) {
            dom::set_theme(&t);
        }
    });
    view! {
        <Title formatter=|t: String| format!("{t} · Cloudlysis Control") />
        <Router>
            <Routes fallback=|| view! { <layout::Layout><pages::NotFound /></layout::Layout> }>
                <Route path=path!("/login") view=login::LoginPage />
                <ParentRoute path=path!("") view=|| view! { <layout::Layout /> }>
                    <Route path=path!("/") view={Lazy::<lazy::OverviewRoute>::new()} />
                    <Route path=path!("/fleet") view={Lazy::<lazy::FleetRoute>::new()} />
                    <Route path=path!("/tenants") view={Lazy::<lazy::TenantsRoute>::new()} />
                    <Route path=path!("/tenants/:tenant") view={Lazy::<lazy::TenantDetailRoute>::new()} />
                    <Route path=path!("/placement") view={Lazy::<lazy::PlacementRoute>::new()} />
                    <Route path=path!("/jobs") view=|| pages::placeholder("/jobs") />
                    <Route path=path!("/config") view=|| pages::placeholder("/config") />
                    <Route path=path!("/definitions") view=|| pages::placeholder("/definitions") />
                    <Route path=path!("/deployments") view=|| pages::placeholder("/deployments") />
                    <Route path=path!("/drift") view=|| pages::placeholder("/drift") />
                    <Route path=path!("/observability") view=|| pages::placeholder("/observability") />
                    <Route path=path!("/audit") view={Lazy::<lazy::AuditRoute>::new()} />
                    <Route path=path!("/users") view={Lazy::<lazy::UsersRoute>::new()} />
                    <Route path=path!("/sessions") view={Lazy::<lazy::SessionsRoute>::new()} />
                    <Route path=path!("/roles") view={Lazy::<lazy::RolesRoute>::new()} />
                    <Route path=path!("/settings") view={Lazy::<lazy::SettingsRoute>::new()} />
                    <Route path=path!("/search") view=pages::Search />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The wasm entry point calls this (frontend/src/lib.rs).
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    // Lazy routes (see `lazy`) need the async hydration entry point.
    leptos::mount::hydrate_lazy(App);
}
