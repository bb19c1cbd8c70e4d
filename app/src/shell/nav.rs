//! The navigation: every page, its place in the nav, and what its empty
//! state promises. Each domain lists its own pages (`pages!` in its
//! `mod.rs`); the nav, the router, the titles and breadcrumbs, and the SSR
//! render test all read them from here.

use crate::support::lazy::RouteFn;
use model::rights::{Right, WhoAmI};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Operate,
    Change,
    Investigate,
    Identity,
    System,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Operate,
        Section::Change,
        Section::Investigate,
        Section::Identity,
        Section::System,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Operate => "Operate",
            Self::Change => "Change",
            Self::Investigate => "Investigate",
            Self::Identity => "Identity",
            Self::System => "System",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PageInfo {
    pub path: &'static str,
    pub title: &'static str,
    pub section: Section,
    /// What the page will show; the empty state says this until it does.
    pub purpose: &'static str,
    /// The right its content needs; the nav hides the page without it (the
    /// server refuses the data either way).
    pub right: Option<Right>,
    /// Its route (see `support::lazy::pages!`).
    pub route: RouteFn,
}

/// One domain's pages (its nav entries) and every route it has.
#[derive(Debug, Clone, Copy)]
pub struct Domain {
    pub pages: &'static [PageInfo],
    pub routes: &'static [RouteFn],
}

/// Every domain, in nav order: within a section, pages keep this order.
const DOMAINS: &[Domain] = &[
    crate::fleet::DOMAIN,
    crate::jobs::DOMAIN,
    crate::config::DOMAIN,
    crate::deploy::DOMAIN,
    crate::drift::DOMAIN,
    super::upcoming::DOMAIN,
    crate::audit::DOMAIN,
    crate::iam::DOMAIN,
    crate::settings::DOMAIN,
];

/// Every page in the nav, in order.
pub fn pages() -> impl Iterator<Item = &'static PageInfo> {
    DOMAINS.iter().flat_map(|d| d.pages.iter())
}

/// Every domain route, for the router.
pub fn routes() -> impl Iterator<Item = RouteFn> {
    DOMAINS.iter().flat_map(|d| d.routes.iter().copied())
}

pub fn page(path: &str) -> Option<&'static PageInfo> {
    pages().find(|p| p.path == path)
}

/// Whether `who` may use the page (see `PageInfo::right`).
pub fn visible(p: &PageInfo, who: &WhoAmI) -> bool {
    p.right.is_none_or(|r| who.can(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_page_has_a_unique_path_and_title() {
        let paths: HashSet<_> = pages().map(|p| p.path).collect();
        let titles: HashSet<_> = pages().map(|p| p.title).collect();
        assert_eq!(paths.len(), pages().count());
        assert_eq!(titles.len(), pages().count());
        assert!(
            routes().count() > pages().count(),
            "tenant detail has a route"
        );
        for p in pages() {
            assert!(p.path.starts_with('/'));
            assert!(!p.purpose.is_empty());
        }
    }

    #[test]
    fn the_nav_has_the_pages_the_plan_names() {
        for t in [
            "Overview",
            "Tenants",
            "Users",
            "Sessions",
            "Roles & Permissions",
            "Config",
            "Definitions",
            "Scale & Placement",
            "Deployments",
            "Observability",
            "Audit Log",
            "Settings",
            "Jobs",
            "Fleet",
            "Platform Drift",
        ] {
            assert!(pages().any(|p| p.title == t), "missing {t}");
        }
    }
}
