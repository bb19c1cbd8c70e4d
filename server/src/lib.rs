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
pub mod telemetry;
pub mod wiring;

use crate::state::AppState;
use app::{shell, App};
use axum::extract::{Request, State};
use axum::routing::{any, get};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::sync::LazyLock;
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

pub use routes::admin_routes;
pub use wiring::{build_authenticator, build_state, nats_options, open_store, StartError};

/// The app's page routes, generated once per process. Generating them
/// runs the app with resource loading suppressed by a process-wide flag
/// (leptos-rs/leptos#4773): a page rendered meanwhile, by another router in
/// the same process (tests), would wait forever on a resource.
pub fn ui_routes() -> Vec<AxumRouteListing> {
    static ROUTES: LazyLock<Vec<AxumRouteListing>> = LazyLock::new(|| generate_route_list(App));
    ROUTES.clone()
}

/// The whole HTTP surface: probes, REST, server functions, SSR pages,
/// static assets, and the middleware around all of them.
pub fn router(state: AppState) -> Router {
    let routes = ui_routes();
    let ctx_state = state.clone();
    let context = move || {
        provide_context(ctx_state.engine.clone());
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
    let admin = admin.fallback(routes::not_found);

    Router::new()
        .route("/health", get(routes::probes::health))
        .route("/ready", get(routes::probes::ready))
        .route("/metrics", get(routes::probes::metrics))
        .nest("/admin/v1", admin)
        .route("/admin", any(routes::not_found))
        .route("/admin/{*rest}", any(routes::not_found))
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
            middleware::login::LoginGuard::new(&state.config.auth, state.engine.audit.clone()),
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
