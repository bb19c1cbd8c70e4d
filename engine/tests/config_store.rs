//! One suite, three sources: every case below runs against the dev files,
//! the embedded store's KV and a real nats-server's KV
//! (CONTROL_TEST_NATS_URL; a loud SKIPPED line without it, a failure under
//! CI=true). The same semantics everywhere: CAS on the revision read,
//! metadata per revision, history, pins, and errors that are
//! distinguishable by code and never carry document content.

use async_trait::async_trait;
use engine::config::file::FileConfigStore;
use engine::config::kv::KvConfigStore;
use engine::config::store::{ConfigStore, ConfigStoreError, WriteMeta};
use engine::store::embedded::EmbeddedStore;
use engine::store::namespaced::Namespaced;
use engine::store::nats::{NatsOptions, NatsStore};
use engine::store::{BucketOptions, EventLog, Key, Kv, StoreError, Substrate};
use model::config::{ConfigId, Domain, Pin, Scope};
use model::fleet::ServiceKind;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

struct Source {
    name: &'static str,
    store: Arc<dyn ConfigStore>,
    /// Writes raw bytes where the document lives (an independent writer,
    /// or a corrupt value).
    raw: Raw,
    _dir: tempfile::TempDir,
}

enum Raw {
    Files(std::path::PathBuf),
    Kv(Arc<dyn Substrate>),
}

impl Source {
    /// Writes `bytes` as the flags document, bypassing the registry.
    async fn raw_flags(&self, bytes: &[u8]) {
        match &self.raw {
            Raw::Files(dir) => {
                let path = dir.join("flags/platform/control.json");
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            Raw::Kv(s) => {
                let kv = s
                    .kv(
                        "config",
                        BucketOptions {
                            history: 32,
                            replicas: 1,
                        },
                    )
                    .await
                    .unwrap();
                kv.put(
                    &Key::parse("flags.platform.control").unwrap(),
                    bytes.to_vec().into(),
                )
                .await
                .unwrap();
            }
        }
    }
}

fn unique(stem: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{stem}{}x{}",
        t % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn sources(test: &str) -> Vec<Source> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    out.push(Source {
        name: "file",
        store: Arc::new(FileConfigStore::new(
            cfg.join("placement/dev.json"),
            cfg.join("routing/dev.json"),
            cfg.clone(),
        )),
        raw: Raw::Files(cfg),
        _dir: dir,
    });
    let dir = tempfile::tempdir().unwrap();
    let emb: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    out.push(Source {
        name: "embedded",
        store: Arc::new(KvConfigStore::new(emb.clone())),
        raw: Raw::Kv(emb),
        _dir: dir,
    });
    if let Some(url) = test_support::nats_url(&format!("config_store::{test}")) {
        let nats = NatsStore::connect(&NatsOptions {
            url,
            name: "control-config-store".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let ns: Arc<dyn Substrate> =
            Arc::new(Namespaced::new(Arc::new(nats), &unique("cs")).unwrap());
        out.push(Source {
            name: "nats",
            store: Arc::new(KvConfigStore::new(ns.clone())),
            raw: Raw::Kv(ns),
            _dir: tempfile::tempdir().unwrap(),
        });
    }
    out
}

fn meta(by: &str) -> WriteMeta {
    WriteMeta {
        updated_by: by.into(),
        job: Some(model::JobId::parse("job_0123456789abcdef0123456789abcdef").unwrap()),
        reason: Some("a test".into()),
    }
}

#[tokio::test]
async fn cas_metadata_and_history() {
    for s in sources("cas").await {
        let n = s.name;
        let id = ConfigId::flags();
        assert_eq!(s.store.get(&id).await.unwrap(), None, "{n}");
        assert!(s.store.list().await.unwrap().is_empty(), "{n}");
        let a = json!({"banner": "a", "freeze": false});
        let m1 = s.store.write(&id, &a, 0, &meta("alice")).await.unwrap();
        assert_eq!(m1.updated_by.as_deref(), Some("alice"), "{n}");
        assert_eq!(m1.sha256, model::config::sha256(&a));
        let got = s.store.get(&id).await.unwrap().unwrap();
        assert_eq!(
            (got.document.clone(), got.meta.clone()),
            (a.clone(), m1.clone()),
            "{n}"
        );
        // A create on an existing document, and a stale CAS, both lose
        // with the current revision.
        let b = json!({"banner": "b"});
        let e = s.store.write(&id, &b, 0, &meta("bob")).await.unwrap_err();
        assert_eq!(
            e,
            ConfigStoreError::Conflict {
                expected: 0,
                current: m1.revision
            },
            "{n}"
        );
        let m2 = s
            .store
            .write(&id, &b, m1.revision, &meta("bob"))
            .await
            .unwrap();
        assert!(m2.revision > m1.revision, "{n}");
        let e = s
            .store
            .write(&id, &a, m1.revision, &meta("carol"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "conflict", "{n}");
        assert_eq!(
            e,
            ConfigStoreError::Conflict {
                expected: m1.revision,
                current: m2.revision
            },
            "{n}"
        );
        let h = s.store.history(&id).await.unwrap();
        let revs: Vec<(u64, Option<String>)> = h
            .iter()
            .map(|m| (m.revision, m.updated_by.clone()))
            .collect();
        assert_eq!(
            revs,
            vec![
                (m2.revision, Some("bob".into())),
                (m1.revision, Some("alice".into()))
            ],
            "{n}: newest first"
        );
        let old = s.store.at(&id, m1.revision).await.unwrap().unwrap();
        assert_eq!(old.document, a, "{n}");
        assert_eq!(old.meta.updated_by.as_deref(), Some("alice"), "{n}");
        assert_eq!(
            s.store.at(&id, m2.revision + 100).await.unwrap(),
            None,
            "{n}"
        );
        assert_eq!(s.store.list().await.unwrap(), vec![id], "{n}");
    }
}

#[tokio::test]
async fn exactly_one_of_concurrent_writers_from_one_base_wins() {
    for s in sources("race").await {
        let id = ConfigId::gates();
        let base = s
            .store
            .write(&id, &json!({"max_source_lag": 1}), 0, &meta("seed"))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let st = s.store.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    st.write(
                        &id,
                        &json!({"max_source_lag": 100 + i}),
                        base.revision,
                        &meta("racer"),
                    )
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(ConfigStoreError::Conflict { .. }) => {}
                Err(e) => panic!("{}: {e}", s.name),
            }
        }
        assert_eq!(ok, 1, "{}: exactly one writer wins", s.name);
        assert_eq!(s.store.history(&id).await.unwrap().len(), 2, "{}", s.name);
    }
}

#[tokio::test]
async fn an_independent_write_is_shown_unrecorded_and_a_bad_value_is_a_decode_error() {
    for s in sources("raw").await {
        let n = s.name;
        let id = ConfigId::flags();
        let m1 = s
            .store
            .write(&id, &json!({"freeze": false}), 0, &meta("alice"))
            .await
            .unwrap();
        // Someone writes the document outside the registry.
        s.raw_flags(br#"{"revision": 99, "document": {"freeze": true}}"#)
            .await;
        let got = s.store.get(&id).await.unwrap().unwrap();
        assert_eq!(got.meta.updated_by, None, "{n}: who wrote it is unknown");
        assert_eq!(got.meta.job, None, "{n}");
        assert_ne!(got.meta.revision, m1.revision, "{n}");
        // A value that is not JSON: a decode error that says where, never
        // what (the document might hold a secret).
        s.raw_flags(b"{\"token\": \"s3cret-value\", oops").await;
        let e = s.store.get(&id).await.unwrap_err();
        assert_eq!(e.code(), "config_decode", "{n}: {e}");
        assert!(!e.to_string().contains("s3cret"), "{n}: {e}");
    }
}

#[tokio::test]
async fn pins_are_kept_per_document() {
    for s in sources("pins").await {
        let n = s.name;
        let id = ConfigId::placement(ServiceKind::Runner);
        let other = ConfigId::new(
            Domain::Activation,
            "activation",
            Scope::parse("tenant:acme").unwrap(),
        )
        .unwrap();
        assert_eq!(s.store.pin(&id).await.unwrap(), None, "{n}");
        let p = Pin {
            by: "alice".into(),
            at_ms: 1,
            reason: "rolled back a bad placement".into(),
            revision: 7,
            job: None,
        };
        s.store.set_pin(&id, Some(&p)).await.unwrap();
        assert_eq!(s.store.pin(&id).await.unwrap(), Some(p), "{n}");
        assert_eq!(s.store.pin(&other).await.unwrap(), None, "{n}");
        s.store.set_pin(&id, None).await.unwrap();
        assert_eq!(s.store.pin(&id).await.unwrap(), None, "{n}");
    }
}

#[tokio::test]
async fn the_fleet_documents_live_where_the_platform_reads_them() {
    for s in sources("fleet").await {
        let n = s.name;
        let r = ConfigId::routing();
        let routing =
            json!({"aggregate": {"a-1": {"endpoints": ["http://a:1"], "state": "active"}}});
        s.store
            .write(&r, &routing, 0, &meta("alice"))
            .await
            .unwrap();
        let agg = ConfigId::placement(ServiceKind::Aggregate);
        let map = json!({"default_shard": null, "tenants": {"acme": "a-1"}});
        let m = s.store.write(&agg, &map, 0, &meta("alice")).await.unwrap();
        assert_eq!(
            s.store.get(&agg).await.unwrap().unwrap().document,
            map,
            "{n}"
        );
        match &s.raw {
            Raw::Files(dir) => {
                let doc: model::fleet::PlacementDoc =
                    serde_json::from_slice(&std::fs::read(dir.join("placement/dev.json")).unwrap())
                        .unwrap();
                assert_eq!(doc.revision, m.revision, "{n}");
                assert!(doc
                    .aggregate_placement
                    .tenants
                    .contains_key(&model::fleet::TenantId::parse("acme").unwrap()));
                let rd: model::fleet::RoutingDoc =
                    serde_json::from_slice(&std::fs::read(dir.join("routing/dev.json")).unwrap())
                        .unwrap();
                assert_eq!(rd.revision, 1, "{n}");
            }
            Raw::Kv(st) => {
                let kv = st.kv("placement", BucketOptions::default()).await.unwrap();
                let e = kv
                    .get(&Key::parse("aggregate_placement").unwrap())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    serde_json::from_slice::<serde_json::Value>(&e.value).unwrap(),
                    map,
                    "{n}"
                );
                let kv = st.kv("routing", BucketOptions::default()).await.unwrap();
                assert!(
                    kv.get(&Key::parse("routing").unwrap())
                        .await
                        .unwrap()
                        .is_some(),
                    "{n}"
                );
            }
        }
        let mut ids = s.store.list().await.unwrap();
        ids.retain(|i| i.domain == Domain::Routing || i == &agg);
        assert_eq!(ids.len(), 2, "{n}: {ids:?}");
    }
}

/// A substrate that is down: every call fails as unavailable.
struct Down;

#[async_trait]
impl Substrate for Down {
    fn backend(&self) -> &'static str {
        "nats"
    }
    async fn kv(&self, _: &str, _: BucketOptions) -> Result<Arc<dyn Kv>, StoreError> {
        Err(StoreError::Unavailable(
            "connection refused (nats://user:hunter2@10.0.0.1:4222)".into(),
        ))
    }
    async fn log(&self, _: &str) -> Result<Arc<dyn EventLog>, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
}

#[tokio::test]
async fn a_source_that_is_down_is_a_source_error_and_clients_see_no_detail() {
    use engine::error::ClientError;
    let kv = KvConfigStore::new(Arc::new(Down));
    let e = kv.get(&ConfigId::flags()).await.unwrap_err();
    assert_eq!(e.code(), "config_source");
    let view = engine::config::ConfigError::Store(e).client_view();
    assert_eq!(view.code, model::ErrorCode::Unavailable);
    assert!(!view.message.contains("hunter2"), "{}", view.message);
    // The file source: a folder where a file should be.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flags/platform/control.json")).unwrap();
    let f = FileConfigStore::new(
        dir.path().join("p.json"),
        dir.path().join("r.json"),
        dir.path().to_path_buf(),
    );
    let e = f.get(&ConfigId::flags()).await.unwrap_err();
    assert_eq!(e.code(), "config_source", "{e}");
}
