//! `/admin/v1/jobs/...`: create (one route per kind, `Idempotency-Key`
//! required), list, get, cancel, and live changes (SSE), over
//! `engine::jobs::Jobs`.

use super::Door;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::metrics::SseStream;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use engine::identity::Caller;
use engine::jobs::{JobChange, Jobs, JobsError};
use futures::{Stream, StreamExt};
use model::jobs::{CancelJob, CreateJob, Job, JobKind, JobPage, JobQuery};
use model::policy::REST_PREFIX;
use std::convert::Infallible;
use std::time::Duration;
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![
        ("jobs.list", routes!(list)),
        ("jobs.changes", routes!(changes)),
        ("jobs.get", routes!(one)),
        ("jobs.events", routes!(events)),
        ("jobs.cancel", routes!(cancel)),
        ("jobs.routing.reload", routes!(create_routing_reload)),
        ("jobs.kind.unknown", routes!(unknown_kind)),
    ]
}

/// A job error as a response: 409 in-flight carries `Retry-After`.
fn job_error(e: JobsError) -> Response {
    let retry = e.retry_after();
    let mut res = ApiError::from(e).into_response();
    if let Some(s) = retry {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    res
}

pub(crate) async fn create(
    s: AppState,
    c: Caller,
    headers: HeaderMap,
    kind: JobKind,
    body: CreateJob,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let r = s.engine.jobs.create_at_door(&c, kind, key, body).await;
    match r {
        Ok(created) => {
            let mut res = (StatusCode::ACCEPTED, Json(created.job)).into_response();
            let h = res.headers_mut();
            if let Ok(loc) =
                HeaderValue::from_str(&format!("{REST_PREFIX}/jobs/{}", created.job_id))
            {
                h.insert(header::LOCATION, loc);
            }
            if created.replayed {
                h.insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            res
        }
        Err(e) => job_error(e),
    }
}

/// Creates a routing reload job: every gateway reloads routing.
#[utoipa::path(post, path = "/jobs/routing.reload", operation_id = "jobs.routing.reload", tag = "jobs",
    params(("Idempotency-Key" = String, Header,
        description = "A Structured Field string (`\"8e03…\"`) or a bare token, unique per request; kept at least 24 h")),
    request_body = CreateJob,
    responses(
        (status = 202, description = "The job as created (or, replayed, as first created)", body = Job,
            headers(("Location" = String, description = "The job's URL"),
                ("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request"))),
        (status = 409, description = "A request with this key is in progress (`Retry-After`), or the target is locked", body = model::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 422, description = "The key was used with another request", body = model::ErrorBody)))]
pub async fn create_routing_reload(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateJob>,
) -> Response {
    create(s, c, headers, JobKind::RoutingReload, body).await
}

/// Any other job kind: 404 naming the kinds there are.
#[utoipa::path(post, path = "/jobs/{job}", operation_id = "jobs.kind.unknown", tag = "jobs",
    params(("job" = String, Path, description = "A job kind that does not exist")),
    responses((status = 404, description = "No such job kind; the message lists the known ones", body = model::ErrorBody)))]
pub async fn unknown_kind() -> ApiError {
    let known: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
    ApiError::new(
        model::ErrorCode::NotFound,
        format!("no such job kind; one of {}", known.join(", ")),
    )
}

/// A page of jobs, newest first.
#[utoipa::path(get, path = "/jobs", operation_id = "jobs.list", tag = "jobs",
    params(JobQuery),
    responses((status = 200, description = "A page of jobs", body = JobPage)))]
pub async fn list(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> Result<Json<JobPage>, ApiError> {
    Ok(Json(s.engine.jobs.list(&q).await?))
}

/// One job: its steps, state and ids.
#[utoipa::path(get, path = "/jobs/{job}", operation_id = "jobs.get", tag = "jobs",
    params(("job" = String, Path, description = "Job id (`job_…`)", pattern = "^job_[0-9a-f]{32}$")),
    responses((status = 200, description = "The job", body = Job),
        (status = 404, description = "No such job", body = model::ErrorBody)))]
pub async fn one(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    let id = Jobs::parse_id(&id)?;
    Ok(Json(s.engine.jobs.get(&id).await?))
}

/// Asks a job to stop (audited; a reason is required).
#[utoipa::path(post, path = "/jobs/{job}/cancel", operation_id = "jobs.cancel", tag = "jobs",
    params(("job" = String, Path, description = "Job id (`job_…`)", pattern = "^job_[0-9a-f]{32}$")),
    request_body = CancelJob,
    responses((status = 200, description = "The job with the cancel recorded", body = Job),
        (status = 404, description = "No such job", body = model::ErrorBody),
        (status = 409, description = "Finished, or past its point of no return", body = model::ErrorBody)))]
pub async fn cancel(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CancelJob>,
) -> Result<Json<Job>, ApiError> {
    let id = Jobs::parse_id(&id)?;
    Ok(Json(s.engine.jobs.cancel(&c, &id, &body.reason).await?))
}

fn event(c: &JobChange) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event("job")
        .id(c.revision.to_string())
        .json_data(&*c.job)
        .unwrap_or_else(|_| Event::default().event("error")))
}

/// One job's changes (event `job`, the whole record; `id` is its revision,
/// so a client resumes with `Last-Event-ID`).
#[utoipa::path(get, path = "/jobs/{job}/events", operation_id = "jobs.events", tag = "jobs",
    params(("job" = String, Path, description = "Job id (`job_…`)", pattern = "^job_[0-9a-f]{32}$"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this revision")),
    responses((status = 200, description = "Server-sent events `job`, each the whole `Job` as JSON",
        content_type = "text/event-stream", body = String),
        (status = 404, description = "No such job", body = model::ErrorBody)))]
pub async fn events(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = Jobs::parse_id(&id)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let stream = s.engine.jobs.follow(&id, after).await?;
    let events = s.metrics.sse(SseStream::Job, stream.map(|c| event(&c)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Every job's changes, live (for the jobs list): event `job` per write.
#[utoipa::path(get, path = "/jobs/changes", operation_id = "jobs.changes", tag = "jobs",
    responses((status = 200, description = "Server-sent events `job` (a `Job` as JSON) and `lagged`",
        content_type = "text/event-stream", body = String)))]
pub async fn changes(
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.engine.jobs.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(c) => Some((event(&c), rx)),
            // Fell behind: the client refetches the list.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                Some((Ok(Event::default().event("lagged").data("refetch")), rx))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    Sse::new(s.metrics.sse(SseStream::Jobs, stream))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
