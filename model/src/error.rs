//! The error body every client sees: a stable machine code, a safe message,
//! and the request id to quote in a support ticket. The real error is logged
//! server-side once; it never travels in this body.

use serde::{Deserialize, Serialize};

/// Stable error codes. Clients match on these strings; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    MalformedJson,
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    Timeout,
    Unavailable,
    Internal,
    /// The browser could not reach the server or could not read its answer.
    Network,
    /// No valid credentials (missing, malformed, expired or revoked token).
    Unauthenticated,
    /// Authenticated, but the right this action needs is not granted.
    Forbidden,
    /// A state-changing browser request that is not same-origin.
    CrossSite,
    /// A tenant-scoped endpoint called without `x-tenant-id`.
    TenantRequired,
    /// `x-tenant-id` is not a tenant id.
    BadTenantId,
    /// `x-tenant-id` names another tenant than the path.
    TenantMismatch,
    Conflict,
    /// The Gateway (or another upstream) failed or answered an error.
    Upstream,
    /// Too many attempts (sign-in): wait for `Retry-After` seconds.
    RateLimited,
    /// A job-creating request without an `Idempotency-Key` header.
    IdempotencyKeyRequired,
    /// An `Idempotency-Key` that is not a Structured Field string (or token).
    BadIdempotencyKey,
    /// The key was used before with another request body.
    IdempotencyKeyReused,
    /// The first request with this key is still being processed.
    IdempotencyInFlight,
    /// The target is locked by another running job (the kind refuses to wait).
    Locked,
    /// Cancel refused: the job is finished or past its point of no return.
    CancelRefused,
    /// What a plan read has moved since (a revision, a gate's pass/fail):
    /// ask for a new plan.
    PlanStale,
    /// A safety gate failed: nothing was done (the body names the gate).
    GateFailed,
    /// A stored config document does not decode: it must be repaired at
    /// its source.
    ConfigDecode,
    /// A change freeze is on (the `freeze` flag): only config changes run.
    Frozen,
    /// The Docker Engine (Swarm) could not be reached or refused the call.
    SwarmUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MalformedJson => "malformed_json",
            Self::BadRequest => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::Network => "network",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::CrossSite => "cross_site",
            Self::TenantRequired => "tenant_required",
            Self::BadTenantId => "bad_tenant_id",
            Self::TenantMismatch => "tenant_mismatch",
            Self::Conflict => "conflict",
            Self::Upstream => "upstream",
            Self::RateLimited => "rate_limited",
            Self::IdempotencyKeyRequired => "idempotency_key_required",
            Self::BadIdempotencyKey => "bad_idempotency_key",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyInFlight => "idempotency_in_flight",
            Self::Locked => "locked",
            Self::CancelRefused => "cancel_refused",
            Self::PlanStale => "plan_stale",
            Self::GateFailed => "gate_failed",
            Self::ConfigDecode => "config_decode",
            Self::Frozen => "frozen",
            Self::SwarmUnavailable => "swarm_unavailable",
        }
    }

    /// The HTTP status that goes with each code (one mapping, used by the
    /// server for REST and for server functions alike).
    pub fn http_status(self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MalformedJson
            | Self::BadRequest
            | Self::TenantRequired
            | Self::BadTenantId
            | Self::TenantMismatch
            | Self::IdempotencyKeyRequired
            | Self::BadIdempotencyKey => 400,
            Self::IdempotencyKeyReused => 422,
            Self::IdempotencyInFlight
            | Self::Locked
            | Self::CancelRefused
            | Self::PlanStale
            | Self::GateFailed
            | Self::Frozen => 409,
            Self::ConfigDecode | Self::SwarmUnavailable => 503,
            Self::Unauthenticated => 401,
            Self::Forbidden | Self::CrossSite => 403,
            Self::Conflict => 409,
            Self::RateLimited => 429,
            Self::Upstream => 502,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::MethodNotAllowed => 405,
            Self::Timeout => 504,
            Self::Unavailable => 503,
            Self::Internal | Self::Network => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            request_id: None,
        }
    }
}

/// The safe part of a serde error message for a client: what is allowed,
/// never the value that was sent. serde's messages quote the input
/// (`unknown variant `<input>`, expected one of …`, `invalid type: string
/// "<input>", expected u32`), so only the text from `expected` on is kept;
/// a message without it is replaced by a generic one.
pub fn safe_serde_detail(message: &str) -> String {
    // serde_json appends ` at line 1 column 7`: position, not content.
    let message = message.split(" at line ").next().unwrap_or(message);
    if let Some(i) = message.find("expected ") {
        return message[i..].chars().take(200).collect();
    }
    // `missing field `x`` names one of our own fields, not input.
    if message.starts_with("missing field ") {
        return message.chars().take(200).collect();
    }
    "not an allowed value".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_stable_strings() {
        for code in [
            ErrorCode::NotFound,
            ErrorCode::MalformedJson,
            ErrorCode::BadRequest,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Timeout,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
            ErrorCode::Network,
            ErrorCode::Unauthenticated,
            ErrorCode::Forbidden,
            ErrorCode::CrossSite,
            ErrorCode::TenantRequired,
            ErrorCode::BadTenantId,
            ErrorCode::TenantMismatch,
            ErrorCode::Conflict,
            ErrorCode::Upstream,
            ErrorCode::RateLimited,
            ErrorCode::IdempotencyKeyRequired,
            ErrorCode::BadIdempotencyKey,
            ErrorCode::IdempotencyKeyReused,
            ErrorCode::IdempotencyInFlight,
            ErrorCode::Locked,
            ErrorCode::CancelRefused,
            ErrorCode::PlanStale,
            ErrorCode::GateFailed,
            ErrorCode::ConfigDecode,
            ErrorCode::Frozen,
            ErrorCode::SwarmUnavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!(code.http_status() >= 400);
        }
    }

    #[test]
    fn serde_details_never_quote_the_input() {
        let canary = "c4n4ry";
        for m in [
            format!("unknown variant `{canary}`, expected one of `a`, `b`"),
            format!("invalid type: string \"{canary}\", expected u32 at line 1 column 9"),
            format!("unknown field `{canary}`, expected `q` or `page`"),
            format!("{canary} is weird"),
            "invalid digit found in string".to_owned(),
        ] {
            let d = safe_serde_detail(&m);
            assert!(!d.contains(canary), "{d}");
            assert!(!d.is_empty());
        }
        assert_eq!(
            safe_serde_detail("unknown variant `x`, expected one of `a`, `b`"),
            "expected one of `a`, `b`"
        );
        assert_eq!(safe_serde_detail("missing field `q`"), "missing field `q`");
    }

    #[test]
    fn body_omits_missing_request_id() {
        let b = ErrorBody::new(ErrorCode::NotFound, "no such route");
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"code":"not_found","message":"no such route"}"#
        );
    }
}
