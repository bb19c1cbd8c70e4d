//! Pages whose capability is not built yet: each says what it will show
//! and renders no invented data. A capability that lands moves its entry
//! into its own domain folder.

use model::rights::Right;

crate::support::lazy::pages! {
    page "/observability" => placeholder {
        title: "Observability",
        section: Investigate,
        purpose: "Links into the provisioned Grafana dashboards, deploy markers, and Explore prefilled by correlation or trace id.",
        right: Some(Right::FleetRead),
    },
}
