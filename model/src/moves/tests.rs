use super::*;
use crate::fleet::ShardRoute;
use proptest::prelude::*;

fn routing(shards: &[(&str, &[&str])]) -> RoutingConfig {
    let mut r = RoutingConfig::default();
    for kind in [ServiceKind::Aggregate, ServiceKind::Gateway] {
        let m = r.kinds.entry(kind).or_default();
        for (s, eps) in shards {
            let eps: Vec<String> = eps
                .iter()
                .map(|e| format!("http://{}-{e}:1", kind.as_str()))
                .collect();
            m.insert(
                ShardId::parse(s).unwrap(),
                ShardRoute {
                    endpoints: eps,
                    state: ShardState::Active,
                },
            );
        }
    }
    r
}

fn input(target: &str) -> MigrateInput {
    MigrateInput {
        tenant: TenantId::parse("acme").unwrap(),
        kind: ServiceKind::Aggregate,
        target: ShardId::parse(target).unwrap(),
        source: None,
        parent: None,
    }
}

fn gate(code: &str, pass: bool, observed: u64) -> GateCheck {
    GateCheck::new(code, "aggregate/a-2", pass, observed, 100u64, "m")
}

fn plan(rev: u64, gates: Vec<GateCheck>, observed_at: u64) -> Plan {
    let r = routing(&[("a-1", &["x", "y"]), ("a-2", &["z"])]);
    let i = input("a-2");
    let steps = migrate_steps(&i, &ShardId::parse("a-1").unwrap(), &r);
    Plan::new(
        JobKind::TenantsMigrate,
        Target::Tenant {
            tenant: i.tenant.clone(),
        },
        serde_json::to_value(&i).unwrap(),
        steps,
        gates,
        Revisions {
            placement: [(ServiceKind::Aggregate, rev)].into(),
            routing: 7,
            config: Default::default(),
        },
        None,
        observed_at,
    )
}

#[test]
fn migrate_steps_run_drain_before_the_point_of_no_return_and_compensate_on_the_source() {
    let p = plan(3, vec![], 0);
    let names = names(&p.steps);
    assert_eq!(names[0], step::PREFLIGHT);
    assert_eq!(
        &names[1..3],
        [
            "drain:aggregate:http://aggregate-x:1",
            "drain:aggregate:http://aggregate-y:1"
        ]
    );
    assert_eq!(names[3], step::CHECK_PLACEMENT);
    assert_eq!(p.point_of_no_return.as_deref(), Some("placement:aggregate"));
    // Every gateway reloads; the source and target instances load.
    assert!(names.contains(&"reload:http://gateway-x:1".to_owned()));
    assert!(names.contains(&"loaded:aggregate:http://aggregate-z:1".to_owned()));
    assert!(names.contains(&"resume:aggregate:http://aggregate-z:1".to_owned()));
    let comp: Vec<&PlanStep> = p
        .steps
        .iter()
        .filter(|s| s.phase == Phase::Compensation)
        .collect();
    assert_eq!(comp.len(), 2, "undo resumes on both source instances");
    // Nothing before the drain is irreversible.
    let pnr = names
        .iter()
        .position(|n| n == "placement:aggregate")
        .unwrap();
    assert!(p.steps[..pnr].iter().all(|s| s.phase == Phase::Reversible));
    assert!(!p.blocked);
}

#[test]
fn a_failing_gate_blocks_the_plan() {
    let p = plan(3, vec![gate("gate_source_lag", false, 500)], 0);
    assert!(p.blocked);
    assert_eq!(
        crate::gates::first_failure(&p.gates).map(|g| g.code.as_str()),
        Some("gate_source_lag")
    );
}

#[test]
fn the_hash_moves_with_a_revision_or_a_gate_verdict_not_with_observed_values() {
    let base = plan(3, vec![gate("gate_source_lag", true, 20)], 1);
    assert_eq!(
        base.hash,
        plan(3, vec![gate("gate_source_lag", true, 21)], 99).hash
    );
    assert_ne!(
        base.hash,
        plan(4, vec![gate("gate_source_lag", true, 20)], 1).hash
    );
    assert_ne!(
        base.hash,
        plan(3, vec![gate("gate_source_lag", false, 20)], 1).hash
    );
    assert_eq!(base.hash.len(), 64);
}

#[test]
fn evacuate_inputs_are_checked() {
    let s = |x: &str| ShardId::parse(x).unwrap();
    let mut e = EvacuateInput {
        kind: ServiceKind::Aggregate,
        shard: s("a-1"),
        targets: vec![s("a-2"), s("a-3")],
        concurrency: 4,
        stop_on_first_failure: false,
        moves: BTreeMap::new(),
    };
    assert!(e.check().is_ok());
    assert_eq!(e.target_of(0), &s("a-2"));
    assert_eq!(e.target_of(3), &s("a-3"));
    e.targets.push(s("a-1"));
    assert!(e.check().unwrap_err().contains("input.targets"));
    e.targets = vec![s("a-2"), s("a-2")];
    assert!(e.check().unwrap_err().contains("twice"));
    e.targets = vec![];
    assert!(e.check().is_err());
    e.targets = vec![s("a-2")];
    e.concurrency = 0;
    assert!(e.check().unwrap_err().contains("concurrency"));
    e.concurrency = 65;
    assert!(e.check().is_err());
    e.concurrency = 1;
    e.kind = ServiceKind::Gateway;
    assert!(e.check().is_err());
}

#[test]
fn drain_kinds_default_to_every_worker_and_refuse_the_gateway() {
    let mut d = DrainInput {
        tenant: TenantId::parse("acme").unwrap(),
        kinds: vec![],
    };
    assert_eq!(d.kinds().unwrap(), ServiceKind::WORKERS.to_vec());
    d.kinds = vec![ServiceKind::Runner, ServiceKind::Runner];
    assert_eq!(d.kinds().unwrap(), vec![ServiceKind::Runner]);
    d.kinds = vec![ServiceKind::Gateway];
    assert!(d.kinds().is_err());
    assert!(
        serde_json::from_value::<DrainInput>(serde_json::json!({"tenant": "acme", "x": 1}))
            .is_err()
    );
    assert!(
        serde_json::from_value::<DrainInput>(serde_json::json!({"tenant": "BAD TENANT"})).is_err()
    );
}

#[test]
fn instance_step_names_round_trip() {
    let n = instance_step(step::DRAIN, ServiceKind::Runner, "http://h:1/p");
    assert_eq!(
        parse_instance_step(step::DRAIN, &n),
        Some((ServiceKind::Runner, "http://h:1/p"))
    );
    assert_eq!(parse_instance_step(step::RESUME, &n), None);
    assert_eq!(
        parse_instance_step(step::DRAIN, "drain:nope:http://h"),
        None
    );
}

proptest! {
    /// The same input and observed state give the same plan and hash;
    /// the hash changes when a revision or a gate's verdict does.
    #[test]
    fn plans_are_deterministic(
        rev in 0u64..1_000,
        routing_rev in 0u64..1_000,
        verdicts in proptest::collection::vec((any::<bool>(), 0u64..10_000), 0..8),
        eps in proptest::collection::btree_set("[a-z]{1,6}", 1..5),
        target_is_3 in any::<bool>(),
    ) {
        let eps: Vec<&str> = eps.iter().map(String::as_str).collect();
        let r = routing(&[("a-1", &eps), ("a-2", &["z"]), ("a-3", &["w"])]);
        let i = input(if target_is_3 { "a-3" } else { "a-2" });
        let gates: Vec<GateCheck> = verdicts
            .iter()
            .enumerate()
            .map(|(n, (pass, obs))| GateCheck::new(
                crate::gates::code::ALL[n % crate::gates::code::ALL.len()],
                format!("s{n}"), *pass, *obs, 100u64, "m"))
            .collect();
        let make = |gates: Vec<GateCheck>, rev: u64, at: u64| {
            Plan::new(
                JobKind::TenantsMigrate,
                Target::Tenant { tenant: i.tenant.clone() },
                serde_json::to_value(&i).unwrap(),
                migrate_steps(&i, &ShardId::parse("a-1").unwrap(), &r),
                gates,
                Revisions { placement: [(ServiceKind::Aggregate, rev)].into(), routing: routing_rev, config: Default::default() },
                None,
                at,
            )
        };
        let a = make(gates.clone(), rev, 1);
        let b = make(gates.clone(), rev, 2);
        prop_assert_eq!(&a.steps, &b.steps);
        prop_assert_eq!(&a.hash, &b.hash);
        prop_assert_eq!(a.blocked, gates.iter().any(|g| !g.pass));
        prop_assert_ne!(&a.hash, &make(gates.clone(), rev + 1, 1).hash);
        // Observed values alone do not change the plan's hash…
        let mut moved = gates.clone();
        for g in &mut moved { g.observed = serde_json::json!("other"); }
        prop_assert_eq!(&a.hash, &make(moved, rev, 1).hash);
        // …a verdict does.
        if let Some(first) = gates.first() {
            let mut flipped = gates.clone();
            flipped[0].pass = !first.pass;
            prop_assert_ne!(&a.hash, &make(flipped, rev, 1).hash);
        }
    }
}
