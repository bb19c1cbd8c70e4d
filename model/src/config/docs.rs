//! The typed documents of the domains that are not the fleet's (routing
//! and placement are `crate::fleet`'s, the thresholds `crate::gates`').

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The control plane's feature flags. Every flag is named here with its
/// type: an unknown name or a wrong type is refused, never ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Flags {
    /// A notice every page shows (a maintenance window, an incident).
    pub banner: Option<String>,
    /// A change freeze: jobs other than config changes are refused
    /// (409 `frozen`) until it is lifted.
    pub freeze: bool,
}

/// The flags by name with their JSON type, for the validator's messages
/// and the docs.
pub const FLAGS: [(&str, &str); 2] = [("banner", "string or null"), ("freeze", "boolean")];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DefinitionKind {
    /// Runs once per matching event.
    Effect,
    /// A long-running process over several events.
    Saga,
}

/// A runner definition: what it reacts to and what it runs. The runner
/// interprets `spec`; the registry keeps it versioned and says where it is
/// active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub kind: DefinitionKind,
    /// Bumped by the author on every change of behaviour.
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub version: u32,
    #[serde(default)]
    pub description: String,
    /// The event types it handles (`order.placed`).
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub triggers: Vec<String>,
    #[serde(default)]
    pub spec: BTreeMap<String, serde_json::Value>,
}

/// Which definitions are active where: the platform document applies to
/// every tenant, the `kind:runner` one to every runner, a tenant's own to
/// that tenant (the union of the three).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Activation {
    /// Definition names, each once.
    #[serde(default)]
    pub active: Vec<String>,
}
