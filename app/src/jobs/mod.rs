//! Jobs: the list (live), one job's steps (live, with cancel), and the
//! mutation flow every action that creates a job goes through.

pub mod api;
mod detail;
pub(crate) mod launch;
mod list;
mod widgets;

pub use launch::JobLauncher;

use model::rights::Right;

crate::support::lazy::pages! {
    page "/jobs" => lazy JobsRoute(list::JobsPage) {
        title: "Jobs",
        section: Operate,
        purpose: "Reload, drain, migrate and config jobs with their steps, progress and audit trail, live.",
        right: Some(Right::FleetRead),
    },
    route "/jobs/:job" => lazy JobRoute(detail::JobPage),
}

pub fn job_href(id: &str) -> String {
    format!("/jobs/{}", crate::support::format::encode(id))
}
