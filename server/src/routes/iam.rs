//! `/admin/v1/iam/...`: the Gateway's IAM passed through with the caller's
//! token (`engine::iam::IamService`); statuses and error texts are the
//! Gateway's. Mutations take `{"reason": "..."}` and are audited.

use super::Door;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use engine::identity::Caller;
use model::iam::{IamRole, IamSession, IamUser, ReasonBody};
use model::ErrorCode;
use serde::Deserialize;
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![
        ("identity.whoami", routes!(whoami)),
        ("iam.users.list", routes!(users)),
        ("iam.sessions.list", routes!(sessions)),
        ("iam.roles.list", routes!(roles)),
        ("iam.session.revoke", routes!(revoke_session)),
        ("iam.role.assign", routes!(assign_role)),
        ("iam.role.unassign", routes!(unassign_role)),
    ]
}

/// Every user the Gateway knows, with their roles.
#[utoipa::path(get, path = "/iam/users", operation_id = "iam.users.list", tag = "iam",
    responses((status = 200, description = "The users", body = Vec<IamUser>)))]
pub async fn users(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
) -> Result<Json<Vec<IamUser>>, ApiError> {
    Ok(Json(s.engine.iam.users(&c).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionFilter {
    pub user: Option<String>,
}

/// Open sessions, optionally of one user.
#[utoipa::path(get, path = "/iam/sessions", operation_id = "iam.sessions.list", tag = "iam",
    params(SessionFilter),
    responses((status = 200, description = "The sessions", body = Vec<IamSession>)))]
pub async fn sessions(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiQuery(q): ApiQuery<SessionFilter>,
) -> Result<Json<Vec<IamSession>>, ApiError> {
    Ok(Json(s.engine.iam.sessions(&c, q.user.as_deref()).await?))
}

/// Every role and the rights it grants.
#[utoipa::path(get, path = "/iam/roles", operation_id = "iam.roles.list", tag = "iam",
    responses((status = 200, description = "The roles", body = Vec<IamRole>)))]
pub async fn roles(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
) -> Result<Json<Vec<IamRole>>, ApiError> {
    Ok(Json(s.engine.iam.roles(&c).await?))
}

/// Revokes a session (audited; a reason is required).
#[utoipa::path(delete, path = "/iam/sessions/{session}", operation_id = "iam.session.revoke", tag = "iam",
    params(("session" = String, Path, description = "Session id")),
    request_body = ReasonBody,
    responses((status = 204, description = "Revoked"),
        (status = 404, description = "No such session", body = model::ErrorBody),
        (status = 502, description = "The Gateway refused or failed", body = model::ErrorBody)))]
pub async fn revoke_session(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(session): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<StatusCode, ApiError> {
    s.engine
        .iam
        .revoke_session(&c, &session, &body.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grants a role to a user (audited; a reason is required).
#[utoipa::path(put, path = "/iam/users/{user}/roles/{role}", operation_id = "iam.role.assign", tag = "iam",
    params(("user" = String, Path, description = "User id"), ("role" = String, Path, description = "Role name")),
    request_body = ReasonBody,
    responses((status = 204, description = "Granted"),
        (status = 404, description = "No such user or role", body = model::ErrorBody),
        (status = 409, description = "A conflicting change", body = model::ErrorBody),
        (status = 502, description = "The Gateway refused or failed", body = model::ErrorBody)))]
pub async fn assign_role(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((user, role)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<StatusCode, ApiError> {
    s.engine
        .iam
        .assign_role(&c, &user, &role, &body.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a role from a user (audited; a reason is required).
#[utoipa::path(delete, path = "/iam/users/{user}/roles/{role}", operation_id = "iam.role.unassign", tag = "iam",
    params(("user" = String, Path, description = "User id"), ("role" = String, Path, description = "Role name")),
    request_body = ReasonBody,
    responses((status = 204, description = "Taken"),
        (status = 404, description = "No such user or role", body = model::ErrorBody),
        (status = 409, description = "A conflicting change", body = model::ErrorBody),
        (status = 502, description = "The Gateway refused or failed", body = model::ErrorBody)))]
pub async fn unassign_role(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((user, role)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<StatusCode, ApiError> {
    s.engine
        .iam
        .unassign_role(&c, &user, &role, &body.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/v1/whoami`: the caller and the rights its grants cover.
#[utoipa::path(get, path = "/whoami", operation_id = "identity.whoami", tag = "iam",
    responses((status = 200, description = "The caller and its rights", body = model::rights::WhoAmI)))]
pub async fn whoami(
    Extension(c): Extension<Caller>,
) -> Result<Json<model::rights::WhoAmI>, ApiError> {
    c.identity
        .map(|i| Json(i.who_am_i()))
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "authentication required"))
}
