//! The one table of who may call what (docs/permissions.md). Every REST
//! route, server function and page is listed with the access it needs; the
//! server's authorisation middleware and every server function look their
//! policy up here, and a test fails when a registered route has no entry.
//! A path that matches no entry is refused (deny by default).

use crate::auth::Right;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (probes, static assets, the login page).
    Public,
    /// Any signed-in principal.
    Authenticated,
    Need(Right),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Ignores `x-tenant-id`.
    Platform,
    /// Requires a valid `x-tenant-id` (equal to the `{tenant}` path segment
    /// when the path has one).
    Tenant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub method: &'static str,
    /// A path template: `{name}` matches one segment, `{*name}` the rest.
    pub path: &'static str,
    pub access: Access,
    pub scope: Scope,
    /// The audit action of a privileged (state-changing) call: each call
    /// appends exactly one audit event with this action.
    pub audit: Option<&'static str>,
}

const fn p(method: &'static str, path: &'static str, access: Access) -> Policy {
    Policy {
        method,
        path,
        access,
        scope: Scope::Platform,
        audit: None,
    }
}

const fn audited(
    method: &'static str,
    path: &'static str,
    access: Access,
    action: &'static str,
) -> Policy {
    Policy {
        method,
        path,
        access,
        scope: Scope::Platform,
        audit: Some(action),
    }
}

use Access::{Authenticated, Need, Public};
use Right::*;

/// Probes and static files: public by design (docs/architecture.md).
pub const PUBLIC: &[Policy] = &[
    p("GET", "/health", Public),
    p("GET", "/ready", Public),
    p("GET", "/metrics", Public),
    p("GET", "/pkg/{*file}", Public),
    p("GET", "/favicon.svg", Public),
];

/// `/admin/v1/...` (paths below are relative to that prefix).
pub const REST: &[Policy] = &[
    p("GET", "/status", Authenticated),
    p("POST", "/search/recognise", Authenticated),
    p("GET", "/whoami", Authenticated),
    p("GET", "/placement", Need(PlacementRead)),
    p("GET", "/placement/{kind}", Need(PlacementRead)),
    p("GET", "/routing", Need(PlacementRead)),
    p("GET", "/tenants", Need(TenantsRead)),
    Policy {
        scope: Scope::Tenant,
        ..p("GET", "/tenants/{tenant}", Need(TenantsRead))
    },
    p("GET", "/fleet/health", Need(FleetRead)),
    p("GET", "/fleet/events", Need(FleetRead)),
    p("GET", "/audit", Need(AuditRead)),
    p("GET", "/audit/export", Need(AuditRead)),
    p("GET", "/audit/verify", Need(AuditRead)),
    p("GET", "/iam/users", Need(IamRead)),
    p("GET", "/iam/sessions", Need(IamRead)),
    p("GET", "/iam/roles", Need(IamRead)),
    audited(
        "DELETE",
        "/iam/sessions/{session}",
        Need(IamWrite),
        "iam.session.revoke",
    ),
    audited(
        "PUT",
        "/iam/users/{user}/roles/{role}",
        Need(IamWrite),
        "iam.role.assign",
    ),
    audited(
        "DELETE",
        "/iam/users/{user}/roles/{role}",
        Need(IamWrite),
        "iam.role.unassign",
    ),
];

pub const REST_PREFIX: &str = "/admin/v1";

/// Server functions (full paths; all POST).
pub const SERVER_FNS: &[Policy] = &[
    p("POST", "/api/status/get_server_status", Authenticated),
    p("POST", "/api/fleet/health", Need(FleetRead)),
    p("POST", "/api/fleet/placements", Need(PlacementRead)),
    p("POST", "/api/fleet/tenants", Need(TenantsRead)),
    p("POST", "/api/fleet/tenant", Need(TenantsRead)),
    audited("POST", "/api/auth/login", Public, "auth.login"),
    audited("POST", "/api/auth/logout", Authenticated, "auth.logout"),
    p("POST", "/api/auth/whoami", Public),
    p("POST", "/api/audit/list", Need(AuditRead)),
    p("POST", "/api/audit/verify", Need(AuditRead)),
    p("POST", "/api/iam/users", Need(IamRead)),
    p("POST", "/api/iam/sessions", Need(IamRead)),
    p("POST", "/api/iam/roles", Need(IamRead)),
    audited(
        "POST",
        "/api/iam/revoke_session",
        Need(IamWrite),
        "iam.session.revoke",
    ),
    audited(
        "POST",
        "/api/iam/assign_role",
        Need(IamWrite),
        "iam.role.assign",
    ),
    audited(
        "POST",
        "/api/iam/unassign_role",
        Need(IamWrite),
        "iam.role.unassign",
    ),
];

/// UI pages: any signed-in principal may load the document; what a page
/// shows comes from server functions, which check their own rights.
pub const PAGES: &[Policy] = &[
    p("GET", "/login", Public),
    p("GET", "/", Authenticated),
    p("GET", "/fleet", Authenticated),
    p("GET", "/tenants", Authenticated),
    p("GET", "/tenants/{tenant}", Authenticated),
    p("GET", "/placement", Authenticated),
    p("GET", "/jobs", Authenticated),
    p("GET", "/config", Authenticated),
    p("GET", "/definitions", Authenticated),
    p("GET", "/deployments", Authenticated),
    p("GET", "/drift", Authenticated),
    p("GET", "/observability", Authenticated),
    p("GET", "/audit", Authenticated),
    p("GET", "/users", Authenticated),
    p("GET", "/sessions", Authenticated),
    p("GET", "/roles", Authenticated),
    p("GET", "/settings", Authenticated),
    p("GET", "/search", Authenticated),
];

/// Whether `path` matches the template (see `Policy::path`).
pub fn path_matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut s = path.split('/');
    loop {
        match (t.next(), s.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) => {
                if ts.starts_with("{*") {
                    return !ps.is_empty();
                }
                let is_param = ts.starts_with('{') && ts.ends_with('}');
                if is_param {
                    if ps.is_empty() {
                        return false;
                    }
                } else if ts != ps {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The value of `{name}` in `path` under `template`, if both match.
pub fn path_param<'a>(template: &str, path: &'a str, name: &str) -> Option<&'a str> {
    if !path_matches(template, path) {
        return None;
    }
    let want = format!("{{{name}}}");
    template
        .split('/')
        .zip(path.split('/'))
        .find(|(t, _)| *t == want)
        .map(|(_, v)| v)
}

fn find(table: &'static [Policy], method: &str, path: &str) -> Option<&'static Policy> {
    table
        .iter()
        .find(|p| p.method == method && path_matches(p.path, path))
}

/// The policy for a request, from whichever table its path belongs to.
/// `HEAD` is checked as `GET`.
pub fn lookup(method: &str, path: &str) -> Option<&'static Policy> {
    let method = if method == "HEAD" { "GET" } else { method };
    if let Some(rest) = path.strip_prefix(REST_PREFIX) {
        return find(REST, method, rest);
    }
    if path.starts_with("/api/") {
        return find(SERVER_FNS, method, path);
    }
    find(PUBLIC, method, path).or_else(|| find(PAGES, method, path))
}

impl Policy {
    /// The audit action for this entry: its own for privileged calls,
    /// `METHOD /full/path/template` for a refused read.
    pub fn action(&self) -> String {
        match self.audit {
            Some(a) => a.to_owned(),
            None if self.path.starts_with("/api/") || !REST.contains(self) => {
                format!("{} {}", self.method, self.path)
            }
            None => format!("{} {REST_PREFIX}{}", self.method, self.path),
        }
    }
}

/// Whether some method has a policy for `path` (405 rather than 404).
pub fn path_known(path: &str) -> bool {
    ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .iter()
        .any(|m| lookup(m, path).is_some())
}

/// The policy of a server function by its path (`ServerFn::PATH`).
pub fn server_fn(path: &str) -> Option<&'static Policy> {
    SERVER_FNS.iter().find(|p| p.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_segments() {
        assert!(path_matches("/tenants/{tenant}", "/tenants/acme"));
        assert!(!path_matches("/tenants/{tenant}", "/tenants/"));
        assert!(!path_matches("/tenants/{tenant}", "/tenants/acme/x"));
        assert!(!path_matches("/tenants/{tenant}", "/tenants"));
        assert!(path_matches("/pkg/{*file}", "/pkg/control.wasm"));
        assert!(path_matches("/pkg/{*file}", "/pkg/a/b.js"));
        assert!(!path_matches("/pkg/{*file}", "/pkg/"));
        assert!(path_matches("/", "/"));
        assert!(!path_matches("/", "/x"));
        assert_eq!(
            path_param(
                "/iam/users/{user}/roles/{role}",
                "/iam/users/u1/roles/r2",
                "role"
            ),
            Some("r2")
        );
    }

    #[test]
    fn lookup_picks_the_table_by_prefix() {
        assert_eq!(
            lookup("GET", "/admin/v1/tenants").unwrap().access,
            Need(TenantsRead)
        );
        assert_eq!(
            lookup("GET", "/admin/v1/tenants/acme").unwrap().scope,
            Scope::Tenant
        );
        assert_eq!(lookup("HEAD", "/health").unwrap().access, Public);
        assert_eq!(
            lookup("GET", "/tenants/acme").unwrap().access,
            Authenticated
        );
        assert!(lookup("POST", "/admin/v1/tenants").is_none());
        assert!(path_known("/admin/v1/tenants"));
        assert!(!path_known("/admin/v1/nope"));
        assert!(lookup("GET", "/admin/v1/nope").is_none());
        assert!(lookup("GET", "/api/fleet/health").is_none());
        assert!(lookup("GET", "/nope").is_none());
        assert_eq!(
            server_fn("/api/iam/revoke_session").unwrap().audit,
            Some("iam.session.revoke")
        );
        assert_eq!(
            lookup("GET", "/admin/v1/iam/users").unwrap().action(),
            "GET /admin/v1/iam/users"
        );
        assert_eq!(
            server_fn("/api/iam/users").unwrap().action(),
            "POST /api/iam/users"
        );
        assert_eq!(
            server_fn("/api/iam/assign_role").unwrap().action(),
            "iam.role.assign"
        );
    }

    #[test]
    fn every_mutating_right_is_audited() {
        for p in REST.iter().chain(SERVER_FNS) {
            if let Need(r) = p.access {
                if !r.as_str().ends_with(".read") {
                    assert!(p.audit.is_some(), "{} {} is not audited", p.method, p.path);
                }
            }
            if p.audit.is_some() && !p.path.starts_with("/api/auth/") {
                assert!(matches!(p.access, Need(_)), "{} needs a right", p.path);
            }
            if p.method != "GET" && p.path.starts_with("/iam/") {
                assert!(p.audit.is_some(), "{} {} is not audited", p.method, p.path);
            }
        }
    }
}
