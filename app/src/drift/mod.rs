//! Platform Drift: where the platform differs from what it should be
//! (docs/drift.md). Desired is the platform's stack files plus the config
//! registry's current revisions; observed is Swarm and what each instance
//! reports loaded. Read only: an item's remediation is a job started
//! through the plan dialog, or a link and a command; nothing is applied by
//! itself. The page reads again every few seconds while open.

pub mod api;
mod page;

use crate::support::format::{encode, with_query};
use crate::ui::Tone;
use model::drift::{DriftCategory, DriftItem};
use model::rights::Right;

crate::support::lazy::pages! {
    page "/drift" => lazy DriftRoute(page::DriftPage) {
        title: "Platform Drift",
        section: Change,
        purpose: "Desired versus observed platform state: missing, extra, version or config mismatch, unhealthy and not-reloaded services.",
        right: Some(Right::DeployRead),
    },
}

/// How often the page reads again: drift is computed level-based from the
/// Swarm observer's state on every read, so this bounds how stale it is.
const REFRESH_MS: u64 = 3_000;

fn category_tone(c: DriftCategory) -> Tone {
    match c {
        DriftCategory::Missing | DriftCategory::Unhealthy => Tone::Error,
        DriftCategory::VersionMismatch | DriftCategory::ConfigMismatch => Tone::Warn,
        DriftCategory::Extra | DriftCategory::NotReloaded => Tone::Info,
    }
}

/// The page with these filters (empty ones left out).
fn drift_href(category: &str, stack: &str, q: &str) -> String {
    let query = [("category", category), ("stack", stack), ("q", q)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    with_query("/drift", &query)
}

/// Whether the subject is a service on the Swarm, shown on the
/// Deployments page (a missing one is not there; an instance is
/// `<kind>/<shard> <endpoint>`).
fn is_swarm_service(i: &DriftItem) -> bool {
    i.category != DriftCategory::Missing && i.stack.is_some() && !i.subject.contains(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_links_leave_empty_filters_out_and_encode_the_rest() {
        assert_eq!(drift_href("", "", ""), "/drift");
        assert_eq!(drift_href("extra", "", ""), "/drift?category=extra");
        assert_eq!(
            drift_href("config_mismatch", "cloudlysis", "a b"),
            "/drift?category=config_mismatch&stack=cloudlysis&q=a%20b"
        );
    }

    #[test]
    fn only_observed_services_link_to_deployments() {
        let mut i = DriftItem {
            category: DriftCategory::Extra,
            subject: "cloudlysis_gw".into(),
            stack: Some("cloudlysis".into()),
            desired: String::new(),
            observed: String::new(),
            fields: vec![],
            since_ms: 0,
            remediation: None,
        };
        assert!(is_swarm_service(&i));
        i.category = DriftCategory::Missing;
        assert!(!is_swarm_service(&i));
        i.category = DriftCategory::NotReloaded;
        i.subject = "aggregate/a0 http://10.0.0.5:8080".into();
        i.stack = None;
        assert!(!is_swarm_service(&i));
    }
}
