//! The frame of a page inside the layout: title, breadcrumbs, heading; and
//! the honest empty state of a page that is not connected yet.

use crate::shell::nav::{page, PageInfo};
use crate::ui::Breadcrumbs;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn PageFrame(info: &'static PageInfo, children: Children) -> impl IntoView {
    let mut crumbs = vec![("Control".to_owned(), Some("/".to_owned()))];
    if info.path != "/" {
        crumbs.push((info.section.label().to_owned(), None));
    }
    crumbs.push((info.title.to_owned(), None));
    crate::mark_hydrated();
    view! {
        <Title text=info.title />
        <Breadcrumbs items=crumbs />
        <h1>{info.title}</h1>
        {children()}
    }
}

#[component]
fn EmptyState(info: &'static PageInfo) -> impl IntoView {
    view! {
        <section class="empty-state" aria-labelledby="empty-title">
            <h2 id="empty-title">"Nothing to show yet"</h2>
            <p>"This page will show: " {info.purpose}</p>
            <p class="muted">"It is not connected to the platform in this build, so it shows no data rather than invented data."</p>
        </section>
    }
}

/// A page whose capability is not built yet: title, breadcrumbs, and an
/// honest empty state.
pub fn placeholder(path: &'static str) -> impl IntoView {
    let info = page(path).expect("every routed placeholder is a nav page");
    view! {
        <PageFrame info=info>
            <EmptyState info=info />
        </PageFrame>
    }
}
