//! Fleet reads for the pages: the same `FleetService` calls as the REST
//! routes in server/src/routes/fleet.rs.

use crate::error::AppError;
use leptos::prelude::*;
use model::views::{
    FleetHealthPage, InstanceQuery, PlacementOverview, TenantDetail, TenantPage, TenantQuery,
};

#[cfg(feature = "ssr")]
use crate::support::guard::guard;

#[cfg(feature = "ssr")]
fn fleet() -> Result<engine::fleet::FleetService, AppError> {
    Ok(crate::support::guard::engine()?.fleet)
}

#[server(client = crate::support::client::IdClient, endpoint = "fleet/health")]
pub async fn get_fleet_health(query: InstanceQuery) -> Result<FleetHealthPage, AppError> {
    guard(<GetFleetHealth as server_fn::ServerFn>::PATH).await?;
    Ok(fleet()?.health_page(&query))
}

#[server(client = crate::support::client::IdClient, endpoint = "fleet/placements")]
pub async fn get_placements() -> Result<Vec<PlacementOverview>, AppError> {
    guard(<GetPlacements as server_fn::ServerFn>::PATH).await?;
    Ok(crate::support::guard::engine()?.placements())
}

#[server(client = crate::support::client::IdClient, endpoint = "fleet/tenants")]
pub async fn list_tenants(query: TenantQuery) -> Result<TenantPage, AppError> {
    guard(<ListTenants as server_fn::ServerFn>::PATH).await?;
    Ok(crate::support::guard::engine()?.tenants(&query))
}

#[server(client = crate::support::client::IdClient, endpoint = "fleet/tenant")]
pub async fn get_tenant(tenant: String) -> Result<TenantDetail, AppError> {
    crate::support::guard::guard_tenant(<GetTenant as server_fn::ServerFn>::PATH, &tenant).await?;
    Ok(fleet()?.tenant(&tenant)?)
}
