//! Server functions (the BFF), one file per domain.

pub mod fleet;
pub mod status;
