//! Fleet: Overview, Fleet, Tenants (+ detail) and Scale & Placement.
//! Server-paged, refetched when the live feed says something changed.

pub mod api;
mod instances;
mod overview;
mod placement;
mod tenant;
mod tenants;

use crate::ui::Tone;
use leptos::prelude::*;
use model::fleet::ShardState;
use model::rights::Right;
use model::views::{DocMeta, HealthStatus, SourceKind};

crate::support::lazy::pages! {
    page "/" => lazy OverviewRoute(overview::Overview) {
        title: "Overview",
        section: Operate,
        purpose: "Fleet health per service kind, unhealthy and not-reloaded instances, placement revisions and recent jobs.",
        right: Some(Right::FleetRead),
    },
    page "/fleet" => lazy FleetRoute(instances::FleetPage) {
        title: "Fleet",
        section: Operate,
        purpose: "Every gateway, aggregate, projection and runner instance with its health, version, loaded revision, latency and data age, updated live.",
        right: Some(Right::FleetRead),
    },
    page "/tenants" => lazy TenantsRoute(tenants::TenantsPage) {
        title: "Tenants",
        section: Operate,
        purpose: "A server-side paged, filterable list of tenants with their shard per service kind and the health of their endpoints.",
        right: Some(Right::TenantsRead),
    },
    page "/placement" => lazy PlacementRoute(placement::PlacementPage) {
        title: "Scale & Placement",
        section: Operate,
        purpose: "Per service kind: shards, their tenant counts, endpoints and state, with the revision and source (file or NATS KV) of the placement map.",
        right: Some(Right::PlacementRead),
    },
    route "/tenants/:tenant" => lazy TenantDetailRoute(tenant::TenantDetailPage),
}

pub fn health_tone(h: HealthStatus) -> Tone {
    match h {
        HealthStatus::Healthy => Tone::Ok,
        HealthStatus::Unready => Tone::Warn,
        HealthStatus::Down | HealthStatus::Timeout => Tone::Error,
        HealthStatus::Unknown => Tone::Neutral,
    }
}

pub(crate) fn state_label(s: Option<ShardState>) -> (Tone, &'static str) {
    match s {
        Some(ShardState::Active) => (Tone::Ok, "active"),
        Some(ShardState::Draining) => (Tone::Warn, "draining"),
        Some(ShardState::Disabled) => (Tone::Neutral, "disabled"),
        None => (Tone::Error, "not in routing"),
    }
}

/// "revision 3 · file /path" with the load error, if any.
#[component]
pub fn DocMetaLine(#[prop(into)] label: String, meta: DocMeta) -> impl IntoView {
    let source = match meta.source.kind {
        SourceKind::File => format!("file {}", meta.source.location),
        SourceKind::Kv => format!("{} KV {}", meta.source.backend, meta.source.location),
    };
    let testid = format!("meta-{}", label.to_lowercase());
    view! {
        <p class="doc-meta" data-testid=testid>
            <strong>{label}</strong>" revision "<code data-testid="revision">{meta.revision}</code>" · "{source}
            {meta.error.map(|e| view! { <span class="field-error" role="alert">" · not reloaded: "{e}</span> })}
        </p>
    }
}
