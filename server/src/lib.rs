//! The `control` server as a library: config, wiring, router, middleware.
//! `main.rs` only parses the command line and calls in here.

pub mod config;
pub mod error;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod routes;
pub mod state;

use crate::config::{Config, FleetSource, StoreBackend};
use crate::state::AppState;
use app::{shell, App};
use axum::extract::{Request, State};
use axum::routing::{any, get, post};
use axum::Router;
use engine::audit::AuditLog;
use engine::auth::{KeySet, TokenConfig, TokenValidator};
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
use engine::gateway::GatewayClient;
use engine::iam::IamService;
use engine::identity::{AuthSettings, Authenticator};
use engine::readiness::{DataDirCheck, Readiness, StoreCheck};
use engine::store::embedded::EmbeddedStore;
use engine::store::nats::NatsStore;
use engine::store::{StoreError, Substrate};
use engine::{ControlPlane, RunMode};
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use std::time::Duration;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_SHA: &str = env!("CONTROL_GIT_SHA");

pub fn build_info() -> model::BuildInfo {
    model::BuildInfo {
        service: "control".into(),
        version: VERSION.into(),
        git_sha: GIT_SHA.into(),
    }
}

/// The NATS client options for a loaded config.
pub fn nats_options(config: &Config) -> engine::store::nats::NatsOptions {
    let n = &config.nats;
    let url = n.url.clone().unwrap_or_default();
    engine::store::nats::NatsOptions {
        tls_required: n.tls_required || url.starts_with("tls://"),
        url,
        user: n.user.clone(),
        password: n.password.as_ref().map(|s| s.expose().to_owned()),
        token: n.token.as_ref().map(|s| s.expose().to_owned()),
        creds_file: n.creds_file.clone(),
        ca_file: n.ca_file.clone(),
        name: "control".into(),
    }
}

/// Opens the configured store. The embedded store must open (it is local);
/// NATS may be down at start: the client keeps trying and `/ready` says so.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Substrate>, StoreError> {
    Ok(match config.store.backend {
        StoreBackend::Embedded => Arc::new(EmbeddedStore::open(&config.store.data_dir).await?),
        StoreBackend::Nats => Arc::new(NatsStore::connect(&nats_options(config)).await?),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("configuration: {0}")]
    Config(String),
}

/// The audit chain key: from config, or (dev only) a generated key kept in
/// the data dir so the chain still verifies after a restart.
fn audit_key(config: &Config, mode: RunMode) -> Result<Vec<u8>, StartError> {
    if let Some(k) = &config.audit.hmac_key {
        return Ok(k.expose().as_bytes().to_vec());
    }
    if mode != RunMode::Dev {
        return Err(StartError::Config(
            "audit.hmac_key is required (CONTROL_AUDIT_HMAC_KEY_FILE)".into(),
        ));
    }
    let path = config.store.data_dir.join("audit.key");
    match std::fs::read_to_string(&path) {
        Ok(k) if k.trim().len() >= 32 => Ok(k.trim().as_bytes().to_vec()),
        Ok(_) => Err(StartError::Config(format!(
            "{} holds a key shorter than 32 bytes",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::RngCore;
            let mut b = [0u8; 32];
            rand::rng().fill_bytes(&mut b);
            let key: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let write = || -> std::io::Result<()> {
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&path)?;
                f.write_all(key.as_bytes())?;
                f.sync_all()
            };
            write()
                .map_err(|e| StartError::Config(format!("cannot write {}: {e}", path.display())))?;
            Ok(key.into_bytes())
        }
        Err(e) => Err(StartError::Config(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Token validation and the Gateway client from `[auth]`.
pub fn build_authenticator(config: &Config) -> Result<Arc<Authenticator>, StartError> {
    let a = &config.auth;
    let gateway_url = a.gateway_url.as_deref().ok_or_else(|| {
        StartError::Config("auth.gateway_url is required (CONTROL_AUTH_GATEWAY_URL)".into())
    })?;
    let gateway = GatewayClient::with_ca(
        gateway_url,
        Duration::from_millis(a.gateway_timeout_ms),
        a.gateway_ca_file.as_deref(),
    )
    .map_err(|e| StartError::Config(format!("auth.gateway_url / auth.gateway_ca_file: {e}")))?;
    let validator = TokenValidator::new(
        TokenConfig {
            issuer: a.issuer.clone(),
            audience: a.audience.clone(),
            algorithms: a.algorithm_list().map_err(StartError::Config)?,
            hs256_secret: a
                .hs256_secret
                .as_ref()
                .map(|s| s.expose().as_bytes().to_vec()),
            leeway_secs: a.leeway_secs,
            max_len: a.max_token_bytes,
        },
        KeySet::default(),
    );
    Ok(Arc::new(Authenticator::new(
        validator,
        gateway,
        AuthSettings {
            jwks_url: a.effective_jwks_url(),
            jwks_refresh: Duration::from_secs(a.jwks_refresh_secs),
            cache_ttl: Duration::from_millis(a.principal_cache_ms),
            cache_max: 10_000,
        },
    )))
}

/// The audited-action runner, its intent recovery started. An intent is
/// taken over once it is older than any action can take: its three Gateway
/// calls (digest before, the call, digest after) and the append's retries,
/// plus a margin.
fn audited_actions(
    config: &Config,
    audit: Arc<AuditLog>,
    store: Arc<dyn Substrate>,
) -> engine::action::Actions {
    let stale_after = 3 * Duration::from_millis(config.auth.gateway_timeout_ms)
        + audit.append_deadline()
        + Duration::from_secs(10);
    let actions = engine::action::Actions::new(
        audit,
        store,
        engine::action::Timing {
            stale_after,
            every: stale_after / 2,
        },
    );
    actions.spawn_recovery();
    actions
}

/// Builds the state for a run mode from a loaded config.
pub async fn build_state(config: Config, mode: RunMode) -> Result<AppState, StartError> {
    let auth_origins = Arc::new(config.auth.origin_list());
    let auth = build_authenticator(&config)?;
    let store = open_store(&config).await?;
    let audit = Arc::new(AuditLog::lazy(store.clone(), &audit_key(&config, mode)?));
    // The first fetch happens before serving, so the first request does not
    // pay for it (failures are retried in the background).
    if let Err(e) = auth.refresh_keys().await {
        tracing::warn!(error = %e, "JWKS not available at start; retrying in the background");
    }
    auth.spawn_key_refresh();
    let iam = Arc::new(IamService::new(
        auth.clone(),
        audited_actions(&config, audit.clone(), store.clone()),
    ));
    let session = app::shell::api::SessionSettings {
        cookie_secure: config.auth.cookie_secure,
    };
    let mut readiness =
        Readiness::new(Duration::from_secs(2)).with_check(Arc::new(StoreCheck(store.clone())));
    if config.store.backend == StoreBackend::Embedded {
        readiness =
            readiness.with_check(Arc::new(DataDirCheck::new(config.store.data_dir.clone())));
    }
    let hash_file = middleware::assets::hash_file(&config.server.site_root);
    let leptos = LeptosOptions::builder()
        .output_name("control")
        .hash_files(hash_file.is_some())
        .hash_file(hash_file.map_or("hash.txt".into(), |p| p.to_string_lossy().into()))
        .site_root(config.server.site_root.clone())
        .site_pkg_dir("pkg")
        .site_addr(config.server.listen)
        .env(if mode == RunMode::Dev {
            Env::DEV
        } else {
            Env::PROD
        })
        .build();
    let control = Arc::new(ControlPlane::new(
        build_info(),
        mode,
        store.backend(),
        readiness,
    ));
    let docs = match config.fleet.source {
        FleetSource::File => FleetDocs::from_files(
            config.fleet.placement_file.clone(),
            config.fleet.routing_file.clone(),
            Duration::from_millis(500),
        ),
        FleetSource::Kv => FleetDocs::from_kv(store.clone()),
    };
    let health = HealthPoller::start(
        docs.clone(),
        PollerConfig {
            interval: Duration::from_millis(config.fleet.poll_interval_ms),
            timeout: Duration::from_millis(config.fleet.probe_timeout_ms),
            concurrency: config.fleet.poll_concurrency,
            extra_targets: Vec::new(),
        },
    );
    Ok(AppState {
        config: Arc::new(config),
        leptos,
        control,
        store,
        fleet: FleetService { docs, health },
        metrics: Arc::new(metrics::HttpMetrics::default()),
        auth,
        iam,
        audit,
        session,
        auth_origins,
    })
}

type Handler = axum::routing::MethodRouter<AppState>;

/// Every `/admin/v1` route: (method, path, handler). Each must have an
/// entry in `model::policy::REST` (a test walks both lists).
pub fn admin_routes() -> Vec<(&'static str, &'static str, Handler)> {
    use axum::routing::{delete, put};
    use routes::{admin, audit, fleet, iam};
    vec![
        ("GET", "/status", get(admin::status)),
        ("POST", "/search/recognise", post(admin::recognise_id)),
        ("GET", "/whoami", get(iam::whoami)),
        ("GET", "/placement", get(fleet::placements)),
        ("GET", "/placement/{kind}", get(fleet::placement)),
        ("GET", "/routing", get(fleet::routing)),
        ("GET", "/tenants", get(fleet::tenants)),
        ("GET", "/tenants/{tenant}", get(fleet::tenant)),
        ("GET", "/fleet/health", get(fleet::health)),
        ("GET", "/fleet/events", get(fleet::events)),
        ("GET", "/audit", get(audit::list)),
        ("GET", "/audit/export", get(audit::export)),
        ("GET", "/audit/verify", get(audit::verify)),
        ("GET", "/iam/users", get(iam::users)),
        ("GET", "/iam/sessions", get(iam::sessions)),
        ("GET", "/iam/roles", get(iam::roles)),
        (
            "DELETE",
            "/iam/sessions/{session}",
            delete(iam::revoke_session),
        ),
        (
            "PUT",
            "/iam/users/{user}/roles/{role}",
            put(iam::assign_role),
        ),
        (
            "DELETE",
            "/iam/users/{user}/roles/{role}",
            delete(iam::unassign_role),
        ),
    ]
}

/// The whole HTTP surface: probes, REST, server functions, SSR pages,
/// static assets, and the middleware around all of them.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let ctx_state = state.clone();
    let context = move || {
        provide_context(ctx_state.control.clone());
        provide_context(ctx_state.fleet.clone());
        provide_context(ctx_state.iam.clone());
        provide_context(ctx_state.audit.clone());
        provide_context(ctx_state.session);
    };
    let leptos_options = state.leptos.clone();
    let fallback_ctx = context.clone();
    let timeout = Duration::from_millis(state.config.server.request_timeout_ms);
    let body_limit = state.config.server.body_limit_bytes;

    let mut admin = Router::new();
    for (_, path, handler) in admin_routes() {
        // Same path, other method: axum merges the method routers.
        admin = admin.route(path, handler);
    }
    let admin = admin.fallback(routes::admin::not_found);

    Router::new()
        .route("/health", get(routes::probes::health))
        .route("/ready", get(routes::probes::ready))
        .route("/metrics", get(routes::probes::metrics))
        .nest("/admin/v1", admin)
        .route("/admin", any(routes::admin::not_found))
        .route("/admin/{*rest}", any(routes::admin::not_found))
        .route_service("/pkg/{*file}", middleware::assets::pkg(&state.leptos))
        .leptos_routes_with_context(&state, routes, context, {
            let o = leptos_options.clone();
            move || shell(o.clone())
        })
        .fallback(move |st: State<AppState>, req: Request| {
            let handler = leptos_axum::file_and_error_handler_with_context::<AppState, _>(
                fallback_ctx.clone(),
                shell,
            );
            async move { handler(req.uri().clone(), st, req).await }
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authz::authorize,
        ))
        // Outside authorize, so that its refusals of the sign-in form are
        // turned into redirects for a browser without JavaScript too.
        .layer(axum::middleware::from_fn_with_state(
            middleware::login::LoginGuard::new(&state.config.auth, state.audit.clone()),
            middleware::login::login_guard,
        ))
        // The timeout and the body limit answer inside the error
        // normalisation, so their 504 and 413 carry the JSON error body.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            middleware::security::SecurityHeaders {
                hsts: state.config.auth.cookie_secure,
            },
            middleware::security::security_headers,
        ))
        .layer(axum::middleware::from_fn(error::normalise_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe::observe,
        ))
        .layer(axum::middleware::from_fn(middleware::ids::assign_ids))
        .layer(middleware::assets::layers())
        .with_state(state)
}

/// Serves until SIGTERM/SIGINT, then lets in-flight requests finish for at
/// most `shutdown_timeout_ms`.
pub async fn serve(state: AppState) -> std::io::Result<()> {
    let addr = state.config.server.listen;
    let grace = Duration::from_millis(state.config.server.shutdown_timeout_ms);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, version = VERSION, git_sha = GIT_SHA, "control listening");
    let app = router(state);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // The peer address keys the sign-in rate limit.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = tx.send(());
    });
    let mut server = std::pin::pin!(std::future::IntoFuture::into_future(server));
    tokio::select! {
        res = &mut server => res,
        _ = async {
            let _ = rx.await;
            tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down; finishing in-flight requests");
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("shutdown grace period over; dropping remaining connections");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
