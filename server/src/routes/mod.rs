//! `/admin/v1/*`, the REST door into the same engine services the UI uses:
//! one file per domain, each listing its doors by capability name. The
//! method and path of each come from `model::policy::CAPABILITIES`, so a
//! REST route is one row there plus one `(name, handler)` here. Handlers
//! parse, call the engine and map errors; no rule lives here.

pub mod audit;
pub mod config;
pub mod deploy;
pub mod drift;
pub mod fleet;
pub mod iam;
pub mod jobs;
pub mod moves;
pub mod openapi;
pub mod probes;
pub mod search;
pub mod status;

use crate::error::ApiError;
use crate::state::AppState;
use model::policy;
use model::ErrorCode;

pub type Handler = axum::routing::MethodRouter<AppState>;

/// A REST door: the capability it serves, and its handler with its
/// OpenAPI operation, as `utoipa_axum::routes!(handler)` makes them from the
/// handler's `#[utoipa::path]`.
pub type Door = (
    &'static str,
    utoipa_axum::router::UtoipaMethodRouter<AppState>,
);

/// Every domain's doors.
pub(crate) fn doors() -> Vec<Door> {
    [
        status::doors(),
        search::doors(),
        fleet::doors(),
        audit::doors(),
        iam::doors(),
        jobs::doors(),
        moves::doors(),
        config::doors(),
        deploy::doors(),
        drift::doors(),
        openapi::doors(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The table's `(method, path)` of a capability's REST door. A name
/// without one is a programming error, found by the route-walk test.
pub(crate) fn rest_door(name: &str) -> (&'static str, &'static str) {
    policy::capability(name)
        .and_then(|c| c.rest)
        .unwrap_or_else(|| panic!("capability {name} has no REST door in model::policy"))
}

/// Every `/admin/v1` route: (method, path, handler), from each domain's
/// doors and the capability table.
pub fn admin_routes() -> Vec<(&'static str, &'static str, Handler)> {
    doors()
        .into_iter()
        .map(|(name, (_, _, handler))| {
            let (method, path) = rest_door(name);
            (method, path, handler)
        })
        .collect()
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}
