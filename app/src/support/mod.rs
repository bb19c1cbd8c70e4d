//! Plumbing every domain uses: the server-function client and the ids it
//! propagates, the live feed, DOM helpers, lazy routes, formatting, and (on
//! the server) the rights check every server function starts with.

pub mod build_id;
pub mod client;
pub mod clock;
#[cfg(feature = "hydrate")]
pub(crate) mod dom;
pub mod flow;
pub mod format;
#[cfg(feature = "ssr")]
pub(crate) mod guard;
pub(crate) mod lazy;
pub mod live;
pub mod url;
