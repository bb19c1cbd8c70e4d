//! The Config page: every document the registry manages with its
//! revision, digest, author, source and pin, filtered by domain (in the
//! URL); a fixed-name document that does not exist yet is offered as
//! "New document". With `?doc=` the page shows that one document.

use super::api::list_config;
use super::document::DocumentView;
use super::widgets::{source_text, PinBadge, ShaChip};
use super::DocRef;
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::support::url::url_text;
use crate::ui::{error_alert, Select, Time};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use model::config::{ConfigSummary, Domain, Scope};

/// The documents with one fixed name and scope, which the editor may start
/// from nothing (routing and placement always exist: the fleet reads them).
const NEW_DOCUMENTS: [Domain; 3] = [Domain::Flags, Domain::Gates, Domain::Activation];

#[component]
pub fn ConfigPage() -> impl IntoView {
    let info = page("/config").expect("config is a nav page");
    let query = use_query_map();
    let doc = Memo::new(move |_| {
        let q = query.read();
        q.get("doc")
            .and_then(|d| DocRef::from_query(&d, q.get("scope")))
    });
    view! {
        <PageFrame info=info>
            {move || match doc.get() {
                Some(d) => view! { <DocumentView doc=d /> }.into_any(),
                None => view! { <DocumentList /> }.into_any(),
            }}
        </PageFrame>
    }
    .into_any()
}

#[component]
fn DocumentList() -> impl IntoView {
    let domain = url_text("domain");
    let data = Resource::new(
        move || domain.get(),
        |d| list_config(Domain::parse(&d), None),
    );
    let mut options = vec![("", "All domains")];
    options.extend(Domain::ALL.iter().map(|d| (d.as_str(), d.as_str())));
    view! {
        <div class="filters" role="group" aria-label="Filters">
            <Select id="config-domain" label="Domain" options=options value=domain />
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading documents…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => error_alert(e),
                Ok(list) => {
                    let filter = Domain::parse(&domain.get_untracked());
                    let missing: Vec<DocRef> = NEW_DOCUMENTS
                        .into_iter()
                        .filter(|d| filter.is_none_or(|f| f == *d))
                        .filter(|d| !list.items.iter().any(|s| s.id.domain == *d && s.id.scope == Scope::Platform))
                        .map(|d| DocRef::new(d.as_str(), d.fixed_name().unwrap_or_default(), &Scope::Platform))
                        .collect();
                    view! {
                        {documents_table(list.items)}
                        {(!missing.is_empty()).then(|| view! {
                            <section class="card" data-testid="config-missing">
                                <h2>"Not written yet"</h2>
                                <p class="muted">"These documents do not exist yet; their defaults apply. The editor starts from an empty object."</p>
                                <ul class="plain">
                                    {missing.into_iter().map(|d| view! {
                                        <li>
                                            <code>{d.label()}</code>" "
                                            <A href=d.href() attr:class="btn btn-secondary" attr:data-testid=format!("config-new-{}", d.domain)>"New document"</A>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            </section>
                        })}
                    }
                    .into_any()
                }
            })}
        </Transition>
    }
    .into_any()
}

fn documents_table(items: Vec<ConfigSummary>) -> AnyView {
    if items.is_empty() {
        return view! { <p class="empty-state" data-testid="config-empty">"No documents match."</p> }
            .into_any();
    }
    let count = items.len();
    let rows = items
        .into_iter()
        .map(|s| {
            let d = DocRef::new(s.id.domain.as_str(), &s.id.name, &s.id.scope);
            let label = d.label();
            view! {
                <tr data-doc=label>
                    <td>{s.id.domain.as_str()}</td>
                    <td><A href=d.href()><code>{s.id.name.clone()}</code></A></td>
                    <td><code>{s.id.scope.to_string()}</code></td>
                    <td data-testid="revision">{s.meta.revision}</td>
                    <td><ShaChip sha=s.meta.sha256.clone() /></td>
                    <td>{s.meta.updated_by.clone().unwrap_or_else(|| "—".into())}</td>
                    <td>{match s.meta.updated_at_ms {
                        Some(ms) => view! { <Time ms=ms /> }.into_any(),
                        None => "—".into_any(),
                    }}</td>
                    <td><code>{source_text(&s.source)}</code></td>
                    <td>{s.pinned.clone().map(|p| view! { <PinBadge pin=p /> })}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Config documents">
            <table class="data-table" data-testid="config-table">
                <caption>{format!("{count} documents (hover a time for UTC, a digest for all of it)")}</caption>
                <thead><tr>
                    <th scope="col">"Domain"</th><th scope="col">"Name"</th><th scope="col">"Scope"</th>
                    <th scope="col">"Revision"</th><th scope="col">"SHA-256"</th><th scope="col">"Updated by"</th>
                    <th scope="col">"Updated"</th><th scope="col">"Source"</th><th scope="col">"Pinned"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}
