use super::Tone;
use leptos::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub tone: Tone,
    pub title: String,
    pub detail: Option<String>,
    /// Request id to quote when reporting the problem.
    pub request_id: Option<String>,
}

#[derive(Clone, Copy)]
pub struct Toasts {
    items: RwSignal<Vec<Toast>>,
    next: StoredValue<u64>,
}

/// How long a toast stays before it dismisses itself.
const TOAST_MS: u64 = 8_000;
const MAX_TOASTS: usize = 4;

impl Toasts {
    fn push(&self, tone: Tone, title: String, detail: Option<String>, request_id: Option<String>) {
        let id = self.next.get_value();
        self.next.set_value(id + 1);
        self.items.update(|v| {
            v.push(Toast {
                id,
                tone,
                title,
                detail,
                request_id,
            });
            let excess = v.len().saturating_sub(MAX_TOASTS);
            v.drain(..excess);
        });
        #[cfg(feature = "hydrate")]
        {
            let items = self.items;
            set_timeout(
                move || items.update(|v| v.retain(|t| t.id != id)),
                std::time::Duration::from_millis(TOAST_MS),
            );
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = TOAST_MS;
    }

    pub fn info(&self, title: impl Into<String>, detail: Option<String>) {
        self.push(Tone::Info, title.into(), detail, None);
    }

    /// An error toast shows the stable code, the message and the request id.
    pub fn error(&self, err: &crate::error::AppError, fallback_request_id: Option<String>) {
        self.push(
            Tone::Error,
            format!("Error: {}", err.0.code.as_str()),
            Some(err.0.message.clone()),
            err.0.request_id.clone().or(fallback_request_id),
        );
    }

    pub fn dismiss(&self, id: u64) {
        self.items.update(|v| v.retain(|t| t.id != id));
    }
}

pub fn provide_toasts() -> Toasts {
    let t = Toasts {
        items: RwSignal::new(Vec::new()),
        next: StoredValue::new(0),
    };
    provide_context(t);
    t
}

pub fn use_toasts() -> Toasts {
    expect_context::<Toasts>()
}

#[component]
pub fn ToastRegion() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || toasts.items.get() key=|t| t.id let:t>
                <div class=format!("toast toast-{}", t.tone.name())>
                    <div class="toast-body">
                        <strong>{t.title.clone()}</strong>
                        {t.detail.clone().map(|d| view! { <p>{d}</p> })}
                        {t.request_id.clone().map(|r| view! { <p class="toast-id">"Request id: "<code>{r}</code></p> })}
                    </div>
                    <button type="button" class="btn btn-ghost" aria-label="Dismiss" on:click=move |_| toasts.dismiss(t.id)>
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
