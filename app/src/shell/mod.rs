//! The app shell: the layout around every page, the nav built from the
//! domains' page lists, sign-in, search, the page frame and "not found".
//! Its server functions (`api`) are sign-in, sign-out and who-am-i.

pub mod api;
pub mod frame;
pub mod layout;
pub mod login;
pub mod nav;
pub mod not_found;
pub mod search;
mod upcoming;

// `api` (sign-in) names the rights check as `super::guard`.
#[cfg(feature = "ssr")]
use crate::support::guard;
