//! Tenant ids.

use super::{issue, FleetErrorCode, FleetIssue};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant id, by the Gateway's rule: 1-63 chars of `[a-z0-9-]`, starting
/// and ending with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, FleetIssue> {
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(issue(
                FleetErrorCode::BadTenantId,
                "tenant",
                // The value is not quoted: it is the caller's input.
                "not a tenant id: 1-63 of a-z 0-9 -, not starting or ending with -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

id_traits!(TenantId);
