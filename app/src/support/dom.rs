//! Browser-only DOM helpers (focus management for dialogs).

use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, KeyboardEvent};

const FOCUSABLE: &str =
    "button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

fn focusables(container: &Element) -> Vec<HtmlElement> {
    let Ok(list) = container.query_selector_all(FOCUSABLE) else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<HtmlElement>().ok())
        .collect()
}

pub fn active_element() -> Option<HtmlElement> {
    web_sys::window()?
        .document()?
        .active_element()?
        .dyn_into::<HtmlElement>()
        .ok()
}

pub fn focus_first(container: &Element) {
    if let Some(first) = focusables(container).first() {
        let _ = first.focus();
    }
}

/// Keeps Tab / Shift+Tab cycling inside `container`.
pub fn trap_tab(container: &Element, ev: &KeyboardEvent) {
    let items = focusables(container);
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        ev.prevent_default();
        return;
    };
    let active = active_element();
    let at = |e: &HtmlElement| active.as_ref().is_some_and(|a| a == e);
    let inside = active.as_ref().is_some_and(|a| container.contains(Some(a)));
    if ev.shift_key() && (at(first) || !inside) {
        ev.prevent_default();
        let _ = last.focus();
    } else if !ev.shift_key() && (at(last) || !inside) {
        ev.prevent_default();
        let _ = first.focus();
    }
}

/// Arrow keys move focus between the links of a navigation list.
pub fn move_focus(container: &Element, ev: &KeyboardEvent) {
    let delta: isize = match ev.key().as_str() {
        "ArrowDown" => 1,
        "ArrowUp" => -1,
        _ => return,
    };
    let Ok(list) = container.query_selector_all("a[href]") else {
        return;
    };
    let links: Vec<HtmlElement> = (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<HtmlElement>().ok())
        .collect();
    if links.is_empty() {
        return;
    }
    let active = active_element();
    let pos = links.iter().position(|l| active.as_ref() == Some(l));
    let n = links.len() as isize;
    let next = match pos {
        Some(p) => (p as isize + delta).rem_euclid(n),
        None => 0,
    } as usize;
    ev.prevent_default();
    let _ = links[next].focus();
}

pub fn set_theme(theme: &str) {
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = if theme == "system" {
            root.remove_attribute("data-theme")
        } else {
            root.set_attribute("data-theme", theme)
        };
    }
}

pub fn storage_get(key: &str) -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(key)
        .ok()?
}

pub fn storage_set(key: &str, value: &str) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item(key, value);
    }
}

/// Full navigation to the login page, coming back to this page after.
pub fn go_to_login() {
    let Some(loc) = web_sys::window().map(|w| w.location()) else {
        return;
    };
    let here = format!(
        "{}{}",
        loc.pathname().unwrap_or_default(),
        loc.search().unwrap_or_default()
    );
    if here.starts_with("/login") {
        return;
    }
    let next: String = js_sys::encode_uri_component(&here).into();
    let _ = loc.assign(&format!("/login?next={next}"));
}
