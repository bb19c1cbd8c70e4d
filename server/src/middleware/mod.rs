//! Request middleware: ids, per-request log line and metrics, security headers.

pub mod ids;
pub mod observe;
pub mod security;
