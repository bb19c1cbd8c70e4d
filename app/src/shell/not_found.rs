use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    crate::mark_hydrated();
    view! {
        <Title text="Page not found" />
        <h1>"Page not found"</h1>
        <section class="empty-state" data-testid="not-found">
            <p>"There is no page at this address."</p>
            <p><A href="/">"Go to the Overview"</A></p>
        </section>
    }
}
