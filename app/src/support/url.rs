//! Page state in the URL: a page's filters, sort and page are query
//! parameters, so a filtered view is a link and survives reload. Each piece
//! is a signal the page binds as usual; it starts from the URL (also on the
//! server, so the first render is already the linked view), its changes go
//! into the URL (one history entry, no scroll), and back/forward bring it
//! along.

use crate::ui::{Sort, SortDir};
use leptos::prelude::*;
use leptos_router::hooks::query_signal_with_options;
use leptos_router::NavigateOptions;

/// How a piece of state reads from and writes to its query parameter. The
/// default value is left out of the URL.
struct Codec<T> {
    parse: fn(&str) -> Option<T>,
    show: fn(&T) -> String,
}

fn url_state<T>(key: &'static str, default: T, codec: Codec<T>) -> RwSignal<T>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    let options = NavigateOptions {
        scroll: false,
        ..Default::default()
    };
    let (param, set_param) = query_signal_with_options::<String>(key, options);
    let initial = default.clone();
    let read = move |p: Option<String>| {
        p.as_deref()
            .and_then(codec.parse)
            .unwrap_or_else(|| initial.clone())
    };
    let state = RwSignal::new(read(param.get_untracked()));
    // URL → state: back, forward, or a link to this page.
    Effect::new(move |_| {
        let v = read(param.get());
        if state.get_untracked() != v {
            state.set(v);
        }
    });
    // State → URL; the default is no parameter.
    Effect::new(move |_| {
        let shown = state.with(|v| (*v != default).then(|| (codec.show)(v)));
        if param.get_untracked() != shown {
            set_param.set(shown);
        }
    });
    state
}

/// A text filter (`?key=value`); empty is absent.
pub fn url_text(key: &'static str) -> RwSignal<String> {
    url_state(
        key,
        String::new(),
        Codec {
            parse: |s| Some(s.trim().to_owned()),
            show: String::clone,
        },
    )
}

/// The page of a table, 0-based here and 1-based in the URL (`?page=2`).
pub fn url_page() -> RwSignal<usize> {
    url_state(
        "page",
        0,
        Codec {
            parse: parse_page,
            show: |p| (p + 1).to_string(),
        },
    )
}

/// A table's sort (`?sort=2.desc`); `default` is absent.
pub fn url_sort(default: Option<Sort>) -> RwSignal<Option<Sort>> {
    url_state(
        "sort",
        default,
        Codec {
            parse: |s| parse_sort(s).map(Some),
            show: |s| s.map(show_sort).unwrap_or_default(),
        },
    )
}

fn parse_page(s: &str) -> Option<usize> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| n >= 1)
        .map(|n| n - 1)
}

fn parse_sort(s: &str) -> Option<Sort> {
    let (col, dir) = s.split_once('.')?;
    let dir = match dir {
        "asc" => SortDir::Asc,
        "desc" => SortDir::Desc,
        _ => return None,
    };
    Some(Sort {
        column: col.parse().ok()?,
        dir,
    })
}

fn show_sort(s: Sort) -> String {
    let dir = match s.dir {
        SortDir::Asc => "asc",
        SortDir::Desc => "desc",
    };
    format!("{}.{dir}", s.column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_one_based_in_the_url_and_junk_is_ignored() {
        assert_eq!(parse_page("1"), Some(0));
        assert_eq!(parse_page("3"), Some(2));
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert_eq!(parse_page(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sorts_round_trip_and_junk_is_ignored() {
        let s = Sort {
            column: 2,
            dir: SortDir::Desc,
        };
        assert_eq!(show_sort(s), "2.desc");
        assert_eq!(parse_sort("2.desc"), Some(s));
        assert_eq!(
            parse_sort("0.asc"),
            Some(Sort {
                column: 0,
                dir: SortDir::Asc
            })
        );
        for bad in ["2", "2.up", "x.asc", "", ".desc", "-1.asc"] {
            assert_eq!(parse_sort(bad), None, "{bad:?}");
        }
    }
}
