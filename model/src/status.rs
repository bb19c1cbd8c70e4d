//! The control plane's own status: build identity and readiness.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuildInfo {
    pub service: String,
    pub version: String,
    pub git_sha: String,
}

/// One dependency's readiness, as reported by `GET /ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckStatus {
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadyReport {
    pub ready: bool,
    pub checks: Vec<CheckStatus>,
}

impl ReadyReport {
    pub fn from_checks(checks: Vec<CheckStatus>) -> Self {
        Self {
            ready: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}

/// What the Settings page and `GET /admin/v1/status` show about this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerStatus {
    pub build: BuildInfo,
    /// `dev` or `serve`.
    pub mode: String,
    pub store_backend: String,
    pub uptime_secs: u64,
    pub readiness: ReadyReport,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_ready_only_when_every_check_is() {
        let ok = CheckStatus {
            name: "a".into(),
            ok: true,
            reason: None,
            latency_ms: 1,
        };
        let bad = CheckStatus {
            name: "b".into(),
            ok: false,
            reason: Some("down".into()),
            latency_ms: 2,
        };
        assert!(ReadyReport::from_checks(vec![ok.clone()]).ready);
        assert!(!ReadyReport::from_checks(vec![ok, bad]).ready);
        assert!(ReadyReport::from_checks(vec![]).ready);
    }
}
