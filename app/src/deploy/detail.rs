//! One service: who it is (image, digest, version, update state), the spec
//! running now (secret values only as fingerprints), its tasks, the specs
//! recorded for it, and "what changed" between two of them. A holder of
//! `control.deploy.rollback` rolls it back from here (to the previous
//! recorded spec, or to any earlier one from its history row) through the
//! plan dialog every job goes through.

use super::api::{get_service, get_service_diff, get_service_history};
use super::{
    engine_time, or_dash, sha_chip, short_sha, spec_changes_table, stale_alert, status_tone,
    update_tone, use_changes, version_text,
};
use crate::error::AppError;
use crate::moves::MoveLauncher;
use crate::support::flow::background;
use crate::support::format::encode;
use crate::ui::{error_alert, Badge, Button, ButtonKind, IdChip, Time, Tone};
use leptos::prelude::*;
use leptos_router::components::A;
use model::deploy::{
    EnvValue, ImageRef, Pin, Resources, ServiceDetail, ServiceView, SpecDiff, SpecHistory,
    SpecRecord, SpecSummary, TaskState, TaskView, UpdatePolicy, HISTORY_SHOWN,
};
use model::jobs::JobKind;
use model::rights::Right;
use serde::{Deserialize, Serialize};

/// The two records compared: `None` is the server's default (the newest,
/// and the one before `to`), so an unpicked pair follows new deploys.
type Pick = (Option<u64>, Option<u64>);

/// What the view shows, read in one go (one resource, so the page hydrates
/// without nested transitions).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Loaded {
    detail: Result<ServiceDetail, AppError>,
    /// Every recorded spec, once the operator asked for more than the
    /// detail's newest `HISTORY_SHOWN`.
    all: Option<Result<SpecHistory, AppError>>,
    /// `None` until there are two records to compare.
    diff: Option<Result<SpecDiff, AppError>>,
}

async fn load(name: String, (from, to): Pick, all: bool) -> Loaded {
    let detail = get_service(name.clone()).await;
    let records = match &detail {
        Ok(d) => d.history.len(),
        Err(_) => {
            return Loaded {
                detail,
                all: None,
                diff: None,
            }
        }
    };
    let history = async {
        if all {
            Some(get_service_history(name.clone()).await)
        } else {
            None
        }
    };
    let diff = async {
        if records >= 2 {
            Some(get_service_diff(name.clone(), from, to).await)
        } else {
            None
        }
    };
    let (all, diff) = futures::join!(history, diff);
    Loaded { detail, all, diff }
}

/// Whether the signed-in operator may roll services back (the server
/// refuses the plan either way).
fn may_roll_back() -> Signal<bool> {
    let session = use_context::<crate::shell::layout::Session>();
    Signal::derive(move || {
        session
            .and_then(crate::iam::caller)
            .is_some_and(|w| w.can(Right::DeployRollback))
    })
}

#[component]
pub fn ServiceDetailView(name: String) -> impl IntoView {
    let pick = RwSignal::new((None, None));
    let all = RwSignal::new(false);
    // Read again on every change the Swarm observer pushes.
    let tick = use_changes();
    let stored = StoredValue::new(name.clone());
    let data = Resource::new(
        move || (tick.get(), pick.get(), all.get()),
        move |(_, p, a)| background(load(stored.get_value(), p, a)),
    );
    let can = may_roll_back();
    // Outside the transition: a refresh never closes an open dialog.
    let previous = Signal::stored(serde_json::json!({ "service": name.clone() }));
    let title = format!("Roll back {name}");
    view! {
        <p><A href="/deployments">"← All services"</A></p>
        <h2 data-testid="deploy-service-title"><code>{name}</code></h2>
        <Show when=move || can.get()>
            <div class="page-actions" data-testid="deploy-actions">
                <MoveLauncher id="rollback" label="Roll back…" title=title.clone() kind=JobKind::DeployRollback input=previous />
                <p class="muted">"To the previous recorded spec; any earlier one from its row in the history. The plan shows what changes and why it may be blocked."</p>
            </div>
        </Show>
        <Transition fallback=|| view! { <p class="muted">"Loading the service…"</p> }>
            <DetailBody data=data pick=pick all=all name=stored can=can />
        </Transition>
    }
    .into_any()
}

/// Inside the `Transition`, so every read of `data` here holds it. Each
/// part is a memo: a refresh re-renders only what changed, so focus and
/// the screen reader's place stay where they are.
#[component]
fn DetailBody(
    data: Resource<Loaded>,
    pick: RwSignal<Pick>,
    all: RwSignal<bool>,
    name: StoredValue<String>,
    can: Signal<bool>,
) -> impl IntoView {
    let service = part(data, |d| d.service.clone());
    let pin = part(data, |d| d.pin.clone());
    let spec = part(data, |d| d.spec.clone());
    let tasks = part(data, |d| d.tasks.clone());
    let stale = part(data, |d| d.stale);
    let observed = part(data, |d| d.observed_ms);
    let more = part(data, |d| d.history.len() >= HISTORY_SHOWN);
    let error = Memo::new(move |_| {
        data.with(|l| l.as_ref().and_then(|l| l.detail.as_ref().err().cloned()))
    });
    // All of them once read, else the detail's newest.
    let history = Memo::new(move |_| {
        data.with(|l| {
            l.as_ref().and_then(|l| match &l.all {
                Some(Ok(h)) => Some(h.items.clone()),
                _ => l.detail.as_ref().ok().map(|d| d.history.clone()),
            })
        })
    });
    let all_error = Memo::new(move |_| {
        data.with(|l| {
            l.as_ref()
                .and_then(|l| l.all.as_ref())
                .and_then(|r| r.as_ref().err().cloned())
        })
    });
    let diff = Memo::new(move |_| data.with(|l| l.as_ref().and_then(|l| l.diff.clone())));
    view! {
        {move || error.get().map(error_alert)}
        {move || stale.get().unwrap_or(false).then(stale_alert)}
        {move || observed.get().map(|ms| view! {
            <p class="muted" data-testid="deploy-observed">"Observed " <Time ms=ms /> " · read again every 3 s"</p>
        })}
        {move || pin.get().flatten().map(pin_alert)}
        {move || service.get().map(identity)}
        {move || spec.get().map(spec_view)}
        {move || tasks.get().map(tasks_table)}
        <Show when=move || history.with(Option::is_some)>
            <section aria-labelledby="deploy-history-title">
                <h3 id="deploy-history-title">"History"</h3>
                {move || history.get().map(|h| history_table(h, &name.get_value(), can.get()))}
                {move || all_error.get().map(error_alert)}
                <Show when=move || more.get().unwrap_or(false) && !all.get()>
                    <Button kind=ButtonKind::Secondary attr:data-testid="deploy-history-all" on_click=move |_| all.set(true)>
                        "Show every recorded spec"
                    </Button>
                </Show>
            </section>
            <Compare history=history diff=diff pick=pick />
        </Show>
    }
    .into_any()
}

/// A service a rollback pinned: further rollbacks are refused (the plan's
/// `SERVICE_NOT_PINNED` gate) until an operator unpins it with a reason.
fn pin_alert(p: Pin) -> impl IntoView {
    let job = p.job.to_string();
    view! {
        <p class="warn-alert" role="status" data-testid="deploy-pin" data-seq=p.seq.to_string()>
            {format!("Pinned to recorded spec #{} by {} ", p.seq, p.by)}
            <Time ms=p.at_ms />
            " (" <A href=crate::jobs::job_href(&job)>"the rollback job"</A> "): "
            {p.reason}
            ". Further rollbacks are refused until an operator unpins it."
        </p>
    }
}

/// One part of the detail, as a memo.
fn part<T: Clone + PartialEq + Send + Sync + 'static>(
    data: Resource<Loaded>,
    f: fn(&ServiceDetail) -> T,
) -> Memo<Option<T>> {
    Memo::new(move |_| data.with(|l| l.as_ref().and_then(|l| l.detail.as_ref().ok()).map(f)))
}

fn identity(s: ServiceView) -> impl IntoView {
    let replicas = match s.replicas_desired {
        Some(d) => format!("{} running of {d} desired", s.replicas_running),
        None => format!("{} running (global: one per node)", s.replicas_running),
    };
    let stack_link = s.stack.clone().map(|st| {
        let href = format!("/deployments?stack={}", encode(&st));
        view! { <A href=href>{st}</A> }
    });
    view! {
        <dl class="facts" data-testid="deploy-identity">
            <dt>"Status"</dt>
            <dd data-testid="deploy-status" data-status=s.status.as_str()>
                <Badge tone=status_tone(s.status)>{s.status.as_str()}</Badge>
                {(s.recent_failures > 0).then(|| format!(" {} failed task(s) in the last 5 minutes", s.recent_failures))}
            </dd>
            <dt>"Stack"</dt><dd>{stack_link.map(IntoAny::into_any).unwrap_or_else(|| "—".into_any())}</dd>
            <dt>"Image"</dt><dd><code>{s.image.clone()}</code></dd>
            <dt>"Tag"</dt><dd>{or_dash(s.image_ref.tag.clone())}</dd>
            <dt>"Digest"</dt><dd>{match s.image_ref.digest.clone() {
                Some(d) => sha_chip("digest", d),
                None => "not pinned".into_any(),
            }}</dd>
            <dt>"Version"</dt><dd data-testid="deploy-version">{version_text(&s)}</dd>
            <dt>"Git SHA"</dt><dd>{match s.git_sha.clone() {
                Some(g) => sha_chip("git sha", g),
                None => "—".into_any(),
            }}</dd>
            <dt>"Mode"</dt><dd>{format!("{:?}", s.mode).to_lowercase()}</dd>
            <dt>"Replicas"</dt><dd data-testid="deploy-replicas">{replicas}</dd>
            <dt>"Update"</dt><dd data-testid="deploy-update">{match s.update.clone() {
                Some(u) => view! {
                    <Badge tone=update_tone(u.state)>{u.state.as_str()}</Badge>
                    {u.message.map(|m| view! { " " {m} })}
                    " · started " {engine_time(u.started_at.as_deref())}
                    " · completed " {engine_time(u.completed_at.as_deref())}
                }.into_any(),
                None => "none since the service was created".into_any(),
            }}</dd>
            <dt>"Last update"</dt><dd>{engine_time(s.updated_at.as_deref())}</dd>
            <dt>"Service id"</dt><dd><IdChip kind="service id" shown=short_sha(&s.id) value=s.id.clone() /></dd>
            <dt>"Spec version"</dt><dd title="Swarm's Version.Index, the fencing token of an update">{s.spec_version}</dd>
        </dl>
    }
}

fn env_text(v: &EnvValue) -> String {
    match v {
        EnvValue::Plain(v) => v.clone(),
        EnvValue::Redacted(h) => format!("secret (fingerprint {h}…)"),
    }
}

fn names(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Nanoseconds as seconds ("10s", "0.5s").
fn ns_text(ns: i64) -> String {
    format!("{}s", ns as f64 / 1e9)
}

fn resources_text(r: &Resources) -> String {
    let mut parts = Vec::new();
    if let Some(n) = r.nano_cpus {
        parts.push(format!("{} CPU", n as f64 / 1e9));
    }
    if let Some(b) = r.memory_bytes {
        parts.push(match b % (1 << 20) {
            0 => format!("{} MiB", b >> 20),
            _ => format!("{b} bytes of memory"),
        });
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn policy_text(p: &UpdatePolicy) -> String {
    let mut parts = Vec::new();
    if let Some(n) = p.parallelism {
        parts.push(format!("{n} at a time"));
    }
    if let Some(d) = p.delay_ns {
        parts.push(format!("{} between", ns_text(d)));
    }
    if let Some(a) = &p.failure_action {
        parts.push(format!("on failure {a}"));
    }
    if let Some(m) = p.monitor_ns {
        parts.push(format!("monitored {}", ns_text(m)));
    }
    if let Some(r) = &p.max_failure_ratio {
        parts.push(format!("max failure ratio {r}"));
    }
    if let Some(o) = &p.order {
        parts.push(format!("order {o}"));
    }
    if parts.is_empty() {
        "Swarm's defaults".into()
    } else {
        parts.join(", ")
    }
}

fn spec_view(s: SpecSummary) -> impl IntoView {
    let env = if s.env.is_empty() {
        view! { <p class="muted">"No environment variables."</p> }.into_any()
    } else {
        let rows = s
            .env
            .iter()
            .map(|(k, v)| {
                let secret = matches!(v, EnvValue::Redacted(_));
                view! {
                    <tr data-key=k.clone() data-secret=secret.to_string()>
                        <th scope="row"><code>{k.clone()}</code></th>
                        <td>{if secret {
                            view! { <span class="muted">{env_text(v)}</span> }.into_any()
                        } else {
                            view! { <code>{env_text(v)}</code> }.into_any()
                        }}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="table-wrap" tabindex="0" role="region" aria-label="Environment">
                <table class="data-table" data-testid="deploy-env">
                    <caption>"Environment (secret-looking values only as a fingerprint)"</caption>
                    <thead><tr><th scope="col">"Variable"</th><th scope="col">"Value"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <section class="card" aria-labelledby="deploy-spec-title" data-testid="deploy-spec">
            <h3 id="deploy-spec-title">"Running spec"</h3>
            {env}
            <dl class="facts">
                <dt>"Secrets"</dt><dd>{names(&s.secrets)}</dd>
                <dt>"Configs"</dt><dd>{names(&s.configs)}</dd>
                <dt>"Constraints"</dt><dd>{names(&s.constraints)}</dd>
                <dt>"Networks"</dt><dd>{names(&s.networks)}</dd>
                <dt>"Limits"</dt><dd>{resources_text(&s.limits)}</dd>
                <dt>"Reservations"</dt><dd>{resources_text(&s.reservations)}</dd>
                <dt>"Update config"</dt><dd>{policy_text(&s.update_config)}</dd>
                <dt>"Rollback config"</dt><dd>{policy_text(&s.rollback_config)}</dd>
                <dt>"Healthcheck"</dt><dd>{or_dash(s.healthcheck.as_ref().map(|h| h.join(" ")))}</dd>
            </dl>
        </section>
    }
}

/// Every task state is one word, as the daemon spells it.
fn task_state_text(s: TaskState) -> String {
    format!("{s:?}").to_lowercase()
}

fn task_tone(s: TaskState) -> Tone {
    match s {
        TaskState::Running => Tone::Ok,
        TaskState::Failed | TaskState::Rejected => Tone::Error,
        TaskState::Complete | TaskState::Shutdown | TaskState::Remove | TaskState::Orphaned => {
            Tone::Neutral
        }
        _ => Tone::Info,
    }
}

fn tasks_table(tasks: Vec<TaskView>) -> AnyView {
    if tasks.is_empty() {
        return view! { <p class="muted" data-testid="deploy-tasks" data-empty="true">"No tasks."</p> }
            .into_any();
    }
    let count = tasks.len();
    let rows = tasks
        .into_iter()
        .map(|t| {
            let said = [t.error.clone(), t.message.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            view! {
                <tr data-task=t.id.clone()>
                    <td><IdChip kind="task" shown=short_sha(&t.id) value=t.id.clone() /></td>
                    <td><Badge tone=task_tone(t.state)>{task_state_text(t.state)}</Badge></td>
                    <td>{task_state_text(t.desired_state)}</td>
                    <td>{or_dash(t.node.clone())}</td>
                    <td>{t.slot.map(|s| s.to_string()).unwrap_or_else(|| "—".into())}</td>
                    <td>{t.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())}</td>
                    <td>{said}</td>
                    <td><Time ms=t.since_ms /></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Tasks">
            <table class="data-table" data-testid="deploy-tasks">
                <caption>{format!("{count} tasks, newest first")}</caption>
                <thead><tr>
                    <th scope="col">"Task"</th><th scope="col">"State"</th><th scope="col">"Desired"</th>
                    <th scope="col">"Node"</th><th scope="col">"Slot"</th><th scope="col">"Exit code"</th>
                    <th scope="col">"Error / message"</th><th scope="col">"Since"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The version a record deployed: its version label, else its image tag.
fn record_version(r: &SpecRecord) -> String {
    r.summary
        .version()
        .map(str::to_owned)
        .or_else(|| ImageRef::parse(&r.summary.image).tag)
        .unwrap_or_else(|| "—".into())
}

/// The recorded specs, newest first. The newest is the one running (the
/// observer records a spec before the page can see it); a row with another
/// spec offers a rollback to it, for holders of the right.
fn history_table(records: Vec<SpecRecord>, service: &str, can: bool) -> impl IntoView {
    let count = records.len();
    let running = records.first().map(|r| r.spec_sha256.clone());
    let rows = records
        .into_iter()
        .map(|r| {
            let source = format!("{:?}", r.source).to_lowercase();
            let current = running.as_deref() == Some(r.spec_sha256.as_str());
            let action = if current {
                view! { <Badge tone=Tone::Ok>"running"</Badge> }.into_any()
            } else if can {
                let seq = r.seq;
                let input = serde_json::json!({ "service": service, "to_seq": seq });
                view! {
                    <MoveLauncher
                        id=format!("rollback-{seq}")
                        label="Roll back to this"
                        title=format!("Roll back {service} to #{seq}")
                        kind=JobKind::DeployRollback
                        input=Signal::stored(input)
                        secondary=true
                    />
                }
                .into_any()
            } else {
                "—".into_any()
            };
            view! {
                <tr data-seq=r.seq.to_string() data-current=current.to_string()>
                    <td>{format!("#{}", r.seq)}</td>
                    <td><Time ms=r.recorded_ms /></td>
                    <td>
                        {source}
                        {r.by.clone().map(|b| view! { " by " {b} })}
                        {r.job.clone().map(|j| view! { " · " <A href=crate::jobs::job_href(j.as_str())>"job"</A> })}
                    </td>
                    <td>{match r.update_state {
                        Some(u) => view! { <Badge tone=update_tone(u)>{u.as_str()}</Badge> }.into_any(),
                        None => "—".into_any(),
                    }}</td>
                    <td>{record_version(&r)}</td>
                    <td>{sha_chip("spec sha256", r.spec_sha256.clone())}</td>
                    <td class="row-actions">{action}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Recorded specs">
            <table class="data-table" data-testid="deploy-history">
                <caption>{format!("{count} recorded specs, newest first")}</caption>
                <thead><tr>
                    <th scope="col">"Record"</th><th scope="col">"When"</th><th scope="col">"Source"</th>
                    <th scope="col">"Update state"</th><th scope="col">"Version"</th><th scope="col">"Spec SHA-256"</th>
                    <th scope="col">"Rollback"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// "What changed" between two records the operator picks; at first the
/// newest against the one before it. The selects stay put while the page
/// refreshes; only their options and the table follow the data.
#[component]
fn Compare(
    history: Memo<Option<Vec<SpecRecord>>>,
    diff: Memo<Option<Result<SpecDiff, AppError>>>,
    pick: RwSignal<Pick>,
) -> impl IntoView {
    let seqs = Memo::new(move |_| {
        history
            .get()
            .map(|h| h.iter().map(|r| r.seq).collect::<Vec<_>>())
            .unwrap_or_default()
    });
    // The pair the server compared (the defaults resolved).
    let shown = Memo::new(move |_| {
        diff.with(|d| {
            d.as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|d| (d.from.seq, d.to.seq))
        })
    });
    let select = move |id: &'static str, label: &'static str, to: bool| {
        let current = move || shown.get().map(|(f, t)| if to { t } else { f });
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <select
                    id=id
                    data-testid=id
                    prop:value=move || current().map(|s| s.to_string()).unwrap_or_default()
                    on:change=move |ev| {
                        let seq = event_target_value(&ev).parse().ok();
                        pick.update(|p| if to { p.1 = seq } else { p.0 = seq });
                    }
                >
                    {move || seqs.get().into_iter().map(|seq| view! {
                        <option value=seq.to_string() selected=move || current() == Some(seq)>{format!("#{seq}")}</option>
                    }).collect_view()}
                </select>
            </div>
        }
    };
    view! {
        <section class="deploy-compare" aria-labelledby="deploy-changed-title">
            <h3 id="deploy-changed-title">"What changed"</h3>
            <Show
                when=move || seqs.with(|s| s.len() >= 2)
                fallback=|| view! {
                    <p class="muted" data-testid="deploy-diff" data-empty="true">"One recorded spec: nothing to compare yet."</p>
                }
            >
                <div class="filters" role="group" aria-label="Recorded specs to compare">
                    {select("deploy-diff-from", "From", false)}
                    {select("deploy-diff-to", "To", true)}
                </div>
                {move || diff.get().map(|r| match r {
                    Err(e) => error_alert(e),
                    Ok(d) => changes_table(d),
                })}
            </Show>
        </section>
    }
    .into_any()
}

fn changes_table(d: SpecDiff) -> AnyView {
    let (from, to) = (d.from.seq, d.to.seq);
    if d.changes.is_empty() {
        return view! {
            <p class="muted" data-testid="deploy-diff" data-empty="true">{format!("No difference between #{from} and #{to}.")}</p>
        }
        .into_any();
    }
    let caption = format!("{} change(s) from #{from} to #{to}", d.changes.len());
    spec_changes_table(d.changes, "What changed", caption, "deploy-diff")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_show_only_their_fingerprint() {
        assert_eq!(
            env_text(&EnvValue::Redacted("0123456789ab".into())),
            "secret (fingerprint 0123456789ab…)"
        );
        assert_eq!(env_text(&EnvValue::Plain("info".into())), "info");
    }

    #[test]
    fn specs_read_as_text() {
        assert_eq!(ns_text(10_000_000_000), "10s");
        assert_eq!(ns_text(500_000_000), "0.5s");
        let r = Resources {
            nano_cpus: Some(500_000_000),
            memory_bytes: Some(256 << 20),
        };
        assert_eq!(resources_text(&r), "0.5 CPU, 256 MiB");
        assert_eq!(resources_text(&Resources::default()), "none");
        let p = UpdatePolicy {
            parallelism: Some(1),
            delay_ns: Some(10_000_000_000),
            failure_action: Some("rollback".into()),
            order: Some("start-first".into()),
            ..UpdatePolicy::default()
        };
        assert_eq!(
            policy_text(&p),
            "1 at a time, 10s between, on failure rollback, order start-first"
        );
        assert_eq!(policy_text(&UpdatePolicy::default()), "Swarm's defaults");
        assert_eq!(task_state_text(TaskState::Running), "running");
    }
}
