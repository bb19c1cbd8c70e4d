//! The mutation flow every job-creating action goes through: a dialog that
//! says what will happen and asks for a reason, an Idempotency-Key made
//! once per opening (a double click or a retry sends the same key and gets
//! the same job), then the job's live page.

use crate::ui::{error_text, use_toasts, Button, ButtonKind, ReasonDialog};
use leptos::prelude::*;

/// A fresh key: 128 random bits from the browser's crypto. Only a click
/// makes one, and clicks happen in the browser.
#[cfg(feature = "hydrate")]
pub(crate) fn new_key() -> String {
    let mut b = [0u8; 16];
    if let Some(c) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = c.get_random_values_with_u8_array(&mut b);
    }
    crate::support::format::hex(&b)
}

#[cfg(not(feature = "hydrate"))]
pub(crate) fn new_key() -> String {
    unreachable!("keys are made on a click, in the browser")
}

/// Where a started job's id goes: the page then follows it to the job's
/// live page. The navigation runs in an effect (in the browser), so the
/// actions that start jobs stay `Send` and may be created while the server
/// renders inside a `Transition`.
pub(crate) fn go_to_job() -> RwSignal<Option<String>> {
    let started = RwSignal::new(None::<String>);
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(job) = started.get() {
            navigate(&super::job_href(&job), Default::default());
        }
    });
    started
}

/// A button that opens the dialog; `create(key, reason)` creates the job
/// and answers its id.
#[component]
pub fn JobLauncher<F, Fut>(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    #[prop(into)] title: String,
    create: F,
    children: ChildrenFn,
) -> impl IntoView
where
    F: Fn(String, String) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<String, crate::error::AppError>> + Send + 'static,
{
    let open = RwSignal::new(false);
    let key = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<String>);
    let toasts = use_toasts();
    let started = go_to_job();
    let run = Action::new(move |(k, reason): &(String, String)| {
        let call = create(k.clone(), reason.clone());
        async move {
            match call.await {
                Ok(job) => {
                    open.set(false);
                    started.set(Some(job));
                }
                Err(e) => {
                    failure.set(Some(error_text(&e)));
                    toasts.error(&e, None);
                }
            }
        }
    });
    let testid = format!("{id}-button");
    view! {
        <Button kind=ButtonKind::Primary attr:data-testid=testid on_click=move |_| {
            key.set(new_key());
            failure.set(None);
            open.set(true);
        }>{label.clone()}</Button>
        <ReasonDialog
            open=open
            id=id
            title=title
            confirm="Start job"
            pending=Signal::derive(move || run.pending().get())
            failure=failure
            on_confirm=Callback::new(move |reason| {
                run.dispatch((key.get_untracked(), reason));
            })
        >
            {children()}
        </ReasonDialog>
    }
}
