//! Rights and who-am-i: the vocabulary of the control plane's permission
//! checks (docs/permissions.md). The Gateway holds which principal has which
//! rights; the control plane only compares strings from this module.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The session cookie: `__Host-` prefixed (Secure, Path=/, no Domain)
/// everywhere except plain-http localhost dev, where browsers would drop a
/// `Secure` cookie.
pub const SESSION_COOKIE: &str = "__Host-control_session";
pub const SESSION_COOKIE_INSECURE_DEV: &str = "control_session";

/// Custom header every state-changing browser request carries; a cross-site
/// page cannot set it without a CORS preflight, which is never granted.
pub const CSRF_HEADER: &str = "x-control-csrf";

/// One right the control plane checks. The string forms are stable: the
/// Gateway's roles name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Right {
    #[serde(rename = "control.fleet.read")]
    FleetRead,
    #[serde(rename = "control.tenants.read")]
    TenantsRead,
    #[serde(rename = "control.placement.read")]
    PlacementRead,
    #[serde(rename = "control.placement.write")]
    PlacementWrite,
    #[serde(rename = "control.tenants.drain")]
    TenantsDrain,
    #[serde(rename = "control.tenants.migrate")]
    TenantsMigrate,
    #[serde(rename = "control.routing.reload")]
    RoutingReload,
    #[serde(rename = "control.config.read")]
    ConfigRead,
    #[serde(rename = "control.config.write")]
    ConfigWrite,
    #[serde(rename = "control.deploy.read")]
    DeployRead,
    #[serde(rename = "control.deploy.rollback")]
    DeployRollback,
    #[serde(rename = "control.audit.read")]
    AuditRead,
    #[serde(rename = "control.iam.read")]
    IamRead,
    #[serde(rename = "control.iam.write")]
    IamWrite,
}

impl Right {
    pub const ALL: [Right; 14] = [
        Right::FleetRead,
        Right::TenantsRead,
        Right::PlacementRead,
        Right::PlacementWrite,
        Right::TenantsDrain,
        Right::TenantsMigrate,
        Right::RoutingReload,
        Right::ConfigRead,
        Right::ConfigWrite,
        Right::DeployRead,
        Right::DeployRollback,
        Right::AuditRead,
        Right::IamRead,
        Right::IamWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Right::FleetRead => "control.fleet.read",
            Right::TenantsRead => "control.tenants.read",
            Right::PlacementRead => "control.placement.read",
            Right::PlacementWrite => "control.placement.write",
            Right::TenantsDrain => "control.tenants.drain",
            Right::TenantsMigrate => "control.tenants.migrate",
            Right::RoutingReload => "control.routing.reload",
            Right::ConfigRead => "control.config.read",
            Right::ConfigWrite => "control.config.write",
            Right::DeployRead => "control.deploy.read",
            Right::DeployRollback => "control.deploy.rollback",
            Right::AuditRead => "control.audit.read",
            Right::IamRead => "control.iam.read",
            Right::IamWrite => "control.iam.write",
        }
    }

    pub fn parse(s: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a granted rights string covers `right`. Grants are exact rights
/// or wildcards ending in `*` at a segment boundary: `*` (platform admin),
/// `control.*`, `control.tenants.*`. Anything else grants nothing (a typo
/// in a role never widens access).
pub fn grant_covers(grant: &str, right: Right) -> bool {
    let want = right.as_str();
    if grant == want || grant == "*" {
        return true;
    }
    match grant.strip_suffix(".*") {
        Some(prefix) if !prefix.is_empty() && !prefix.contains('*') => want
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.')),
        _ => false,
    }
}

/// The rights strings a principal was granted (as the Gateway sent them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Grants(pub Vec<String>);

impl Grants {
    pub fn allows(&self, right: Right) -> bool {
        self.0.iter().any(|g| grant_covers(g, right))
    }

    /// The known rights these grants cover, in table order.
    pub fn effective(&self) -> Vec<Right> {
        Right::ALL.into_iter().filter(|r| self.allows(*r)).collect()
    }
}

/// The signed-in operator, as the UI and `GET /admin/v1/whoami` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoAmI {
    pub sub: String,
    pub session_id: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    /// Known rights the grants cover (wildcards expanded).
    pub rights: Vec<Right>,
}

impl WhoAmI {
    pub fn can(&self, right: Right) -> bool {
        self.rights.contains(&right)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_right_round_trips_through_its_string() {
        for r in Right::ALL {
            assert_eq!(Right::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        assert_eq!(Right::parse("control.fleet.write"), None);
    }

    #[test]
    fn wildcards_cover_whole_segments_only() {
        assert!(grant_covers("*", Right::IamWrite));
        assert!(grant_covers("control.*", Right::IamWrite));
        assert!(grant_covers("control.tenants.*", Right::TenantsDrain));
        assert!(grant_covers("control.tenants.read", Right::TenantsRead));
        assert!(!grant_covers("control.tenants.*", Right::FleetRead));
        assert!(!grant_covers("control.ten*", Right::TenantsRead));
        assert!(!grant_covers("control.tenants", Right::TenantsRead));
        assert!(!grant_covers("control.tenants.read ", Right::TenantsRead));
        assert!(!grant_covers(".*", Right::TenantsRead));
        assert!(!grant_covers("", Right::TenantsRead));
        assert!(!grant_covers("control.*.read", Right::TenantsRead));
        assert!(!grant_covers("contro.*", Right::TenantsRead));
    }

    #[test]
    fn effective_rights_expand_wildcards() {
        let g = Grants(vec![
            "control.tenants.*".into(),
            "control.audit.read".into(),
        ]);
        assert_eq!(
            g.effective(),
            vec![
                Right::TenantsRead,
                Right::TenantsDrain,
                Right::TenantsMigrate,
                Right::AuditRead
            ]
        );
        assert_eq!(Grants(vec!["*".into()]).effective().len(), Right::ALL.len());
        assert!(Grants::default().effective().is_empty());
    }
}
