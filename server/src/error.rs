//! The one place where errors become HTTP responses: REST handlers return
//! `ApiError`; framework-made errors (body limit, unmatched routes, server
//! function failures) are normalised to the same JSON body by
//! `normalise_errors`. Clients see a stable code and a safe message; the
//! real error is logged once, here.

use crate::middleware::ids::RequestIds;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::error::ClientError;
use model::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    /// Safe for clients.
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Every engine error, through the one client view both doors use.
impl<E: ClientError> From<E> for ApiError {
    fn from(e: E) -> Self {
        let v = e.client_view();
        if v.status() >= 500 {
            tracing::warn!(error = %e, code = v.code.as_str(), "engine call failed");
        }
        Self::new(v.code, v.message)
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code == ErrorCode::Internal {
            tracing::error!(error = %self.message, "internal error");
        }
        // The request id is added by `normalise_errors`, which sees the ids.
        (
            status_of(self.code),
            Json(ErrorBody::new(self.code, self.message)),
        )
            .into_response()
    }
}

/// `Json<T>` whose rejections are `ApiError`s with stable codes.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rej) => Err(match rej {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "expected Content-Type: application/json",
                ),
                JsonRejection::JsonSyntaxError(_) => {
                    ApiError::new(ErrorCode::MalformedJson, "request body is not valid JSON")
                }
                JsonRejection::JsonDataError(e) => ApiError::new(
                    ErrorCode::BadRequest,
                    field_detail::<serde_json::Error>("body", &e),
                ),
                JsonRejection::BytesRejection(_) => ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "request body too large or unreadable",
                ),
                _ => ApiError::new(ErrorCode::BadRequest, "request body rejected"),
            }),
        }
    }
}

/// `Query<T>` whose rejections are `bad_request` naming the parameter and
/// what it allows, never the value sent.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::new(
                ErrorCode::BadRequest,
                field_detail::<serde::de::value::Error>("query", &e),
            )),
            Err(_) => Err(ApiError::new(
                ErrorCode::BadRequest,
                "the query string is not valid",
            )),
        }
    }
}

/// `<place> field `<field>`: <what is allowed>` from an axum
/// deserialisation rejection. axum runs serde through `serde_path_to_error`,
/// so the field is in the error chain; the value is left out
/// (`model::error::safe_serde_detail`).
fn field_detail<E>(place: &str, rejection: &(dyn std::error::Error + 'static)) -> String
where
    E: std::error::Error + 'static,
{
    let mut cur = rejection.source();
    while let Some(e) = cur {
        if let Some(p) = e.downcast_ref::<serde_path_to_error::Error<E>>() {
            let inner = p.inner().to_string();
            let detail = model::error::safe_serde_detail(&inner);
            // The path holds our own field names, except for an unknown
            // field, whose name (the caller's input) is its last segment.
            let mut path = p.path().to_string();
            if inner.starts_with("unknown field") {
                path = match path.rsplit_once('.') {
                    Some((parent, _)) if !parent.is_empty() => parent.to_owned(),
                    _ => ".".to_owned(),
                };
                return if path == "." {
                    format!("{place}: unknown field, {detail}")
                } else {
                    format!("{place} field `{}`: unknown field, {detail}", short(&path))
                };
            }
            return if path == "." {
                format!("{place}: {detail}")
            } else {
                format!("{place} field `{}`: {detail}", short(&path))
            };
        }
        cur = e.source();
    }
    format!("the {place} is not valid")
}

fn short(path: &str) -> String {
    path.chars().take(64).collect()
}

pub(crate) fn code_for_status(s: StatusCode) -> ErrorCode {
    match s.as_u16() {
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        429 => ErrorCode::RateLimited,
        405 => ErrorCode::MethodNotAllowed,
        408 | 504 => ErrorCode::Timeout,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        502 => ErrorCode::Upstream,
        503 => ErrorCode::Unavailable,
        400..=499 => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    }
}

const SERVER_FN_ERROR_HEADER: &str = "serverfnerror";
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Makes every error response carry the JSON error body with the request id:
/// - server-function errors get the HTTP status of their code (server_fn
///   answers 500 for every error otherwise);
/// - plain-text errors from framework layers become `ErrorBody` JSON;
/// - HTML error pages (the UI's not-found page) and JSON answers of another
///   shape (the readiness report) are left as they are.
pub async fn normalise_errors(req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestIds>()
        .map(|i| i.request_id.to_string());
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let ct = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if ct.starts_with("text/html") {
        return res;
    }
    let is_server_fn = res.headers().contains_key(SERVER_FN_ERROR_HEADER);
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let is_json = ct.starts_with("application/json");
    let mut error = match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => b,
        // A JSON answer of another shape (e.g. /ready's report) is kept as is.
        Err(_) if is_json && !is_server_fn => {
            return Response::from_parts(parts, axum::body::Body::from(bytes));
        }
        Err(_) => {
            let code = code_for_status(status);
            if code == ErrorCode::Internal {
                tracing::error!(status = status.as_u16(), body = %String::from_utf8_lossy(&bytes[..bytes.len().min(512)]), "internal error from a framework layer");
            }
            ErrorBody::new(code, default_message(code))
        }
    };
    if is_server_fn {
        parts.status = status_of(error.code);
    }
    if error.request_id.is_none() {
        error.request_id = request_id;
    }
    let body = serde_json::to_vec(&error).unwrap_or_default();
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn default_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "no such route",
        ErrorCode::MethodNotAllowed => "method not allowed on this route",
        ErrorCode::Timeout => "the request took too long",
        ErrorCode::PayloadTooLarge => "request body too large",
        ErrorCode::UnsupportedMediaType => "unsupported content type",
        ErrorCode::Unavailable => "temporarily unavailable",
        ErrorCode::BadRequest | ErrorCode::MalformedJson => "bad request",
        ErrorCode::Internal | ErrorCode::Network => "internal error",
        ErrorCode::Unauthenticated => "authentication required",
        ErrorCode::Forbidden => "not allowed",
        ErrorCode::CrossSite => "cross-site request refused",
        ErrorCode::TenantRequired => "x-tenant-id is required",
        ErrorCode::BadTenantId => "x-tenant-id is not a tenant id",
        ErrorCode::TenantMismatch => "x-tenant-id does not match the path",
        ErrorCode::Conflict => "conflict",
        ErrorCode::Upstream => "upstream error",
        ErrorCode::RateLimited => "too many attempts; try again later",
        ErrorCode::IdempotencyKeyRequired => "an Idempotency-Key header is required",
        ErrorCode::BadIdempotencyKey => "the Idempotency-Key header is malformed",
        ErrorCode::IdempotencyKeyReused => "this Idempotency-Key was used with another request",
        ErrorCode::IdempotencyInFlight => "a request with this Idempotency-Key is in progress",
        ErrorCode::Locked => "the target is locked by another job",
        ErrorCode::CancelRefused => "the job cannot be cancelled",
        ErrorCode::PlanStale => "the plan is stale; ask for a new one",
        ErrorCode::GateFailed => "a safety gate failed; nothing was done",
        ErrorCode::ConfigDecode => "a stored config document does not decode",
        ErrorCode::Frozen => "a change freeze is on",
        ErrorCode::SwarmUnavailable => "the Docker Engine is unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_codes() {
        assert_eq!(code_for_status(StatusCode::NOT_FOUND), ErrorCode::NotFound);
        assert_eq!(
            code_for_status(StatusCode::PAYLOAD_TOO_LARGE),
            ErrorCode::PayloadTooLarge
        );
        assert_eq!(
            code_for_status(StatusCode::REQUEST_TIMEOUT),
            ErrorCode::Timeout
        );
        assert_eq!(
            code_for_status(StatusCode::IM_A_TEAPOT),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code_for_status(StatusCode::BAD_GATEWAY),
            ErrorCode::Upstream
        );
        assert_eq!(
            code_for_status(StatusCode::INTERNAL_SERVER_ERROR),
            ErrorCode::Internal
        );
    }
}
