use crate::error::AppError;
use leptos::prelude::*;

/// An error as a sentence with its stable code.
pub fn error_text(e: &AppError) -> String {
    format!("{} ({})", e.0.message, e.0.code.as_str())
}

/// An error, announced.
pub fn error_alert(e: AppError) -> AnyView {
    view! { <p class="field-error" role="alert">{error_text(&e)}</p> }.into_any()
}
