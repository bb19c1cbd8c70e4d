//! The Audit Log: filters live in the URL (a filtered view is a link and
//! survives reload), paging is on the server, each event opens with the ids
//! to follow, and the chain can be verified and exported with the same
//! filters.

use super::api::{list_audit, verify_audit};
use crate::shell::frame::PageFrame;
use crate::shell::nav::page;
use crate::support::format::{
    encode, format_ms, parse_datetime_local, to_datetime_local, with_query,
};
use crate::ui::{
    error_alert, error_text, Badge, Button, ButtonKind, IdChip, Modal, Select, TextInput, Time,
    Tone,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use leptos_router::NavigateOptions;
use model::audit::{AuditEvent, AuditPage as EventPage, AuditQuery, Outcome, Verdict};

const PAGE_SIZE: usize = 50;
/// The filters as query parameters, named as `GET /admin/v1/audit/export`
/// takes them, plus the page past the first when `with_page`.
fn query_string(q: &AuditQuery, with_page: bool) -> String {
    [
        ("principal", q.principal.clone()),
        ("action", q.action.clone()),
        ("tenant", q.tenant.clone()),
        ("outcome", q.outcome.map(|o| o.as_str().to_owned())),
        ("from_ms", q.from_ms.map(|v| v.to_string())),
        ("to_ms", q.to_ms.map(|v| v.to_string())),
        ("id", q.id.clone()),
        (
            "page",
            (with_page && q.page() > 1).then(|| q.page().to_string()),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
    .collect::<Vec<_>>()
    .join("&")
}

/// The query the URL asks for; values that do not parse are ignored.
fn query_from_params(p: &ParamsMap) -> AuditQuery {
    let text = |k: &str| {
        p.get_str(k)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let ms = |k: &str| p.get_str(k).and_then(|v| v.trim().parse::<u64>().ok());
    AuditQuery {
        principal: text("principal"),
        action: text("action"),
        tenant: text("tenant"),
        outcome: p.get_str("outcome").and_then(Outcome::parse),
        from_ms: ms("from_ms"),
        to_ms: ms("to_ms"),
        id: text("id"),
        page: p
            .get_str("page")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 1),
        page_size: Some(PAGE_SIZE),
    }
}

/// The filter form's values as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filters {
    principal: String,
    action: String,
    tenant: String,
    outcome: String,
    from: String,
    to: String,
    id: String,
}

impl Filters {
    fn from_query(q: &AuditQuery) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Self {
            principal: text(&q.principal),
            action: text(&q.action),
            tenant: text(&q.tenant),
            outcome: q.outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            from: q.from_ms.map(to_datetime_local).unwrap_or_default(),
            to: q.to_ms.map(to_datetime_local).unwrap_or_default(),
            id: text(&q.id),
        }
    }

    /// The first page of what these filters ask for, or what is wrong.
    fn to_query(&self) -> Result<AuditQuery, String> {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let time = |label: &str, v: &str| match v.trim() {
            "" => Ok(None),
            v => parse_datetime_local(v)
                .map(Some)
                .ok_or_else(|| format!("{label} is not a date and time (UTC)")),
        };
        let q = AuditQuery {
            principal: text(&self.principal),
            action: text(&self.action),
            tenant: text(&self.tenant),
            outcome: Outcome::parse(&self.outcome),
            from_ms: time("From", &self.from)?,
            to_ms: time("To", &self.to)?,
            id: text(&self.id),
            page: None,
            page_size: Some(PAGE_SIZE),
        };
        match (q.from_ms, q.to_ms) {
            (Some(f), Some(t)) if f >= t => Err("From must be before To".into()),
            _ => Ok(q),
        }
    }
}

/// One signal per form field, for the inputs to bind to.
#[derive(Clone, Copy)]
struct FilterForm {
    principal: RwSignal<String>,
    action: RwSignal<String>,
    tenant: RwSignal<String>,
    outcome: RwSignal<String>,
    from: RwSignal<String>,
    to: RwSignal<String>,
    id: RwSignal<String>,
}

impl FilterForm {
    fn new(f: Filters) -> Self {
        Self {
            principal: RwSignal::new(f.principal),
            action: RwSignal::new(f.action),
            tenant: RwSignal::new(f.tenant),
            outcome: RwSignal::new(f.outcome),
            from: RwSignal::new(f.from),
            to: RwSignal::new(f.to),
            id: RwSignal::new(f.id),
        }
    }

    fn set(&self, f: Filters) {
        self.principal.set(f.principal);
        self.action.set(f.action);
        self.tenant.set(f.tenant);
        self.outcome.set(f.outcome);
        self.from.set(f.from);
        self.to.set(f.to);
        self.id.set(f.id);
    }

    fn get_untracked(&self) -> Filters {
        Filters {
            principal: self.principal.get_untracked(),
            action: self.action.get_untracked(),
            tenant: self.tenant.get_untracked(),
            outcome: self.outcome.get_untracked(),
            from: self.from.get_untracked(),
            to: self.to.get_untracked(),
            id: self.id.get_untracked(),
        }
    }
}

fn outcome_tone(o: Outcome) -> Tone {
    match o {
        Outcome::Succeeded => Tone::Ok,
        Outcome::Failed => Tone::Error,
        Outcome::Denied => Tone::Warn,
        Outcome::Interrupted => Tone::Warn,
    }
}

/// The verdict's tone, its `data-result` and its sentence.
fn verdict_line(v: &Verdict) -> (Tone, &'static str, String) {
    match v {
        Verdict::Intact { events } => {
            (Tone::Ok, "intact", format!("Chain intact: {events} events"))
        }
        Verdict::Broken { seq, problem } => (
            Tone::Error,
            "broken",
            format!("Broken at event {seq}: {problem}"),
        ),
        Verdict::Truncated {
            last_seq,
            anchored_seq,
        } => (
            Tone::Error,
            "truncated",
            format!(
                "Truncated: the log ends at event {last_seq}, but event {anchored_seq} was anchored"
            ),
        ),
    }
}

#[component]
fn DateTimeInput(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input id=id type="datetime-local" step="1" bind:value=value />
        </div>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let info = page("/audit").expect("audit is a nav page");
    let query = use_query_map();
    let current = Memo::new(move |_| query_from_params(&query.read()));
    let form = FilterForm::new(Filters::from_query(&current.get_untracked()));
    // Back and forward change the URL, not the form: bring the form along.
    Effect::new(move |_| form.set(Filters::from_query(&current.get())));
    let form_error = RwSignal::new(None::<String>);
    let data = Resource::new(move || current.get(), list_audit);
    let verify = Action::new(|_: &()| verify_audit());
    let selected = RwSignal::new(None::<AuditEvent>);
    let detail_open = RwSignal::new(false);
    let navigate = use_navigate();
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match form.get_untracked().to_query() {
            Ok(q) => {
                form_error.set(None);
                let opts = NavigateOptions {
                    scroll: false,
                    ..Default::default()
                };
                navigate(&with_query("/audit", &query_string(&q, false)), opts);
            }
            Err(e) => form_error.set(Some(e)),
        }
    };
    let export_href = move || {
        with_query(
            "/admin/v1/audit/export",
            &query_string(&current.get(), false),
        )
    };
    view! {
        <PageFrame info=info>
            <form class="filters" role="search" aria-label="Filter audit events" on:submit=apply>
                <TextInput id="audit-principal" label="Principal" value=form.principal placeholder="user id, e.g. u-admin" />
                <TextInput id="audit-action" label="Action" value=form.action placeholder="exact, or a prefix like iam." />
                <TextInput id="audit-tenant" label="Tenant" value=form.tenant />
                <Select id="audit-outcome" label="Outcome" options=vec![("", "Any"), ("succeeded", "Succeeded"), ("failed", "Failed"), ("denied", "Denied"), ("interrupted", "Interrupted")] value=form.outcome />
                <DateTimeInput id="audit-from" label="From (UTC)" value=form.from />
                <DateTimeInput id="audit-to" label="To (UTC, exclusive)" value=form.to />
                <TextInput id="audit-id" label="Id" value=form.id placeholder="request, correlation, trace, session or target" />
                <button type="submit" class="btn btn-primary" data-testid="apply-filters">"Apply filters"</button>
                // Plain links still route in the app; <A> would mark this one as the current page.
                <a href="/audit" class="btn btn-ghost">"Clear"</a>
            </form>
            {move || form_error.get().map(|e| view! { <p class="field-error" role="alert" data-testid="filter-error">{e}</p> })}
            <div class="audit-tools">
                <Button kind=ButtonKind::Secondary attr:data-testid="verify-button" disabled=Signal::derive(move || verify.pending().get()) on_click=move |_| { verify.dispatch(()); }>
                    "Verify chain"
                </Button>
                // A plain link: the browser downloads with the session cookie;
                // `download` keeps the router from handling it.
                <a class="btn btn-secondary" data-testid="export-link" href=export_href download="audit.ndjson" rel="external">"Export NDJSON"</a>
                <Button kind=ButtonKind::Ghost on_click=move |_| data.refetch()>"Refresh"</Button>
                {move || verify.pending().get().then(|| view! { <span class="muted">"Verifying…"</span> })}
                {move || verify.value().get().map(|r| match r {
                    Ok(v) => {
                        let (tone, result, text) = verdict_line(&v);
                        view! { <p class=format!("verdict verdict-{}", tone.name()) role="status" data-testid="audit-verdict" data-result=result>{text}</p> }.into_any()
                    }
                    Err(e) => view! { <p class="verdict field-error" role="alert" data-testid="audit-verdict" data-result="error">{error_text(&e)}</p> }.into_any(),
                })}
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading audit events…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => error_alert(e),
                    Ok(p) => events_view(p, current.get_untracked(), selected, detail_open),
                })}
            </Transition>
            <Modal open=detail_open id="audit-event" title="Audit event">
                {move || selected.get().map(|e| detail_view(e, detail_open))}
                <div class="modal-actions">
                    <Button kind=ButtonKind::Secondary on_click=move |_| detail_open.set(false)>"Close"</Button>
                </div>
            </Modal>
        </PageFrame>
    }
}

fn events_view(
    p: EventPage,
    q: AuditQuery,
    selected: RwSignal<Option<AuditEvent>>,
    open: RwSignal<bool>,
) -> AnyView {
    if p.events.is_empty() {
        let text = if p.total > 0 {
            format!("No events on this page; there are {} in all.", p.total)
        } else if query_string(&q, false).is_empty() {
            "The audit log has no events yet.".to_owned()
        } else {
            "No audit events match these filters.".to_owned()
        };
        return view! { <p class="empty-state" data-testid="audit-empty">{text}</p> }.into_any();
    }
    let pages = p.total.div_ceil(p.page_size.max(1)).max(1);
    let pager = move |label: &'static str, to: Option<usize>| match to {
        Some(n) => {
            let href = with_query(
                "/audit",
                &query_string(
                    &AuditQuery {
                        page: Some(n),
                        ..q.clone()
                    },
                    true,
                ),
            );
            view! { <A href=href attr:class="btn btn-secondary">{label}</A> }.into_any()
        }
        None => {
            view! { <span class="btn btn-secondary" aria-disabled="true">{label}</span> }.into_any()
        }
    };
    let rows = p
        .events
        .into_iter()
        .map(|e| {
            let r = e.record.clone();
            view! {
                <tr class="audit-row" data-testid="audit-row" data-seq=e.seq.to_string() on:click=move |_| {
                    selected.set(Some(e.clone()));
                    open.set(true);
                }>
                    // The button makes the row reachable by keyboard; its
                    // click bubbles to the row.
                    <td><button type="button" class="link-button" aria-haspopup="dialog"><Time ms=r.time_ms /></button></td>
                    <td><code>{r.principal_sub}</code></td>
                    <td><code>{r.action}</code></td>
                    <td>{r.target}</td>
                    <td>{r.tenant.unwrap_or_else(|| "—".into())}</td>
                    <td><Badge tone=outcome_tone(r.outcome)>{r.outcome.as_str()}</Badge></td>
                    <td class="audit-reason">{r.reason.unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Audit events">
            <table class="data-table" data-testid="audit-table">
                <caption>"Audit events, newest first; select one for every field and id"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Principal"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Target"</th>
                        <th scope="col">"Tenant"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"Reason"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <div class="table-footer" data-testid="audit-pager">
            <span>{format!("{} events · page {} of {}", p.total, p.page, pages)}</span>
            {pager("Previous", (p.page > 1).then(|| p.page - 1))}
            {pager("Next", (p.page < pages).then(|| p.page + 1))}
        </div>
    }
    .into_any()
}

/// An id to copy, or a dash when the event has none.
fn id_chip(kind: &'static str, value: String) -> AnyView {
    if value.is_empty() {
        view! { "—" }.into_any()
    } else {
        view! { <IdChip kind=kind value=value /> }.into_any()
    }
}

fn detail_view(e: AuditEvent, open: RwSignal<bool>) -> impl IntoView {
    let r = e.record;
    let text =
        |v: Option<String>| view! { <code>{v.unwrap_or_else(|| "—".into())}</code> }.into_any();
    // Same route, new query: the dialog would stay open over the new list.
    let flow = (!r.correlation_id.is_empty()).then(|| {
        let href = with_query("/audit", &format!("id={}", encode(&r.correlation_id)));
        view! { <span on:click=move |_| open.set(false)><A href=href>"Events of this flow"</A></span> }
    });
    let fields: Vec<(&'static str, AnyView)> = vec![
        ("Sequence", view! { <code>{e.seq}</code> }.into_any()),
        (
            "Time (UTC)",
            view! { {format_ms(r.time_ms)}" · "<code>{r.time_ms}</code>" ms" }.into_any(),
        ),
        ("Principal", text(Some(r.principal_sub))),
        ("Session", id_chip("session", r.principal_session)),
        ("Action", text(Some(r.action))),
        ("Target", text(Some(r.target))),
        ("Tenant", text(r.tenant)),
        (
            "Outcome",
            view! { <Badge tone=outcome_tone(r.outcome)>{r.outcome.as_str()}</Badge> }.into_any(),
        ),
        (
            "Reason",
            view! { {r.reason.unwrap_or_else(|| "—".into())} }.into_any(),
        ),
        ("Request id", id_chip("request id", r.request_id)),
        (
            "Correlation id",
            view! {
                {id_chip("correlation id", r.correlation_id)}
                {flow}
            }
            .into_any(),
        ),
        ("Trace id", id_chip("trace id", r.trace_id)),
        ("Before digest", text(r.before_digest)),
        ("After digest", text(r.after_digest)),
        ("Hash", text(Some(e.hash))),
        ("Previous hash", text(Some(e.prev_hash))),
    ];
    view! {
        <dl class="audit-detail" data-testid="audit-detail">
            {fields.into_iter().map(|(k, v)| view! { <div><dt>{k}</dt><dd>{v}</dd></div> }).collect_view()}
        </dl>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> ParamsMap {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn filters_survive_the_url() {
        let q = AuditQuery {
            principal: Some("u-admin".into()),
            action: Some("iam.".into()),
            tenant: Some("acme & co".into()),
            outcome: Some(Outcome::Denied),
            from_ms: Some(1_000),
            to_ms: Some(2_000),
            id: Some("cor_1".into()),
            page: Some(3),
            page_size: Some(PAGE_SIZE),
        };
        let s = query_string(&q, true);
        assert_eq!(
            s,
            "principal=u-admin&action=iam.&tenant=acme%20%26%20co&outcome=denied&from_ms=1000&to_ms=2000&id=cor_1&page=3"
        );
        assert_eq!(query_from_params(&params(&s)), q);
        assert!(!query_string(&q, false).contains("page"));
        let first = AuditQuery {
            page: None,
            ..q.clone()
        };
        assert!(!query_string(&first, true).contains("page"));
        assert_eq!(query_string(&AuditQuery::default(), true), "");
    }

    #[test]
    fn junk_in_the_url_is_ignored() {
        let q = query_from_params(&params(
            "outcome=maybe&from_ms=yesterday&page=0&principal=%20%20",
        ));
        assert_eq!(
            q,
            AuditQuery {
                page_size: Some(PAGE_SIZE),
                ..Default::default()
            }
        );
    }

    #[test]
    fn the_form_becomes_a_first_page_query() {
        let f = Filters {
            principal: " u-admin ".into(),
            outcome: "failed".into(),
            from: "2023-11-14T22:13".into(),
            ..Default::default()
        };
        let q = f.to_query().unwrap();
        assert_eq!(q.principal.as_deref(), Some("u-admin"));
        assert_eq!(q.outcome, Some(Outcome::Failed));
        assert_eq!(q.from_ms, Some(1_699_999_980_000));
        assert_eq!((q.action, q.to_ms, q.page), (None, None, None));
        let back = Filters::from_query(&f.to_query().unwrap());
        assert_eq!(back.from, "2023-11-14T22:13");
        assert_eq!(back.principal, "u-admin");

        let bad = Filters {
            from: "2023-11-14T22:13".into(),
            to: "2023-11-14T22:13".into(),
            ..Default::default()
        };
        assert!(bad.to_query().unwrap_err().contains("before"));
        let bad = Filters {
            to: "soon".into(),
            ..Default::default()
        };
        assert!(bad.to_query().unwrap_err().starts_with("To"));
    }

    #[test]
    fn verdicts_read_as_sentences() {
        assert_eq!(
            verdict_line(&Verdict::Intact { events: 7 }),
            (Tone::Ok, "intact", "Chain intact: 7 events".to_owned())
        );
        let (tone, result, text) = verdict_line(&Verdict::Broken {
            seq: 4,
            problem: "hash mismatch".into(),
        });
        assert_eq!((tone, result), (Tone::Error, "broken"));
        assert_eq!(text, "Broken at event 4: hash mismatch");
        let (_, result, text) = verdict_line(&Verdict::Truncated {
            last_seq: 9,
            anchored_seq: 12,
        });
        assert_eq!(result, "truncated");
        assert!(text.contains("event 9") && text.contains("event 12"));
    }
}
