//! The live feed: one EventSource on `/admin/v1/fleet/events` per page
//! load, opened once the signed-in operator is known to hold
//! `control.fleet.read` (the feed needs it); pages key their resources on
//! the latest pulse so they refetch what they show when health or documents
//! change.

use leptos::prelude::*;
use model::views::FleetPulse;

#[derive(Clone, Copy)]
pub struct Live {
    pub pulse: RwSignal<Option<FleetPulse>>,
    /// `None` until the feed opened once; then whether it is connected.
    pub connected: RwSignal<Option<bool>>,
}

impl Live {
    /// A key that changes whenever anything a fleet page shows may have.
    pub fn key(&self) -> Option<(u64, u64, Vec<u64>)> {
        self.pulse.get().map(|p| {
            (
                p.generated_at_ms,
                p.routing_revision,
                p.placement_revisions.iter().map(|(_, r)| *r).collect(),
            )
        })
    }
}

/// `may_listen` turns true once the operator may read the feed.
pub fn provide_live(may_listen: Signal<bool>) -> Live {
    let live = Live {
        pulse: RwSignal::new(None),
        connected: RwSignal::new(None),
    };
    provide_context(live);
    #[cfg(feature = "hydrate")]
    Effect::new(move |opened: Option<bool>| {
        let open = opened.unwrap_or(false);
        if !open && may_listen.get() {
            connect(live);
            return true;
        }
        open
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = may_listen;
    live
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

#[cfg(feature = "hydrate")]
fn connect(live: Live) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Ok(es) = web_sys::EventSource::new("/admin/v1/fleet/events") else {
        live.connected.set(Some(false));
        return;
    };
    let on_pulse =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            if let Some(text) = ev.data().as_string() {
                if let Ok(p) = serde_json::from_str::<FleetPulse>(&text) {
                    live.pulse.set(Some(p));
                    live.connected.set(Some(true));
                }
            }
        });
    let _ = es.add_event_listener_with_callback("pulse", on_pulse.as_ref().unchecked_ref());
    // The browser reconnects by itself; the badge says when it is down.
    let on_error =
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| live.connected.set(Some(false)));
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // Both live as long as the page.
    on_pulse.forget();
    on_error.forget();
    std::mem::forget(es);
}

/// The header badge: live, or that the feed dropped.
#[component]
pub fn LiveBadge() -> impl IntoView {
    let live = use_live();
    view! {
        <span class="live-badge" data-testid="live-badge" data-state=move || match live.connected.get() {
            Some(true) => "live",
            Some(false) => "dropped",
            None => "connecting",
        }>
            {move || match live.connected.get() {
                Some(true) => "● Live",
                Some(false) => "○ Live feed dropped: reconnecting",
                None => "○ Connecting…",
            }}
        </span>
    }
}

/// Listens to `event` on an EventSource at `url` while the calling
/// component lives (closed on cleanup); `on_data` gets each event's data.
/// The browser reconnects by itself and sends `Last-Event-ID`, so a
/// resumable stream (a job's events) continues where it stopped.
#[cfg(feature = "hydrate")]
pub fn listen(url: &str, event: &str, on_data: impl Fn(String) + 'static) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Ok(es) = web_sys::EventSource::new(url) else {
        return;
    };
    let cb = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
        if let Some(text) = ev.data().as_string() {
            on_data(text);
        }
    });
    let _ = es.add_event_listener_with_callback(event, cb.as_ref().unchecked_ref());
    let held = send_wrapper::SendWrapper::new((es, cb));
    on_cleanup(move || held.0.close());
}

#[cfg(not(feature = "hydrate"))]
pub fn listen(_url: &str, _event: &str, _on_data: impl Fn(String) + 'static) {}
