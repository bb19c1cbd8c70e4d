//! Everything that does work on the server, independent of HTTP and Leptos.

pub mod action;
pub mod audit;
pub mod config;
pub mod drift;
pub mod error;
pub mod fleet;
pub mod gates;
pub mod gateway;
pub mod iam;
pub mod identity;
pub mod jobs;
pub mod moves;
pub mod readiness;
pub mod services;
pub mod status;
pub mod store;
pub mod swarm;
pub mod telemetry;
pub mod token;

pub use services::Services;
pub use status::{ControlPlane, RunMode};
