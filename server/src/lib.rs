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
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::Router;
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
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

/// Builds the state for a run mode from a loaded config.
pub async fn build_state(config: Config, mode: RunMode) -> Result<AppState, StoreError> {
    let store = open_store(&config).await?;
    let mut readiness =
        Readiness::new(Duration::from_secs(2)).with_check(Arc::new(StoreCheck(store.clone())));
    if config.store.backend == StoreBackend::Embedded {
        readiness =
            readiness.with_check(Arc::new(DataDirCheck::new(config.store.data_dir.clone())));
    }
    let leptos = LeptosOptions::builder()
        .output_name("control")
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
    })
}

/// The whole HTTP surface: probes, REST, server functions, SSR pages,
/// static assets, and the middleware around all of them.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let ctx_state = state.clone();
    let context = move || {
        provide_context(ctx_state.control.clone());
        provide_context(ctx_state.fleet.clone());
    };
    let leptos_options = state.leptos.clone();
    let fallback_ctx = context.clone();
    let timeout = Duration::from_millis(state.config.server.request_timeout_ms);
    let body_limit = state.config.server.body_limit_bytes;

    let admin = Router::new()
        .route("/status", get(routes::admin::status))
        .route("/search/recognise", post(routes::admin::recognise_id))
        .route("/placement", get(routes::fleet::placements))
        .route("/placement/{kind}", get(routes::fleet::placement))
        .route("/routing", get(routes::fleet::routing))
        .route("/tenants", get(routes::fleet::tenants))
        .route("/tenants/{tenant}", get(routes::fleet::tenant))
        .route("/fleet/health", get(routes::fleet::health))
        .route("/fleet/events", get(routes::fleet::events))
        .fallback(routes::admin::not_found);

    Router::new()
        .route("/health", get(routes::probes::health))
        .route("/ready", get(routes::probes::ready))
        .route("/metrics", get(routes::probes::metrics))
        .nest("/admin/v1", admin)
        .route("/admin", any(routes::admin::not_found))
        .route("/admin/{*rest}", any(routes::admin::not_found))
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
        .layer(axum::middleware::from_fn(
            middleware::security::security_headers,
        ))
        .layer(axum::middleware::from_fn(error::normalise_errors))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: axum::middleware::Next| async move {
                match tokio::time::timeout(timeout, next.run(req)).await {
                    Ok(res) => res,
                    Err(_) => {
                        error::ApiError::new(model::ErrorCode::Timeout, "the request took too long")
                            .into_response()
                    }
                }
            },
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe::observe,
        ))
        .layer(axum::middleware::from_fn(middleware::ids::assign_ids))
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
    let server =
        axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async move {
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
