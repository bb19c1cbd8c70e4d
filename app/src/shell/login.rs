//! The sign-in page: the only page outside the app frame. The form posts
//! to the `login` server function (also without JavaScript: the server then
//! redirects, and back here with `?error=<code>` on failure); the token
//! never reaches script, it is set as an HttpOnly cookie by the server.

use super::api::Login;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || super::api::safe_next(&query.with(|q| q.get("next").unwrap_or_default()));
    let action = ServerAction::<Login>::new();
    crate::mark_hydrated();
    let error = move || {
        // The action's own answer once it ran; before that, the error the
        // server redirected a form without JavaScript back with.
        let message = match action.value().get() {
            Some(r) => r.err().map(|e| e.0.message.clone()),
            None => query.with(|q| {
                q.get("error")
                    .map(|code| crate::shell::api::login_error_message(&code).to_owned())
            }),
        };
        message.map(|m| {
            view! {
                <p class="form-error" role="alert" data-testid="login-error">
                    {m}
                </p>
            }
        })
    };
    view! {
        <Title text="Sign in" />
        <main id="main" class="login">
            <section class="login-card" aria-labelledby="login-title">
                <h1 id="login-title">"Cloudlysis Control"</h1>
                <p class="muted">"Sign in with your platform account."</p>
                <ActionForm action=action>
                    <input type="hidden" name="next" value=next />
                    <div class="field">
                        <label for="login-username">"Username"</label>
                        <input
                            id="login-username"
                            name="username"
                            type="text"
                            autocomplete="username"
                            required
                        />
                    </div>
                    <div class="field">
                        <label for="login-password">"Password"</label>
                        <input
                            id="login-password"
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                        />
                    </div>
                    {error}
                    <button
                        type="submit"
                        class="btn btn-primary"
                        data-testid="sign-in"
                        disabled=move || action.pending().get()
                    >
                        "Sign in"
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
