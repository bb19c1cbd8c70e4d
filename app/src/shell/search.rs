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

/// One thing that happened under an id: a job or an audit event.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Hit {
    at_ms: u64,
    what: String,
    detail: String,
    href: String,
}

/// Every job and audit event carrying `id` (as job, request, correlation
/// or trace id), oldest first. A source the caller may not read says so.
async fn timeline(id: String) -> (Vec<Hit>, Vec<String>) {
    let mut hits = Vec::new();
    let mut refused = Vec::new();
    let jobs = crate::jobs::api::list_jobs(model::jobs::JobQuery {
        id: Some(id.clone()),
        page_size: 200,
        ..Default::default()
    });
    let audit = crate::audit::api::list_audit(model::audit::AuditQuery {
        id: Some(id),
        page_size: Some(200),
        ..Default::default()
    });
    match jobs.await {
        Ok(p) => hits.extend(p.jobs.into_iter().map(|j| Hit {
            at_ms: j.created_ms,
            what: format!("job {} ({})", j.kind, j.state.as_str()),
            detail: format!("{} by {}: {}", j.target, j.principal.sub, j.reason),
            href: crate::jobs::job_href(j.id.as_str()),
        })),
        Err(e) => refused.push(format!("jobs: {}", crate::ui::error_text(&e))),
    }
    match audit.await {
        Ok(p) => hits.extend(p.events.into_iter().map(|e| Hit {
            at_ms: e.record.time_ms,
            what: format!("audit {} ({})", e.record.action, e.record.outcome.as_str()),
            detail: format!("{} by {}", e.record.target, e.record.principal_sub),
            href: format!("/audit?id={}", encode(&e.record.request_id)),
        })),
        Err(e) => refused.push(format!("audit: {}", crate::ui::error_text(&e))),
    }
    hits.sort_by_key(|h| h.at_ms);
    (hits, refused)
}

/// The search page: what was recognised, then every job and audit event
/// that carries the id, on one timeline, each linking to its detail.
#[component]
pub fn Search() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let found = Resource::new(q, |q| async move {
        match model::search::recognise(&q) {
            Ok(f) => Some(timeline(f.id().to_owned()).await),
            Err(_) => None,
        }
    });
    crate::mark_hydrated();
    view! {
        <Title text="Search" />
        <Breadcrumbs items=vec![("Control".to_owned(), Some("/".to_owned())), ("Search".to_owned(), None)] />
        <h1>"Search"</h1>
        {move || match model::search::recognise(&q()) {
            Ok(found_id) => {
                let job_link = matches!(found_id, model::search::SearchQuery::Job(_))
                    .then(|| crate::jobs::job_href(found_id.id()));
                view! {
                    <section class="card" data-testid="search-result" data-kind=found_id.kind_param()>
                        <p>"Recognised a " <strong>{found_id.kind_label()}</strong> ":"</p>
                        <IdChip kind=found_id.kind_label() value=found_id.id().to_owned() />
                        {job_link.map(|h| view! { <p><a href=h data-testid="open-job">"Open the job"</a></p> })}
                    </section>
                }.into_any()
            }
            Err(e) => view! {
                <section class="card" data-testid="search-result" data-kind="invalid">
                    <p role="alert" class="field-error">{e.to_string()}</p>
                </section>
            }.into_any(),
        }}
        <Transition fallback=|| view! { <p class="muted">"Looking up…"</p> }>
            {move || found.get().flatten().map(|(hits, refused)| view! {
                <section class="card" data-testid="search-timeline">
                    <h2>"Everything under this id, oldest first"</h2>
                    {hits.is_empty().then(|| view! { <p class="empty-state" data-testid="search-empty">"No job or audit event carries this id."</p> })}
                    <ol class="timeline">
                        {hits.into_iter().map(|h| view! {
                            <li data-testid="search-hit">
                                <crate::ui::Time ms=h.at_ms />" "<a href=h.href>{h.what}</a>" "<span class="muted">{h.detail}</span>
                            </li>
                        }).collect_view()}
                    </ol>
                    {refused.into_iter().map(|r| view! { <p class="muted">{format!("Not shown: {r}")}</p> }).collect_view()}
                    <p class="muted">"Logs and traces under this id arrive with the observability stack."</p>
                </section>
            })}
        </Transition>
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
