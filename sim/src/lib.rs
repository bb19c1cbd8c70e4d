//! Stand-ins for the platform's services (gateway, aggregate, projection,
//! runner) speaking the platform contract (docs/platform-contract.md),
//! including the Gateway's identity provider and IAM API. One process serves
//! many instances, one port each, with run-time fault knobs behind a control
//! API, so dev mode, end-to-end tests and benchmarks get a real HTTP fleet.

pub mod gateway;
pub mod instance;
mod metrics;
pub mod topology;

pub use gateway::{dev_roles, dev_users, DevUser, Iam, IamConfig, SharedSecret};
pub use instance::{Effect, Faults, Instance, InstanceInfo};
pub use topology::{Fleet, Topology};
