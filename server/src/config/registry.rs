//! `[config]`: the config registry (docs/config.md).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// With `fleet.source = "file"`: the folder of the documents that are
    /// not routing or placement (`<dir>/<domain>/<scope>/<name>.json`);
    /// unset, the folder two above `fleet.placement_file` (`config/`).
    pub dir: Option<PathBuf>,
    /// How many tenants besides the moved ones an apply of routing or
    /// placement asks the gateways to resolve, to verify the change.
    pub verify_sample: u64,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            dir: None,
            verify_sample: 20,
        }
    }
}

impl RegistryConfig {
    pub fn dir_for(&self, placement_file: &std::path::Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| {
            placement_file
                .parent()
                .and_then(|p| p.parent())
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| PathBuf::from("config"))
        })
    }
}
