//! Config: the registry's documents (the list; one document with its pin,
//! history, diffs and editor) and the runner definitions with where each
//! is active. Every change is a `config.apply` or `config.rollback` job:
//! planned first (diff, impact, gates, steps), confirmed with a reason,
//! then followed on the job's live page.
//!
//! One document is shown on the Config page itself (`/config?doc=<domain>/<name>`,
//! `&scope=` when not `platform`), so it needs no page route of its own.

pub mod api;
mod definitions;
mod document;
mod editor;
mod launch;
mod list;
mod widgets;

use crate::support::format::encode;
use model::config::Scope;
use model::rights::Right;

crate::support::lazy::pages! {
    page "/config" => lazy ConfigRoute(list::ConfigPage) {
        title: "Config",
        section: Change,
        purpose: "Versioned configuration domains (routing, placement, feature flags) with validate, plan, apply and rollback.",
        right: Some(Right::ConfigRead),
    },
    page "/definitions" => lazy DefinitionsRoute(definitions::DefinitionsPage) {
        title: "Definitions",
        section: Change,
        purpose: "Runner definitions (effects and sagas) and their activation state.",
        right: Some(Right::ConfigRead),
    },
}

/// A document as the pages name it: `scope` `None` is `platform`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocRef {
    pub domain: String,
    pub name: String,
    pub scope: Option<String>,
}

impl DocRef {
    pub fn new(domain: &str, name: &str, scope: &Scope) -> Self {
        Self {
            domain: domain.to_owned(),
            name: name.to_owned(),
            scope: (*scope != Scope::Platform).then(|| scope.to_string()),
        }
    }

    /// From the page's `doc` (`<domain>/<name>`) and `scope` parameters.
    pub fn from_query(doc: &str, scope: Option<String>) -> Option<Self> {
        let (domain, name) = doc.split_once('/')?;
        let (domain, name) = (domain.trim(), name.trim());
        if domain.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            domain: domain.to_owned(),
            name: name.to_owned(),
            scope: scope
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s != "platform"),
        })
    }

    pub fn scope_text(&self) -> &str {
        self.scope.as_deref().unwrap_or("platform")
    }

    /// `domain/name@scope`, as the engine names a document.
    pub fn label(&self) -> String {
        format!("{}/{}@{}", self.domain, self.name, self.scope_text())
    }

    /// The document's view on the Config page.
    pub fn href(&self) -> String {
        let mut h = format!(
            "/config?doc={}/{}",
            encode(&self.domain),
            encode(&self.name)
        );
        if let Some(s) = &self.scope {
            h.push_str("&scope=");
            h.push_str(&encode(s));
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_links_round_trip_and_platform_is_implied() {
        let d = DocRef::new(
            "placement",
            "placement",
            &Scope::parse("kind:aggregate").unwrap(),
        );
        assert_eq!(
            d.href(),
            "/config?doc=placement/placement&scope=kind%3Aaggregate"
        );
        assert_eq!(
            DocRef::from_query("placement/placement", Some("kind:aggregate".into())),
            Some(d)
        );
        let p = DocRef::new("flags", "control", &Scope::Platform);
        assert_eq!(p.href(), "/config?doc=flags/control");
        assert_eq!(p.label(), "flags/control@platform");
        assert_eq!(
            DocRef::from_query("flags/control", Some("platform".into())),
            Some(p)
        );
        for bad in ["", "flags", "/control", "flags/"] {
            assert_eq!(DocRef::from_query(bad, None), None, "{bad:?}");
        }
    }
}
