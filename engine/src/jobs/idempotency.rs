//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header-07): the
//! header's value, the scope of a key, the request fingerprint, and the
//! record a create claims (a KV `create`: the first writer wins).

use super::JobsError;
use model::ids::JobId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MAX_KEY_LEN: usize = 255;

/// The key as sent: a Structured Field string (`"8e03978e-…"`, the draft's
/// form), or, for clients that do not quote, a bare token of
/// `[A-Za-z0-9._~:/+=-]`. 1..=255 characters inside the quotes.
pub fn parse_key(header: Option<&str>) -> Result<String, JobsError> {
    let raw = header.ok_or(JobsError::IdempotencyKeyRequired)?.trim();
    let inner = if let Some(quoted) = raw.strip_prefix('"') {
        let body = quoted
            .strip_suffix('"')
            .ok_or(JobsError::BadIdempotencyKey)?;
        let mut out = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('"' | '\\')) => out.push(e),
                    _ => return Err(JobsError::BadIdempotencyKey),
                },
                '"' => return Err(JobsError::BadIdempotencyKey),
                ' '..='~' => out.push(c),
                _ => return Err(JobsError::BadIdempotencyKey),
            }
        }
        out
    } else {
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:/+=-".contains(&b))
        {
            return Err(JobsError::BadIdempotencyKey);
        }
        raw.to_owned()
    };
    if inner.trim().is_empty() || inner.len() > MAX_KEY_LEN {
        return Err(JobsError::BadIdempotencyKey);
    }
    Ok(inner)
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed, so no two part lists hash alike.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The record's key: a key is scoped to (principal, method, route, key).
pub fn scope_key(principal: &str, method: &str, route: &str, key: &str) -> String {
    sha256_hex(&[
        principal.as_bytes(),
        method.as_bytes(),
        route.as_bytes(),
        key.as_bytes(),
    ])
}

/// SHA-256 of the method, the route and the canonical JSON of the body
/// (keys sorted, no whitespace: `serde_json::Value` keeps maps sorted).
pub fn fingerprint(method: &str, route: &str, body: &serde_json::Value) -> String {
    let canonical = serde_json::to_string(body).unwrap_or_default();
    sha256_hex(&[method.as_bytes(), route.as_bytes(), canonical.as_bytes()])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Claimed; the job is being created.
    Creating,
    /// The job exists; a replay answers with `response`.
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub fingerprint: String,
    pub stage: Stage,
    pub job_id: JobId,
    pub since_ms: u64,
    /// The first answer's body (the job as created), replayed as is.
    #[serde(default)]
    pub response: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_field_strings_and_bare_tokens_are_accepted() {
        assert_eq!(
            parse_key(Some("\"8e03978e-40d5\"")).unwrap(),
            "8e03978e-40d5"
        );
        assert_eq!(parse_key(Some("\"a \\\"b\\\\\"")).unwrap(), "a \"b\\");
        assert_eq!(parse_key(Some("abc-123")).unwrap(), "abc-123");
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(matches!(
            parse_key(None),
            Err(JobsError::IdempotencyKeyRequired)
        ));
        for bad in [
            "\"unterminated",
            "\"\"",
            "\"   \"",
            "\"bad\\escape\"",
            "\"tab\there\"",
            "has space",
            "\"é\"",
            "",
        ] {
            assert!(
                matches!(parse_key(Some(bad)), Err(JobsError::BadIdempotencyKey)),
                "{bad:?}"
            );
        }
        let long = format!("\"{}\"", "k".repeat(256));
        assert!(parse_key(Some(&long)).is_err());
    }

    #[test]
    fn fingerprints_ignore_key_order_and_see_every_value() {
        let a = serde_json::json!({"reason": "x", "input": {"a": 1, "b": 2}});
        let b = serde_json::json!({"input": {"b": 2, "a": 1}, "reason": "x"});
        let c = serde_json::json!({"input": {"b": 2, "a": 1}, "reason": "y"});
        assert_eq!(fingerprint("POST", "/r", &a), fingerprint("POST", "/r", &b));
        assert_ne!(fingerprint("POST", "/r", &a), fingerprint("POST", "/r", &c));
        assert_ne!(fingerprint("POST", "/r", &a), fingerprint("POST", "/s", &a));
        assert_ne!(
            scope_key("a", "POST", "/r", "k"),
            scope_key("b", "POST", "/r", "k")
        );
    }
}
