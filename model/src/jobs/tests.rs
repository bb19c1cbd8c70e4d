use super::*;
use proptest::prelude::*;

fn spec() -> Vec<StepSpec> {
    vec![
        StepSpec::new("check", Phase::Reversible, 2),
        StepSpec::new("apply", Phase::Irreversible, 3),
        StepSpec::new("verify", Phase::Irreversible, 1),
        StepSpec::new("undo-check", Phase::Compensation, 2),
    ]
}

fn job() -> Job {
    Job::new(
        JobId::from_random([7; 16]),
        JobKind::RoutingReload,
        Target::Platform,
        &spec(),
        Principal {
            sub: "op".into(),
            session: "s".into(),
        },
        "because".into(),
        "k".into(),
        "f".into(),
        Ids {
            request_id: "r".into(),
            correlation_id: "c".into(),
            trace_id: "t".into(),
            traceparent: String::new(),
        },
        serde_json::Value::Null,
        1,
        1_000_000,
    )
}

fn cancel(at: u64) -> CancelRequest {
    CancelRequest {
        by: Principal {
            sub: "op".into(),
            session: "s".into(),
        },
        reason: "stop".into(),
        at_ms: at,
    }
}

fn run_to_end(j: &mut Job) {
    while let Next::Run(i) = j.next().unwrap() {
        j.start_step(i, 2).unwrap();
        j.step_succeeded(i, None, 3).unwrap();
    }
    let Next::Finish(state) = j.next().unwrap() else {
        unreachable!()
    };
    j.finish(state, None, 4).unwrap();
}

#[test]
fn a_job_runs_its_forward_steps_in_order_and_succeeds() {
    let mut j = job();
    assert_eq!(j.next().unwrap(), Next::Run(0));
    assert_eq!(j.start_step(1, 2), Err(TransitionError::OutOfOrder(1)));
    run_to_end(&mut j);
    assert_eq!(j.state, JobState::Succeeded);
    let states: Vec<_> = j.steps.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [
            StepState::Succeeded,
            StepState::Succeeded,
            StepState::Succeeded,
            StepState::Skipped
        ]
    );
    assert_eq!(
        j.progress(),
        Progress {
            done: 3,
            total: 3,
            items: None
        }
    );
    assert!(j.lease.is_none());
    assert!(matches!(
        j.claim("r", 9, 5),
        Err(TransitionError::Terminal(_))
    ));
}

#[test]
fn a_failed_attempt_retries_until_the_limit_then_compensates() {
    let mut j = job();
    j.start_step(0, 1).unwrap();
    let e = StepError::new("unreachable", "no answer");
    assert_eq!(
        j.step_failed(0, e.clone(), true, 2),
        Ok(AfterFailure::Retry)
    );
    assert_eq!(j.start_step(0, 3), Ok(2));
    assert_eq!(
        j.step_failed(0, e.clone(), true, 4),
        Ok(AfterFailure::StepFailed)
    );
    assert_eq!(j.next().unwrap(), Next::Run(3), "compensation runs");
    j.start_step(3, 5).unwrap();
    j.step_succeeded(3, None, 6).unwrap();
    assert_eq!(j.next().unwrap(), Next::Finish(JobState::Failed));
    j.finish(JobState::Failed, None, 7).unwrap();
    assert_eq!(j.error.as_ref().unwrap().code, "unreachable");
    assert_eq!(j.steps[1].state, StepState::Skipped);
}

#[test]
fn a_non_retryable_failure_fails_the_step_at_once() {
    let mut j = job();
    j.start_step(0, 1).unwrap();
    let e = StepError::new("bad_input", "no");
    assert_eq!(j.step_failed(0, e, false, 2), Ok(AfterFailure::StepFailed));
    assert_eq!(j.steps[0].attempts, 1);
}

#[test]
fn cancel_before_the_point_of_no_return_compensates_and_after_it_is_refused() {
    let mut j = job();
    j.start_step(0, 1).unwrap();
    j.step_succeeded(0, None, 2).unwrap();
    j.request_cancel(cancel(3)).unwrap();
    assert_eq!(j.state, JobState::Cancelling);
    assert_eq!(
        j.request_cancel(cancel(4)),
        Err(TransitionError::AlreadyCancelling)
    );
    assert_eq!(j.next().unwrap(), Next::Run(3));
    run_to_end(&mut j);
    assert_eq!(j.state, JobState::Cancelled);
    assert_eq!(j.steps[1].state, StepState::Skipped);

    let mut k = job();
    k.start_step(0, 1).unwrap();
    k.step_succeeded(0, None, 2).unwrap();
    k.start_step(1, 3).unwrap();
    assert_eq!(
        k.request_cancel(cancel(4)),
        Err(TransitionError::PastPointOfNoReturn)
    );
    assert_eq!(k.state, JobState::Running);
}

#[test]
fn cancelling_a_job_that_never_started_skips_compensation() {
    let mut j = job();
    j.wait_for("lock platform".into(), 1).unwrap();
    assert_eq!(j.state, JobState::Waiting);
    j.request_cancel(cancel(2)).unwrap();
    assert!(j.waiting_for.is_none());
    assert_eq!(j.next().unwrap(), Next::Finish(JobState::Cancelled));
    j.finish(JobState::Cancelled, None, 3).unwrap();
    assert!(j.steps.iter().all(|s| s.state == StepState::Skipped));
}

#[test]
fn a_deadline_past_the_point_of_no_return_fails_without_compensating() {
    let mut j = job();
    j.start_step(0, 1).unwrap();
    j.step_succeeded(0, None, 2).unwrap();
    j.start_step(1, 3).unwrap();
    j.fail(StepError::new("deadline_exceeded", "late"), 4)
        .unwrap();
    assert_eq!(j.steps[1].state, StepState::Failed);
    assert_eq!(j.steps[3].state, StepState::Skipped);
    assert_eq!(j.next().unwrap(), Next::Finish(JobState::Failed));
}

#[test]
fn a_takeover_bumps_the_lease_epoch_and_a_renewal_keeps_it() {
    let mut j = job();
    assert_eq!(j.claim("a", 10, 1), Ok(1));
    assert_eq!(j.claim("a", 20, 2), Ok(1));
    assert_eq!(j.claim("b", 30, 3), Ok(2));
    assert_eq!(j.claim("a", 40, 4), Ok(3));
}

#[test]
fn a_step_interrupted_mid_attempt_starts_its_next_attempt() {
    let mut j = job();
    j.start_step(0, 1).unwrap();
    // The runner died here; the next holder starts the step again.
    assert_eq!(j.next().unwrap(), Next::Run(0));
    assert_eq!(j.start_step(0, 2), Ok(2));
    assert_eq!(
        j.start_step(0, 3),
        Err(TransitionError::AttemptsExhausted { index: 0, max: 2 })
    );
}

#[test]
fn an_idempotent_step_cut_by_crashes_keeps_its_attempts_up_to_a_bound() {
    let mut j = job();
    // "check" has 2 attempts; crashes cut both, then many more.
    j.start_step(0, 1).unwrap();
    j.start_step(0, 2).unwrap();
    for n in 1..=MAX_INTERRUPTIONS {
        assert_eq!(j.interrupted(0, 3), Ok(true));
        assert_eq!(
            j.start_step(0, 3),
            Ok(2),
            "rerun {n} keeps the attempt count"
        );
        assert_eq!(j.steps[0].interruptions, n);
        // Never pending in between: a cancel is judged on the running step.
        assert_eq!(j.steps[0].state, StepState::Running);
    }
    assert_eq!(j.interrupted(0, 4), Ok(false), "bounded");
    assert_eq!(j.steps[0].interruptions, MAX_INTERRUPTIONS);
    // Only a running step can have been cut.
    let mut fresh = job();
    assert_eq!(fresh.interrupted(0, 1), Err(TransitionError::NotRunning(0)));
    // The counter is in the record, and absent while zero.
    let v = serde_json::to_value(&j).unwrap();
    assert_eq!(v["steps"][0]["interruptions"], MAX_INTERRUPTIONS);
    assert!(serde_json::to_value(&fresh).unwrap()["steps"][0]
        .get("interruptions")
        .is_none());
}

#[test]
fn the_record_round_trips_and_unknown_kinds_are_refused() {
    let j = job();
    let back: Job = serde_json::from_str(&serde_json::to_string(&j).unwrap()).unwrap();
    assert_eq!(back, j);
    let mut v = serde_json::to_value(&j).unwrap();
    v["kind"] = "tenants.explode".into();
    assert!(serde_json::from_value::<Job>(v).is_err());
    assert_eq!(
        JobKind::parse("routing.reload"),
        Some(JobKind::RoutingReload)
    );
    assert_eq!(JobKind::parse("nope"), None);
}

#[test]
fn targets_lock_one_key_each() {
    let t = Target::Tenant {
        tenant: TenantId::parse("t-1").unwrap(),
    };
    assert_eq!(t.lock_key(), "tenant.t-1");
    assert_eq!(t.to_string(), "tenant:t-1");
    let c = Target::Config {
        document: "routing/dev.json".into(),
    };
    assert_eq!(c.lock_key(), "config.routing=dev=json");
    assert_eq!(Target::Platform.lock_key(), "platform");
}

#[derive(Debug, Clone)]
enum Op {
    Claim(bool),
    Wait,
    Next,
    Start(usize),
    /// The runner's re-run of an idempotent step cut by a crash: one write.
    Rerun(usize),
    Succeed(usize),
    Fail(usize, bool),
    Cancel,
    Deadline,
    Finish(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<bool>().prop_map(Op::Claim),
        Just(Op::Wait),
        Just(Op::Next),
        (0usize..5).prop_map(Op::Start),
        (0usize..5).prop_map(Op::Rerun),
        (0usize..5).prop_map(Op::Succeed),
        ((0usize..5), any::<bool>()).prop_map(|(i, r)| Op::Fail(i, r)),
        Just(Op::Cancel),
        Just(Op::Deadline),
        (0u8..7).prop_map(Op::Finish),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the engine asks, in whatever order, the record never
    /// breaks the rules.
    #[test]
    fn no_sequence_of_transitions_breaks_the_rules(ops in proptest::collection::vec(op(), 1..60)) {
        let mut j = job();
        let mut now = 10;
        for op in ops {
            now += 1;
            let before = j.clone();
            let was_terminal = j.state.is_terminal();
            let was_past = j.past_point_of_no_return();
            let result: Result<(), TransitionError> = match op {
                Op::Claim(other) => j.claim(if other { "b" } else { "a" }, now + 100, now).map(|_| ()),
                Op::Wait => j.wait_for("lock".into(), now),
                Op::Next => j.next().map(|_| ()),
                Op::Start(i) => j.start_step(i, now).map(|_| ()),
                Op::Rerun(i) => {
                    let mut next = j.clone();
                    let r = next.interrupted(i, now).and_then(|_| next.start_step(i, now));
                    if r.is_ok() {
                        j = next;
                    }
                    r.map(|_| ())
                }
                Op::Succeed(i) => j.step_succeeded(i, None, now),
                Op::Fail(i, r) => j.step_failed(i, StepError::new("x", "y"), r, now).map(|_| ()),
                Op::Cancel => j.request_cancel(cancel(now)),
                Op::Deadline => j.fail(StepError::new("deadline_exceeded", "late"), now),
                Op::Finish(s) => j.finish(JobState::ALL[s as usize], None, now),
            };
            if was_terminal {
                prop_assert!(result.is_err(), "a terminal job moved");
                prop_assert_eq!(&j, &before);
            }
            if result.is_err() {
                prop_assert_eq!(&j, &before, "a refused transition changed the record");
            }
            if matches!(op, Op::Cancel) && was_past {
                prop_assert!(result.is_err(), "cancel accepted past the point of no return");
            }
            if was_past && !j.state.is_terminal() {
                prop_assert!(j.past_point_of_no_return(), "the point of no return was walked back");
            }
            for (i, s) in j.steps.iter().enumerate() {
                prop_assert!(s.attempts <= s.max_attempts, "step {} over its attempts", i);
                prop_assert!(s.interruptions <= MAX_INTERRUPTIONS, "step {} over its interruptions", i);
                if s.state == StepState::Running || s.state == StepState::Succeeded {
                    // Every earlier step of the same path had finished.
                    let same_path = |o: &Step| (o.phase == Phase::Compensation) == (s.phase == Phase::Compensation);
                    for o in j.steps[..i].iter().filter(|o| same_path(o)) {
                        prop_assert!(o.state.is_finished(), "step {} ran before an earlier one finished", i);
                    }
                }
            }
            if j.state.is_terminal() {
                prop_assert!(j.lease.is_none());
                prop_assert!(j.steps.iter().all(|s| s.state.is_finished()));
            }
        }
    }
}
