//! The one table of who may call what (docs/permissions.md): every
//! capability once (`CAPABILITIES`), with its right, scope, audit action and
//! both doors; the per-door policies (`REST`, `SERVER_FNS`) are derived from
//! it, so the two doors of one capability cannot differ. The server's
//! authorisation middleware and every server function look their policy up
//! here, and a test fails when a registered route has no entry. A path that
//! matches no entry is refused (deny by default).

use crate::rights::Right;
use std::sync::LazyLock;

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
    /// The capability this door belongs to (none for probes and pages).
    pub capability: Option<&'static Capability>,
}

/// One thing the control plane can do, named once, with both of its doors:
/// the REST route under `/admin/v1` and the server function the UI calls.
/// The doors share the row's right, scope and audit action, so they cannot
/// drift apart; a test walks the registered routes against this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// Stable name, `<domain>.<verb>` (docs/permissions.md lists them).
    pub name: &'static str,
    pub access: Access,
    pub scope: Scope,
    /// The audit action of a privileged (state-changing) capability: each
    /// call through either door appends exactly one audit event with it.
    pub audit: Option<&'static str>,
    /// `(method, path)` relative to `REST_PREFIX`.
    pub rest: Option<(&'static str, &'static str)>,
    /// The server function's full path (`ServerFn::PATH`; always POST).
    pub server_fn: Option<&'static str>,
}

const fn cap(name: &'static str, access: Access) -> Capability {
    Capability {
        name,
        access,
        scope: Scope::Platform,
        audit: None,
        rest: None,
        server_fn: None,
    }
}

impl Capability {
    const fn rest(self, method: &'static str, path: &'static str) -> Self {
        Self {
            rest: Some((method, path)),
            ..self
        }
    }

    const fn ui(self, path: &'static str) -> Self {
        Self {
            server_fn: Some(path),
            ..self
        }
    }

    const fn tenant(self) -> Self {
        Self {
            scope: Scope::Tenant,
            ..self
        }
    }

    const fn audited(self, action: &'static str) -> Self {
        Self {
            audit: Some(action),
            ..self
        }
    }
}

use Access::{Authenticated, Need, Public};
use Right::*;

/// Every capability, one row each. Adding one: a row here, the engine call,
/// a handler in `server/src/routes/<domain>.rs` and/or a server function in
/// `app/src/<domain>/api.rs`.
pub const CAPABILITIES: &[Capability] = &[
    cap("status.get", Authenticated)
        .rest("GET", "/status")
        .ui("/api/status/get_server_status"),
    cap("search.recognise", Authenticated).rest("POST", "/search/recognise"),
    // The API's own description: public, as it holds no data.
    cap("openapi.get", Public).rest("GET", "/openapi.json"),
    // REST: 401 when anonymous; the UI's variant answers "nobody" instead,
    // so that the login page and the layout can ask before signing in.
    cap("identity.whoami", Authenticated).rest("GET", "/whoami"),
    cap("identity.session", Public).ui("/api/auth/whoami"),
    cap("auth.login", Public)
        .ui("/api/auth/login")
        .audited("auth.login"),
    cap("auth.logout", Authenticated)
        .ui("/api/auth/logout")
        .audited("auth.logout"),
    cap("placement.list", Need(PlacementRead))
        .rest("GET", "/placement")
        .ui("/api/fleet/placements"),
    cap("placement.get", Need(PlacementRead)).rest("GET", "/placement/{kind}"),
    cap("routing.get", Need(PlacementRead)).rest("GET", "/routing"),
    cap("tenants.list", Need(TenantsRead))
        .rest("GET", "/tenants")
        .ui("/api/fleet/tenants"),
    cap("tenants.get", Need(TenantsRead))
        .tenant()
        .rest("GET", "/tenants/{tenant}")
        .ui("/api/fleet/tenant"),
    cap("fleet.health", Need(FleetRead))
        .rest("GET", "/fleet/health")
        .ui("/api/fleet/health"),
    cap("fleet.events", Need(FleetRead)).rest("GET", "/fleet/events"),
    // Jobs: reading them is a fleet read; creating one needs its kind's
    // right (one row per kind); cancel checks the kind's right in the
    // engine, since the path does not name the kind.
    cap("jobs.list", Need(FleetRead))
        .rest("GET", "/jobs")
        .ui("/api/jobs/list"),
    // Before `/jobs/{job}`, which its path also matches.
    cap("jobs.changes", Need(FleetRead)).rest("GET", "/jobs/changes"),
    cap("jobs.get", Need(FleetRead))
        .rest("GET", "/jobs/{job}")
        .ui("/api/jobs/get"),
    cap("jobs.events", Need(FleetRead)).rest("GET", "/jobs/{job}/events"),
    cap("jobs.cancel", Authenticated)
        .rest("POST", "/jobs/{job}/cancel")
        .ui("/api/jobs/cancel")
        .audited("job.cancel"),
    cap("jobs.routing.reload", Need(RoutingReload))
        .rest("POST", "/jobs/routing.reload")
        .ui("/api/jobs/routing_reload")
        .audited("job.routing.reload"),
    cap("plans.tenants.drain", Need(TenantsDrain))
        .tenant()
        .rest("POST", "/plans/tenants.drain"),
    cap("jobs.tenants.drain", Need(TenantsDrain))
        .tenant()
        .rest("POST", "/jobs/tenants.drain")
        .audited("job.tenants.drain"),
    cap("plans.tenants.resume", Need(TenantsDrain))
        .tenant()
        .rest("POST", "/plans/tenants.resume"),
    cap("jobs.tenants.resume", Need(TenantsDrain))
        .tenant()
        .rest("POST", "/jobs/tenants.resume")
        .audited("job.tenants.resume"),
    cap("plans.tenants.migrate", Need(TenantsMigrate))
        .tenant()
        .rest("POST", "/plans/tenants.migrate"),
    cap("jobs.tenants.migrate", Need(TenantsMigrate))
        .tenant()
        .rest("POST", "/jobs/tenants.migrate")
        .audited("job.tenants.migrate"),
    cap("plans.shards.evacuate", Need(TenantsMigrate)).rest("POST", "/plans/shards.evacuate"),
    cap("jobs.shards.evacuate", Need(TenantsMigrate))
        .rest("POST", "/jobs/shards.evacuate")
        .audited("job.shards.evacuate"),
    cap("plans.placement.set_default", Need(PlacementWrite))
        .rest("POST", "/plans/placement.set_default"),
    cap("jobs.placement.set_default", Need(PlacementWrite))
        .rest("POST", "/jobs/placement.set_default")
        .audited("job.placement.set_default"),
    cap("plans.shards.set_state", Need(PlacementWrite)).rest("POST", "/plans/shards.set_state"),
    cap("jobs.shards.set_state", Need(PlacementWrite))
        .rest("POST", "/jobs/shards.set_state")
        .audited("job.shards.set_state"),
    // The UI doors of every move (one server function per verb, the kind
    // an argument): the kind's right is checked in the engine, as for
    // cancel, and the engine appends the kind's `job.<kind>` event.
    cap("moves.plan", Authenticated).ui("/api/moves/plan"),
    cap("moves.create", Authenticated).ui("/api/moves/create"),
    // Deployments on Swarm (docs/deployments.md).
    cap("deploy.services", Need(DeployRead))
        .rest("GET", "/deploy/services")
        .ui("/api/deploy/services"),
    cap("deploy.events", Need(DeployRead)).rest("GET", "/deploy/events"),
    cap("deploy.service", Need(DeployRead))
        .rest("GET", "/deploy/services/{service}")
        .ui("/api/deploy/service"),
    cap("deploy.history", Need(DeployRead))
        .rest("GET", "/deploy/services/{service}/history")
        .ui("/api/deploy/history"),
    cap("deploy.diff", Need(DeployRead))
        .rest("GET", "/deploy/services/{service}/diff")
        .ui("/api/deploy/diff"),
    cap("deploy.unpin", Need(DeployRollback))
        .rest("POST", "/deploy/services/{service}/unpin")
        .audited("deploy.unpin"),
    // Drift (docs/drift.md).
    cap("platform.drift", Need(DeployRead))
        .rest("GET", "/platform/drift")
        .ui("/api/drift/report"),
    cap("plans.deploy.rollback", Need(DeployRollback)).rest("POST", "/plans/deploy.rollback"),
    cap("jobs.deploy.rollback", Need(DeployRollback))
        .rest("POST", "/jobs/deploy.rollback")
        .audited("job.deploy.rollback"),
    // The config registry (docs/config.md). Static segments before the
    // `{domain}/{name}` templates they would also match.
    cap("config.list", Need(ConfigRead))
        .rest("GET", "/config")
        .ui("/api/config/list"),
    cap("config.validate", Need(ConfigRead))
        .rest("POST", "/config/validate")
        .ui("/api/config/validate"),
    cap("config.definitions", Need(ConfigRead))
        .rest("GET", "/config/definitions")
        .ui("/api/config/definitions"),
    cap("config.schema", Need(ConfigRead)).rest("GET", "/config/schemas/{domain}"),
    cap("config.get", Need(ConfigRead))
        .rest("GET", "/config/{domain}/{name}")
        .ui("/api/config/get"),
    cap("config.history", Need(ConfigRead))
        .rest("GET", "/config/{domain}/{name}/history")
        .ui("/api/config/history"),
    cap("config.diff", Need(ConfigRead))
        .rest("GET", "/config/{domain}/{name}/diff")
        .ui("/api/config/diff"),
    cap("config.unpin", Need(ConfigWrite))
        .rest("POST", "/config/{domain}/{name}/unpin")
        .ui("/api/config/unpin")
        .audited("config.unpin"),
    cap("plans.config.apply", Need(ConfigWrite)).rest("POST", "/plans/config.apply"),
    cap("jobs.config.apply", Need(ConfigWrite))
        .rest("POST", "/jobs/config.apply")
        .audited("job.config.apply"),
    cap("plans.config.rollback", Need(ConfigWrite)).rest("POST", "/plans/config.rollback"),
    cap("jobs.config.rollback", Need(ConfigWrite))
        .rest("POST", "/jobs/config.rollback")
        .audited("job.config.rollback"),
    // The UI doors of config jobs (the kind an argument; the engine checks
    // the right and appends `job.<kind>`, as for the moves).
    // Every page shows the banner and the freeze: any signed-in principal.
    cap("config.flags", Authenticated).ui("/api/config/flags"),
    cap("config.plan", Authenticated).ui("/api/config/plan"),
    cap("config.create", Authenticated).ui("/api/config/create"),
    // After the kinds: any other `POST /jobs/{kind}` (the segment axum calls
    // `{job}`, as on GET) answers 404 with the
    // kinds there are, instead of 405.
    cap("jobs.kind.unknown", Authenticated).rest("POST", "/jobs/{job}"),
    cap("audit.list", Need(AuditRead))
        .rest("GET", "/audit")
        .ui("/api/audit/list"),
    cap("audit.export", Need(AuditRead)).rest("GET", "/audit/export"),
    cap("audit.verify", Need(AuditRead))
        .rest("GET", "/audit/verify")
        .ui("/api/audit/verify"),
    cap("iam.users.list", Need(IamRead))
        .rest("GET", "/iam/users")
        .ui("/api/iam/users"),
    cap("iam.sessions.list", Need(IamRead))
        .rest("GET", "/iam/sessions")
        .ui("/api/iam/sessions"),
    cap("iam.roles.list", Need(IamRead))
        .rest("GET", "/iam/roles")
        .ui("/api/iam/roles"),
    cap("iam.session.revoke", Need(IamWrite))
        .rest("DELETE", "/iam/sessions/{session}")
        .ui("/api/iam/revoke_session")
        .audited("iam.session.revoke"),
    cap("iam.role.assign", Need(IamWrite))
        .rest("PUT", "/iam/users/{user}/roles/{role}")
        .ui("/api/iam/assign_role")
        .audited("iam.role.assign"),
    cap("iam.role.unassign", Need(IamWrite))
        .rest("DELETE", "/iam/users/{user}/roles/{role}")
        .ui("/api/iam/unassign_role")
        .audited("iam.role.unassign"),
];

const fn p(method: &'static str, path: &'static str, access: Access) -> Policy {
    Policy {
        method,
        path,
        access,
        scope: Scope::Platform,
        audit: None,
        capability: None,
    }
}

/// Probes and static files: public by design (docs/architecture.md).
pub const PUBLIC: &[Policy] = &[
    p("GET", "/health", Public),
    p("GET", "/ready", Public),
    p("GET", "/metrics", Public),
    p("GET", "/pkg/{*file}", Public),
    p("GET", "/favicon.svg", Public),
];

pub const REST_PREFIX: &str = "/admin/v1";

fn door(c: &'static Capability, method: &'static str, path: &'static str) -> Policy {
    Policy {
        method,
        path,
        access: c.access,
        scope: c.scope,
        audit: c.audit,
        capability: Some(c),
    }
}

/// The REST door of every capability (paths relative to `REST_PREFIX`).
pub static REST: LazyLock<Vec<Policy>> = LazyLock::new(|| {
    CAPABILITIES
        .iter()
        .filter_map(|c| c.rest.map(|(m, path)| door(c, m, path)))
        .collect()
});

/// The server-function door of every capability (full paths; all POST).
pub static SERVER_FNS: LazyLock<Vec<Policy>> = LazyLock::new(|| {
    CAPABILITIES
        .iter()
        .filter_map(|c| c.server_fn.map(|path| door(c, "POST", path)))
        .collect()
});

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
    p("GET", "/jobs/{job}", Authenticated),
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
        return find(&REST, method, rest);
    }
    if path.starts_with("/api/") {
        return find(&SERVER_FNS, method, path);
    }
    find(PUBLIC, method, path).or_else(|| find(PAGES, method, path))
}

impl Policy {
    /// The audit action for this entry: its own for privileged calls,
    /// `METHOD /full/path/template` for a refused read.
    pub fn action(&self) -> String {
        match self.audit {
            Some(a) => a.to_owned(),
            None if self
                .capability
                .is_some_and(|c| c.rest == Some((self.method, self.path))) =>
            {
                format!("{} {REST_PREFIX}{}", self.method, self.path)
            }
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// A capability by its name.
pub fn capability(name: &str) -> Option<&'static Capability> {
    CAPABILITIES.iter().find(|c| c.name == name)
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
        for p in REST.iter().chain(SERVER_FNS.iter()) {
            // A plan reads only; its right is its job's, so that only who
            // may run the job sees what it would do.
            let plan = p.capability.is_some_and(|c| c.name.starts_with("plans."));
            if let Need(r) = p.access {
                if !r.as_str().ends_with(".read") && !plan {
                    assert!(p.audit.is_some(), "{} {} is not audited", p.method, p.path);
                }
            }
            // Cancel's right is the job kind's, which the path does not
            // name: the engine checks it (engine/tests/jobs.rs, and
            // server/tests/jobs.rs refuses a viewer's cancel).
            let right_in_engine = p.capability.is_some_and(|c| c.name == "jobs.cancel");
            if p.audit.is_some() && !p.path.starts_with("/api/auth/") && !right_in_engine {
                assert!(matches!(p.access, Need(_)), "{} needs a right", p.path);
            }
            if p.method != "GET" && p.path.starts_with("/iam/") {
                assert!(p.audit.is_some(), "{} {} is not audited", p.method, p.path);
            }
        }
    }

    #[test]
    fn every_capability_and_door_is_named_once() {
        let mut names = std::collections::HashSet::new();
        let mut doors = std::collections::HashSet::new();
        for c in CAPABILITIES {
            assert!(names.insert(c.name), "capability {} twice", c.name);
            assert!(
                c.rest.is_some() || c.server_fn.is_some(),
                "{} has no door",
                c.name
            );
            if let Some((m, path)) = c.rest {
                assert!(
                    doors.insert(format!("{m} {REST_PREFIX}{path}")),
                    "{path} twice"
                );
                assert!(
                    !path.starts_with("/api/"),
                    "{path}: REST paths are relative"
                );
            }
            if let Some(path) = c.server_fn {
                assert!(doors.insert(format!("POST {path}")), "{path} twice");
                assert!(
                    path.starts_with("/api/"),
                    "{path}: not a server function path"
                );
            }
            if c.scope == Scope::Tenant {
                assert!(
                    matches!(c.access, Need(_)),
                    "{}: tenant scope needs a right",
                    c.name
                );
            }
        }
    }

    #[test]
    fn both_doors_of_a_capability_share_its_policy() {
        let c = capability("tenants.get").unwrap();
        let rest = lookup("GET", "/admin/v1/tenants/acme").unwrap();
        let ui = server_fn("/api/fleet/tenant").unwrap();
        for door in [rest, ui] {
            assert_eq!(door.capability, Some(c));
            assert_eq!(door.scope, Scope::Tenant);
            assert_eq!(door.access, Need(TenantsRead));
        }
        assert_eq!(
            lookup("PUT", "/admin/v1/iam/users/u1/roles/r1")
                .unwrap()
                .action(),
            server_fn("/api/iam/assign_role").unwrap().action()
        );
    }
}
