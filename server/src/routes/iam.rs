//! `/admin/v1/iam/...`: the Gateway's IAM passed through with the caller's
//! token (`engine::iam::IamService`); statuses and error texts are the
//! Gateway's. Mutations take `{"reason": "..."}` and are audited.

use super::Door;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Extension, Json};
use engine::identity::Caller;
use model::iam::{IamRole, IamSession, IamUser, ReasonBody};
use model::ErrorCode;
use serde::Deserialize;

pub fn doors() -> Vec<Door> {
    vec![
        ("identity.whoami", get(whoami)),
        ("iam.users.list", get(users)),
        ("iam.sessions.list", get(sessions)),
        ("iam.roles.list", get(roles)),
        ("iam.session.revoke", delete(revoke_session)),
        ("iam.role.assign", put(assign_role)),
        ("iam.role.unassign", delete(unassign_role)),
    ]
}

pub async fn users(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
) -> Result<Json<Vec<IamUser>>, ApiError> {
    Ok(Json(s.engine.iam.users(&c).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFilter {
    pub user: Option<String>,
}

pub async fn sessions(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    ApiQuery(q): ApiQuery<SessionFilter>,
) -> Result<Json<Vec<IamSession>>, ApiError> {
    Ok(Json(s.engine.iam.sessions(&c, q.user.as_deref()).await?))
}

pub async fn roles(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
) -> Result<Json<Vec<IamRole>>, ApiError> {
    Ok(Json(s.engine.iam.roles(&c).await?))
}

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
pub async fn whoami(
    Extension(c): Extension<Caller>,
) -> Result<Json<model::rights::WhoAmI>, ApiError> {
    c.identity
        .map(|i| Json(i.who_am_i()))
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "authentication required"))
}
