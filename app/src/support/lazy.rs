//! Routes whose views are split out of the main wasm and loaded when first
//! visited (`cargo leptos build --split`): a page's code is fetched with
//! that page, so the shared bundle stays small as pages are added. Without
//! `--split` (dev, tests) they are ordinary routes.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

macro_rules! lazy_page {
    ($name:ident, $view:path) => {
        pub struct $name;

        #[lazy_route]
        impl LazyRoute for $name {
            fn data() -> Self {
                $name
            }

            fn view(_this: Self) -> AnyView {
                view! { <$view /> }.into_any()
            }
        }
    };
}

lazy_page!(AuditRoute, crate::audit_page::AuditPage);
lazy_page!(UsersRoute, crate::iam_pages::UsersPage);
lazy_page!(SessionsRoute, crate::iam_pages::SessionsPage);
lazy_page!(RolesRoute, crate::iam_pages::RolesPage);
lazy_page!(OverviewRoute, crate::fleet_pages::Overview);
lazy_page!(FleetRoute, crate::fleet_pages::FleetPage);
lazy_page!(TenantsRoute, crate::fleet_pages::TenantsPage);
lazy_page!(TenantDetailRoute, crate::fleet_pages::TenantDetailPage);
lazy_page!(PlacementRoute, crate::fleet_pages::PlacementPage);
lazy_page!(SettingsRoute, crate::pages::Settings);
