//! Everything that does work on the server, independent of HTTP and Leptos.

pub mod action;
pub mod audit;
pub mod auth;
pub mod control;
pub mod error;
pub mod fleet;
pub mod gateway;
pub mod iam;
pub mod identity;
pub mod readiness;
pub mod store;

pub use control::{ControlPlane, RunMode};
