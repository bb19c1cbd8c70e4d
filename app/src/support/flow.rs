//! Request/flow identity on the browser side: every server-function call
//! carries a fresh `x-request-id`, and the current `x-correlation-id` and
//! `traceparent` while a multi-step flow is in progress. The ids the server
//! echoes are kept as the "last requests" (persisted in localStorage) so an
//! operator can paste them into a ticket.

use serde::{Deserialize, Serialize};

pub const HISTORY_LEN: usize = 5;
pub const STORAGE_KEY: &str = "control.last_requests";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Server function or API path that was called.
    pub path: String,
    /// HTTP status, or 0 when no answer arrived.
    pub status: u16,
    pub request_id: String,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Milliseconds since the epoch, browser clock.
    pub at_ms: f64,
}

/// Newest first, bounded.
pub fn push_record(history: &mut Vec<RequestRecord>, rec: RequestRecord) {
    history.insert(0, rec);
    history.truncate(HISTORY_LEN);
}

#[cfg(feature = "hydrate")]
pub use browser::*;

#[cfg(feature = "hydrate")]
mod browser {
    use super::*;
    use leptos::prelude::*;
    use std::cell::RefCell;
    use std::sync::OnceLock;

    /// The reactive history the "Last request" panel renders. Created once,
    /// in the browser only (the server never holds per-user state here).
    pub fn history() -> ArcRwSignal<Vec<RequestRecord>> {
        static HISTORY: OnceLock<ArcRwSignal<Vec<RequestRecord>>> = OnceLock::new();
        HISTORY.get_or_init(|| ArcRwSignal::new(load())).clone()
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    fn load() -> Vec<RequestRecord> {
        storage()
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|raw| serde_json::from_str(&raw).ok())
            .unwrap_or_default()
    }

    pub fn record(rec: RequestRecord) {
        let h = history();
        h.update(|v| push_record(v, rec));
        if let (Some(s), Ok(raw)) = (storage(), serde_json::to_string(&*h.read_untracked())) {
            let _ = s.set_item(STORAGE_KEY, &raw);
        }
    }

    pub fn clear() {
        history().set(Vec::new());
        if let Some(s) = storage() {
            let _ = s.remove_item(STORAGE_KEY);
        }
    }

    thread_local! {
        static FLOW: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
    }

    /// Starts a flow: until the guard drops, calls carry this correlation id
    /// and a traceparent in one trace.
    pub struct FlowGuard;

    impl Drop for FlowGuard {
        fn drop(&mut self) {
            FLOW.with(|f| f.borrow_mut().take());
        }
    }

    pub fn begin_flow() -> FlowGuard {
        let cor = model::CorrelationId::from_random(random16()).to_string();
        let trace = model::TraceId::from_random(random16()).to_string();
        FLOW.with(|f| *f.borrow_mut() = Some((cor, trace)));
        FlowGuard
    }

    pub fn current_flow() -> Option<(String, String)> {
        FLOW.with(|f| f.borrow().clone())
    }

    pub fn random16() -> [u8; 16] {
        let mut b = [0u8; 16];
        if let Some(c) = web_sys::window().and_then(|w| w.crypto().ok()) {
            let _ = c.get_random_values_with_u8_array(&mut b);
        }
        b
    }

    pub fn random8() -> [u8; 8] {
        let mut b = [0u8; 8];
        b.copy_from_slice(&random16()[..8]);
        b
    }

    pub fn now_ms() -> f64 {
        js_sys::Date::now()
    }
}

/// Marks a server call as a background refresh: it still carries fresh ids,
/// but only lands in the "Last request" panel if it fails, so the panel
/// keeps what the operator did.
pub fn background<F: std::future::Future>(f: F) -> Background<F> {
    Background(Box::pin(f))
}

pub struct Background<F>(std::pin::Pin<Box<F>>);

#[cfg(feature = "hydrate")]
thread_local! {
    pub(crate) static IN_BACKGROUND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl<F: std::future::Future> std::future::Future for Background<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        // Safety: structural pinning of the only field; it is never moved.
        let inner = unsafe { self.map_unchecked_mut(|b| &mut b.0) };
        #[cfg(feature = "hydrate")]
        {
            let was = IN_BACKGROUND.with(|b| b.replace(true));
            let out = inner.poll(cx);
            IN_BACKGROUND.with(|b| b.set(was));
            out
        }
        #[cfg(not(feature = "hydrate"))]
        inner.poll(cx)
    }
}

/// Runs a call to a tenant-scoped server function: the client sends
/// `x-tenant-id` with it, as the REST door requires (the server checks it
/// against the call's tenant argument). On the server the call is
/// in-process and the argument is the scope.
#[cfg(feature = "hydrate")]
pub fn for_tenant<F: std::future::Future>(
    tenant: String,
    f: F,
) -> impl std::future::Future<Output = F::Output> {
    ForTenant(tenant, Box::pin(f))
}

#[cfg(not(feature = "hydrate"))]
pub fn for_tenant<F: std::future::Future>(_tenant: String, f: F) -> F {
    f
}

#[cfg(feature = "hydrate")]
struct ForTenant<F>(String, std::pin::Pin<Box<F>>);

#[cfg(feature = "hydrate")]
thread_local! {
    pub(crate) static TENANT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

#[cfg(feature = "hydrate")]
impl<F: std::future::Future> std::future::Future for ForTenant<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        // Set around each poll: the client reads it when the call is sent.
        let was = TENANT.with(|t| t.replace(Some(self.0.clone())));
        let out = self.1.as_mut().poll(cx);
        TENANT.with(|t| t.replace(was));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u16) -> RequestRecord {
        RequestRecord {
            path: format!("/api/{i}"),
            status: 200,
            request_id: format!("req_{i}"),
            correlation_id: None,
            trace_id: None,
            at_ms: f64::from(i),
        }
    }

    #[test]
    fn history_is_newest_first_and_bounded() {
        let mut h = Vec::new();
        for i in 0..(HISTORY_LEN as u16 + 3) {
            push_record(&mut h, rec(i));
        }
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h[0].request_id, format!("req_{}", HISTORY_LEN + 2));
    }
}
