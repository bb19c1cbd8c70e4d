//! HTTP routes, one file per area. Handlers parse, call the engine and map
//! errors; no rule lives here.

pub mod admin;
pub mod audit;
pub mod fleet;
pub mod iam;
pub mod probes;
