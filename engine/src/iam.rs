//! IAM through the Gateway: reads are passed through with the caller's
//! token; mutations need a reason, run only while the audit log can take
//! their event, and append exactly one audit event whatever the outcome.
//! Gateway statuses and error texts are preserved for the caller.

use crate::audit::AuditLog;
use crate::gateway::{Forward, GatewayError, Reply};
use crate::identity::{Authenticator, Caller};
use http::Method;
use model::audit::Outcome;
use model::iam::{
    check_iam_id, check_reason, IamRole, IamSession, IamUser, LoginRequest, LoginResponse,
};
use serde::de::DeserializeOwned;
use sha2::Digest;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    /// The Gateway's own answer, kept as it was.
    #[error("gateway answered {status}: {message}")]
    Gateway { status: u16, message: String },
    #[error(transparent)]
    Unreachable(#[from] GatewayError),
    #[error("{0}")]
    BadRequest(String),
    #[error("audit log unavailable: {0}")]
    AuditUnavailable(String),
    #[error("the gateway refused the username or password")]
    LoginRefused,
}

/// What a mutation changes, for its before/after digests.
#[derive(Clone, Copy)]
enum Subject<'a> {
    UserRoles(&'a str),
    Session(&'a str),
}

pub struct IamService {
    auth: Arc<Authenticator>,
    audit: Arc<AuditLog>,
}

fn decode<T: DeserializeOwned>(r: Reply) -> Result<T, IamError> {
    if !r.is_success() {
        return Err(IamError::Gateway {
            status: r.status,
            message: r.error_text(),
        });
    }
    serde_json::from_slice(&r.body).map_err(|e| IamError::Gateway {
        status: 502,
        message: format!("unexpected answer from the gateway: {e}"),
    })
}

fn outcome_of(r: &Result<Reply, GatewayError>) -> Outcome {
    match r {
        Ok(r) if r.is_success() => Outcome::Succeeded,
        Ok(r) if r.status == 401 || r.status == 403 => Outcome::Denied,
        _ => Outcome::Failed,
    }
}

fn result_of(r: Result<Reply, GatewayError>) -> Result<(), IamError> {
    let r = r?;
    if r.is_success() {
        Ok(())
    } else {
        Err(IamError::Gateway {
            status: r.status,
            message: r.error_text(),
        })
    }
}

fn id(kind: &str, s: &str) -> Result<(), IamError> {
    check_iam_id(kind, s).map_err(IamError::BadRequest)
}

impl IamService {
    pub fn new(auth: Arc<Authenticator>, audit: Arc<AuditLog>) -> Self {
        Self { auth, audit }
    }

    async fn get<T: DeserializeOwned>(&self, c: &Caller, path: &str) -> Result<T, IamError> {
        let r = self
            .auth
            .gateway()
            .call(Method::GET, path, &c.forward(), None)
            .await?;
        decode(r)
    }

    pub async fn users(&self, c: &Caller) -> Result<Vec<IamUser>, IamError> {
        self.get(c, "/iam/users").await
    }

    pub async fn sessions(
        &self,
        c: &Caller,
        user: Option<&str>,
    ) -> Result<Vec<IamSession>, IamError> {
        // An empty filter (a cleared form field) means "everyone".
        match user.filter(|u| !u.trim().is_empty()) {
            Some(u) => {
                id("user", u)?;
                self.get(c, &format!("/iam/sessions?user={u}")).await
            }
            None => self.get(c, "/iam/sessions").await,
        }
    }

    pub async fn roles(&self, c: &Caller) -> Result<Vec<IamRole>, IamError> {
        self.get(c, "/iam/roles").await
    }

    /// Refuses to start an action that could not be audited.
    async fn audit_ready(&self) -> Result<(), IamError> {
        self.audit
            .ping()
            .await
            .map_err(|e| IamError::AuditUnavailable(e.to_string()))
    }

    /// A digest of what a mutation changes (the user's role set, or the
    /// session's state), for the audit event's before/after. `None` when it
    /// cannot be read; the action does not depend on it.
    async fn digest(&self, c: &Caller, subject: Subject<'_>) -> Option<String> {
        let state = match subject {
            Subject::UserRoles(user) => {
                let users: Vec<IamUser> = self.get(c, "/iam/users").await.ok()?;
                let mut roles = users.into_iter().find(|u| u.id == user)?.roles;
                roles.sort();
                serde_json::json!({ "user": user, "roles": roles })
            }
            Subject::Session(id) => {
                let sessions: Vec<IamSession> = self.get(c, "/iam/sessions").await.ok()?;
                let s = sessions.into_iter().find(|s| s.id == id)?;
                serde_json::json!({ "session": id, "revoked": s.revoked })
            }
        };
        let hash = sha2::Sha256::digest(state.to_string().as_bytes());
        Some(format!(
            "sha256:{}",
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ))
    }

    async fn mutate(
        &self,
        c: &Caller,
        action: &str,
        (target, subject): (String, Subject<'_>),
        reason: &str,
        method: Method,
        path: &str,
    ) -> Result<(), IamError> {
        let reason = check_reason(reason).map_err(IamError::BadRequest)?;
        self.audit_ready().await?;
        let before = self.digest(c, subject).await;
        let r = self
            .auth
            .gateway()
            .call(method, path, &c.forward(), None)
            .await;
        let mut record = c.record(action, target, Some(reason), outcome_of(&r));
        record.after_digest = match outcome_of(&r) {
            Outcome::Succeeded => self.digest(c, subject).await,
            _ => before.clone(),
        };
        record.before_digest = before;
        self.audit.append_or_log(record).await;
        result_of(r)
    }

    pub async fn revoke_session(
        &self,
        c: &Caller,
        session: &str,
        reason: &str,
    ) -> Result<(), IamError> {
        id("session", session)?;
        self.mutate(
            c,
            "iam.session.revoke",
            (format!("session/{session}"), Subject::Session(session)),
            reason,
            Method::DELETE,
            &format!("/iam/sessions/{session}"),
        )
        .await?;
        self.auth.forget_session(session);
        Ok(())
    }

    pub async fn assign_role(
        &self,
        c: &Caller,
        user: &str,
        role: &str,
        reason: &str,
    ) -> Result<(), IamError> {
        self.role_change(c, user, role, reason, true).await
    }

    pub async fn unassign_role(
        &self,
        c: &Caller,
        user: &str,
        role: &str,
        reason: &str,
    ) -> Result<(), IamError> {
        self.role_change(c, user, role, reason, false).await
    }

    async fn role_change(
        &self,
        c: &Caller,
        user: &str,
        role: &str,
        reason: &str,
        assign: bool,
    ) -> Result<(), IamError> {
        id("user", user)?;
        id("role", role)?;
        let (action, method) = if assign {
            ("iam.role.assign", Method::PUT)
        } else {
            ("iam.role.unassign", Method::DELETE)
        };
        self.mutate(
            c,
            action,
            (format!("user/{user}/role/{role}"), Subject::UserRoles(user)),
            reason,
            method,
            &format!("/iam/users/{user}/roles/{role}"),
        )
        .await
    }

    /// Signs in at the Gateway. The attempt is audited; the password is
    /// not (only a well-formed username is named as the target).
    pub async fn login(&self, c: &Caller, req: &LoginRequest) -> Result<LoginResponse, IamError> {
        if req.username.is_empty() || req.password.is_empty() {
            return Err(IamError::BadRequest(
                "username and password are required".into(),
            ));
        }
        self.audit_ready().await?;
        let body = serde_json::to_vec(req).map_err(|e| IamError::BadRequest(e.to_string()))?;
        let fwd = Forward {
            bearer: None,
            ..c.forward()
        };
        let r = self
            .auth
            .gateway()
            .call(Method::POST, "/auth/login", &fwd, Some(body))
            .await;
        let target = match check_iam_id("user", &req.username) {
            Ok(()) => format!("user/{}", req.username),
            Err(_) => "user/(not an id)".to_owned(),
        };
        let mut record = c.record("auth.login", target, None, outcome_of(&r));
        let res = r
            .map_err(IamError::from)
            .and_then(decode::<LoginResponse>)
            .map_err(|e| match e {
                // One wording whatever was wrong: no hint which part was.
                IamError::Gateway { status: 401, .. } => IamError::LoginRefused,
                other => other,
            });
        if let Ok(ok) = &res {
            record.principal_sub = ok.sub.clone();
            record.principal_session = ok.session_id.clone();
        }
        self.audit.append_or_log(record).await;
        res
    }

    /// Ends the caller's session at the Gateway and forgets it here.
    pub async fn logout(&self, c: &Caller) -> Result<(), IamError> {
        self.audit_ready().await?;
        let r = self
            .auth
            .gateway()
            .call(Method::POST, "/auth/logout", &c.forward(), None)
            .await;
        let session = c
            .identity
            .as_ref()
            .map(|i| i.principal.session_id.clone())
            .unwrap_or_default();
        self.auth.forget_session(&session);
        self.audit
            .append_or_log(c.record(
                "auth.logout",
                format!("session/{session}"),
                None,
                outcome_of(&r),
            ))
            .await;
        result_of(r)
    }
}
