//! `/admin/v1/*`, the REST door into the same engine services the UI uses:
//! one file per domain, each listing its doors by capability name. The
//! method and path of each come from `model::policy::CAPABILITIES`, so a
//! REST route is one row there plus one `(name, handler)` here. Handlers
//! parse, call the engine and map errors; no rule lives here.

pub mod audit;
pub mod fleet;
pub mod iam;
pub mod jobs;
pub mod probes;
pub mod search;
pub mod status;

use crate::error::ApiError;
use crate::state::AppState;
use model::policy;
use model::ErrorCode;

pub type Handler = axum::routing::MethodRouter<AppState>;

/// A REST door: the capability it serves, and its handler.
pub type Door = (&'static str, Handler);

/// Every `/admin/v1` route: (method, path, handler), from each domain's
/// doors and the capability table. A name without a REST door in the table
/// is a programming error, found by the route-walk test.
pub fn admin_routes() -> Vec<(&'static str, &'static str, Handler)> {
    [
        status::doors(),
        search::doors(),
        fleet::doors(),
        audit::doors(),
        iam::doors(),
        jobs::doors(),
    ]
    .into_iter()
    .flatten()
    .map(|(name, handler)| {
        let (method, path) = policy::capability(name)
            .and_then(|c| c.rest)
            .unwrap_or_else(|| panic!("capability {name} has no REST door in model::policy"));
        (method, path, handler)
    })
    .collect()
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}
