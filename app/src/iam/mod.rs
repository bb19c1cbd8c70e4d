//! Users, Sessions and Roles & Permissions: the Gateway's IAM as the
//! control plane proxies it. Changes ask for a reason (it lands in the
//! audit log) and are offered only to callers holding `control.iam.write`;
//! the server checks the right either way.

pub mod api;
mod roles;
mod sessions;
mod users;

use crate::shell::layout::Session;
use crate::support::format::encode;
use leptos::prelude::*;
use model::rights::{Right, WhoAmI};

crate::support::lazy::pages! {
    page "/users" => lazy UsersRoute(users::UsersPage) {
        title: "Users",
        section: Identity,
        purpose: "Gateway users and their roles, proxied from the Gateway's IAM.",
        right: Some(Right::IamRead),
    },
    page "/sessions" => lazy SessionsRoute(sessions::SessionsPage) {
        title: "Sessions",
        section: Identity,
        purpose: "Active Gateway sessions, with revoke.",
        right: Some(Right::IamRead),
    },
    page "/roles" => lazy RolesRoute(roles::RolesPage) {
        title: "Roles & Permissions",
        section: Identity,
        purpose: "Roles, the rights strings they grant, and their assignment to users.",
        right: Some(Right::IamRead),
    },
}

/// The signed-in caller, once known.
pub(crate) fn caller(session: Session) -> Option<WhoAmI> {
    session.0.get().and_then(Result::ok).flatten()
}

pub(crate) fn sessions_href(user: &str) -> String {
    format!("/sessions?user={}", encode(user))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sessions_links_encode_the_user() {
        assert_eq!(super::sessions_href("u ann"), "/sessions?user=u%20ann");
    }
}
