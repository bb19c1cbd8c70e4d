//! Moves: the confirmation flow every tenant and shard move goes through.
//! Opening the dialog asks for the plan; the dialog shows its steps, each
//! gate with what it observed against its threshold, the point of no
//! return and the reverse (and, for a rollback, the spec it restores and
//! what changes), and asks for a reason. A blocked plan cannot be
//! started; a started one goes to the job's live page.

pub mod api;

use crate::ui::{error_text, use_toasts, Badge, Button, ButtonKind, ReasonDialog, Tone};
use leptos::prelude::*;
use model::deploy::DeployChange;
use model::jobs::{JobKind, Phase};
use model::moves::Plan;

/// A button opening the plan dialog for a `kind` job with `input`.
#[component]
pub fn MoveLauncher(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    #[prop(into)] title: String,
    kind: JobKind,
    /// The job's input, read when the dialog opens.
    #[prop(into)]
    input: Signal<serde_json::Value>,
    #[prop(optional)] secondary: bool,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let key = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<String>);
    let plan = RwSignal::new(None::<Result<Plan, String>>);
    // The input as planned: the job is created from it (the plan's own
    // `input` holds fields only the engine may set).
    let asked = RwSignal::new(serde_json::Value::Null);
    let toasts = use_toasts();
    let started = crate::jobs::launch::go_to_job();
    let fetch = Action::new(move |input: &serde_json::Value| {
        let text = input.to_string();
        async move {
            plan.set(Some(
                api::plan_move(kind, text).await.map_err(|e| error_text(&e)),
            ));
        }
    });
    let run = Action::new(move |(k, reason): &(String, String)| {
        let current = plan.get_untracked();
        let asked = asked.get_untracked();
        let (k, reason) = (k.clone(), reason.clone());
        async move {
            let Some(Ok(p)) = current else {
                failure.set(Some(
                    "No plan to start: wait for it, or close and try again.".into(),
                ));
                return;
            };
            if p.blocked {
                failure.set(Some("A gate failed: this plan cannot be started.".into()));
                return;
            }
            match api::create_move(kind, asked.to_string(), p.hash.clone(), k, reason).await {
                Ok(job) => {
                    open.set(false);
                    started.set(Some(job));
                }
                Err(e) => {
                    failure.set(Some(error_text(&e)));
                    toasts.error(&e, None);
                }
            }
        }
    });
    let testid = format!("{id}-button");
    view! {
        <Button
            kind=if secondary { ButtonKind::Secondary } else { ButtonKind::Primary }
            attr:data-testid=testid
            on_click=move |_| {
                key.set(crate::jobs::launch::new_key());
                failure.set(None);
                plan.set(None);
                let i = input.get_untracked();
                asked.set(i.clone());
                fetch.dispatch(i);
                open.set(true);
            }
        >{label.clone()}</Button>
        <ReasonDialog
            open=open
            id=id
            title=title
            confirm="Start job"
            pending=Signal::derive(move || run.pending().get() || plan.get().is_none())
            failure=failure
            on_confirm=Callback::new(move |reason| {
                run.dispatch((key.get_untracked(), reason));
            })
        >
            {move || match plan.get() {
                None => view! { <p class="muted">"Planning…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="field-error" role="alert" data-testid="plan-error">{e}</p> }.into_any(),
                Some(Ok(p)) => view! { <PlanView plan=p /> }.into_any(),
            }}
        </ReasonDialog>
    }
    .into_any()
}

fn phase_label(p: Phase) -> &'static str {
    match p {
        Phase::Reversible => "reversible",
        Phase::Irreversible => "irreversible",
        Phase::Compensation => "only to walk back",
    }
}

/// A plan as the operator confirms it.
#[component]
pub fn PlanView(plan: Plan) -> impl IntoView {
    let failed = plan.gates.iter().filter(|g| !g.pass).count();
    let pnr = plan.point_of_no_return.clone();
    let moving = plan.moves().len();
    let deploy = plan.deploy.clone();
    view! {
        <div class="plan" data-testid="plan" data-blocked=plan.blocked.to_string() data-hash=plan.hash.clone()>
            {plan.blocked.then(|| view! {
                <p class="field-error" role="alert" data-testid="plan-blocked">
                    {format!("Blocked: {failed} gate(s) failed. Nothing will be done.")}
                </p>
            })}
            <table class="data-table" data-testid="plan-gates">
                <caption>"Safety gates"</caption>
                <thead><tr><th scope="col">"Gate"</th><th scope="col">"Subject"</th><th scope="col">"Result"</th><th scope="col">"Observed"</th><th scope="col">"Threshold"</th></tr></thead>
                <tbody>
                    {plan.gates.into_iter().map(|g| view! {
                        <tr data-gate=g.code.clone() data-pass=g.pass.to_string()>
                            <td><code>{g.code.clone()}</code></td>
                            <td>{g.subject.clone()}</td>
                            <td>
                                <Badge tone=if g.pass { Tone::Ok } else { Tone::Error }>{if g.pass { "pass" } else { "fail" }}</Badge>
                                " "{g.message.clone()}
                            </td>
                            <td><code>{g.observed.to_string()}</code></td>
                            <td><code>{g.threshold.to_string()}</code></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {deploy.map(deploy_change)}
            <table class="data-table" data-testid="plan-steps">
                <caption>"Steps, in order"</caption>
                <thead><tr><th scope="col">"#"</th><th scope="col">"Step"</th><th scope="col">"Phase"</th><th scope="col">"What it does"</th></tr></thead>
                <tbody>
                    {plan.steps.into_iter().enumerate().map(|(n, s)| {
                        let is_pnr = pnr.as_deref() == Some(s.name.as_str());
                        view! {
                            <tr data-step=s.name.clone()>
                                <td>{n + 1}</td>
                                <td><code>{s.name.clone()}</code>{is_pnr.then(|| view! { " " <Badge tone=Tone::Warn>"point of no return"</Badge> })}</td>
                                <td>{phase_label(s.phase)}</td>
                                <td>{s.description.clone()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <p data-testid="plan-pnr">{match &plan.point_of_no_return {
                Some(s) => format!("Point of no return: {s}. Until it, cancel or a failure walks everything back."),
                None => "No point of no return: the job can be cancelled at any step.".to_owned(),
            }}</p>
            {plan.reverse.map(|r| view! {
                <p data-testid="plan-reverse">{format!("Reverse: a {} job ({} steps), offered when this one ends.", r.kind, r.steps.len())}</p>
            })}
            {(moving > 0).then(|| view! {
                <p data-testid="plan-moves">{format!("{moving} tenants will be moved.")}</p>
            })}
            <p class="muted">"Revisions read: " {revisions_read(&plan.revisions)} "; plan " <code>{plan.hash.chars().take(12).collect::<String>()}</code></p>
        </div>
    }
    .into_any()
}

/// A rollback plan's change: the recorded spec it restores, the image
/// from → to, and every field that differs from the running spec.
fn deploy_change(d: DeployChange) -> impl IntoView {
    let (from, to) = (d.from_seq, d.to_seq);
    let image = d
        .changes
        .iter()
        .find(|c| c.field == "image")
        .map(|c| (c.from.clone(), c.to.clone()));
    let changes = if d.changes.is_empty() {
        view! {
            <p class="muted" data-testid="plan-deploy-changes" data-empty="true">
                "No summarised field differs (the specs differ only where the summary does not look)."
            </p>
        }
        .into_any()
    } else {
        let caption = format!(
            "{} change(s) from the running #{from} to #{to}",
            d.changes.len()
        );
        crate::deploy::spec_changes_table(
            d.changes,
            "What the rollback changes",
            caption,
            "plan-deploy-changes",
        )
    };
    let dash = || "—".to_owned();
    view! {
        <section class="plan-deploy" data-testid="plan-deploy" data-from-seq=from.to_string() data-to-seq=to.to_string()>
            <h3>"Deploy change"</h3>
            <dl class="facts">
                <dt>"Service"</dt><dd><code>{d.service.to_string()}</code></dd>
                <dt>"Target"</dt>
                <dd data-testid="plan-deploy-target">
                    {format!("recorded spec #{to}, replacing the running #{from} (Swarm version {})", d.spec_version)}
                </dd>
                <dt>"Image"</dt>
                <dd data-testid="plan-deploy-image">{match image {
                    Some((a, b)) => view! {
                        <code>{a.unwrap_or_else(dash)}</code>" → "<code>{b.unwrap_or_else(dash)}</code>
                    }.into_any(),
                    None => "unchanged".into_any(),
                }}</dd>
            </dl>
            {changes}
        </section>
    }
}

/// The revisions a plan read: a config plan's documents, or a move's
/// routing and placement.
fn revisions_read(r: &model::moves::Revisions) -> String {
    if !r.config.is_empty() {
        return r
            .config
            .iter()
            .map(|(doc, rev)| format!("{doc} at {rev}"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    let mut parts = vec![format!("routing {}", r.routing)];
    parts.extend(
        r.placement
            .iter()
            .map(|(k, rev)| format!("{k} placement {rev}")),
    );
    parts.join(", ")
}
