use super::{Button, ButtonKind, Modal};
use leptos::prelude::*;
use model::iam::check_reason;

/// A dialog that asks for a reason before a change. The reason is checked
/// here with the server's own rule, so a 400 is the exception; a server
/// error stays in the dialog (and in a toast, with its request id).
#[component]
pub fn ReasonDialog(
    open: RwSignal<bool>,
    #[prop(into)] id: String,
    #[prop(into)] title: String,
    #[prop(into)] confirm: String,
    #[prop(into)] pending: Signal<bool>,
    failure: RwSignal<Option<String>>,
    on_confirm: Callback<String>,
    children: ChildrenFn,
) -> impl IntoView {
    let field = format!("{id}-reason");
    view! {
        <Modal open=open id=id title=title>
            {children()}
            {
                // Created each time the dialog opens, so it starts empty.
                let reason = RwSignal::new(String::new());
                let invalid = RwSignal::new(None::<String>);
                let err_id = format!("{field}-error");
                let err_id2 = err_id.clone();
                let label = confirm.clone();
                view! {
                    <div class="field">
                        <label for=field.clone()>"Reason (recorded in the audit log)"</label>
                        <textarea
                            id=field.clone()
                            data-testid="reason-input"
                            rows="3"
                            required
                            prop:value=move || reason.get()
                            on:input=move |ev| {
                                reason.set(event_target_value(&ev));
                                invalid.set(None);
                            }
                            aria-invalid=move || if invalid.get().is_some() { "true" } else { "false" }
                            aria-describedby=move || invalid.get().map(|_| err_id.clone())
                        ></textarea>
                        {move || invalid.get().map(|e| view! { <p class="field-error" id=err_id2.clone() role="alert">{e}</p> })}
                    </div>
                    {move || failure.get().map(|e| view! { <p class="field-error" role="alert" data-testid="dialog-error">{e}</p> })}
                    <div class="modal-actions">
                        <Button kind=ButtonKind::Secondary on_click=move |_| open.set(false)>"Cancel"</Button>
                        <Button
                            kind=ButtonKind::Danger
                            attr:data-testid="confirm-button"
                            disabled=pending
                            on_click=move |_| match check_reason(&reason.get_untracked()) {
                                Ok(r) => on_confirm.run(r),
                                Err(e) => invalid.set(Some(e)),
                            }
                        >
                            {label}
                        </Button>
                    </div>
                }
            }
        </Modal>
    }
}
