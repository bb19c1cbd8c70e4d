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
use crate::ui::{Badge, IdChip, Time, Tone};
use leptos::prelude::*;
use model::deploy::{ChangeKind, ServiceStatus, ServiceView, SpecChange, UpdateState};
use model::rights::Right;

crate::support::lazy::pages! {
    page "/deployments" => lazy DeploymentsRoute(list::DeploymentsPage) {
        title: "Deployments",
        section: Change,
        purpose: "Swarm services with their images, versions and rolling-update state; deploy history and what changed between any two specs.",
        right: Some(Right::DeployRead),
    },
}

/// How often a view reads again without a push (a missed event, a
/// dropped stream before it reconnects).
const FALLBACK_MS: u64 = 30_000;

/// Ticks on every change the Swarm observer pushes
/// (`/admin/v1/deploy/events`: a spec, status, replicas or update state
/// changed), and every `FALLBACK_MS`.
pub(crate) fn use_changes() -> Signal<u64> {
    let pushed = RwSignal::new(0u64);
    crate::support::live::listen("/admin/v1/deploy/events", "change", move |_| {
        pushed.update(|t| *t += 1)
    });
    let period = crate::support::clock::use_period(FALLBACK_MS);
    Signal::derive(move || pushed.get().wrapping_add(period.get()))
}

/// The service's view on the Deployments page.
pub(crate) fn service_href(name: &str) -> String {
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

/// A spec value in code, or a dash when absent.
fn or_dash(v: Option<String>) -> AnyView {
    match v {
        Some(v) => view! { <code>{v}</code> }.into_any(),
        None => "—".into_any(),
    }
}

fn kind_label(k: ChangeKind) -> (Tone, &'static str) {
    match k {
        ChangeKind::Added => (Tone::Ok, "added"),
        ChangeKind::Removed => (Tone::Error, "removed"),
        ChangeKind::Changed => (Tone::Info, "changed"),
    }
}

/// Spec changes as a table, one row per field (`data-field`, `data-kind`)
/// with its change, from and to: "what changed" between two records, and
/// what a rollback plan would change.
pub(crate) fn spec_changes_table(
    changes: Vec<SpecChange>,
    label: &'static str,
    caption: String,
    testid: &'static str,
) -> AnyView {
    let rows = changes
        .into_iter()
        .map(|c| {
            let (tone, said) = kind_label(c.kind);
            view! {
                <tr data-field=c.field.clone() data-kind=said>
                    <th scope="row"><code>{c.field.clone()}</code></th>
                    <td><Badge tone=tone>{said}</Badge></td>
                    <td>{or_dash(c.from.clone())}</td>
                    <td><span aria-hidden="true">"→ "</span>{or_dash(c.to.clone())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=label>
            <table class="data-table" data-testid=testid>
                <caption>{caption}</caption>
                <thead><tr>
                    <th scope="col">"Field"</th><th scope="col">"Change"</th>
                    <th scope="col">"From"</th><th scope="col">"To"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
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
