//! UI primitives every domain reuses, styled by the design tokens in
//! style/main.css.

mod alert;
mod modal;
mod primitives;
mod reason_dialog;
mod sparkline;
mod table;
mod time;
mod toast;

pub use alert::{error_alert, error_text};
pub use modal::Modal;
pub use primitives::{
    copy_to_clipboard, Badge, Breadcrumbs, Button, ButtonKind, IdChip, Select, TextInput, Tone,
};
pub use reason_dialog::ReasonDialog;
pub use sparkline::Sparkline;
pub use table::{sort_and_page, Cell, Column, DataTable, Pager, Sort, SortDir};
pub use time::Time;
pub use toast::{provide_toasts, use_toasts, ToastRegion, Toasts};
