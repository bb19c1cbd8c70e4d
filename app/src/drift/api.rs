//! The Platform Drift page's server function: the same
//! `engine::drift::Drift::report` as `GET /admin/v1/platform/drift`.

use crate::error::AppError;
use leptos::prelude::*;
use model::drift::{DriftQuery, DriftReport};

#[server(client = crate::support::client::IdClient, endpoint = "drift/report")]
pub async fn get_drift(query: DriftQuery) -> Result<DriftReport, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<GetDrift as server_fn::ServerFn>::PATH).await?;
    Ok(engine()?.drift.report(&query).await?)
}
