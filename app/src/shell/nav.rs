//! The navigation: every page, its place in the nav, and what its empty
//! state promises. One table, used by the nav, the routes' titles and
//! breadcrumbs, and the SSR render test.

use model::auth::{Right, WhoAmI};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    pub path: &'static str,
    pub title: &'static str,
    pub section: Section,
    /// What the page will show; the empty state says this until it does.
    pub purpose: &'static str,
    /// The right its content needs; the nav hides the page without it (the
    /// server refuses the data either way).
    pub right: Option<Right>,
}

pub const PAGES: &[PageInfo] = &[
    PageInfo {
        path: "/",
        title: "Overview",
        section: Section::Operate,
        purpose: "Fleet health per service kind, unhealthy and not-reloaded instances, placement revisions and recent jobs.",
        right: Some(Right::FleetRead),
    },
    PageInfo {
        path: "/fleet",
        title: "Fleet",
        section: Section::Operate,
        purpose: "Every gateway, aggregate, projection and runner instance with its health, version, loaded revision, latency and data age, updated live.",
        right: Some(Right::FleetRead),
    },
    PageInfo {
        path: "/tenants",
        title: "Tenants",
        section: Section::Operate,
        purpose: "A server-side paged, filterable list of tenants with their shard per service kind and the health of their endpoints.",
        right: Some(Right::TenantsRead),
    },
    PageInfo {
        path: "/placement",
        title: "Scale & Placement",
        section: Section::Operate,
        purpose: "Per service kind: shards, their tenant counts, endpoints and state, with the revision and source (file or NATS KV) of the placement map.",
        right: Some(Right::PlacementRead),
    },
    PageInfo {
        path: "/jobs",
        title: "Jobs",
        section: Section::Operate,
        purpose: "Drain, migrate, reload and config jobs with their plans, steps, progress and audit trail.",
        right: Some(Right::TenantsRead),
    },
    PageInfo {
        path: "/config",
        title: "Config",
        section: Section::Change,
        purpose: "Versioned configuration domains (routing, placement, feature flags) with validate, plan, apply and rollback.",
        right: Some(Right::ConfigRead),
    },
    PageInfo {
        path: "/definitions",
        title: "Definitions",
        section: Section::Change,
        purpose: "Runner definitions (effects and sagas) and their activation state.",
        right: Some(Right::ConfigRead),
    },
    PageInfo {
        path: "/deployments",
        title: "Deployments",
        section: Section::Change,
        purpose: "Swarm services with their images, versions and rolling-update state; what changed, and guarded rollback.",
        right: Some(Right::DeployRead),
    },
    PageInfo {
        path: "/drift",
        title: "Platform Drift",
        section: Section::Change,
        purpose: "Desired versus observed platform state: missing, extra, version or config mismatch, unhealthy and not-reloaded services.",
        right: Some(Right::DeployRead),
    },
    PageInfo {
        path: "/observability",
        title: "Observability",
        section: Section::Investigate,
        purpose: "Links into the provisioned Grafana dashboards, deploy markers, and Explore prefilled by correlation or trace id.",
        right: Some(Right::FleetRead),
    },
    PageInfo {
        path: "/audit",
        title: "Audit Log",
        section: Section::Investigate,
        purpose: "Every privileged action and denied attempt: who, what, why, outcome and ids, with hash-chain verification and export.",
        right: Some(Right::AuditRead),
    },
    PageInfo {
        path: "/users",
        title: "Users",
        section: Section::Identity,
        purpose: "Gateway users and their roles, proxied from the Gateway's IAM.",
        right: Some(Right::IamRead),
    },
    PageInfo {
        path: "/sessions",
        title: "Sessions",
        section: Section::Identity,
        purpose: "Active Gateway sessions, with revoke.",
        right: Some(Right::IamRead),
    },
    PageInfo {
        path: "/roles",
        title: "Roles & Permissions",
        section: Section::Identity,
        purpose: "Roles, the rights strings they grant, and their assignment to users.",
        right: Some(Right::IamRead),
    },
    PageInfo {
        path: "/settings",
        title: "Settings",
        section: Section::System,
        purpose: "This control plane's build, mode, store and readiness, and your interface preferences.",
        right: None,
    },
];

pub fn page(path: &str) -> Option<&'static PageInfo> {
    PAGES.iter().find(|p| p.path == path)
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
        let paths: HashSet<_> = PAGES.iter().map(|p| p.path).collect();
        let titles: HashSet<_> = PAGES.iter().map(|p| p.title).collect();
        assert_eq!(paths.len(), PAGES.len());
        assert_eq!(titles.len(), PAGES.len());
        for p in PAGES {
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
            assert!(PAGES.iter().any(|p| p.title == t), "missing {t}");
        }
    }
}
