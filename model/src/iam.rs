//! The Gateway's identity and IAM API as the control plane sees it
//! (docs/platform-contract.md, "Identity and IAM"). The simulated Gateway
//! serves these shapes; the control plane proxies them to the IAM pages.

use serde::{Deserialize, Serialize};

/// `POST /auth/login` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// `POST /auth/login` answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub sub: String,
    pub session_id: String,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("sub", &self.sub)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// `GET /iam/me`: the caller's session and the rights strings its roles grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionRights {
    pub sub: String,
    pub session_id: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub rights: Vec<String>,
}

/// Every Gateway error body: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GatewayError {
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IamUser {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IamSession {
    pub id: String,
    pub sub: String,
    pub username: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub last_seen_ms: u64,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IamRole {
    pub name: String,
    pub description: String,
    pub rights: Vec<String>,
}

/// Every IAM mutation through the control plane carries a reason, which
/// lands in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub reason: String,
}

pub const MAX_REASON_LEN: usize = 500;

/// A reason is 3..=500 characters of text after trimming, no control
/// characters (it is shown in the audit log as it was given).
pub fn check_reason(reason: &str) -> Result<String, String> {
    let r = reason.trim();
    if r.chars().count() < 3 {
        return Err("a reason of at least 3 characters is required".into());
    }
    if r.chars().count() > MAX_REASON_LEN {
        return Err(format!(
            "the reason is longer than {MAX_REASON_LEN} characters"
        ));
    }
    if r.chars().any(|c| c.is_control()) {
        return Err("the reason contains control characters".into());
    }
    Ok(r.to_owned())
}

/// Gateway user, session and role ids as they appear in paths: 1..=64 of
/// `[A-Za-z0-9._-]`.
pub fn check_iam_id(kind: &str, s: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!("{kind} is not an id (1-64 of A-Z a-z 0-9 . _ -)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let l = LoginRequest {
            username: "ann".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{l:?}").contains("hunter2"));
        let r = LoginResponse {
            access_token: "eyJsecret".into(),
            token_type: "Bearer".into(),
            expires_in: 60,
            sub: "u".into(),
            session_id: "s".into(),
        };
        assert!(!format!("{r:?}").contains("eyJsecret"));
    }

    #[test]
    fn reasons_are_checked() {
        assert_eq!(check_reason("  rotate keys "), Ok("rotate keys".into()));
        assert!(check_reason("").is_err());
        assert!(check_reason("ab").is_err());
        assert!(check_reason(&"x".repeat(501)).is_err());
        assert!(check_reason("line\nbreak").is_err());
    }

    #[test]
    fn iam_ids_are_checked() {
        assert!(check_iam_id("user", "u-admin.1_x").is_ok());
        assert!(check_iam_id("user", "").is_err());
        assert!(check_iam_id("user", "a/b").is_err());
        assert!(check_iam_id("user", &"a".repeat(65)).is_err());
    }
}
