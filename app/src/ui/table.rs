use super::{Badge, Button, Tone};
use leptos::prelude::*;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: usize,
    pub dir: SortDir,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// Sorted by the number, shown as the text.
    Number(f64, String),
    Badge(Tone, String),
    /// A link: (href, text); sorted by the text.
    Link(String, String),
    /// A point in time (ms since the epoch, 0: never), shown by `Time`;
    /// sorted by the value.
    Time(u64),
    /// A value with its recent history as a sparkline: (value to sort by,
    /// text, history oldest first).
    Trend(f64, String, Vec<Option<u64>>),
}

impl Cell {
    fn cmp(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Number(a, _), Cell::Number(b, _)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Cell::Time(a), Cell::Time(b)) => a.cmp(b),
            (Cell::Trend(a, ..), Cell::Trend(b, ..)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            _ => self.text().cmp(other.text()),
        }
    }

    fn text(&self) -> &str {
        match self {
            Cell::Text(t)
            | Cell::Number(_, t)
            | Cell::Badge(_, t)
            | Cell::Link(_, t)
            | Cell::Trend(_, t, _) => t,
            Cell::Time(_) => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub label: &'static str,
    pub sortable: bool,
}

/// Sorts and pages rows that are already in memory. Tables over large
/// sets page on the server instead and only reuse the header and footer.
pub fn sort_and_page(
    mut rows: Vec<Vec<Cell>>,
    sort: Option<Sort>,
    page: usize,
    page_size: usize,
) -> Vec<Vec<Cell>> {
    if let Some(Sort { column, dir }) = sort {
        rows.sort_by(|a, b| {
            let o = match (a.get(column), b.get(column)) {
                (Some(x), Some(y)) => x.cmp(y),
                _ => Ordering::Equal,
            };
            if dir == SortDir::Desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    rows.into_iter()
        .skip(page * page_size)
        .take(page_size.max(1))
        .collect()
}

/// A table with a sortable header and a paging footer. The parent owns the
/// rows, sort and page, so the same table works for server-side paging.
#[component]
pub fn DataTable(
    #[prop(into)] caption: String,
    columns: Vec<Column>,
    #[prop(into)] rows: Signal<Vec<Vec<Cell>>>,
    #[prop(into)] total: Signal<usize>,
    sort: RwSignal<Option<Sort>>,
    page: RwSignal<usize>,
    page_size: usize,
) -> impl IntoView {
    let header = columns
        .into_iter()
        .enumerate()
        .map(|(i, col)| {
            let aria_sort = move || match sort.get() {
                Some(Sort { column, dir }) if column == i => match dir {
                    SortDir::Asc => "ascending",
                    SortDir::Desc => "descending",
                },
                _ => "none",
            };
            if col.sortable {
                view! {
                    <th scope="col" aria-sort=aria_sort>
                        <button
                            type="button"
                            class="th-sort"
                            on:click=move |_| {
                                sort.update(|s| {
                                    *s = Some(match *s {
                                        Some(Sort { column, dir: SortDir::Asc }) if column == i => Sort { column: i, dir: SortDir::Desc },
                                        _ => Sort { column: i, dir: SortDir::Asc },
                                    })
                                });
                                page.set(0);
                            }
                        >
                            {col.label}
                        </button>
                    </th>
                }
                .into_any()
            } else {
                view! { <th scope="col">{col.label}</th> }.into_any()
            }
        })
        .collect_view();
    let region = caption.clone();
    view! {
        // Long tables scroll here, not the page; focusable so the keyboard
        // can scroll it too.
        <div class="table-wrap" tabindex="0" role="region" aria-label=region>
            <table class="data-table">
                <caption>{caption}</caption>
                <thead><tr>{header}</tr></thead>
                <tbody>
                    {move || {
                        rows.get()
                            .into_iter()
                            .map(|row| {
                                view! {
                                    <tr>
                                        {row
                                            .into_iter()
                                            .map(|c| match c {
                                                Cell::Text(t) | Cell::Number(_, t) => view! { <td>{t}</td> }.into_any(),
                                                Cell::Badge(tone, t) => view! { <td><Badge tone=tone>{t}</Badge></td> }.into_any(),
                                                Cell::Trend(_, t, history) => view! { <td><span class="trend">{t}<super::Sparkline values=history /></span></td> }.into_any(),
                                                Cell::Time(ms) => view! { <td><super::Time ms=ms /></td> }.into_any(),
                                                Cell::Link(href, t) => view! { <td><leptos_router::components::A href=href>{t}</leptos_router::components::A></td> }.into_any(),
                                            })
                                            .collect_view()}
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </div>
        <Pager total=total page=page page_size=page_size />
    }
}

/// The paging footer of a table: the row count, the page, Previous and
/// Next. The parent owns the page (server-side paging refetches on it).
#[component]
pub fn Pager(
    #[prop(into)] total: Signal<usize>,
    page: RwSignal<usize>,
    page_size: usize,
) -> impl IntoView {
    let pages = move || total.get().div_ceil(page_size.max(1)).max(1);
    view! {
        <div class="table-footer">
                <span>{move || format!("{} rows · page {} of {}", total.get(), page.get() + 1, pages())}</span>
                <Button kind=super::ButtonKind::Secondary disabled=Signal::derive(move || page.get() == 0) on_click=move |_| page.update(|p| *p = p.saturating_sub(1))>
                    "Previous"
                </Button>
                <Button kind=super::ButtonKind::Secondary disabled=Signal::derive(move || page.get() + 1 >= pages()) on_click=move |_| page.update(|p| *p += 1)>
                    "Next"
                </Button>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<Cell>> {
        (0..25)
            .map(|i| {
                vec![
                    Cell::Text(format!("n{i:02}")),
                    Cell::Number(f64::from(25 - i), (25 - i).to_string()),
                ]
            })
            .collect()
    }

    #[test]
    fn sorts_numbers_numerically_and_pages() {
        let page = sort_and_page(
            rows(),
            Some(Sort {
                column: 1,
                dir: SortDir::Asc,
            }),
            0,
            10,
        );
        assert_eq!(page.len(), 10);
        assert_eq!(page[0][1], Cell::Number(1.0, "1".into()));
        let last = sort_and_page(
            rows(),
            Some(Sort {
                column: 1,
                dir: SortDir::Desc,
            }),
            2,
            10,
        );
        assert_eq!(last.len(), 5);
        assert_eq!(last[4][1], Cell::Number(1.0, "1".into()));
    }

    #[test]
    fn times_sort_by_value_not_text() {
        let rows = vec![
            vec![Cell::Time(90_000)],
            vec![Cell::Time(0)],
            vec![Cell::Time(5_000)],
        ];
        let asc = Some(Sort {
            column: 0,
            dir: SortDir::Asc,
        });
        let sorted = sort_and_page(rows, asc, 0, 10);
        assert_eq!(
            sorted,
            [[Cell::Time(0)], [Cell::Time(5_000)], [Cell::Time(90_000)]]
        );
    }

    #[test]
    fn out_of_range_page_is_empty_not_a_panic() {
        assert!(sort_and_page(rows(), None, 99, 10).is_empty());
        assert_eq!(
            sort_and_page(
                rows(),
                Some(Sort {
                    column: 7,
                    dir: SortDir::Asc
                }),
                0,
                0
            )
            .len(),
            1
        );
    }
}
