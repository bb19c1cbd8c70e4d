//! What a client is told about an engine error: one trait every engine
//! error implements, so that the REST door (`ApiError`) and the UI door
//! (`AppError`) convert the same error to the same stable code, message and
//! HTTP status (the code's). The real error stays on the server: whoever
//! converts logs it once (a warning for server-side faults).

use crate::audit::AuditError;
use crate::fleet::FleetError;
use crate::iam::IamError;
use crate::identity::AuthError;
use crate::store::StoreError;
use model::ErrorCode;

/// A stable code and a message safe to show anyone allowed to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    pub code: ErrorCode,
    pub message: String,
}

impl ClientView {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Both doors answer this status for this view.
    pub fn status(&self) -> u16 {
        self.code.http_status()
    }
}

pub trait ClientError: std::error::Error {
    fn client_view(&self) -> ClientView;
}

impl ClientError for StoreError {
    fn client_view(&self) -> ClientView {
        match self {
            StoreError::NotFound => ClientView::new(ErrorCode::NotFound, "not found"),
            StoreError::AlreadyExists | StoreError::Conflict { .. } => ClientView::new(
                ErrorCode::Conflict,
                "changed concurrently; read it again and retry",
            ),
            StoreError::InvalidKey(_) | StoreError::Invalid(_) => {
                ClientView::new(ErrorCode::BadRequest, "invalid name or key")
            }
            StoreError::Decode(_) => {
                ClientView::new(ErrorCode::Internal, "a stored record could not be read")
            }
            StoreError::Unavailable(_) => {
                ClientView::new(ErrorCode::Unavailable, "the store is unavailable")
            }
        }
    }
}

impl ClientError for AuditError {
    fn client_view(&self) -> ClientView {
        match self {
            AuditError::BadQuery(m) => ClientView::new(ErrorCode::BadRequest, m.clone()),
            // Say which log: "the store" alone would not tell the operator.
            AuditError::Store(e) => ClientView {
                message: format!("the audit log: {}", e.client_view().message),
                ..e.client_view()
            },
        }
    }
}

impl ClientError for AuthError {
    fn client_view(&self) -> ClientView {
        match self {
            AuthError::Unauthenticated(_) => {
                ClientView::new(ErrorCode::Unauthenticated, "authentication required")
            }
            AuthError::Unavailable(_) => ClientView::new(
                ErrorCode::Unavailable,
                "the identity provider is unavailable",
            ),
        }
    }
}

/// The Gateway's status as our code: its 4xx keep their meaning, anything
/// else is the Gateway's failure (`upstream`, 502).
fn gateway_code(status: u16) -> ErrorCode {
    match status {
        400 | 422 => ErrorCode::BadRequest,
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        _ => ErrorCode::Upstream,
    }
}

impl ClientError for IamError {
    fn client_view(&self) -> ClientView {
        match self {
            // The Gateway's own text: it speaks to the operator (e.g. "no
            // such role") and never holds a secret of ours.
            IamError::Gateway { status, message } => {
                ClientView::new(gateway_code(*status), message.clone())
            }
            IamError::Unreachable(_) => {
                ClientView::new(ErrorCode::Upstream, "the gateway could not be reached")
            }
            IamError::BadRequest(m) => ClientView::new(ErrorCode::BadRequest, m.clone()),
            IamError::LoginRefused => {
                ClientView::new(ErrorCode::Unauthenticated, "invalid username or password")
            }
            IamError::AuditUnavailable(_) => ClientView::new(
                ErrorCode::Unavailable,
                "the audit log is unavailable; nothing was changed",
            ),
            IamError::AuditPending(_) => ClientView::new(
                ErrorCode::Unavailable,
                "the action ran, but its audit event is not recorded yet; it is kept and \
                 will be recorded shortly. Check the audit log before repeating the action",
            ),
        }
    }
}

impl ClientError for FleetError {
    fn client_view(&self) -> ClientView {
        match self {
            FleetError::BadTenant(m) => ClientView::new(ErrorCode::BadTenantId, m.clone()),
            FleetError::BadRequest(m) => ClientView::new(ErrorCode::BadRequest, m.clone()),
            FleetError::NotFound(m) => ClientView::new(ErrorCode::NotFound, m.clone()),
        }
    }
}

impl ClientError for crate::swarm::DeployError {
    fn client_view(&self) -> ClientView {
        use crate::swarm::{DeployError, SwarmError};
        match self {
            DeployError::NotFound(m) => ClientView::new(ErrorCode::NotFound, m.clone()),
            DeployError::BadRequest(m) => ClientView::new(ErrorCode::BadRequest, m.clone()),
            DeployError::Swarm(SwarmError::NotFound(_)) => {
                ClientView::new(ErrorCode::NotFound, "no such object on this Swarm")
            }
            DeployError::Swarm(SwarmError::Conflict(_)) => ClientView::new(
                ErrorCode::Conflict,
                "the service changed meanwhile; read it again",
            ),
            // The daemon's own words may name hosts and paths: logged, not shown.
            DeployError::Swarm(SwarmError::Unavailable(_) | SwarmError::Engine(_)) => {
                ClientView::new(
                    ErrorCode::SwarmUnavailable,
                    "the Docker Engine could not be reached or refused the call",
                )
            }
            DeployError::Store(e) => e.client_view(),
            DeployError::Audit(crate::action::ActionError::BadRequest(m)) => {
                ClientView::new(ErrorCode::BadRequest, m.clone())
            }
            DeployError::Audit(_) => ClientView::new(
                ErrorCode::Unavailable,
                "the audit log is unavailable; nothing was done",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_statuses_keep_their_meaning_and_5xx_are_upstream() {
        let v = |status| {
            IamError::Gateway {
                status,
                message: "m".into(),
            }
            .client_view()
        };
        assert_eq!(v(404).code, ErrorCode::NotFound);
        assert_eq!(v(422).status(), 400);
        assert_eq!(v(503).code, ErrorCode::Upstream);
        assert_eq!(v(503).status(), 502);
    }

    #[test]
    fn store_details_stay_on_the_server() {
        let v = StoreError::Unavailable("nats://user:secret@host".into()).client_view();
        assert_eq!(v.code, ErrorCode::Unavailable);
        assert!(!v.message.contains("secret"));
        let v = StoreError::Decode("raw bytes".into()).client_view();
        assert!(!v.message.contains("raw"));
    }
}
