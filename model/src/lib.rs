//! Typed models shared by the server and the browser: ids, error bodies,
//! search recognition. Pure data and pure validation; no I/O.

pub mod audit;
pub mod config;
pub mod deploy;
pub mod drift;
pub mod error;
pub mod fleet;
pub mod gates;
pub mod iam;
pub mod ids;
pub mod jobs;
pub mod moves;
pub mod policy;
pub mod rights;
pub mod search;
pub mod status;
pub mod views;

pub use error::{ErrorBody, ErrorCode};
pub use ids::{CorrelationId, IdError, JobId, RequestId, SpanId, TraceId, TraceParent};
pub use status::{BuildInfo, CheckStatus, ReadyReport, ServerStatus};
