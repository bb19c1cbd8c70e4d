//! One-off: writes engine/tests/fixtures/store-v2/ with the redb 2.x store,
//! so the redb upgrade can be tested against a file today's release wrote.
//! Removed again by the upgrade commit (it needs the old store code).

use bytes::Bytes;
use engine::store::embedded::EmbeddedStore;
use engine::store::{BucketOptions, Key, Substrate};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: <dir>")?);
    {
        let store = EmbeddedStore::open(&dir).await?;
        let fleet = store
            .kv(
                "fleet",
                BucketOptions {
                    history: 5,
                    replicas: 1,
                },
            )
            .await?;
        let k = |s: &str| Key::parse(s).unwrap();
        fleet
            .create(&k("tenant.acme"), Bytes::from_static(b"v1"))
            .await?; // rev 1
        fleet
            .put(&k("tenant.beta"), Bytes::from_static(b"beta"))
            .await?; // rev 2
        fleet
            .update(&k("tenant.acme"), Bytes::from_static(b"v2"), 1)
            .await?; // rev 3
        fleet
            .put(&k("tenant.acme"), Bytes::from_static(b"v3"))
            .await?; // rev 4
        fleet.delete(&k("tenant.beta"), None).await?; // rev 5
        fleet
            .put(&k("placement.eu-1"), Bytes::from_static(&[0, 159, 255, 10]))
            .await?; // rev 6
        let settings = store
            .kv(
                "settings",
                BucketOptions {
                    history: 1,
                    replicas: 1,
                },
            )
            .await?;
        settings
            .put(&k("theme"), Bytes::from_static(b"dark"))
            .await?; // rev 1
        settings
            .put(&k("theme"), Bytes::from_static(b"light"))
            .await?; // rev 2, prunes rev 1
        let audit = store.log("audit").await?;
        for n in 1..=4u8 {
            audit
                .append(Bytes::from(format!("{{\"event\":{n}}}")), None)
                .await?;
        }
        let other = store.log("other").await?;
        other.append(Bytes::from_static(&[1, 2, 3]), None).await?;
    }
    // Shrink the file: redb 2 preallocates ~1 MiB that compacts away.
    let mut db = redb::Database::open(dir.join("control.redb"))?;
    while db.compact()? {}
    Ok(())
}
