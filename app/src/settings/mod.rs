//! Settings: build, readiness and interface preferences.

mod page;

crate::support::lazy::pages! {
    page "/settings" => lazy SettingsRoute(page::Settings) {
        title: "Settings",
        section: System,
        purpose: "This control plane's build, mode, store and readiness, and your interface preferences.",
        right: None,
    },
}
