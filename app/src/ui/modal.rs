use leptos::html;
use leptos::prelude::*;

/// A dialog: focus moves into it when it opens, Tab and Shift+Tab stay
/// inside it, Escape closes it, and focus returns to where it was.
#[component]
pub fn Modal(
    open: RwSignal<bool>,
    #[prop(into)] id: String,
    #[prop(into)] title: String,
    children: ChildrenFn,
) -> impl IntoView {
    let dialog: NodeRef<html::Div> = NodeRef::new();
    let title_id = format!("{id}-title");
    #[cfg(feature = "hydrate")]
    {
        let previous: StoredValue<Option<send_wrapper::SendWrapper<web_sys::HtmlElement>>> =
            StoredValue::new(None);
        Effect::new(move |_| {
            if open.get() {
                if let Some(el) = dialog.get() {
                    previous.set_value(
                        crate::support::dom::active_element().map(send_wrapper::SendWrapper::new),
                    );
                    crate::support::dom::focus_first(&el);
                }
            } else if let Some(prev) = previous.try_update_value(|p| p.take()).flatten() {
                let _ = prev.focus();
            }
        });
    }
    let children = StoredValue::new(children);
    let title_id2 = title_id.clone();
    view! {
        <Show when=move || open.get()>
            <div class="modal-backdrop" on:click=move |_| open.set(false)></div>
            <div
                class="modal"
                id=id.clone()
                role="dialog"
                aria-modal="true"
                aria-labelledby=title_id.clone()
                node_ref=dialog
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        ev.prevent_default();
                        open.set(false);
                    }
                    #[cfg(feature = "hydrate")]
                    if ev.key() == "Tab" {
                        if let Some(el) = dialog.get_untracked() {
                            crate::support::dom::trap_tab(&el, &ev);
                        }
                    }
                }
            >
                <h2 id=title_id2.clone()>{title.clone()}</h2>
                {children.read_value()()}
            </div>
        </Show>
    }
}
