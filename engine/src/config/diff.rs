//! Two documents compared: RFC 6902 operations (json-patch) and a line
//! diff (similar) of their pretty canonical forms, unchanged runs cut to
//! three lines of context.

use model::config::{ConfigDiff, DiffLine};
use serde_json::Value;

/// Pretty JSON with sorted keys (serde_json's map is sorted here; the
/// canonical string is re-parsed to be sure of it).
fn pretty(v: &Value) -> String {
    let canonical: Value =
        serde_json::from_str(&model::config::canonical_json(v)).unwrap_or(Value::Null);
    serde_json::to_string_pretty(&canonical).unwrap_or_default() + "\n"
}

pub fn diff(from: &Value, to: &Value) -> ConfigDiff {
    let patch = json_patch::diff(from, to);
    let patch: Vec<Value> = serde_json::to_value(&patch)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let (a, b) = (pretty(from), pretty(to));
    let text = similar::TextDiff::from_lines(&a, &b);
    let mut lines = Vec::new();
    let (mut added, mut removed) = (0u32, 0u32);
    for (g, group) in text.grouped_ops(3).iter().enumerate() {
        if g > 0 {
            lines.push(DiffLine {
                tag: "gap".into(),
                old: None,
                new: None,
                text: String::new(),
            });
        }
        for op in group {
            for change in text.iter_changes(op) {
                let tag = match change.tag() {
                    similar::ChangeTag::Equal => "equal",
                    similar::ChangeTag::Insert => {
                        added += 1;
                        "insert"
                    }
                    similar::ChangeTag::Delete => {
                        removed += 1;
                        "delete"
                    }
                };
                lines.push(DiffLine {
                    tag: tag.into(),
                    old: change.old_index().map(|i| i as u32 + 1),
                    new: change.new_index().map(|i| i as u32 + 1),
                    text: change.value().trim_end_matches('\n').to_owned(),
                });
            }
        }
    }
    ConfigDiff {
        from_sha256: model::config::sha256(from),
        to_sha256: model::config::sha256(to),
        patch,
        lines,
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_and_a_line_diff() {
        let a = json!({"tenants": {"acme": "a-1", "beta": "a-1"}});
        let b = json!({"tenants": {"acme": "a-2", "beta": "a-1"}});
        let d = diff(&a, &b);
        assert_eq!(
            d.patch,
            vec![json!({"op": "replace", "path": "/tenants/acme", "value": "a-2"})]
        );
        assert_eq!((d.added, d.removed), (1, 1));
        let del = d.lines.iter().find(|l| l.tag == "delete").unwrap();
        assert_eq!(del.text.trim(), "\"acme\": \"a-1\",");
        let same = diff(&a, &a);
        assert!(same.patch.is_empty() && same.lines.is_empty());
        assert_eq!(same.from_sha256, same.to_sha256);
    }
}
