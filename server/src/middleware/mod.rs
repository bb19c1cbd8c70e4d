//! Request middleware: ids, per-request log line and metrics, security headers,
//! static assets with compression and caching.

pub mod assets;
pub mod authz;
pub mod ids;
pub mod login;
pub mod observe;
pub mod security;
