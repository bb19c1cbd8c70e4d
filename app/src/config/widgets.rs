//! Pieces the config pages share: the line diff, the digest chip, the pin
//! badge, a document's source.

use crate::ui::{copy_to_clipboard, use_toasts, Badge, Tone};
use leptos::prelude::*;
use model::config::{DiffLine, Pin};
use model::views::DocSource;

/// A line diff as a unified diff: old and new line numbers, `+`/`−` with
/// insert/delete highlighting, and a separator row for each run of
/// unchanged lines left out.
#[component]
pub fn DiffView(lines: Vec<DiffLine>, testid: &'static str) -> impl IntoView {
    if lines.iter().all(|l| l.tag == "equal" || l.tag == "gap") {
        return view! { <p class="muted" data-testid=testid data-empty="true">"No difference."</p> }
            .into_any();
    }
    let rows = lines
        .into_iter()
        .map(|l| {
            if l.tag == "gap" {
                let text = if l.text.trim().is_empty() {
                    "⋯ unchanged lines".to_owned()
                } else {
                    l.text
                };
                return view! { <tr class="diff-gap" data-tag="gap"><td colspan="4">{text}</td></tr> }
                    .into_any();
            }
            let (sign, said) = match l.tag.as_str() {
                "insert" => ("+", "added: "),
                "delete" => ("−", "removed: "),
                _ => (" ", ""),
            };
            let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
            view! {
                <tr class=format!("diff-line diff-{}", l.tag) data-tag=l.tag.clone()>
                    <td class="diff-ln">{num(l.old)}</td>
                    <td class="diff-ln">{num(l.new)}</td>
                    <td class="diff-sign" aria-hidden="true">{sign}</td>
                    <td class="diff-text"><span class="visually-hidden">{said}</span><code>{l.text}</code></td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <div class="table-wrap diff-wrap" tabindex="0" role="region" aria-label="Line diff">
            <table class="diff" data-testid=testid>
                <thead class="visually-hidden"><tr><th scope="col">"Old line"</th><th scope="col">"New line"</th><th scope="col">"Change"</th><th scope="col">"Text"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A SHA-256 shown short, copied whole.
#[component]
pub fn ShaChip(#[prop(into)] sha: String) -> impl IntoView {
    let toasts = use_toasts();
    let short: String = sha.chars().take(12).collect();
    let full = sha.clone();
    view! {
        <span class="id-chip" data-kind="sha256" data-sha=sha.clone()>
            <span class="id-kind">"sha256"</span>
            <code class="id-value" title=sha.clone()>{short}</code>
            <button
                type="button"
                class="id-copy"
                aria-label="Copy sha256"
                on:click=move |_| {
                    copy_to_clipboard(&full);
                    toasts.info("Copied sha256", None);
                }
            >
                "Copy"
            </button>
        </span>
    }
    .into_any()
}

/// `pinned` with who pinned it and why on hover.
#[component]
pub fn PinBadge(pin: Pin) -> impl IntoView {
    let title = format!(
        "pinned by {} after a rollback to revision {}: {}",
        pin.by, pin.revision, pin.reason
    );
    view! { <span title=title data-testid="pinned-badge"><Badge tone=Tone::Warn>"pinned"</Badge></span> }.into_any()
}

/// Where a document is stored: backend and location.
pub fn source_text(s: &DocSource) -> String {
    format!("{} {}", s.backend, s.location)
}
