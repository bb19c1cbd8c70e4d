//! Writes to an embedded store in a loop and prints each acknowledged write
//! (`<n>` on its own line) after the store returned. The kill -9 fault test
//! (engine/tests/faults.rs) runs it, kills it at random moments, and checks
//! that every printed write survived.
//!
//! Usage: store-writer <data-dir> <start-n>

use bytes::Bytes;
use engine::store::embedded::EmbeddedStore;
use engine::store::{BucketOptions, Key, Substrate};
use std::io::Write;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: store-writer <data-dir> <start-n>")?;
    let start: u64 = args
        .next()
        .ok_or("usage: store-writer <data-dir> <start-n>")?
        .parse()?;
    let store = EmbeddedStore::open(std::path::Path::new(&dir)).await?;
    let kv = store
        .kv(
            "faults",
            BucketOptions {
                history: 2,
                replicas: 1,
            },
        )
        .await?;
    let log = store.log("faults").await?;
    let mut out = std::io::stdout().lock();
    for n in start.. {
        let key = Key::parse(&format!("w.{n}"))?;
        kv.put(&key, Bytes::from(n.to_string())).await?;
        // Also exercise CAS on a shared key and the log in the same run.
        let counter = Key::parse("counter")?;
        match kv.get(&counter).await? {
            Some(e) => {
                kv.update(&counter, Bytes::from(n.to_string()), e.revision)
                    .await?
            }
            None => kv.create(&counter, Bytes::from(n.to_string())).await?,
        };
        log.append(Bytes::from(n.to_string()), None).await?;
        writeln!(out, "{n}")?;
        out.flush()?;
    }
    Ok(())
}
