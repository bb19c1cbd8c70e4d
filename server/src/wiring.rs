//! Wiring: the store, the Gateway client and token validation, the audit
//! log and its key, the audited actions, the fleet, and the one
//! `engine::Services` they form, from a loaded config.

use crate::config::{Config, FleetSource, StoreBackend};
use crate::state::AppState;
use crate::{build_info, metrics, middleware};
use engine::audit::AuditLog;
use engine::fleet::{FleetDocs, FleetService, HealthPoller, PollerConfig};
use engine::gateway::GatewayClient;
use engine::iam::IamService;
use engine::identity::{AuthSettings, Authenticator};
use engine::readiness::{DataDirCheck, Readiness, StoreCheck};
use engine::store::embedded::EmbeddedStore;
use engine::store::nats::NatsStore;
use engine::store::{StoreError, Substrate};
use engine::token::{KeySet, TokenConfig, TokenValidator};
use engine::{ControlPlane, RunMode};
use leptos::config::{Env, LeptosOptions};
use std::sync::Arc;
use std::time::Duration;

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

/// The config registry over the configured source: the dev files (with
/// `fleet.source = "file"`) or the store's KV buckets.
fn build_registry(
    config: &Config,
    store: &Arc<dyn engine::store::Substrate>,
    actions: engine::action::Actions,
) -> engine::config::Registry {
    use engine::config::{file::FileConfigStore, kv::KvConfigStore, store::ConfigStore};
    let source: Arc<dyn ConfigStore> = match config.fleet.source {
        FleetSource::File => Arc::new(FileConfigStore::new(
            config.fleet.placement_file.clone(),
            config.fleet.routing_file.clone(),
            config.config.dir_for(&config.fleet.placement_file),
        )),
        FleetSource::Kv => Arc::new(KvConfigStore::new(store.clone())),
    };
    engine::config::Registry::new(
        source,
        store.clone(),
        actions,
        config.gates,
        Default::default(),
    )
}

/// The job engine with every workflow this build knows.
fn build_jobs(
    config: &Config,
    store: &Arc<dyn engine::store::Substrate>,
    actions: engine::action::Actions,
    fleet: &FleetService,
    auth: &Arc<engine::identity::Authenticator>,
    registry: &engine::config::Registry,
    deploy: &engine::swarm::Deployments,
) -> engine::jobs::Jobs {
    use engine::jobs::{routing_reload::RoutingReload, JobSettings, Jobs};
    use engine::moves::{MoveSettings, Moves};
    let j = &config.jobs;
    let reload = RoutingReload {
        fleet: fleet.clone(),
        http: auth.gateway().clone(),
        load_timeout: Duration::from_millis(j.reload_timeout_ms),
        poll: Duration::from_millis(200),
    };
    let engine_cell = Arc::new(std::sync::OnceLock::new());
    let m = &config.moves;
    let gates = engine::gates::GateContext {
        fleet: fleet.clone(),
        http: auth.gateway().clone(),
        jobs: engine_cell.clone(),
        thresholds: registry.thresholds(),
    };
    let moves = Arc::new(Moves {
        gates: gates.clone(),
        writer: registry.writer(),
        settings: MoveSettings {
            drain_timeout: Duration::from_millis(m.drain_timeout_ms),
            load_timeout: Duration::from_millis(m.load_timeout_ms),
            poll: Duration::from_millis(m.poll_ms),
            error_window: Duration::from_millis(m.error_window_ms),
        },
    });
    let mut workflows: Vec<Arc<dyn engine::jobs::workflow::Workflow>> = vec![Arc::new(reload)];
    workflows.extend(engine::moves::workflows(moves));
    workflows.extend(engine::config::workflows(
        registry.clone(),
        gates,
        engine::config::FlowSettings {
            load_timeout: Duration::from_millis(m.load_timeout_ms),
            poll: Duration::from_millis(m.poll_ms),
            verify_sample: config.config.verify_sample as usize,
        },
    ));
    workflows.push(engine::swarm::workflow(
        deploy.clone(),
        Some(fleet.clone()),
        engine::swarm::RollbackSettings {
            update_timeout: Duration::from_secs(config.swarm.update_timeout_secs),
            poll: Duration::from_millis(500),
        },
    ));
    let jobs = Jobs::new(
        store.clone(),
        actions,
        workflows,
        JobSettings {
            lease: Duration::from_millis(j.lease_ms),
            poll: Duration::from_millis(j.poll_ms),
            key_retention: Duration::from_secs(j.key_retention_hours * 3600),
            deadline: Duration::from_secs(j.deadline_secs),
            max_running: j.max_running,
            ..JobSettings::default()
        },
    );
    // The gates and evacuations read locks and create children through it.
    let _ = engine_cell.set(jobs.clone());
    jobs
}

/// The Swarm observer over the configured Docker Engine (connected on
/// first use, so a daemon that is away does not stop the start).
fn build_deployments(
    config: &Config,
    store: &Arc<dyn Substrate>,
    actions: engine::action::Actions,
    audit_key: &[u8],
) -> Result<engine::swarm::Deployments, StartError> {
    let how = config
        .swarm
        .connect()
        .map_err(|(key, reason)| StartError::Config(format!("{key}: {reason}")))?;
    let g = &config.grafana;
    let grafana = match (&g.url, &g.token) {
        (Some(url), Some(token)) => Some(
            engine::swarm::Grafana::new(url, token.expose().to_owned(), g.dashboard_uid.clone())
                .map_err(|e| StartError::Config(format!("grafana.url: {e}")))?,
        ),
        _ => None,
    };
    Ok(engine::swarm::Deployments::new(
        Arc::new(engine::swarm::DockerSwarm::lazy(
            how,
            config.swarm.timeout_secs,
        )),
        store.clone(),
        actions,
        engine::swarm::DeploySettings {
            poll: Duration::from_millis(config.swarm.poll_ms),
            fingerprint_key: engine::swarm::fingerprint_key(audit_key),
            grafana,
        },
    ))
}

/// Builds the state for a run mode from a loaded config.
pub async fn build_state(config: Config, mode: RunMode) -> Result<AppState, StartError> {
    let auth_origins = Arc::new(config.auth.origin_list());
    let auth = build_authenticator(&config)?;
    let store = open_store(&config).await?;
    let audit_key = audit_key(&config, mode)?;
    let audit = Arc::new(AuditLog::lazy(store.clone(), &audit_key));
    // The first fetch happens before serving, so the first request does not
    // pay for it (failures are retried in the background).
    if let Err(e) = auth.refresh_keys().await {
        tracing::warn!(error = %e, "JWKS not available at start; retrying in the background");
    }
    auth.spawn_key_refresh();
    let actions = audited_actions(&config, audit.clone(), store.clone());
    let iam = Arc::new(IamService::new(auth.clone(), actions.clone()));
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
    let fleet = FleetService { docs, health };
    let registry = build_registry(&config, &store, actions.clone());
    registry.refresh().await;
    registry.spawn_follow();
    let deploy = build_deployments(&config, &store, actions.clone(), &audit_key)?;
    deploy.spawn();
    let jobs = build_jobs(&config, &store, actions, &fleet, &auth, &registry, &deploy);
    jobs.start();
    let drift = engine::drift::Drift::new(
        deploy.clone(),
        fleet.clone(),
        engine::drift::DriftSettings {
            stacks: config
                .drift
                .stack_list()
                .map_err(|(key, reason)| StartError::Config(format!("{key}: {reason}")))?,
        },
    );
    let engine = engine::Services {
        control,
        store,
        fleet,
        auth,
        iam,
        audit,
        jobs,
        config: registry,
        deploy,
        drift,
    };
    Ok(AppState {
        config: Arc::new(config),
        leptos,
        metrics: Arc::new(metrics::Metrics::new(engine.control.build(), &engine)),
        engine,
        session,
        auth_origins,
    })
}
