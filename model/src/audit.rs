//! Audit events as stored, listed and exported, and the verifier's verdict.
//! The chain itself (hashing, anchoring, verification) is `engine::audit`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    Denied,
    /// The action started but its runner never reported back (a crash, or
    /// an answer lost): whether its effect happened is unknown. Written by
    /// intent recovery (`engine::action`), never by a runner.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Denied => "denied",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// Every outcome, in the order the UI lists them.
    pub const ALL: [Outcome; 4] = [
        Outcome::Succeeded,
        Outcome::Failed,
        Outcome::Denied,
        Outcome::Interrupted,
    ];

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// What happened, by whom, why, with which result and ids. No secrets:
/// before/after are digests, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    pub time_ms: u64,
    pub principal_sub: String,
    pub principal_session: String,
    pub action: String,
    pub target: String,
    pub tenant: Option<String>,
    pub reason: Option<String>,
    pub outcome: Outcome,
    pub request_id: String,
    pub correlation_id: String,
    pub trace_id: String,
    pub before_digest: Option<String>,
    pub after_digest: Option<String>,
    /// The durable intent this event completes (`engine::action`); absent
    /// on events of refused requests, which have no intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<String>,
    /// Carried for jobs (not set yet): the client's idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Carried for jobs (not set yet): the job this action belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Why a request was refused when the outcome alone does not say (the
    /// failing gate with its observed value and threshold). Never secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A record as stored: its place in the chain and the chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub seq: u64,
    #[serde(flatten)]
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verdict {
    Intact {
        events: u64,
    },
    /// The event at `seq` does not match its hash (edited), or its link to
    /// the previous event is broken (an event before it was deleted or the
    /// order changed).
    Broken {
        seq: u64,
        problem: String,
    },
    /// The log ends before the anchored head: events were cut off the end.
    Truncated {
        last_seq: u64,
        anchored_seq: u64,
    },
}

pub const MAX_AUDIT_PAGE_SIZE: usize = 200;

/// Filters for `GET /admin/v1/audit` and the Audit Log page. Text filters
/// match exactly except `action`, which also matches a prefix ending in `.`
/// (`iam.` finds every IAM action); `id` matches the request, correlation or
/// trace id, the session, or the target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub tenant: Option<String>,
    #[cfg_attr(feature = "openapi", param(inline))]
    pub outcome: Option<Outcome>,
    /// Inclusive, ms since the Unix epoch.
    pub from_ms: Option<u64>,
    /// Exclusive.
    pub to_ms: Option<u64>,
    pub id: Option<String>,
    /// 1-based.
    pub page: Option<usize>,
    pub page_size: Option<usize>,
}

impl AuditQuery {
    pub fn page(&self) -> usize {
        self.page.unwrap_or(1).max(1)
    }

    pub fn page_size(&self) -> usize {
        self.page_size.unwrap_or(50).clamp(1, MAX_AUDIT_PAGE_SIZE)
    }

    /// Checks the parts a client can get wrong; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        if let (Some(f), Some(t)) = (self.from_ms, self.to_ms) {
            if f >= t {
                return Err("from_ms must be before to_ms".into());
            }
        }
        if self
            .page_size
            .is_some_and(|s| s == 0 || s > MAX_AUDIT_PAGE_SIZE)
        {
            return Err(format!("page_size must be 1..={MAX_AUDIT_PAGE_SIZE}"));
        }
        if self.page == Some(0) {
            return Err("page starts at 1".into());
        }
        for (name, v) in [
            ("principal", &self.principal),
            ("action", &self.action),
            ("tenant", &self.tenant),
            ("id", &self.id),
        ] {
            if v.as_ref().is_some_and(|s| s.len() > 200) {
                return Err(format!("{name} is longer than 200 characters"));
            }
        }
        Ok(())
    }

    fn text(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    pub fn matches(&self, e: &AuditEvent) -> bool {
        let r = &e.record;
        if let Some(p) = Self::text(&self.principal) {
            if r.principal_sub != p {
                return false;
            }
        }
        if let Some(a) = Self::text(&self.action) {
            let prefix = a.ends_with('.') && r.action.starts_with(a);
            if r.action != a && !prefix {
                return false;
            }
        }
        if let Some(t) = Self::text(&self.tenant) {
            if r.tenant.as_deref() != Some(t) {
                return false;
            }
        }
        if self.outcome.is_some_and(|o| o != r.outcome) {
            return false;
        }
        if self.from_ms.is_some_and(|f| r.time_ms < f) || self.to_ms.is_some_and(|t| r.time_ms >= t)
        {
            return false;
        }
        if let Some(id) = Self::text(&self.id) {
            let hit = [
                &r.request_id,
                &r.correlation_id,
                &r.trace_id,
                &r.principal_session,
                &r.target,
            ]
            .iter()
            .any(|v| v.as_str() == id)
                || r.job_id.as_deref() == Some(id)
                || r.idempotency_key.as_deref() == Some(id);
            if !hit {
                return false;
            }
        }
        true
    }
}

/// One page of audit events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Events matching the filters.
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, outcome: Outcome, t: u64) -> AuditEvent {
        AuditEvent {
            seq: 1,
            record: AuditRecord {
                time_ms: t,
                principal_sub: "u-admin".into(),
                principal_session: "s-1".into(),
                action: action.into(),
                target: "session/s-9".into(),
                tenant: Some("acme".into()),
                reason: Some("leaver".into()),
                outcome,
                request_id: "req_1".into(),
                correlation_id: "cor_1".into(),
                trace_id: "t1".into(),
                before_digest: None,
                after_digest: None,
                intent_id: None,
                idempotency_key: None,
                job_id: None,
                detail: None,
            },
            prev_hash: "genesis".into(),
            hash: "h".into(),
        }
    }

    #[test]
    fn filters_combine() {
        let e = event("iam.session.revoke", Outcome::Succeeded, 1_000);
        assert!(AuditQuery::default().matches(&e));
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q.matches(&e)
        };
        assert!(q(|q| q.action = Some("iam.".into())));
        assert!(q(|q| q.action = Some("iam.session.revoke".into())));
        assert!(!q(|q| q.action = Some("iam.session".into())));
        assert!(q(|q| q.principal = Some("u-admin".into())));
        assert!(!q(|q| q.principal = Some("u-viewer".into())));
        assert!(q(|q| q.outcome = Some(Outcome::Succeeded)));
        assert!(!q(|q| q.outcome = Some(Outcome::Denied)));
        assert!(q(|q| q.from_ms = Some(1_000)));
        assert!(!q(|q| q.to_ms = Some(1_000)));
        assert!(q(|q| q.id = Some("cor_1".into())));
        assert!(q(|q| q.id = Some("session/s-9".into())));
        assert!(!q(|q| q.id = Some("req_2".into())));
        assert!(q(|q| q.tenant = Some("acme".into())));
        assert!(q(|q| q.tenant = Some("  ".into())));
    }

    #[test]
    fn bad_queries_name_the_field() {
        let bad = AuditQuery {
            from_ms: Some(5),
            to_ms: Some(5),
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("from_ms"));
        let bad = AuditQuery {
            page_size: Some(1000),
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("page_size"));
        let bad = AuditQuery {
            id: Some("x".repeat(300)),
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("id"));
        assert!(AuditQuery::default().check().is_ok());
    }
}
