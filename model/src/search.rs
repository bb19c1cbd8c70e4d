//! Recognising what an operator pasted into the global search box.

use crate::ids::{CorrelationId, JobId, RequestId, TraceId, TraceParent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum SearchQuery {
    Request(RequestId),
    Correlation(CorrelationId),
    Trace(TraceId),
    Job(JobId),
    /// A well-formed id from another service without one of our prefixes:
    /// it may be a request id or a correlation id, so both are searched.
    RequestOrCorrelation(RequestId),
}

impl SearchQuery {
    pub fn kind_label(&self) -> &'static str {
        match self {
            Self::Request(_) => "request id",
            Self::Correlation(_) => "correlation id",
            Self::Trace(_) => "trace id",
            Self::Job(_) => "job id",
            Self::RequestOrCorrelation(_) => "request or correlation id",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Request(i) | Self::RequestOrCorrelation(i) => i.as_str(),
            Self::Correlation(i) => i.as_str(),
            Self::Trace(i) => i.as_str(),
            Self::Job(i) => i.as_str(),
        }
    }

    /// The URL query value (`kind`) that identifies this kind on the search page.
    pub fn kind_param(&self) -> &'static str {
        match self {
            Self::Request(_) => "request",
            Self::Correlation(_) => "correlation",
            Self::Trace(_) => "trace",
            Self::Job(_) => "job",
            Self::RequestOrCorrelation(_) => "request_or_correlation",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("Enter a request id, correlation id, trace id or job id.")]
    Empty,
    #[error(
        "Not an id: use letters, digits and . _ : - (at most 64 characters), or a 32-hex trace id."
    )]
    Unrecognised,
    #[error(
        "Looks like a job id, but a job id is `job_` followed by 32 lowercase hex characters."
    )]
    MalformedJobId,
}

/// Classifies a pasted value. A whole `traceparent` is accepted too and
/// yields its trace id, since that is what operators often copy.
pub fn recognise(input: &str) -> Result<SearchQuery, SearchError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(SearchError::Empty);
    }
    if let Ok(t) = TraceId::parse(&s.to_ascii_lowercase()) {
        return Ok(SearchQuery::Trace(t));
    }
    if let Ok(tp) = TraceParent::parse(s) {
        return Ok(SearchQuery::Trace(tp.trace_id));
    }
    if s.starts_with("job_") {
        return JobId::parse(s)
            .map(SearchQuery::Job)
            .map_err(|_| SearchError::MalformedJobId);
    }
    if s.starts_with("req_") {
        if let Ok(r) = RequestId::parse(s) {
            return Ok(SearchQuery::Request(r));
        }
    }
    if s.starts_with("cor_") {
        if let Ok(c) = CorrelationId::parse(s) {
            return Ok(SearchQuery::Correlation(c));
        }
    }
    RequestId::parse(s)
        .map(SearchQuery::RequestOrCorrelation)
        .map_err(|_| SearchError::Unrecognised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_kind() {
        let req = format!("req_{}", "a".repeat(32));
        assert_eq!(recognise(&req).unwrap().kind_label(), "request id");
        let cor = format!("cor_{}", "b".repeat(32));
        assert_eq!(recognise(&cor).unwrap().kind_label(), "correlation id");
        let job = format!("job_{}", "c".repeat(32));
        assert_eq!(recognise(&job).unwrap().kind_label(), "job id");
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            recognise(trace).unwrap(),
            SearchQuery::Trace(TraceId::parse(trace).unwrap())
        );
        assert_eq!(
            recognise("4BF92F3577B34DA6A3CE929D0E0E4736")
                .unwrap()
                .kind_label(),
            "trace id"
        );
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(recognise(tp).unwrap().id(), trace);
        assert_eq!(
            recognise("  3f2c0a9e-1b1a-4c1e-9d7e-0a1b2c3d4e5f ")
                .unwrap()
                .kind_label(),
            "request or correlation id"
        );
    }

    #[test]
    fn rejects_what_is_not_an_id() {
        assert_eq!(recognise("   "), Err(SearchError::Empty));
        assert_eq!(recognise("hello world"), Err(SearchError::Unrecognised));
        assert_eq!(recognise("<script>"), Err(SearchError::Unrecognised));
        assert_eq!(recognise("job_123"), Err(SearchError::MalformedJobId));
        assert_eq!(recognise(&"x".repeat(65)), Err(SearchError::Unrecognised));
    }
}
