//! IAM through the Gateway: reads are passed through with the caller's
//! token; mutations, login and logout are audited actions
//! (`crate::action`): a mutation needs a reason, none runs unless its
//! intent is durable, and each leaves exactly one audit event whatever the
//! outcome. Gateway statuses and error texts are preserved for the caller.

use crate::action::{ActionError, Actions, Done, Plan};
use crate::gateway::{Forward, GatewayError, Reply};
use crate::identity::{Authenticator, Caller};
use http::Method;
use model::audit::Outcome;
use model::iam::{check_iam_id, IamRole, IamSession, IamUser, LoginRequest, LoginResponse};
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
    /// The action ran; its audit event is kept as an intent, not yet in
    /// the chain.
    #[error("audit event pending: {0}")]
    AuditPending(String),
}

impl From<ActionError> for IamError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::BadRequest(m) => IamError::BadRequest(m),
            ActionError::Unavailable(m) => IamError::AuditUnavailable(m),
            ActionError::Pending(m) => IamError::AuditPending(m),
        }
    }
}

/// What a mutation changes, for its before/after digests.
#[derive(Clone)]
enum Subject {
    UserRoles(String),
    Session(String),
}

pub struct IamService {
    auth: Arc<Authenticator>,
    actions: Actions,
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
    pub fn new(auth: Arc<Authenticator>, actions: Actions) -> Self {
        Self { auth, actions }
    }

    async fn get<T: DeserializeOwned>(&self, c: &Caller, path: &str) -> Result<T, IamError> {
        get(&self.auth, &c.forward(), path).await
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

    async fn mutate(
        &self,
        c: &Caller,
        action: &str,
        (target, subject): (String, Subject),
        reason: &str,
        method: Method,
        path: String,
    ) -> Result<(), IamError> {
        let (auth, fwd) = (self.auth.clone(), c.forward());
        let plan = Plan::new(c, action, target)
            .with_reason(reason)?
            .with_digest(move || digest(auth.clone(), fwd.clone(), subject.clone()));
        let (auth, fwd) = (self.auth.clone(), c.forward());
        let r = self
            .actions
            .run(plan, async move {
                let r = auth.gateway().call(method, &path, &fwd, None).await;
                Done::new(outcome_of(&r), r)
            })
            .await?;
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
            (
                format!("session/{session}"),
                Subject::Session(session.to_owned()),
            ),
            reason,
            Method::DELETE,
            format!("/iam/sessions/{session}"),
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
            (
                format!("user/{user}/role/{role}"),
                Subject::UserRoles(user.to_owned()),
            ),
            reason,
            method,
            format!("/iam/users/{user}/roles/{role}"),
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
        let body = serde_json::to_vec(req).map_err(|e| IamError::BadRequest(e.to_string()))?;
        let fwd = Forward {
            bearer: None,
            ..c.forward()
        };
        let target = match check_iam_id("user", &req.username) {
            Ok(()) => format!("user/{}", req.username),
            Err(_) => "user/(not an id)".to_owned(),
        };
        let auth = self.auth.clone();
        self.actions
            .run(Plan::new(c, "auth.login", target), async move {
                let r = auth
                    .gateway()
                    .call(Method::POST, "/auth/login", &fwd, Some(body))
                    .await;
                let outcome = outcome_of(&r);
                let res = r
                    .map_err(IamError::from)
                    .and_then(decode::<LoginResponse>)
                    .map_err(|e| match e {
                        // One wording whatever was wrong: no hint which part was.
                        IamError::Gateway { status: 401, .. } => IamError::LoginRefused,
                        other => other,
                    });
                let principal = res
                    .as_ref()
                    .ok()
                    .map(|ok| (ok.sub.clone(), ok.session_id.clone()));
                Done {
                    outcome,
                    value: res,
                    principal,
                }
            })
            .await?
    }

    /// Ends the caller's session at the Gateway and forgets it here.
    pub async fn logout(&self, c: &Caller) -> Result<(), IamError> {
        let session = c
            .identity
            .as_ref()
            .map(|i| i.principal.session_id.clone())
            .unwrap_or_default();
        let (auth, fwd) = (self.auth.clone(), c.forward());
        let r = self
            .actions
            .run(
                Plan::new(c, "auth.logout", format!("session/{session}")),
                async move {
                    let r = auth
                        .gateway()
                        .call(Method::POST, "/auth/logout", &fwd, None)
                        .await;
                    Done::new(outcome_of(&r), r)
                },
            )
            .await;
        self.auth.forget_session(&session);
        result_of(r?)
    }
}

async fn get<T: DeserializeOwned>(
    auth: &Authenticator,
    fwd: &Forward,
    path: &str,
) -> Result<T, IamError> {
    decode(auth.gateway().call(Method::GET, path, fwd, None).await?)
}

/// A digest of what a mutation changes (the user's role set, or the
/// session's state), for the audit event's before/after. `None` when it
/// cannot be read; the action does not depend on it.
async fn digest(auth: Arc<Authenticator>, fwd: Forward, subject: Subject) -> Option<String> {
    let state = match subject {
        Subject::UserRoles(user) => {
            let users: Vec<IamUser> = get(&auth, &fwd, "/iam/users").await.ok()?;
            let mut roles = users.into_iter().find(|u| u.id == user)?.roles;
            roles.sort();
            serde_json::json!({ "user": user, "roles": roles })
        }
        Subject::Session(id) => {
            let sessions: Vec<IamSession> = get(&auth, &fwd, "/iam/sessions").await.ok()?;
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
