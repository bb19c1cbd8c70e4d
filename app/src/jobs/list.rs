//! The Jobs list: server-paged, newest first, filters in the URL, live
//! (every job write arrives on `/admin/v1/jobs/changes` and refetches the
//! page shown; nothing polls).

use super::api::list_jobs;
use super::job_href;
use super::widgets::{duration, Progress, StateBadge};
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::support::clock::use_now;
use crate::ui::{error_alert, Time};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use model::jobs::{JobKind, JobQuery, JobState};

#[component]
pub fn JobsPage() -> impl IntoView {
    let info = page("/jobs").expect("jobs is a nav page");
    let query = use_query_map();
    let q = Memo::new(move |_| {
        let m = query.read();
        JobQuery {
            kind: m.get("kind").and_then(|k| JobKind::parse(&k)),
            state: m.get("state").and_then(|s| JobState::parse(&s)),
            page: m.get("page").and_then(|p| p.parse().ok()).unwrap_or(0),
            ..JobQuery::default()
        }
    });
    let tick = RwSignal::new(0u64);
    crate::support::live::listen("/admin/v1/jobs/changes", "job", move |_| {
        tick.update(|t| *t += 1)
    });
    let jobs = Resource::new(move || (q.get(), tick.get()), |(q, _)| list_jobs(q));
    let now = use_now();
    let href = move |state: Option<JobState>| match state {
        Some(s) => format!("/jobs?state={}", s.as_str()),
        None => "/jobs".to_owned(),
    };
    view! {
        <PageFrame info=info>
            <nav class="filters" aria-label="Filter jobs by state">
                <a href=href(None) class="btn btn-ghost">"All"</a>
                {JobState::ALL.into_iter().map(|s| view! { <a href=href(Some(s)) class="btn btn-ghost" data-testid=format!("filter-{}", s.as_str())>{s.as_str()}</a> }).collect_view()}
            </nav>
            <Transition fallback=|| view! { <p class="muted">"Loading jobs…"</p> }>
                {move || jobs.get().map(|r| match r {
                    Err(e) => error_alert(e),
                    Ok(p) if p.jobs.is_empty() => view! { <p class="empty-state" data-testid="jobs-empty">"No jobs match."</p> }.into_any(),
                    Ok(p) => {
                        let rows = p.jobs.into_iter().map(|j| {
                            let (id, shown, href) = (j.id.to_string(), j.id.to_string(), job_href(j.id.as_str()));
                            let took = j.finished_ms.unwrap_or_else(|| now.get()).saturating_sub(j.created_ms);
                            view! {
                                <tr data-job=id>
                                    <td><A href=href><code>{shown}</code></A></td>
                                    <td>{j.kind.as_str()}</td>
                                    <td>{j.target.to_string()}</td>
                                    <td><StateBadge state=j.state /></td>
                                    <td><Progress job=j.clone() /></td>
                                    <td>{j.principal.sub.clone()}</td>
                                    <td><Time ms=j.created_ms /></td>
                                    <td>{duration(took)}</td>
                                </tr>
                            }
                        }).collect_view();
                        let pages = p.total.div_ceil(p.page_size.max(1));
                        let page_no = p.page;
                        view! {
                            <div class="table-wrap" tabindex="0" role="region" aria-label="Jobs">
                                <table class="data-table" data-testid="jobs-table">
                                    <caption>{format!("{} jobs, newest first (hover a time for UTC)", p.total)}</caption>
                                    <thead><tr>
                                        <th scope="col">"Job"</th><th scope="col">"Kind"</th><th scope="col">"Target"</th>
                                        <th scope="col">"State"</th><th scope="col">"Progress"</th><th scope="col">"By"</th>
                                        <th scope="col">"Created"</th><th scope="col">"Duration"</th>
                                    </tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                            {(pages > 1).then(|| view! {
                                <nav class="pager" aria-label="Pages">
                                    {(page_no > 0).then(|| view! { <a href=format!("/jobs?page={}", page_no - 1)>"Newer"</a> })}
                                    <span>{format!(" page {} of {pages} ", page_no + 1)}</span>
                                    {(page_no + 1 < pages).then(|| view! { <a href=format!("/jobs?page={}", page_no + 1)>"Older"</a> })}
                                </nav>
                            })}
                        }.into_any()
                    }
                })}
            </Transition>
        </PageFrame>
    }
}
