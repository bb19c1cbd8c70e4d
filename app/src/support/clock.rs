//! One clock for the relative times of every page: the server's time while
//! rendering, the browser's after, ticking once a second.

use leptos::prelude::*;

#[derive(Clone, Copy)]
struct Now(RwSignal<u64>);

fn wall_clock_ms() -> u64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as u64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Starts the clock (once, in `App`).
pub fn provide_clock() {
    let now = RwSignal::new(wall_clock_ms());
    #[cfg(feature = "hydrate")]
    Effect::new(move |prev: Option<()>| {
        if prev.is_none() {
            let _ = set_interval_with_handle(
                move || now.set(wall_clock_ms()),
                std::time::Duration::from_secs(1),
            );
        }
    });
    provide_context(Now(now));
}

/// Milliseconds since the epoch, now.
pub fn use_now() -> Signal<u64> {
    match use_context::<Now>() {
        Some(Now(now)) => now.into(),
        None => Signal::derive(wall_clock_ms),
    }
}

/// A count that steps every `period_ms` of the clock above: a resource
/// keyed on it is read again at that period while its page is open. Only
/// the browser's clock ticks, so the server renders once.
pub fn use_period(period_ms: u64) -> Memo<u64> {
    let now = use_now();
    Memo::new(move |_| now.get() / period_ms.max(1))
}
