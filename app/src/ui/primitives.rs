use leptos::prelude::*;
use leptos_router::components::A;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ButtonKind {
    #[default]
    Primary,
    Secondary,
    Danger,
    Ghost,
}

impl ButtonKind {
    fn class(self) -> &'static str {
        match self {
            Self::Primary => "btn btn-primary",
            Self::Secondary => "btn btn-secondary",
            Self::Danger => "btn btn-danger",
            Self::Ghost => "btn btn-ghost",
        }
    }
}

#[component]
pub fn Button(
    children: Children,
    #[prop(optional)] kind: ButtonKind,
    #[prop(into, optional)] disabled: Signal<bool>,
    #[prop(into, optional)] on_click: Option<Callback<()>>,
    #[prop(into, optional)] label: Option<String>,
) -> impl IntoView {
    view! {
        <button
            type="button"
            class=kind.class()
            aria-label=label
            disabled=move || disabled.get()
            on:click=move |_| {
                if let Some(cb) = on_click {
                    cb.run(())
                }
            }
        >
            {children()}
        </button>
    }
}

/// A labelled text input. The error, when present, is announced and linked
/// with `aria-describedby`.
#[component]
pub fn TextInput(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(into, optional)] placeholder: Option<String>,
    #[prop(into, optional)] error: Signal<Option<String>>,
    #[prop(optional)] hide_label: bool,
    #[prop(into, optional)] name: Option<String>,
) -> impl IntoView {
    let err_id = format!("{id}-error");
    let err_id2 = err_id.clone();
    view! {
        <div class="field">
            <label for=id.clone() class:visually-hidden=hide_label>{label}</label>
            <input
                id=id
                type="text"
                name=name
                autocomplete="off"
                spellcheck="false"
                placeholder=placeholder
                bind:value=value
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby=move || error.get().map(|_| err_id.clone())
            />
            <Show when=move || error.get().is_some()>
                <p class="field-error" id=err_id2.clone() role="alert">
                    {move || error.get().unwrap_or_default()}
                </p>
            </Show>
        </div>
    }
}

#[component]
pub fn Select(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    options: Vec<(&'static str, &'static str)>,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select
                id=id
                prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                {options
                    .into_iter()
                    .map(|(v, l)| {
                        view! {
                            <option value=v selected=move || value.get() == v>
                                {l}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </div>
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Neutral,
    Ok,
    Warn,
    Error,
    Info,
}

impl Tone {
    pub fn name(self) -> &'static str {
        match self {
            Self::Neutral => "neutral",
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Info => "info",
        }
    }
}

#[component]
pub fn Badge(children: Children, #[prop(optional)] tone: Tone) -> impl IntoView {
    view! { <span class=format!("badge badge-{}", tone.name())>{children()}</span> }
}

/// Breadcrumbs: every item but the last links; the last is the current page.
#[component]
pub fn Breadcrumbs(items: Vec<(String, Option<String>)>) -> impl IntoView {
    let last = items.len().saturating_sub(1);
    view! {
        <nav aria-label="Breadcrumb" class="breadcrumbs">
            <ol>
                {items
                    .into_iter()
                    .enumerate()
                    .map(|(i, (label, href))| match href {
                        Some(href) if i != last => view! { <li><A href=href>{label}</A></li> }.into_any(),
                        _ => view! { <li aria-current="page">{label}</li> }.into_any(),
                    })
                    .collect_view()}
            </ol>
        </nav>
    }
}

/// Copies text to the clipboard. In the browser only; a no-op during SSR,
/// where no click can happen.
pub fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

/// An id with its kind and a copy button. A long id (a digest) may be
/// `shown` shortened: the whole value is then its title, and is what the
/// button copies.
#[component]
pub fn IdChip(
    #[prop(into)] kind: String,
    #[prop(into)] value: String,
    #[prop(into, optional)] shown: Option<String>,
) -> impl IntoView {
    let toasts = super::use_toasts();
    let copy_label = format!("Copy {kind}");
    let v = value.clone();
    let k = kind.clone();
    let title = shown.is_some().then(|| value.clone());
    view! {
        <span class="id-chip" data-kind=kind.clone()>
            <span class="id-kind">{kind.clone()}</span>
            <code class="id-value" title=title>{shown.unwrap_or(value)}</code>
            <button
                type="button"
                class="id-copy"
                aria-label=copy_label
                on:click=move |_| {
                    copy_to_clipboard(&v);
                    toasts.info(format!("Copied {k}"), None);
                }
            >
                "Copy"
            </button>
        </span>
    }
}
