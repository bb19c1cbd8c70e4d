//! The rights check every server function starts with. The server's
//! middleware already refuses HTTP calls by the same table; this check also
//! covers calls made in-process while a page renders on the server.

use crate::error::AppError;
use engine::audit::AuditLog;
use engine::iam::IamError;
use engine::identity::{Caller, Identity};
use leptos::prelude::*;
use model::audit::Outcome;
use model::policy::{self, Access};
use model::ErrorCode;
use std::sync::Arc;

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
            if let Ok(audit) = service::<Arc<AuditLog>>() {
                let rec = caller.record(&policy.action(), path, None, Outcome::Denied);
                audit.append_or_log(rec).await;
            }
            return Err(forbidden());
        }
    }
    Ok(caller)
}

pub(crate) fn iam_error(e: IamError) -> AppError {
    let v = e.client_view();
    if v.status >= 500 {
        tracing::warn!(error = %e, "IAM call failed");
    }
    AppError::new(v.code, v.message)
}
