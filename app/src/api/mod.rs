//! Server functions (the BFF), one file per domain. Each starts with
//! `guard::guard(<its PATH>)`, which checks the policy table.

pub mod audit;
pub mod auth;
pub mod fleet;
#[cfg(feature = "ssr")]
pub(crate) mod guard;
pub mod iam;
pub mod status;
