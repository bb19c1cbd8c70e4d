//! `[grafana]`: where deploy markers go (docs/deployments.md).

use super::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrafanaConfig {
    /// `https://grafana:3000`; with `token`, every deploy event becomes an
    /// annotation.
    pub url: Option<String>,
    /// A service-account token with the annotations:write permission (use
    /// `CONTROL_GRAFANA_TOKEN_FILE`).
    pub token: Option<Secret>,
    /// Annotate this dashboard only; unset, organisation annotations found
    /// on every dashboard by their tags.
    pub dashboard_uid: Option<String>,
}
