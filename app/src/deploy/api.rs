//! The Deployments page's server functions: the same
//! `engine::swarm::Deployments` calls as `/admin/v1/deploy/...`, read only.
//! A service is named by its Swarm name, parsed here as the REST door does.

use crate::error::AppError;
use leptos::prelude::*;
use model::deploy::{ServiceDetail, ServicePage, ServiceQuery, SpecDiff, SpecHistory};

#[server(client = crate::support::client::IdClient, endpoint = "deploy/services")]
pub async fn list_services(query: ServiceQuery) -> Result<ServicePage, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<ListServices as server_fn::ServerFn>::PATH).await?;
    Ok(engine()?.deploy.services(&query).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "deploy/service")]
pub async fn get_service(name: String) -> Result<ServiceDetail, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<GetService as server_fn::ServerFn>::PATH).await?;
    let name = engine::swarm::Deployments::parse_name(&name)?;
    Ok(engine()?.deploy.service(&name).await?)
}

/// Every recorded spec, newest first (the detail carries the newest 20).
#[server(client = crate::support::client::IdClient, endpoint = "deploy/history")]
pub async fn get_service_history(name: String) -> Result<SpecHistory, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<GetServiceHistory as server_fn::ServerFn>::PATH).await?;
    let name = engine::swarm::Deployments::parse_name(&name)?;
    Ok(engine()?.deploy.history(&name).await?)
}

/// What changed from `from` (default: the record before `to`) to `to`
/// (default: the newest record), by `seq`.
#[server(client = crate::support::client::IdClient, endpoint = "deploy/diff")]
pub async fn get_service_diff(
    name: String,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<SpecDiff, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<GetServiceDiff as server_fn::ServerFn>::PATH).await?;
    let name = engine::swarm::Deployments::parse_name(&name)?;
    let q = model::deploy::SpecDiffQuery { from, to };
    Ok(engine()?.deploy.diff(&name, &q).await?)
}
