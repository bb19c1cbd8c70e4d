//! Deployments: the Swarm's services as the control plane observes them
//! (docs/deployments.md), each with its tasks, the spec running now, the
//! specs recorded for every change and "what changed" between two of them.
//! Read only; both views refresh themselves while open.
//!
//! One service is shown on the Deployments page itself
//! (`/deployments?service=<name>`), so it needs no page route of its own.

pub mod api;
mod detail;
mod list;

use crate::support::format::{encode, parse_rfc3339};
use crate::ui::{IdChip, Time, Tone};
use leptos::prelude::*;
use model::deploy::{ServiceStatus, ServiceView, UpdateState};
use model::rights::Right;

crate::support::lazy::pages! {
    page "/deployments" => lazy DeploymentsRoute(list::DeploymentsPage) {
        title: "Deployments",
        section: Change,
        purpose: "Swarm services with their images, versions and rolling-update state; deploy history and what changed between any two specs.",
        right: Some(Right::DeployRead),
    },
}

/// How often both views read again. The Swarm observer re-reads the
/// daemon on every service event (and polls tasks every `poll_ms`), so
/// this bounds how stale the page can be behind the daemon.
const REFRESH_MS: u64 = 3_000;

/// The service's view on the Deployments page.
fn service_href(name: &str) -> String {
    format!("/deployments?service={}", encode(name))
}

const STATUSES: [ServiceStatus; 4] = [
    ServiceStatus::Running,
    ServiceStatus::Updating,
    ServiceStatus::Degraded,
    ServiceStatus::CrashLooping,
];

fn parse_status(s: &str) -> Option<ServiceStatus> {
    STATUSES.into_iter().find(|st| st.as_str() == s)
}

fn status_tone(s: ServiceStatus) -> Tone {
    match s {
        ServiceStatus::Running => Tone::Ok,
        ServiceStatus::Updating => Tone::Info,
        ServiceStatus::Degraded => Tone::Warn,
        ServiceStatus::CrashLooping => Tone::Error,
    }
}

fn update_tone(s: UpdateState) -> Tone {
    match s {
        UpdateState::Completed => Tone::Ok,
        UpdateState::Updating | UpdateState::RollbackStarted => Tone::Info,
        UpdateState::Paused | UpdateState::RollbackPaused | UpdateState::RollbackCompleted => {
            Tone::Warn
        }
    }
}

/// The version operators name a deploy by: the version label, else the
/// image tag.
fn version_text(s: &ServiceView) -> String {
    s.version
        .clone()
        .or_else(|| s.image_ref.tag.clone())
        .unwrap_or_else(|| "—".into())
}

/// A digest or sha as shown: its first 12 hex digits.
fn short_sha(sha: &str) -> String {
    let hex = sha.strip_prefix("sha256:").unwrap_or(sha);
    let short: String = hex.chars().take(12).collect();
    if short.len() < hex.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// A digest or sha, shortened and copied whole.
fn sha_chip(kind: &'static str, sha: String) -> AnyView {
    view! { <IdChip kind=kind shown=short_sha(&sha) value=sha /> }.into_any()
}

/// An Engine timestamp with the UI's time component; a dash when absent.
fn engine_time(at: Option<&str>) -> AnyView {
    match at.and_then(parse_rfc3339) {
        Some(ms) => view! { <Time ms=ms /> }.into_any(),
        None => "—".into_any(),
    }
}

/// The answer of a read that failed after an earlier one succeeded.
fn stale_alert() -> AnyView {
    view! {
        <p class="warn-alert" role="status" data-testid="deploy-stale">
            "Docker Engine unreachable; showing the last observed state."
        </p>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shas_are_shortened_without_their_algorithm() {
        assert_eq!(
            short_sha("sha256:0123456789abcdef0123456789abcdef"),
            "0123456789ab…"
        );
        assert_eq!(short_sha("0123456789ab"), "0123456789ab");
        assert_eq!(short_sha("abc"), "abc");
    }

    #[test]
    fn status_words_round_trip_and_links_encode_the_name() {
        for s in STATUSES {
            assert_eq!(parse_status(s.as_str()), Some(s));
        }
        assert_eq!(parse_status("nope"), None);
        assert_eq!(service_href("a.b_c"), "/deployments?service=a.b_c");
        assert_eq!(service_href("a b"), "/deployments?service=a%20b");
    }
}
