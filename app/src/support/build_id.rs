//! Whether this page's wasm and the server that rendered it come from the
//! same build (see app/build.rs). After a deploy a browser may still hold
//! the previous release's wasm, or a cache may serve it: hydration would
//! then fail silently and the page would look alive but do nothing, so the
//! wasm checks first and, on a mismatch, asks for a reload instead.

/// This build's id, the same in the server and the wasm of one build.
pub const BUILD_ID: &str = env!("CONTROL_BUILD_ID");

/// The `<meta name>` the server renders the id into.
pub const META_NAME: &str = "control-build";

/// Whether a page rendered with `served` (its meta tag, if any) is out of
/// date for the code running it.
pub fn is_stale(served: Option<&str>, ours: &str) -> bool {
    served.map(str::trim) != Some(ours)
}

/// Checks the document against this wasm; on a mismatch shows the reload
/// banner and answers false (do not hydrate).
#[cfg(feature = "hydrate")]
pub fn check_document() -> bool {
    use wasm_bindgen::JsCast;
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return true;
    };
    let served = doc
        .query_selector(&format!("meta[name='{META_NAME}']"))
        .ok()
        .flatten()
        .and_then(|m| m.get_attribute("content"));
    if !is_stale(served.as_deref(), BUILD_ID) {
        return true;
    }
    // Plain DOM: the app did not start, so no Leptos view is mounted.
    let banner = (|| {
        let div = doc.create_element("div").ok()?;
        div.set_class_name("stale-banner");
        div.set_attribute("role", "alert").ok()?;
        div.set_attribute("data-testid", "stale-banner").ok()?;
        let text = doc.create_element("span").ok()?;
        text.set_text_content(Some("This page is out of date — reload"));
        let button = doc.create_element("button").ok()?;
        button.set_attribute("type", "button").ok()?;
        button.set_class_name("btn btn-primary");
        button.set_text_content(Some("Reload"));
        let reload = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(|| {
            if let Some(w) = web_sys::window() {
                let _ = w.location().reload();
            }
        });
        button
            .add_event_listener_with_callback("click", reload.as_ref().unchecked_ref())
            .ok()?;
        // The listener lives as long as the page.
        reload.forget();
        div.append_child(&text).ok()?;
        div.append_child(&button).ok()?;
        let body = doc.body()?;
        body.prepend_with_node_1(&div).ok()?;
        body.set_attribute("data-stale", "true").ok()
    })();
    banner.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_from_another_build_is_stale() {
        assert!(!is_stale(Some("0.1.0-abc"), "0.1.0-abc"));
        assert!(!is_stale(Some(" 0.1.0-abc\n"), "0.1.0-abc"));
        assert!(is_stale(Some("0.1.0-old"), "0.1.0-abc"));
        assert!(is_stale(Some(""), "0.1.0-abc"));
        assert!(
            is_stale(None, "0.1.0-abc"),
            "a page without the tag is not ours"
        );
    }

    #[test]
    fn the_build_id_is_set() {
        assert!(!BUILD_ID.is_empty());
    }
}
