//! One-shot upgrade of a store file written by redb 2.x. Current redb
//! refuses its file format (v2), and redb 3 also changed how the tuples of
//! our tables are encoded, so `Database::upgrade()` alone would not do: every
//! table is read with redb 2 and copied, in one transaction, into a new file
//! in today's format, which then replaces the old one. The old file is kept
//! beside it as `control.redb.v2-backup`.
//!
//! Crash safety: the new file is written under a temporary name and renamed
//! over the old one only once committed (with fsync); until that rename the
//! old file is the store, and an interrupted upgrade is simply redone.

use super::{unavailable, BUCKET_DEPTH, BUCKET_REV, CHANGES, KEY_REVS, LATEST, LOG, LOG_SEQ};
use crate::store::StoreError;
use redb::TableHandle;
use std::path::Path;

/// The old file, kept after a successful upgrade.
pub const BACKUP: &str = "control.redb.v2-backup";
/// The new file while it is being written.
const PARTIAL: &str = "control.redb.upgrading";

/// Copies one table, of the same key and value types in both versions; a
/// table the old file never created is skipped.
macro_rules! copy_table {
    ($old:expr, $new:expr, $table:expr, $k:ty, $v:ty) => {{
        let table = $table;
        let def: redb2::TableDefinition<$k, $v> = redb2::TableDefinition::new(table.name());
        match $old.open_table(def) {
            Ok(from) => {
                let mut to = $new.open_table(table).map_err(unavailable)?;
                for item in redb2::ReadableTable::iter(&from).map_err(unavailable)? {
                    let (k, v) = item.map_err(unavailable)?;
                    to.insert(k.value(), v.value()).map_err(unavailable)?;
                }
            }
            Err(redb2::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(unavailable(e)),
        }
    }};
}

/// Upgrades `dir/control.redb` (a redb 2.x file) in place.
pub fn from_v2(dir: &Path, path: &Path) -> Result<(), StoreError> {
    let partial = dir.join(PARTIAL);
    // Left by an upgrade that did not finish: the old file is still the store.
    match std::fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unavailable(e)),
    }
    {
        let old = redb2::Database::open(path).map_err(unavailable)?;
        let new = redb::Database::create(&partial).map_err(unavailable)?;
        let r = old.begin_read().map_err(unavailable)?;
        let w = new.begin_write().map_err(unavailable)?;
        copy_table!(r, w, LATEST, (&str, &str), (u64, u8, &[u8]));
        copy_table!(r, w, CHANGES, (&str, u64), (&str, u8, &[u8]));
        copy_table!(r, w, KEY_REVS, (&str, &str, u64), ());
        copy_table!(r, w, BUCKET_REV, &str, u64);
        copy_table!(r, w, BUCKET_DEPTH, &str, u8);
        copy_table!(r, w, LOG, (&str, u64), &[u8]);
        copy_table!(r, w, LOG_SEQ, &str, u64);
        w.commit().map_err(unavailable)?;
    }
    // The backup is a second name for the old file (a copy where links are
    // not supported); one left by an unfinished upgrade is the same file.
    let backup = dir.join(BACKUP);
    match std::fs::remove_file(&backup) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unavailable(e)),
    }
    if std::fs::hard_link(path, &backup).is_err() {
        std::fs::copy(path, &backup).map_err(unavailable)?;
    }
    std::fs::rename(&partial, path).map_err(unavailable)?;
    // The rename is durable only once the directory is.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(unavailable)?;
    tracing::info!(
        backup = %backup.display(),
        "store file upgraded from redb 2 format; the old file is kept as a backup"
    );
    Ok(())
}
