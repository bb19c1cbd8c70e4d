use super::*;
use proptest::prelude::*;

#[test]
fn image_references_split_into_repository_tag_and_digest() {
    let d = "sha256:".to_owned() + &"a".repeat(64);
    let cases = [
        ("gateway", ("gateway", None, None)),
        ("gateway:1.4.2", ("gateway", Some("1.4.2"), None)),
        (
            "registry.local:5000/cl/gateway:1.4.2",
            ("registry.local:5000/cl/gateway", Some("1.4.2"), None),
        ),
        (
            "registry.local:5000/cl/gateway",
            ("registry.local:5000/cl/gateway", None, None),
        ),
    ];
    for (image, (repo, tag, digest)) in cases {
        let r = ImageRef::parse(image);
        assert_eq!(r.repository, repo, "{image}");
        assert_eq!(r.tag.as_deref(), tag, "{image}");
        assert_eq!(r.digest.as_deref(), digest, "{image}");
    }
    let r = ImageRef::parse(&format!("cl/gateway:2@{d}"));
    assert_eq!(
        (r.repository.as_str(), r.tag.as_deref(), r.digest.as_deref()),
        ("cl/gateway", Some("2"), Some(d.as_str()))
    );
}

#[test]
fn service_names_are_validated_on_deserialise() {
    assert!(ServiceName::parse("cl_gateway").is_ok());
    assert!(ServiceName::parse("a.b-c_1").is_ok());
    for bad in ["", "-x", "a b", "a/b", &"x".repeat(64), "ä"] {
        assert!(ServiceName::parse(bad).is_err(), "{bad:?}");
        assert!(serde_json::from_value::<ServiceName>(bad.into()).is_err());
    }
}

#[test]
fn secret_looking_values_are_recognised_by_name_and_by_embedded_credentials() {
    for k in [
        "DB_PASSWORD",
        "api_token",
        "JWT_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "SENTRY_DSN",
        "TLS_CERT",
    ] {
        assert!(looks_secret(k, "x"), "{k}");
    }
    assert!(looks_secret("NATS_URL", "nats://user:pass@nats:4222"));
    assert!(!looks_secret("NATS_URL", "nats://nats:4222"));
    assert!(!looks_secret("LOG_LEVEL", "info"));
    // An @ in the path is not a credential.
    assert!(!looks_secret("DOCS", "https://example.org/a@b"));
}

fn spec() -> SpecSummary {
    SpecSummary {
        image: "cl/gateway:1.0@sha256:01".into(),
        env: [
            ("LOG".to_owned(), EnvValue::Plain("info".into())),
            (
                "TOKEN".to_owned(),
                EnvValue::Redacted("abcdef012345".into()),
            ),
        ]
        .into(),
        secrets: vec!["audit_key".into()],
        replicas: Some(2),
        mode: Some(ServiceMode::Replicated),
        constraints: vec!["node.role==worker".into()],
        labels: [("cloudlysis.version".to_owned(), "1.0".to_owned())].into(),
        networks: vec!["internal".into()],
        update_config: UpdatePolicy {
            order: Some("start-first".into()),
            ..UpdatePolicy::default()
        },
        ..SpecSummary::default()
    }
}

#[test]
fn what_changed_names_every_difference_once_with_stable_fields() {
    let a = spec();
    assert!(diff(&a, &a).is_empty(), "a spec equals itself");
    let mut b = a.clone();
    b.image = "cl/gateway:1.1@sha256:02".into();
    b.env.insert("LOG".into(), EnvValue::Plain("debug".into()));
    b.env
        .insert("TOKEN".into(), EnvValue::Redacted("999999999999".into()));
    b.env.insert("NEW".into(), EnvValue::Plain("1".into()));
    b.secrets = vec!["audit_key_v2".into()];
    b.replicas = Some(3);
    b.constraints.push("node.labels.tier==a".into());
    b.labels.insert("cloudlysis.version".into(), "1.1".into());
    b.update_config.order = Some("stop-first".into());
    b.limits.memory_bytes = Some(256 << 20);
    let changes = diff(&a, &b);
    let fields: Vec<(&str, ChangeKind)> =
        changes.iter().map(|c| (c.field.as_str(), c.kind)).collect();
    assert_eq!(
        fields,
        vec![
            ("image", ChangeKind::Changed),
            ("image.tag", ChangeKind::Changed),
            ("env.LOG", ChangeKind::Changed),
            ("env.NEW", ChangeKind::Added),
            ("env.TOKEN", ChangeKind::Changed),
            ("secrets", ChangeKind::Removed),
            ("secrets", ChangeKind::Added),
            ("replicas", ChangeKind::Changed),
            ("limits.memory_bytes", ChangeKind::Added),
            ("constraints", ChangeKind::Added),
            ("labels.cloudlysis.version", ChangeKind::Changed),
            ("update_config.order", ChangeKind::Changed),
        ]
    );
    let token = changes.iter().find(|c| c.field == "env.TOKEN").unwrap();
    // A secret's change shows as fingerprints, never as its value.
    assert!(token
        .from
        .as_deref()
        .unwrap()
        .contains("secret, sha256 abcdef012345"));
    let tag = changes.iter().find(|c| c.field == "image.tag").unwrap();
    assert_eq!(
        (tag.from.as_deref(), tag.to.as_deref()),
        (Some("1.0"), Some("1.1"))
    );
    assert_eq!(b.version(), Some("1.1"));
}

#[test]
fn a_service_status_follows_its_numbers() {
    let upd = |state| UpdateStatus {
        state,
        message: None,
        started_at: None,
        completed_at: None,
    };
    assert_eq!(status_of(Some(2), 2, None, 0), ServiceStatus::Running);
    assert_eq!(status_of(Some(2), 1, None, 0), ServiceStatus::Degraded);
    assert_eq!(status_of(None, 0, None, 0), ServiceStatus::Running);
    assert_eq!(
        status_of(Some(2), 2, Some(&upd(UpdateState::Updating)), 0),
        ServiceStatus::Updating
    );
    assert_eq!(
        status_of(Some(2), 2, Some(&upd(UpdateState::Paused)), 0),
        ServiceStatus::Degraded
    );
    assert_eq!(
        status_of(Some(2), 2, Some(&upd(UpdateState::RollbackCompleted)), 0),
        ServiceStatus::Running
    );
    assert_eq!(
        status_of(Some(2), 2, None, CRASH_LOOP_FAILURES),
        ServiceStatus::CrashLooping
    );
    for u in UpdateState::ALL {
        assert_eq!(UpdateState::parse(u.as_str()), Some(u));
    }
}

#[test]
fn only_recent_failures_count() {
    let t = |state, since_ms| TaskView {
        id: "t".into(),
        service_id: "s".into(),
        slot: Some(1),
        node: None,
        state,
        desired_state: TaskState::Shutdown,
        message: None,
        error: None,
        exit_code: Some(1),
        since_ms,
        created_ms: since_ms,
        image: "x".into(),
        container_id: None,
    };
    let now = 10 * FAILURE_WINDOW_MS;
    let tasks = [
        t(TaskState::Failed, now - 1000),
        t(TaskState::Rejected, now - FAILURE_WINDOW_MS),
        t(TaskState::Failed, now - FAILURE_WINDOW_MS - 1),
        t(TaskState::Shutdown, now),
    ];
    assert_eq!(recent_failures(&tasks, now), 2);
}

fn env_value() -> impl Strategy<Value = EnvValue> {
    prop_oneof![
        "[a-z]{0,4}".prop_map(EnvValue::Plain),
        "[0-9a-f]{12}".prop_map(EnvValue::Redacted)
    ]
}

fn summary() -> impl Strategy<Value = SpecSummary> {
    (
        "[a-z]{1,3}(:[0-9])?",
        proptest::collection::btree_map("[A-C]", env_value(), 0..3),
        proptest::collection::vec("[a-c]", 0..3),
        proptest::option::of(0u64..3),
        proptest::collection::btree_map("[a-b]", "[0-1]", 0..2),
    )
        .prop_map(|(image, env, secrets, replicas, labels)| SpecSummary {
            image,
            env,
            secrets,
            replicas,
            labels,
            ..SpecSummary::default()
        })
}

proptest! {
    /// Two specs differ exactly when "what changed" says something, and
    /// the diff one way mirrors the diff the other way.
    #[test]
    fn the_diff_is_empty_only_for_equal_specs_and_mirrors(a in summary(), b in summary()) {
        let ab = diff(&a, &b);
        let ba = diff(&b, &a);
        // Duplicate list items are a set difference's blind spot; compare sets.
        let dedup = |s: &SpecSummary| {
            let mut s = s.clone();
            s.secrets.sort();
            s.secrets.dedup();
            s
        };
        prop_assert_eq!(ab.is_empty(), dedup(&a) == dedup(&b));
        let key = |c: &SpecChange| (c.field.clone(), c.kind, c.from.clone(), c.to.clone());
        let mut forward: Vec<_> = ab.iter().map(key).collect();
        let mut mirrored: Vec<_> = ba
            .iter()
            .map(|c| {
                let kind = match c.kind {
                    ChangeKind::Added => ChangeKind::Removed,
                    ChangeKind::Removed => ChangeKind::Added,
                    ChangeKind::Changed => ChangeKind::Changed,
                };
                (c.field.clone(), kind, c.to.clone(), c.from.clone())
            })
            .collect();
        forward.sort();
        mirrored.sort();
        prop_assert_eq!(forward, mirrored);
    }
}
