//! Routes whose views are split out of the main wasm and loaded when first
//! visited (`cargo leptos build --split`): a page's code is fetched with
//! that page, so the shared bundle stays small as pages are added. Without
//! `--split` (dev, tests) they are ordinary routes.
//!
//! Each domain declares its pages once with [`pages!`]: one entry expands
//! to the page's `PageInfo` (nav, titles, breadcrumbs, the SSR test) and to
//! its route. Leptos 0.8 routes are statically typed (`path!` literals, one
//! `Lazy<T>` type per page), so a const list cannot name them directly; the
//! macro writes each route as a function returning it type-erased
//! (`AnyNestedRoute`), and the shell puts them all into one `<ParentRoute>`.

use leptos_router::any_nested_route::AnyNestedRoute;

/// One page's route, built when the router is.
pub type RouteFn = fn() -> AnyNestedRoute;

/// A lazily loaded route type showing `$view`.
macro_rules! lazy_page {
    ($name:ident, $view:path) => {
        pub struct $name;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $name {
            fn data() -> Self {
                $name
            }

            fn view(_this: Self) -> leptos::prelude::AnyView {
                use leptos::prelude::*;
                view! { <$view /> }.into_any()
            }
        }
    };
}
pub(crate) use lazy_page;

/// A domain's pages and routes, one entry each:
///
/// ```text
/// pages! {
///     page "/fleet" => lazy FleetRoute(instances::FleetPage) {
///         title: "Fleet", section: Operate, purpose: "…", right: Some(Right::FleetRead),
///     },
///     page "/jobs" => placeholder { title: "Jobs", … },
///     route "/tenants/:tenant" => lazy TenantDetailRoute(tenant::TenantDetailPage),
/// }
/// ```
///
/// expands to the lazy route types, `pub const PAGES: &[PageInfo]` (the nav
/// entries, in order), `pub const ROUTES: &[RouteFn]` (every route of the
/// domain, nav pages first) and `pub const DOMAIN` (both, for `shell::nav`).
macro_rules! pages {
    (
        $( page $path:tt => $how:ident $( $route:ident ( $view:path ) )? {
            title: $title:expr,
            section: $section:ident,
            purpose: $purpose:expr,
            right: $right:expr $(,)?
        } ),*
        $(, route $rpath:tt => lazy $rroute:ident ( $rview:path ) )*
        $(,)?
    ) => {
        $( $( $crate::support::lazy::lazy_page!($route, $view); )? )*
        $( $crate::support::lazy::lazy_page!($rroute, $rview); )*

        pub const PAGES: &[$crate::shell::nav::PageInfo] = &[
            $( $crate::shell::nav::PageInfo {
                path: $path,
                title: $title,
                section: $crate::shell::nav::Section::$section,
                purpose: $purpose,
                right: $right,
                route: $crate::support::lazy::pages!(@route $how $path $( $route )?),
            } ),*
        ];

        pub const ROUTES: &[$crate::support::lazy::RouteFn] = &[
            $( $crate::support::lazy::pages!(@route $how $path $( $route )?), )*
            $( $crate::support::lazy::pages!(@route lazy $rpath $rroute), )*
        ];

        pub const DOMAIN: $crate::shell::nav::Domain = $crate::shell::nav::Domain {
            pages: PAGES,
            routes: ROUTES,
        };
    };
    (@route lazy $path:tt $route:ident) => {
        || leptos_router::any_nested_route::IntoAnyNestedRoute::into_any_nested_route(
            leptos_router::NestedRoute::new(
                leptos_router::path!($path),
                leptos_router::Lazy::<$route>::new(),
            ),
        )
    };
    (@route placeholder $path:tt) => {
        || leptos_router::any_nested_route::IntoAnyNestedRoute::into_any_nested_route(
            leptos_router::NestedRoute::new(
                leptos_router::path!($path),
                || $crate::shell::frame::placeholder($path),
            ),
        )
    };
}
pub(crate) use pages;
