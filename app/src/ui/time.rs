use crate::support::clock::use_now;
use crate::support::format::{format_ms, iso_ms, relative};
use leptos::prelude::*;

/// A point in time, the one way the UI shows one: relative text ("12s
/// ago", kept on one line), the absolute UTC time on hover, and the
/// machine-readable value in `datetime`. 0 means it has not happened.
#[component]
pub fn Time(ms: u64) -> impl IntoView {
    if ms == 0 {
        return view! { <span class="time">"never"</span> }.into_any();
    }
    let now = use_now();
    view! {
        <time class="time" datetime=iso_ms(ms) title=format!("{} UTC", format_ms(ms))>
            {move || relative(now.get(), ms)}
        </time>
    }
    .into_any()
}
