//! `[audit]`: the audit chain's key.

use super::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The audit chain's HMAC key (use `CONTROL_AUDIT_HMAC_KEY_FILE`), at
    /// least 32 bytes. Required by `control serve`; `control dev` keeps a
    /// generated one in its data dir.
    pub hmac_key: Option<Secret>,
}
