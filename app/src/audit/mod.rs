//! The Audit Log: every privileged action and denied attempt, with
//! verification and export.

pub mod api;
mod log;

use model::rights::Right;

crate::support::lazy::pages! {
    page "/audit" => lazy AuditRoute(log::AuditPage) {
        title: "Audit Log",
        section: Investigate,
        purpose: "Every privileged action and denied attempt: who, what, why, outcome and ids, with hash-chain verification and export.",
        right: Some(Right::AuditRead),
    },
}
