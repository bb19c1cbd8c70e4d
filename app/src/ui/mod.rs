//! UI primitives, in one place, styled by the design tokens in style/main.css.

mod modal;
mod primitives;
mod table;
mod toast;

pub use modal::Modal;
pub use primitives::{
    copy_to_clipboard, Badge, Breadcrumbs, Button, ButtonKind, IdChip, Select, TextInput, Tone,
};
pub use table::{sort_and_page, Cell, Column, DataTable, Sort, SortDir};
pub use toast::{provide_toasts, use_toasts, ToastRegion, Toasts};
