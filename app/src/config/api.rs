//! The Config and Definitions pages' server functions: the same
//! `engine::config::Registry` calls as `/admin/v1/config/...`, and the
//! config jobs' plan and create (one server function per verb, the kind an
//! argument, as for the moves; the engine checks the kind's right). A
//! document is named by its parts (`domain`, `name`, `scope`: `None` is
//! `platform`); inputs travel as JSON text.

use crate::error::AppError;
use leptos::prelude::*;
use model::config::{
    ConfigDiff, ConfigDocument, ConfigHistory, ConfigList, DefinitionList, Domain, Validation,
};
use model::jobs::JobKind;
use model::moves::Plan;

/// The control plane's flags in force (every page shows the banner and
/// the change freeze).
#[server(client = crate::support::client::IdClient, endpoint = "config/flags")]
pub async fn platform_flags() -> Result<model::config::Flags, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<PlatformFlags as server_fn::ServerFn>::PATH).await?;
    let flags = engine()?.config.flags().borrow().clone();
    Ok(flags)
}

#[server(client = crate::support::client::IdClient, endpoint = "config/list")]
pub async fn list_config(
    domain: Option<Domain>,
    scope: Option<String>,
) -> Result<ConfigList, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<ListConfig as server_fn::ServerFn>::PATH).await?;
    let scope = scope
        .as_deref()
        .map(model::config::Scope::parse)
        .transpose()
        .map_err(|m| AppError::new(model::ErrorCode::BadRequest, m))?;
    Ok(engine()?.config.list(domain, scope.as_ref()).await?)
}

/// Validates the editor's text (so every issue carries its line).
#[server(client = crate::support::client::IdClient, endpoint = "config/validate")]
pub async fn validate_config(
    domain: String,
    name: String,
    scope: Option<String>,
    text: String,
) -> Result<Validation, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<ValidateConfig as server_fn::ServerFn>::PATH).await?;
    let id = engine::config::Registry::id(&domain, &name, scope.as_deref())?;
    let req = model::config::ValidateRequest {
        domain: id.domain,
        name: id.name,
        scope: id.scope,
        text: Some(text),
        document: None,
    };
    Ok(engine()?.config.validate(&req).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "config/definitions")]
pub async fn list_definitions() -> Result<DefinitionList, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<ListDefinitions as server_fn::ServerFn>::PATH).await?;
    Ok(DefinitionList {
        items: engine()?.config.definitions().await?,
    })
}

/// A document: the current revision, or `revision` while it is kept.
#[server(client = crate::support::client::IdClient, endpoint = "config/get")]
pub async fn get_config(
    domain: String,
    name: String,
    scope: Option<String>,
    revision: Option<u64>,
) -> Result<ConfigDocument, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<GetConfig as server_fn::ServerFn>::PATH).await?;
    let id = engine::config::Registry::id(&domain, &name, scope.as_deref())?;
    Ok(engine()?.config.get(&id, revision).await?)
}

#[server(client = crate::support::client::IdClient, endpoint = "config/history")]
pub async fn get_config_history(
    domain: String,
    name: String,
    scope: Option<String>,
) -> Result<ConfigHistory, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<GetConfigHistory as server_fn::ServerFn>::PATH).await?;
    let id = engine::config::Registry::id(&domain, &name, scope.as_deref())?;
    Ok(engine()?.config.history(&id).await?)
}

/// `from` (default: the revision before `to`) against `to` (default: the
/// current one).
#[server(client = crate::support::client::IdClient, endpoint = "config/diff")]
pub async fn get_config_diff(
    domain: String,
    name: String,
    scope: Option<String>,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<ConfigDiff, AppError> {
    use crate::support::guard::{engine, guard};
    guard(<GetConfigDiff as server_fn::ServerFn>::PATH).await?;
    let id = engine::config::Registry::id(&domain, &name, scope.as_deref())?;
    Ok(engine()?.config.diff(&id, from, to).await?)
}

/// Lifts a rollback's pin; answers the document, unpinned.
#[server(client = crate::support::client::IdClient, endpoint = "config/unpin")]
pub async fn unpin_config(
    domain: String,
    name: String,
    scope: Option<String>,
    reason: String,
) -> Result<ConfigDocument, AppError> {
    use crate::support::guard::{engine, guard};
    let caller = guard(<UnpinConfig as server_fn::ServerFn>::PATH).await?;
    let id = engine::config::Registry::id(&domain, &name, scope.as_deref())?;
    let config = engine()?.config;
    config.unpin(&caller, &id, &reason).await?;
    Ok(config.get(&id, None).await?)
}

/// Plans a `config.apply` or `config.rollback` job for `input` (an
/// `ApplyInput` or a `RollbackInput` as JSON text). Reads only.
#[server(client = crate::support::client::IdClient, endpoint = "config/plan")]
pub async fn plan_config(kind: JobKind, input: String) -> Result<Plan, AppError> {
    use crate::support::guard::{engine, guard};
    let caller = guard(<PlanConfig as server_fn::ServerFn>::PATH).await?;
    config_kind(kind)?;
    let input = parse(&input)?;
    Ok(engine()?.jobs.plan(&caller, kind, &input).await?)
}

/// Creates the job of a plan the operator saw; answers its id. Scoped
/// like the REST door's create, so a retry never makes two jobs.
#[server(client = crate::support::client::IdClient, endpoint = "config/create")]
pub async fn create_config(
    kind: JobKind,
    input: String,
    plan_hash: String,
    idempotency_key: String,
    reason: String,
) -> Result<String, AppError> {
    use crate::support::guard::{engine, guard};
    use model::jobs::CreateJob;
    let caller = guard(<CreateConfig as server_fn::ServerFn>::PATH).await?;
    config_kind(kind)?;
    let body = CreateJob {
        reason,
        input: parse(&input)?,
        plan_hash: Some(plan_hash),
    };
    let created = engine()?
        .jobs
        .create_at_door(&caller, kind, Some(&idempotency_key), body)
        .await?;
    Ok(created.job_id.to_string())
}

/// Only the config kinds go through these doors.
#[cfg(feature = "ssr")]
fn config_kind(kind: JobKind) -> Result<(), AppError> {
    match kind {
        JobKind::ConfigApply | JobKind::ConfigRollback => Ok(()),
        other => Err(AppError::new(
            model::ErrorCode::BadRequest,
            format!("kind: {} is not a config job", other.as_str()),
        )),
    }
}

#[cfg(feature = "ssr")]
fn parse(input: &str) -> Result<serde_json::Value, AppError> {
    serde_json::from_str(input).map_err(|e| {
        AppError(model::ErrorBody::new(
            model::ErrorCode::BadRequest,
            format!("input: {}", model::error::safe_serde_detail(&e.to_string())),
        ))
    })
}
