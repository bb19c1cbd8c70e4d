//! Search by id: the header's search box and the search page.

use crate::support::format::encode;
use crate::ui::{Breadcrumbs, IdChip, TextInput};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

pub fn search_href(id: &str) -> String {
    format!("/search?q={}", encode(id))
}

/// The header's search: recognises the kind of id pasted and opens the
/// search page. Without JavaScript the form still submits to /search.
#[component]
pub fn GlobalSearch() -> impl IntoView {
    let value = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match model::search::recognise(&value.get_untracked()) {
            Ok(q) => {
                error.set(None);
                navigate(&search_href(q.id()), Default::default());
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    };
    view! {
        <form class="global-search" role="search" action="/search" method="get" on:submit=on_submit>
            <TextInput
                id="global-search"
                name="q"
                label="Search by request, correlation, trace or job id"
                hide_label=true
                placeholder="Search by request / correlation / trace / job id"
                value=value
                error=Signal::derive(move || error.get())
            />
            <button type="submit" class="btn btn-secondary">"Search"</button>
        </form>
    }
}

/// The search page says what it recognised; the lookup itself arrives with
/// the investigation capability.
#[component]
pub fn Search() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    crate::mark_hydrated();
    view! {
        <Title text="Search" />
        <Breadcrumbs items=vec![("Control".to_owned(), Some("/".to_owned())), ("Search".to_owned(), None)] />
        <h1>"Search"</h1>
        {move || match model::search::recognise(&q()) {
            Ok(found) => view! {
                <section class="card" data-testid="search-result" data-kind=found.kind_param()>
                    <p>"Recognised a " <strong>{found.kind_label()}</strong> ":"</p>
                    <IdChip kind=found.kind_label() value=found.id().to_owned() />
                    <p class="muted">
                        "Looking up everything under this id (requests, jobs, audit events, logs and traces) is not connected in this build."
                    </p>
                </section>
            }.into_any(),
            Err(e) => view! {
                <section class="card" data-testid="search-result" data-kind="invalid">
                    <p role="alert" class="field-error">{e.to_string()}</p>
                </section>
            }.into_any(),
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_href_encodes_everything_outside_the_id_alphabet() {
        assert_eq!(search_href("req_ab-1.2"), "/search?q=req_ab-1.2");
        assert_eq!(search_href("a:b c&d"), "/search?q=a%3Ab%20c%26d");
    }
}
