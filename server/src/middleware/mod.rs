//! Request middleware: ids, per-request log line and metrics, security headers.

pub mod authz;
pub mod ids;
pub mod login;
pub mod observe;
pub mod security;
