//! A data directory written by the release on redb 2.x opens with today's
//! store (redb 4): every key, revision, history entry and event is kept, the
//! old file stays as a backup, a second open changes nothing, and writes
//! carry on from the old revisions. The fixture `fixtures/store-v2/` was
//! written by that release (see its README).

use bytes::Bytes;
use engine::store::embedded::{EmbeddedStore, V2_BACKUP_FILE};
use engine::store::{BucketOptions, Key, KeyPrefix, KvEntry, KvEvent, StoreError, Substrate};
use futures::StreamExt;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v2");

fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        format!("{FIXTURE}/control.redb"),
        dir.path().join("control.redb"),
    )
    .unwrap();
    dir
}

fn k(s: &str) -> Key {
    Key::parse(s).unwrap()
}

fn put(key: &str, value: &[u8], revision: u64) -> KvEvent {
    KvEvent::Put(KvEntry {
        key: key.into(),
        value: Bytes::copy_from_slice(value),
        revision,
    })
}

fn opts(history: u8) -> BucketOptions {
    BucketOptions {
        history,
        replicas: 1,
    }
}

/// Everything the fixture writer wrote, as it wrote it.
async fn assert_fixture_contents(store: &EmbeddedStore) {
    // Asked with other options: the depth stored with the bucket still holds.
    let fleet = store.kv("fleet", opts(1)).await.unwrap();
    let acme = fleet.get(&k("tenant.acme")).await.unwrap().unwrap();
    assert_eq!((acme.value.as_ref(), acme.revision), (&b"v3"[..], 4));
    assert_eq!(fleet.get(&k("tenant.beta")).await.unwrap(), None);
    let eu = fleet.get(&k("placement.eu-1")).await.unwrap().unwrap();
    assert_eq!(
        (eu.value.as_ref(), eu.revision),
        (&[0, 159, 255, 10][..], 6)
    );
    assert_eq!(
        fleet.keys(&KeyPrefix::All).await.unwrap(),
        vec!["placement.eu-1".to_owned(), "tenant.acme".to_owned()]
    );
    assert_eq!(
        fleet.history(&k("tenant.acme")).await.unwrap(),
        vec![
            put("tenant.acme", b"v1", 1),
            put("tenant.acme", b"v2", 3),
            put("tenant.acme", b"v3", 4)
        ]
    );
    assert_eq!(
        fleet.history(&k("tenant.beta")).await.unwrap(),
        vec![
            put("tenant.beta", b"beta", 2),
            KvEvent::Delete {
                key: "tenant.beta".into(),
                revision: 5
            }
        ]
    );
    // The change log replays in revision order.
    let replay: Vec<u64> = fleet
        .watch(&KeyPrefix::All, Some(0))
        .await
        .unwrap()
        .take(6)
        .map(|e| e.unwrap().revision())
        .collect()
        .await;
    assert_eq!(replay, vec![1, 2, 3, 4, 5, 6]);

    let settings = store.kv("settings", opts(5)).await.unwrap();
    assert_eq!(
        settings.history(&k("theme")).await.unwrap(),
        vec![put("theme", b"light", 2)],
        "history depth 1 was pruned by the old release and stays so"
    );

    let audit = store.log("audit").await.unwrap();
    assert_eq!(audit.last_seq().await.unwrap(), 4);
    let events: Vec<(u64, String)> = audit
        .read(1, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.seq, String::from_utf8(r.data.to_vec()).unwrap()))
        .collect();
    assert_eq!(
        events,
        (1..=4)
            .map(|n| (n, format!("{{\"event\":{n}}}")))
            .collect::<Vec<_>>()
    );
    let other = store.log("other").await.unwrap().read(1, 10).await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(
        (other[0].seq, other[0].data.as_ref()),
        (1, &[1u8, 2, 3][..])
    );
}

#[tokio::test]
async fn a_redb2_data_dir_opens_keeps_everything_and_takes_writes() {
    let dir = fixture_copy();
    let original = std::fs::read(dir.path().join("control.redb")).unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).await.unwrap();
        assert_fixture_contents(&store).await;
    }
    let backup = dir.path().join(V2_BACKUP_FILE);
    assert_eq!(std::fs::read(&backup).unwrap(), original, "old file kept");
    assert_ne!(
        std::fs::read(dir.path().join("control.redb")).unwrap(),
        original,
        "the store file itself is in the new format"
    );

    // Idempotent: the upgraded file opens as it is.
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    assert_fixture_contents(&store).await;
    let fleet = store.kv("fleet", opts(5)).await.unwrap();
    assert_eq!(
        fleet
            .update(&k("tenant.acme"), Bytes::from_static(b"v4"), 4)
            .await,
        Ok(7),
        "revisions carry on after the old ones"
    );
    assert_eq!(
        fleet
            .update(&k("tenant.acme"), Bytes::from_static(b"stale"), 4)
            .await,
        Err(StoreError::Conflict { current: Some(7) })
    );
    assert_eq!(
        fleet
            .create(&k("tenant.beta"), Bytes::from_static(b"again"))
            .await,
        Ok(8),
        "a deleted key can be created again"
    );
    let audit = store.log("audit").await.unwrap();
    assert_eq!(
        audit.append(Bytes::from_static(b"e5"), Some(4)).await,
        Ok(5)
    );
    drop((fleet, audit, store));

    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let fleet = store.kv("fleet", opts(5)).await.unwrap();
    assert_eq!(fleet.history(&k("tenant.acme")).await.unwrap().len(), 4);
    assert_eq!(
        fleet
            .get(&k("tenant.beta"))
            .await
            .unwrap()
            .map(|e| e.revision),
        Some(8)
    );
    assert_eq!(store.log("audit").await.unwrap().last_seq().await, Ok(5));
    assert_eq!(
        std::fs::read(&backup).unwrap(),
        original,
        "backup untouched"
    );
}

/// A crash during an earlier upgrade leaves a partial new file (and maybe
/// the backup link) beside the old store: the next open redoes it.
#[tokio::test]
async fn an_interrupted_upgrade_is_redone() {
    let dir = fixture_copy();
    let original = std::fs::read(dir.path().join("control.redb")).unwrap();
    std::fs::write(dir.path().join("control.redb.upgrading"), b"half written").unwrap();
    std::fs::write(dir.path().join(V2_BACKUP_FILE), b"stale").unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    assert_fixture_contents(&store).await;
    assert_eq!(
        std::fs::read(dir.path().join(V2_BACKUP_FILE)).unwrap(),
        original
    );
    assert!(!dir.path().join("control.redb.upgrading").exists());
}

/// A store file that is no redb file at all is refused with a store error,
/// and left as it was.
#[tokio::test]
async fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let junk = vec![0x5a; 8192];
    std::fs::write(dir.path().join("control.redb"), &junk).unwrap();
    match EmbeddedStore::open(dir.path()).await {
        Err(StoreError::Unavailable(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("junk opened as a store"),
    }
    assert_eq!(
        std::fs::read(dir.path().join("control.redb")).unwrap(),
        junk
    );
}
