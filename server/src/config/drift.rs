//! `[drift]`: the desired state drift compares Swarm with (docs/drift.md).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    /// The desired stacks, `name=path` separated by commas: each stack file
    /// is what `docker stack deploy -c <path> <name>` deployed. Read on
    /// every report, so an edit shows at once.
    pub stacks: String,
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self {
            stacks: "cloudlysis=swarm/platform.yml".into(),
        }
    }
}

impl DriftConfig {
    /// The stacks, or the key and why it is refused.
    pub fn stack_list(&self) -> Result<Vec<engine::drift::StackSource>, (&'static str, String)> {
        let mut out: Vec<engine::drift::StackSource> = Vec::new();
        for part in self
            .stacks
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let Some((name, path)) = part.split_once('=') else {
                return Err(("drift.stacks", format!("{part:?} is not name=path")));
            };
            let (name, path) = (name.trim(), path.trim());
            let valid = !name.is_empty()
                && name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid || path.is_empty() {
                return Err((
                    "drift.stacks",
                    format!(
                        "{part:?}: a stack name is [a-zA-Z0-9_-]{{1,63}} and a path is not empty"
                    ),
                ));
            }
            if out.iter().any(|s| s.name == name) {
                return Err(("drift.stacks", format!("stack {name} is named twice")));
            }
            out.push(engine::drift::StackSource {
                name: name.to_owned(),
                path: path.into(),
            });
        }
        Ok(out)
    }
}
