//! The rights check every server function starts with. The server's
//! middleware already refuses HTTP calls by the same table; this check also
//! covers calls made in-process while a page renders on the server.

use crate::error::AppError;
use engine::identity::{Caller, Identity};
use leptos::prelude::*;
use model::audit::Outcome;
use model::policy::{self, Access};
use model::ErrorCode;

pub(crate) fn unauthenticated() -> AppError {
    AppError::new(ErrorCode::Unauthenticated, "authentication required")
}

pub(crate) fn forbidden() -> AppError {
    AppError::new(ErrorCode::Forbidden, "not allowed")
}

pub(crate) fn internal() -> AppError {
    AppError::new(ErrorCode::Internal, "internal error")
}

pub(crate) fn service<T: Clone + Send + Sync + 'static>() -> Result<T, AppError> {
    use_context::<T>().ok_or_else(internal)
}

/// The engine's services, as the server handed them to every request.
pub(crate) fn engine() -> Result<engine::Services, AppError> {
    service()
}

/// This request's caller, as the authorisation middleware left it.
pub(crate) fn caller() -> Option<Caller> {
    use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<Caller>().cloned())
}

/// Checks the caller against the server function's entry in the policy
/// table (`path` is its `ServerFn::PATH`). No entry: refused. A signed-in
/// caller without the right is refused and the attempt audited.
pub(crate) async fn guard(path: &str) -> Result<Caller, AppError> {
    let policy = policy::server_fn(path).ok_or_else(forbidden)?;
    let caller = caller().ok_or_else(unauthenticated)?;
    let needed = match policy.access {
        Access::Public => return Ok(caller),
        Access::Authenticated => None,
        Access::Need(r) => Some(r),
    };
    let identity: &Identity = caller.identity.as_deref().ok_or_else(unauthenticated)?;
    if let Some(right) = needed {
        if !identity.allows(right) {
            if let Ok(engine) = engine() {
                let rec = caller.record(&policy.action(), path, None, Outcome::Denied);
                engine.audit.append_or_log(rec).await;
            }
            return Err(forbidden());
        }
    }
    Ok(caller)
}

/// `guard` for a tenant-scoped server function: the same right first, then
/// the same tenant scope as the REST door (model::policy::Scope::Tenant).
/// Over HTTP the authorisation middleware has already required a valid
/// `x-tenant-id`; here it must name the tenant the call is about. While a
/// page renders on the server the call is in-process and the page's path
/// names the tenant, so the argument is the scope. Either way the tenant
/// reaches the caller, its request log line and any audit event.
pub(crate) async fn guard_tenant(path: &str, tenant: &str) -> Result<Caller, AppError> {
    let mut caller = guard(path).await?;
    let t = model::fleet::TenantId::parse(tenant)
        .map_err(|e| AppError::new(ErrorCode::BadTenantId, e.message))?;
    let own_request = use_context::<http::request::Parts>().is_some_and(|p| p.uri.path() == path);
    if own_request && caller.tenant.as_deref() != Some(t.as_str()) {
        return Err(AppError::new(
            ErrorCode::TenantMismatch,
            "x-tenant-id does not match the tenant of the call",
        ));
    }
    caller.tenant = Some(t.as_str().to_owned());
    Ok(caller)
}
