//! The control plane's own status: build, mode, store and readiness.

pub mod api;

use crate::error::AppError;
use crate::support::format::format_uptime;
use crate::ui::{Badge, Tone};
use leptos::prelude::*;
use leptos_router::components::A;
use model::ServerStatus;

/// One line of status; with a link to Settings where the details are.
pub fn status_summary(r: Result<ServerStatus, AppError>, link_to_settings: bool) -> AnyView {
    match r {
        Ok(s) => {
            let (tone, label) = if s.readiness.ready { (Tone::Ok, "ready") } else { (Tone::Error, "not ready") };
            view! {
                <p data-testid="cp-status">
                    <Badge tone=tone>{label}</Badge>
                    " version " <code>{s.build.version.clone()}</code>
                    " (" <code>{s.build.git_sha.clone()}</code> ") · mode " {s.mode.clone()}
                    " · store " {s.store_backend.clone()} " · up " {format_uptime(s.uptime_secs)}
                </p>
                {link_to_settings.then(|| view! { <p><A href="/settings">"Details in Settings"</A></p> })}
            }
            .into_any()
        }
        Err(e) => view! { <p class="field-error" role="alert">{format!("Status unavailable ({}): {}", e.0.code.as_str(), e.0.message)}</p> }.into_any(),
    }
}
